"""Turn the schema wizard's parameters into the operations of a plan (SPEC 7.1).

Five built-in, versioned templates describe a tree of levels (region, environment, VPC,
subnet tiers, ...). ``parse_params`` checks a JSON object of parameters against a
template and returns frozen ``TemplateParams``; ``generate`` builds the tree, sizes every
block bottom-up and places it top-down, and returns the ``create`` operations of the
plan in SPEC 7.0's JSON form, parents before children.

Sizing and packing: a leaf (a subnet) has its tier's size; any other block is the
smallest aligned block that holds its children packed largest first with the growth
headroom left free (``children <= (100 - headroom)%`` of the block), and is at least one
bit larger than its largest child, since a child lies strictly inside its parent.
Children are placed from the start of their parent, the largest first: sizes are powers
of two in descending order, so each child is aligned where it lands and the free space
(the headroom) is left whole at the end. Ties keep the order the parameters give, so the
same parameters always give the same plan.

IPv6 (dual stack) mirrors the IPv4 tree under a /48: a /64 per subnet, a /56 per block
that holds subnets (a VPC, a VNet, an environment of the Hierarchical template, a site),
and the levels above packed like IPv4. The /48 is given, or derived from the
organization as a unique local address (RFC 4193): ``fd`` followed by the first 40 bits
of the SHA-256 of a seed the caller passes (the organization), so one organization
always gets the same ULA. The transit block of the Hybrid template has no IPv6 twin.

Addresses reserved per subnet, used to turn a host count into a size (room for 4,000
hosts in AWS needs 4,005 addresses: a /20): AWS 5, Azure 5, GCP 4, on-premises 2
(network and broadcast). Limits of the Cloud-Native template, per provider: AWS VPC /16
to /28 and subnets /16 to /28; Azure VNet and subnets /8 to /29; GCP subnets /29 at the
smallest and, as CloudPAM's own bound, /8 at the largest (a GCP VPC network is global and
has no range of its own: its block here groups the subnets of one region).

Only the standard library and the CIDR engine are imported: no Django.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.pools import cidr

__all__ = [
    "MAX_OPERATIONS",
    "PLACEHOLDERS",
    "PROVIDERS",
    "TEMPLATES",
    "CloudProvider",
    "GeneratedPlan",
    "ProviderLimits",
    "TemplateError",
    "TemplateParams",
    "TemplateSpec",
    "Tier",
    "derive_ula",
    "generate",
    "hosts_to_prefix_length",
    "params_to_json",
    "parse_params",
    "render_map",
    "render_tree",
]

MAX_OPERATIONS = 20_000
MAX_LIST = 64
MAX_TIERS = 32
MAX_TIER_COUNT = 256
MAX_LABEL = 63
MAX_NAME = 255
MAX_HEADROOM = 90
PLACEHOLDERS = ("region", "env", "tier", "unit", "site", "provider", "account", "index")
STATUSES = ("planned", "active", "reserved")
IPV6_SUBNET = 64
IPV6_NETWORK = 56


class TemplateError(ValueError):
    """Parameters that are wrong or a plan that does not fit, with errors per field.

    ``errors`` maps a parameter path (``supernet``, ``tiers[1].hosts``, ``naming.subnet``)
    to sentences fit to show to a user; ``message`` is the first of them, prefixed with
    its field.
    """

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        self.errors: dict[str, list[str]] = {key: list(value) for key, value in errors.items()}
        field_name, messages = next(iter(self.errors.items()))
        self.message = f"{field_name}: {messages[0]}"
        super().__init__(self.message)

    @classmethod
    def one(cls, field_name: str, message: str) -> TemplateError:
        """Return the error of a single field."""
        return cls({field_name: [message]})


@dataclass(frozen=True)
class ProviderLimits:
    """What a provider allows: network and subnet prefix lengths, addresses it reserves."""

    key: str
    label: str
    network: str
    network_largest: int
    network_smallest: int
    subnet_largest: int
    subnet_smallest: int
    reserved: int


PROVIDERS: dict[str, ProviderLimits] = {
    "aws": ProviderLimits("aws", "AWS", "VPC", 16, 28, 16, 28, 5),
    "azure": ProviderLimits("azure", "Azure", "VNet", 8, 29, 8, 29, 5),
    "gcp": ProviderLimits("gcp", "GCP", "VPC", 8, 29, 8, 29, 4),
    "onprem": ProviderLimits("onprem", "On-premises", "network", 1, 30, 1, 30, 2),
}


@dataclass(frozen=True)
class Tier:
    """A subnet tier: a name, a size (prefix length or host count) and how many of it."""

    name: str
    prefix_length: int | None = None
    hosts: int | None = None
    count: int = 1


@dataclass(frozen=True)
class CloudProvider:
    """One provider of the Cloud-Native template with its accounts and regions."""

    provider: str
    accounts: tuple[str, ...]
    regions: tuple[str, ...]


@dataclass(frozen=True)
class TemplateParams:
    """The checked parameters of one template; see ``TEMPLATES`` for which it reads."""

    template: str
    supernet: str
    parent: int | None = None
    name: str = ""
    regions: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    providers: tuple[CloudProvider, ...] = ()
    vpcs: int = 1
    tiers: tuple[Tier, ...] = ()
    site_tiers: tuple[Tier, ...] = ()
    provider: str = "aws"
    headroom: int = 0
    naming: tuple[tuple[str, str], ...] = ()
    transit_prefix_length: int = 24
    status: str = "planned"
    ipv6: bool = False
    ipv6_prefix: str | None = None
    ipv6_parent: int | None = None


@dataclass(frozen=True)
class TemplateSpec:
    """A built-in template: its key, label, version, levels, parameters and an example."""

    key: str
    label: str
    version: int
    description: str
    levels: tuple[str, ...]
    placeholders: Mapping[str, tuple[str, ...]]
    naming: Mapping[str, str]
    params: tuple[str, ...]
    required: tuple[str, ...]
    example: Mapping[str, Any]


_COMMON = (
    "supernet",
    "parent",
    "name",
    "headroom",
    "naming",
    "status",
    "ipv6",
    "ipv6_prefix",
    "ipv6_parent",
)

TEMPLATES: dict[str, TemplateSpec] = {
    spec.key: spec
    for spec in (
        TemplateSpec(
            key="regional",
            label="Regional",
            version=1,
            description="Supernet, then a block per region, per environment, per VPC, "
            "then the subnet tiers.",
            levels=("region", "environment", "vpc", "subnet"),
            placeholders={
                "region": ("region", "index"),
                "environment": ("region", "env", "index"),
                "vpc": ("region", "env", "index"),
                "subnet": ("region", "env", "tier", "index"),
            },
            naming={
                "region": "{region}",
                "environment": "{region}-{env}",
                "vpc": "{region}-{env}-vpc{index}",
                "subnet": "{region}-{env}-{tier}-{index}",
            },
            params=(*_COMMON, "regions", "environments", "vpcs", "tiers", "provider"),
            required=("regions", "environments", "tiers"),
            example={
                "supernet": "10.0.0.0/8",
                "regions": ["us-east-1", "eu-west-1"],
                "environments": ["prod", "staging", "dev"],
                "vpcs": 1,
                "tiers": [
                    {"name": "public", "prefix_length": 24, "count": 2},
                    {"name": "private", "hosts": 4000, "count": 2},
                    {"name": "data", "prefix_length": 26, "count": 2},
                ],
                "provider": "aws",
                "headroom": 25,
            },
        ),
        TemplateSpec(
            key="hierarchical",
            label="Hierarchical",
            version=1,
            description="Supernet, then a block per business unit, per environment, then "
            "the subnet tiers.",
            levels=("unit", "environment", "subnet"),
            placeholders={
                "unit": ("unit", "index"),
                "environment": ("unit", "env", "index"),
                "subnet": ("unit", "env", "tier", "index"),
            },
            naming={
                "unit": "{unit}",
                "environment": "{unit}-{env}",
                "subnet": "{unit}-{env}-{tier}-{index}",
            },
            params=(*_COMMON, "units", "environments", "tiers", "provider"),
            required=("units", "environments", "tiers"),
            example={
                "supernet": "10.64.0.0/12",
                "units": ["finance", "retail", "platform"],
                "environments": ["prod", "nonprod"],
                "tiers": [
                    {"name": "web", "prefix_length": 24},
                    {"name": "app", "hosts": 1000},
                    {"name": "db", "prefix_length": 26},
                ],
                "provider": "onprem",
                "headroom": 20,
            },
        ),
        TemplateSpec(
            key="flat",
            label="Flat",
            version=1,
            description="One parent holding N equal subnets (or a few tiers of them).",
            levels=("subnet",),
            placeholders={"subnet": ("tier", "index")},
            naming={"subnet": "{tier}-{index}"},
            params=(*_COMMON, "tiers", "provider"),
            required=("tiers",),
            example={
                "supernet": "10.20.0.0/16",
                "tiers": [{"name": "subnet", "prefix_length": 24, "count": 16}],
                "provider": "onprem",
                "headroom": 0,
            },
        ),
        TemplateSpec(
            key="cloud_native",
            label="Cloud-Native",
            version=1,
            description="Supernet, then a block per cloud provider, per account, per region, "
            "a VPC or VNet per environment, then the subnet tiers, sized to each "
            "provider's limits.",
            levels=("provider", "account", "region", "vpc", "subnet"),
            placeholders={
                "provider": ("provider", "index"),
                "account": ("provider", "account", "index"),
                "region": ("provider", "account", "region", "index"),
                "vpc": ("provider", "account", "region", "env", "index"),
                "subnet": ("provider", "account", "region", "env", "tier", "index"),
            },
            naming={
                "provider": "{provider}",
                "account": "{provider}-{account}",
                "region": "{account}-{region}",
                "vpc": "{account}-{region}-{env}",
                "subnet": "{account}-{region}-{env}-{tier}-{index}",
            },
            params=(*_COMMON, "providers", "environments", "tiers"),
            required=("providers", "environments", "tiers"),
            example={
                "supernet": "10.128.0.0/9",
                "providers": [
                    {
                        "provider": "aws",
                        "accounts": ["shared", "payments"],
                        "regions": ["us-east-1", "eu-west-1"],
                    },
                    {"provider": "azure", "accounts": ["corp"], "regions": ["westeurope"]},
                    {"provider": "gcp", "accounts": ["analytics"], "regions": ["us-central1"]},
                ],
                "environments": ["prod", "dev"],
                "tiers": [
                    {"name": "public", "prefix_length": 24},
                    {"name": "private", "hosts": 2000},
                    {"name": "data", "prefix_length": 26},
                ],
                "headroom": 25,
            },
        ),
        TemplateSpec(
            key="hybrid",
            label="Hybrid",
            version=1,
            description="On-premises sites and cloud regions side by side under one "
            "supernet, with a reserved transit block.",
            levels=("transit", "site", "site_subnet", "region", "vpc", "subnet"),
            placeholders={
                "transit": ("index",),
                "site": ("site", "index"),
                "site_subnet": ("site", "tier", "index"),
                "region": ("region", "index"),
                "vpc": ("region", "env", "index"),
                "subnet": ("region", "env", "tier", "index"),
            },
            naming={
                "transit": "transit",
                "site": "{site}",
                "site_subnet": "{site}-{tier}-{index}",
                "region": "{region}",
                "vpc": "{region}-{env}",
                "subnet": "{region}-{env}-{tier}-{index}",
            },
            params=(
                *_COMMON,
                "sites",
                "site_tiers",
                "regions",
                "environments",
                "tiers",
                "provider",
                "transit_prefix_length",
            ),
            required=("sites", "site_tiers", "regions", "environments", "tiers"),
            example={
                "supernet": "172.16.0.0/12",
                "sites": ["fra-dc1", "nyc-dc2"],
                "site_tiers": [
                    {"name": "servers", "prefix_length": 22},
                    {"name": "mgmt", "prefix_length": 24},
                    {"name": "voice", "hosts": 500},
                ],
                "regions": ["us-east-1", "eu-central-1"],
                "environments": ["prod", "dev"],
                "tiers": [
                    {"name": "public", "prefix_length": 24},
                    {"name": "private", "hosts": 2000},
                ],
                "provider": "aws",
                "transit_prefix_length": 22,
                "headroom": 20,
            },
        ),
    )
}

LEVEL_TYPES = {
    "region": "region",
    "environment": "environment",
    "unit": "custom",
    "provider": "custom",
    "account": "custom",
    "site": "custom",
    "vpc": "vpc",
    "subnet": "subnet",
    "site_subnet": "subnet",
    "transit": "reserved",
}


# Parameters


class _Errors:
    """Collect the errors of every parameter before raising, so the form shows them all."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field_name: str, message: str) -> None:
        self.errors.setdefault(field_name, []).append(message)

    def raise_any(self) -> None:
        if self.errors:
            raise TemplateError(self.errors)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(
    errors: _Errors, data: Mapping[str, Any], key: str, default: int, low: int, high: int
) -> int:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not _is_int(value) or not low <= value <= high:
        errors.add(key, f"A whole number from {low} to {high} is required.")
        return default
    return int(value)


def _label(errors: _Errors, path: str, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.add(path, "A non-empty name is required.")
        return None
    value = value.strip()
    if len(value) > MAX_LABEL:
        errors.add(path, f"At most {MAX_LABEL} characters; this one has {len(value)}.")
        return None
    if any(char in value for char in "{}/\\") or not value.isprintable():
        errors.add(path, "Use letters, digits, dashes, dots or underscores.")
        return None
    return str(value)


def _labels(errors: _Errors, data: Mapping[str, Any], key: str, required: bool) -> tuple[str, ...]:
    value = data.get(key)
    if value is None or value == "" or value == []:
        if required:
            errors.add(key, "At least one name is required.")
        return ()
    if isinstance(value, str):
        # Forms send a comma-separated list.
        value = [part for part in (piece.strip() for piece in value.split(",")) if part]
    if not isinstance(value, list | tuple):
        errors.add(key, "A list of names is required.")
        return ()
    if len(value) > MAX_LIST:
        errors.add(key, f"At most {MAX_LIST} names; {len(value)} were given.")
        return ()
    labels: list[str] = []
    for index, item in enumerate(value):
        label = _label(errors, f"{key}[{index}]", item)
        if label is None:
            continue
        if label in labels:
            errors.add(f"{key}[{index}]", f"'{label}' is listed twice.")
            continue
        labels.append(label)
    if required and not labels and key not in errors.errors:
        errors.add(key, "At least one name is required.")
    return tuple(labels)


def _tiers(errors: _Errors, data: Mapping[str, Any], key: str, required: bool) -> tuple[Tier, ...]:
    value = data.get(key)
    if value is None or value == []:
        if required:
            errors.add(key, "At least one subnet tier is required.")
        return ()
    if not isinstance(value, list | tuple) or not value:
        errors.add(key, "A list of tiers ({name, prefix_length or hosts, count}) is required.")
        return ()
    if len(value) > MAX_TIERS:
        errors.add(key, f"At most {MAX_TIERS} tiers; {len(value)} were given.")
        return ()
    tiers: list[Tier] = []
    names: set[str] = set()
    for index, item in enumerate(value):
        path = f"{key}[{index}]"
        if not isinstance(item, Mapping):
            errors.add(path, "A tier is an object {name, prefix_length or hosts, count}.")
            continue
        unknown = sorted(set(item) - {"name", "prefix_length", "hosts", "count"})
        if unknown:
            errors.add(path, f"Unknown tier field {', '.join(map(str, unknown))}.")
            continue
        name = _label(errors, f"{path}.name", item.get("name"))
        if name is not None and name in names:
            errors.add(f"{path}.name", f"The tier '{name}' is listed twice.")
            name = None
        length, hosts = item.get("prefix_length"), item.get("hosts")
        if length in ("", None):
            length = None
        if hosts in ("", None):
            hosts = None
        if (length is None) == (hosts is None):
            errors.add(f"{path}.prefix_length", "Give either prefix_length or hosts.")
            continue
        if length is not None and (not _is_int(length) or not 1 <= length <= 32):
            errors.add(f"{path}.prefix_length", "An IPv4 prefix length from 1 to 32 is required.")
            continue
        if hosts is not None and (not _is_int(hosts) or not 1 <= hosts <= 1 << 31):
            errors.add(f"{path}.hosts", "A host count from 1 to 2147483648 is required.")
            continue
        count = item.get("count", 1)
        if not _is_int(count) or not 1 <= count <= MAX_TIER_COUNT:
            errors.add(f"{path}.count", f"A whole number from 1 to {MAX_TIER_COUNT} is required.")
            continue
        if name is None:
            continue
        names.add(name)
        tiers.append(Tier(name=name, prefix_length=length, hosts=hosts, count=count))
    return tuple(tiers)


def _providers(errors: _Errors, data: Mapping[str, Any]) -> tuple[CloudProvider, ...]:
    value = data.get("providers")
    if not isinstance(value, list | tuple) or not value:
        errors.add("providers", "A list of {provider, accounts, regions} is required.")
        return ()
    if len(value) > len(PROVIDERS):
        errors.add("providers", f"At most {len(PROVIDERS)} providers.")
        return ()
    providers: list[CloudProvider] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        path = f"providers[{index}]"
        if not isinstance(item, Mapping):
            errors.add(path, "A provider is an object {provider, accounts, regions}.")
            continue
        unknown = sorted(set(item) - {"provider", "accounts", "regions"})
        if unknown:
            errors.add(path, f"Unknown provider field {', '.join(map(str, unknown))}.")
            continue
        key = item.get("provider")
        if key not in PROVIDERS or key == "onprem":
            errors.add(f"{path}.provider", "One of aws, azure, gcp is required.")
            continue
        if key in seen:
            errors.add(f"{path}.provider", f"'{key}' is listed twice.")
            continue
        seen.add(key)
        accounts = _labels(errors, item, "accounts", True)
        regions = _labels(errors, item, "regions", True)
        for sub in ("accounts", "regions"):
            for error_key in [k for k in errors.errors if k == sub or k.startswith(f"{sub}[")]:
                errors.errors[f"{path}.{error_key}"] = errors.errors.pop(error_key)
        if accounts and regions:
            providers.append(CloudProvider(provider=key, accounts=accounts, regions=regions))
    return tuple(providers)


def _formatter_fields(pattern: str) -> list[str]:
    """Return the placeholders of ``pattern``; raise ValueError on a malformed one."""
    fields: list[str] = []
    for _literal, name, spec, conversion in string.Formatter().parse(pattern):
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            raise ValueError(f"'{{{name}}}' is not a plain placeholder such as {{region}}.")
        fields.append(name)
    return fields


def _naming(
    errors: _Errors, data: Mapping[str, Any], spec: TemplateSpec
) -> tuple[tuple[str, str], ...]:
    value = data.get("naming")
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        # A single pattern names the subnets, the level people care about most.
        value = {"subnet": value}
    if not isinstance(value, Mapping):
        errors.add("naming", "A naming pattern or an object of patterns per level is required.")
        return ()
    patterns: list[tuple[str, str]] = []
    for level, pattern in value.items():
        path = f"naming.{level}"
        if level not in spec.levels:
            errors.add(
                path,
                f"The {spec.label} template has no level '{level}'; its levels are "
                f"{', '.join(spec.levels)}.",
            )
            continue
        if pattern in (None, ""):
            continue
        if not isinstance(pattern, str) or len(pattern) > MAX_NAME:
            errors.add(path, f"A pattern of at most {MAX_NAME} characters is required.")
            continue
        try:
            names = _formatter_fields(pattern)
        except ValueError as exc:
            errors.add(path, str(exc))
            continue
        unknown = [name for name in names if name not in PLACEHOLDERS]
        if unknown:
            known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
            errors.add(path, f"Unknown placeholder {{{unknown[0]}}}; the placeholders are {known}.")
            continue
        available = spec.placeholders[level]
        missing = [name for name in names if name not in available]
        if missing:
            usable = ", ".join(f"{{{name}}}" for name in available)
            errors.add(
                path,
                f"{{{missing[0]}}} has no value at the {level} level of the {spec.label} "
                f"template; use {usable}.",
            )
            continue
        patterns.append((level, pattern))
    return tuple(sorted(patterns))


def _pool_id(errors: _Errors, data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not _is_int(value) or value <= 0:
        errors.add(key, "A pool id (a positive whole number) or null is required.")
        return None
    return value


def _bool(errors: _Errors, data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if value in (None, ""):
        return False
    if isinstance(value, str) and value.lower() in ("true", "on", "1", "false", "off", "0"):
        return value.lower() in ("true", "on", "1")
    if not isinstance(value, bool):
        errors.add(key, "true or false is required.")
        return False
    return value


def parse_params(template: str, data: Any) -> TemplateParams:
    """Return the checked parameters of ``template`` from a JSON object.

    Raise TemplateError naming every wrong field: an unknown template or parameter, a bad
    prefix, a missing list, a tier with both or neither size, an unknown placeholder in a
    naming pattern. Parameters that another template reads are accepted and ignored.
    """
    spec = TEMPLATES.get(template)
    if spec is None:
        raise TemplateError.one(
            "template", f"No template '{template}'; the templates are {', '.join(TEMPLATES)}."
        )
    if not isinstance(data, Mapping):
        raise TemplateError.one("params", "A JSON object of parameters is required.")
    errors = _Errors()
    known = {name for other in TEMPLATES.values() for name in other.params}
    for key in sorted(set(data) - known, key=str):
        errors.add(str(key), "Unknown parameter.")
    used = set(spec.params)

    def read(key: str, reader: Any, *args: Any) -> Any:
        return reader(errors, data, key, *args) if key in used else None

    supernet = ""
    value = data.get("supernet")
    if not isinstance(value, str) or not value.strip():
        errors.add("supernet", "An IPv4 prefix such as 10.0.0.0/8 is required.")
    else:
        try:
            prefix = cidr.parse_prefix(value)
        except cidr.CidrError as exc:
            errors.add("supernet", exc.message)
        else:
            if "/" not in value:
                errors.add("supernet", f"'{value.strip()}' has no prefix length.")
            elif prefix.family != 4:
                errors.add("supernet", "An IPv4 prefix is required; IPv6 comes with ipv6=true.")
            elif prefix.length > 30:
                errors.add("supernet", f"{prefix} is too small to hold a plan; use /30 or larger.")
            else:
                supernet = str(prefix)
    name = data.get("name") or ""
    if not isinstance(name, str) or len(name) > MAX_NAME:
        errors.add("name", f"A name of at most {MAX_NAME} characters is required.")
        name = ""
    provider = data.get("provider") or "aws"
    if "provider" in used and provider not in PROVIDERS:
        errors.add("provider", f"One of {', '.join(PROVIDERS)} is required.")
        provider = "aws"
    status = data.get("status") or "planned"
    if status not in STATUSES:
        errors.add("status", f"One of {', '.join(STATUSES)} is required.")
        status = "planned"
    ipv6 = _bool(errors, data, "ipv6")
    ipv6_prefix = None
    value = data.get("ipv6_prefix")
    if value not in (None, ""):
        try:
            given = cidr.parse_prefix(value) if isinstance(value, str) else None
        except cidr.CidrError as exc:
            errors.add("ipv6_prefix", exc.message)
        else:
            if given is None or given.family != 6 or "/" not in value:
                errors.add("ipv6_prefix", "An IPv6 prefix such as fd12:3456:789a::/48 is required.")
            elif given.length > 48:
                errors.add("ipv6_prefix", f"{given} is smaller than a /48.")
            else:
                ipv6_prefix = str(given)

    required = set(spec.required)
    params = TemplateParams(
        template=template,
        supernet=supernet,
        parent=_pool_id(errors, data, "parent"),
        name=name.strip(),
        regions=read("regions", _labels, "regions" in required) or (),
        environments=read("environments", _labels, "environments" in required) or (),
        units=read("units", _labels, "units" in required) or (),
        sites=read("sites", _labels, "sites" in required) or (),
        providers=_providers(errors, data) if "providers" in used else (),
        vpcs=read("vpcs", _int, 1, 1, MAX_LIST) or 1,
        tiers=read("tiers", _tiers, "tiers" in required) or (),
        site_tiers=read("site_tiers", _tiers, "site_tiers" in required) or (),
        provider=provider if "provider" in used else "aws",
        headroom=_int(errors, data, "headroom", 0, 0, MAX_HEADROOM),
        naming=_naming(errors, data, spec),
        transit_prefix_length=read("transit_prefix_length", _int, 24, 8, 30) or 24,
        status=status,
        ipv6=ipv6,
        ipv6_prefix=ipv6_prefix,
        ipv6_parent=_pool_id(errors, data, "ipv6_parent"),
    )
    errors.raise_any()
    return params


def _tier_json(tier: Tier) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tier.name}
    if tier.prefix_length is not None:
        out["prefix_length"] = tier.prefix_length
    else:
        out["hosts"] = tier.hosts
    out["count"] = tier.count
    return out


def params_to_json(params: TemplateParams) -> dict[str, Any]:
    """Return the parameters the template reads as a JSON object ``parse_params`` takes."""
    spec = TEMPLATES[params.template]
    full: dict[str, Any] = {
        "supernet": params.supernet,
        "parent": params.parent,
        "name": params.name,
        "regions": list(params.regions),
        "environments": list(params.environments),
        "units": list(params.units),
        "sites": list(params.sites),
        "providers": [
            {"provider": p.provider, "accounts": list(p.accounts), "regions": list(p.regions)}
            for p in params.providers
        ],
        "vpcs": params.vpcs,
        "tiers": [_tier_json(tier) for tier in params.tiers],
        "site_tiers": [_tier_json(tier) for tier in params.site_tiers],
        "provider": params.provider,
        "headroom": params.headroom,
        "naming": dict(params.naming),
        "transit_prefix_length": params.transit_prefix_length,
        "status": params.status,
        "ipv6": params.ipv6,
        "ipv6_prefix": params.ipv6_prefix,
        "ipv6_parent": params.ipv6_parent,
    }
    return {key: full[key] for key in spec.params}


# Sizes


def hosts_to_prefix_length(hosts: int, reserved: int, bits: int = 32) -> int:
    """Return the longest prefix length with room for ``hosts`` plus ``reserved`` addresses.

    Room for 4,000 hosts with AWS's 5 reserved addresses is 4,005 addresses: a /20.
    """
    needed = hosts + reserved
    return bits - (needed - 1).bit_length()


def derive_ula(seed: str) -> cidr.Prefix:
    """Return the unique local /48 (RFC 4193) that ``seed`` always derives: fd + 40 bits."""
    global_id = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:5], "big")
    return cidr.Prefix(6, (0xFD << 120) | (global_id << 80), 48)


# The tree


@dataclass(eq=False)
class _Node:
    level: str
    context: dict[str, str]
    label: str
    children: list[_Node] = field(default_factory=list)
    length: int | None = None
    smallest: int | None = None
    largest: int | None = None
    limit_note: str = ""
    description: str = ""
    reserved_block: bool = False
    ipv6: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    order: int = 0
    first: int = 0


class _Builder:
    """Build the node tree of a template, counting nodes to stop at the plan's limit."""

    def __init__(self, params: TemplateParams) -> None:
        self.params = params
        self.count = 0

    def node(self, level: str, context: dict[str, str], label: str, **kwargs: Any) -> _Node:
        self.count += 1 + (1 if self.params.ipv6 and kwargs.get("ipv6", True) else 0)
        if self.count > MAX_OPERATIONS:
            raise TemplateError.one(
                "params",
                f"These parameters make more than {MAX_OPERATIONS:,} pools; a plan holds at "
                f"most {MAX_OPERATIONS:,}. Use fewer regions, environments, tiers or counts.",
            )
        return _Node(level=level, context=context, label=label, **kwargs)

    def subnets(
        self,
        parent: _Node,
        tiers: Sequence[Tier],
        limits: ProviderLimits,
        field_name: str,
        *,
        level: str = "subnet",
        enforce: bool = False,
    ) -> None:
        for index, tier in enumerate(tiers):
            length = self.tier_length(tier, limits, f"{field_name}[{index}]", enforce=enforce)
            size = 1 << (32 - length)
            usable = max(size - limits.reserved, 0)
            description = (
                f"{tier.name} tier: {usable:,} usable addresses of {size:,} "
                f"({limits.reserved} reserved by {limits.label})"
            )
            if tier.hosts is not None:
                description = f"{description}, sized for {tier.hosts:,} hosts"
            for number in range(1, tier.count + 1):
                context = {**parent.context, "tier": tier.name, "index": str(number)}
                parent.children.append(
                    self.node(
                        level,
                        context,
                        f"{parent.label}/{tier.name}-{number}",
                        length=length,
                        description=description,
                        tags={"tier": tier.name},
                    )
                )

    @staticmethod
    def tier_length(tier: Tier, limits: ProviderLimits, path: str, *, enforce: bool) -> int:
        if tier.prefix_length is not None:
            length = tier.prefix_length
            if length < 32 and (1 << (32 - length)) <= limits.reserved:
                raise TemplateError.one(
                    f"{path}.prefix_length",
                    f"A /{length} leaves no usable address once {limits.label} reserves "
                    f"{limits.reserved}.",
                )
            if enforce and not limits.subnet_largest <= length <= limits.subnet_smallest:
                raise TemplateError.one(
                    f"{path}.prefix_length",
                    f"{limits.label} allows subnets from /{limits.subnet_largest} to "
                    f"/{limits.subnet_smallest}; the tier '{tier.name}' asks for /{length}.",
                )
            return length
        hosts = tier.hosts or 1
        length = hosts_to_prefix_length(hosts, limits.reserved)
        if enforce:
            # A small tier gets the provider's smallest subnet; a huge one is an error.
            length = min(length, limits.subnet_smallest)
            if length < limits.subnet_largest:
                raise TemplateError.one(
                    f"{path}.hosts",
                    f"{tier.hosts:,} hosts need a /{length}; {limits.label} subnets are at "
                    f"most /{limits.subnet_largest}.",
                )
        if length < 1:
            raise TemplateError.one(f"{path}.hosts", f"{tier.hosts:,} hosts do not fit in IPv4.")
        return length


def _children(
    builder: _Builder, parent: _Node, level: str, key: str, labels: Sequence[str]
) -> list[_Node]:
    nodes = []
    for index, label in enumerate(labels, start=1):
        context = {**parent.context, key: label, "index": str(index)}
        node = builder.node(level, context, f"{parent.label}/{label}" if parent.label else label)
        parent.children.append(node)
        nodes.append(node)
    return nodes


def _vpcs(builder: _Builder, parent: _Node, envs: Sequence[str] | None, count: int) -> list[_Node]:
    """Add ``count`` VPCs to ``parent`` (with ``envs``: one per environment, count ignored)."""
    nodes = []
    if envs is None:
        for index in range(1, count + 1):
            context = {**parent.context, "index": str(index)}
            node = builder.node("vpc", context, f"{parent.label}/vpc{index}")
            parent.children.append(node)
            nodes.append(node)
        return nodes
    return _children(builder, parent, "vpc", "env", envs)


def _build(params: TemplateParams) -> _Node:
    builder = _Builder(params)
    root = builder.node("supernet", {}, "")
    limits = PROVIDERS[params.provider]
    key = params.template
    if key == "regional":
        for region in _children(builder, root, "region", "region", params.regions):
            for env in _children(builder, region, "environment", "env", params.environments):
                for vpc in _vpcs(builder, env, None, params.vpcs):
                    builder.subnets(vpc, params.tiers, limits, "tiers")
    elif key == "hierarchical":
        for unit in _children(builder, root, "unit", "unit", params.units):
            for env in _children(builder, unit, "environment", "env", params.environments):
                builder.subnets(env, params.tiers, limits, "tiers")
    elif key == "flat":
        builder.subnets(root, params.tiers, limits, "tiers")
    elif key == "cloud_native":
        labels = [item.provider for item in params.providers]
        for provider_node, item in zip(
            _children(builder, root, "provider", "provider", labels), params.providers, strict=True
        ):
            cloud = PROVIDERS[item.provider]
            for account in _children(builder, provider_node, "account", "account", item.accounts):
                for region in _children(builder, account, "region", "region", item.regions):
                    for vpc in _vpcs(builder, region, params.environments, 1):
                        vpc.smallest = cloud.network_smallest
                        vpc.largest = cloud.network_largest
                        vpc.limit_note = (
                            f"{cloud.label} allows a {cloud.network} from "
                            f"/{cloud.network_largest} to /{cloud.network_smallest}"
                        )
                        vpc.tags = {"provider": cloud.key}
                        builder.subnets(vpc, params.tiers, cloud, "tiers", enforce=True)
    elif key == "hybrid":
        transit = builder.node(
            "transit",
            {"index": "1"},
            "transit",
            length=params.transit_prefix_length,
            reserved_block=True,
            ipv6=False,
            description="Reserved transit block for the links between sites and clouds",
        )
        root.children.append(transit)
        onprem = PROVIDERS["onprem"]
        for site in _children(builder, root, "site", "site", params.sites):
            builder.subnets(site, params.site_tiers, onprem, "site_tiers", level="site_subnet")
        for region in _children(builder, root, "region", "region", params.regions):
            for vpc in _vpcs(builder, region, params.environments, 1):
                builder.subnets(vpc, params.tiers, limits, "tiers")
    else:  # pragma: no cover - parse_params only lets known templates through
        raise TemplateError.one("template", f"No template '{key}'.")
    return root


def _len(node: _Node) -> int:
    """Return the prefix length of a sized node."""
    if node.length is None:  # pragma: no cover - sizing sets every length before use
        raise TemplateError.one("params", f"The {node.level} {node.label} has no size.")
    return node.length


def _strict_length(node: _Node, bits: int, headroom: int, lengths: Sequence[int]) -> int:
    """Return the longest prefix length that holds ``lengths`` with ``headroom`` left free."""
    total = sum(1 << (bits - length) for length in lengths)
    # children <= (100 - headroom)% of the block, in integers.
    needed = -(-total * 100 // (100 - headroom))
    length = bits - (needed - 1).bit_length()
    return min(length, min(lengths) - 1)


def _describe_length(bits: int, length: int) -> str:
    return f"/{length}" if length >= 0 else f"more than a /0 (2^{bits - length} addresses)"


def _size(node: _Node, bits: int, headroom: int, *, ipv6: bool) -> int:
    """Set and return the prefix length of ``node`` and its subtree, bottom-up."""
    if not node.children:
        if node.length is None:
            raise TemplateError.one("params", f"The {node.level} {node.label} holds nothing.")
        return node.length
    lengths = [_size(child, bits, headroom, ipv6=ipv6) for child in node.children]
    if ipv6 and node.length is not None:
        # A /56 holding /64 subnets: its size is fixed by the dual-stack layout.
        fixed = node.length
        if sum(1 << (bits - length) for length in lengths) > 1 << (bits - fixed):
            raise TemplateError.one(
                "tiers",
                f"{node.label} has {len(lengths)} subnets; a /{fixed} holds at most "
                f"{1 << (IPV6_SUBNET - fixed)} /{IPV6_SUBNET} subnets.",
            )
        return fixed
    length = _strict_length(node, bits, headroom, lengths)
    if node.smallest is not None and length > node.smallest:
        length = node.smallest
    if node.largest is not None and length < node.largest:
        raise TemplateError.one(
            "tiers",
            f"The {node.level} {node.label} needs a {_describe_length(bits, length)}; "
            f"{node.limit_note}.",
        )
    if length < 0:
        raise TemplateError.one(
            "supernet",
            f"The {node.level} {node.label} needs {_describe_length(bits, length)}, "
            f"more than the whole IPv{4 if bits == 32 else 6} address space.",
        )
    node.length = length
    return length


def _place(node: _Node, first: int, length: int, bits: int, order: list[_Node]) -> None:
    """Place ``node`` at ``first/length`` and its children inside it, largest first."""
    node.first, node.length = first, length
    order.append(node)
    cursor = first
    # sorted() is stable: equal sizes keep the order of the parameters.
    for child in sorted(node.children, key=_len):
        _place(child, cursor, _len(child), bits, order)
        cursor += 1 << (bits - _len(child))


def _fit_root(root: _Node, prefix: cidr.Prefix, headroom: int, what: str, field_name: str) -> None:
    bits = prefix.bits
    lengths = [_len(child) for child in root.children]
    needed = _strict_length(root, bits, headroom, lengths)
    if needed < prefix.length:
        biggest = min(root.children, key=_len)
        room = f" with {headroom}% headroom" if headroom else ""
        factor = 1 << (prefix.length - needed)
        raise TemplateError.one(
            field_name,
            f"The plan needs a {_describe_length(bits, needed)}{room}, the {what} {prefix} is a "
            f"/{prefix.length}: {factor} times too small (its largest block, the "
            f"{biggest.level} {biggest.label or biggest.level}, is a /{biggest.length}).",
        )
    root.length = prefix.length


def _mirror_v6(node: _Node) -> _Node | None:
    """Return the IPv6 twin of an IPv4 subtree: /64 subnets, /56 networks, no transit."""
    if not node.ipv6:
        return None
    twin = _Node(
        level=node.level,
        context=node.context,
        label=node.label,
        description=node.description,
        tags=dict(node.tags),
    )
    twin.children = [child for child in map(_mirror_v6, node.children) if child is not None]
    if not node.children:
        twin.length = IPV6_SUBNET
    elif all(not child.children for child in node.children) and node.level != "supernet":
        twin.length = IPV6_NETWORK
    return twin


# Generation


@dataclass(frozen=True)
class GeneratedPlan:
    """The operations of a template's plan, with what the preview shows about them."""

    template: str
    version: int
    title: str
    operations: tuple[dict[str, Any], ...]
    counts: Mapping[str, int]
    supernet: str
    ipv6_supernet: str | None
    used_percent: str


def _names(params: TemplateParams, spec: TemplateSpec) -> dict[str, str]:
    return {**spec.naming, **dict(params.naming)}


def _emit(
    order: Sequence[_Node],
    *,
    family: int,
    params: TemplateParams,
    spec: TemplateSpec,
    root_name: str,
    root_parent: int | None,
    start: int,
) -> Iterator[dict[str, Any]]:
    patterns = _names(params, spec)
    refs: dict[int, str] = {}
    parents: dict[int, _Node] = {}
    for node in order:
        for child in node.children:
            parents[id(child)] = node
    parent: int | str | None
    for number, node in enumerate(order, start=start):
        ref = f"t{number}"
        refs[id(node)] = ref
        if node.level == "supernet":
            name, parent = root_name, root_parent
        else:
            name = patterns[node.level].format_map(node.context)
            parent = refs[id(parents[id(node)])]
        if family == 6 and node.level != "supernet":
            name = f"{name}-v6"
        if not name.strip() or len(name) > MAX_NAME:
            raise TemplateError.one(
                f"naming.{node.level}",
                f"The pattern makes the name '{name[:80]}', which is not 1 to {MAX_NAME} "
                "characters long.",
            )
        tags = {"template": spec.key, "template_version": str(spec.version), "level": node.level}
        tags.update(node.tags)
        yield {
            "op": "create",
            "ref": ref,
            "name": name,
            "cidr": str(cidr.Prefix(family, node.first, _len(node))),
            "parent": parent,
            "type": "supernet" if node.level == "supernet" else LEVEL_TYPES[node.level],
            "status": "reserved" if node.reserved_block else params.status,
            "description": node.description,
            "tags": tags,
        }


def generate(params: TemplateParams, *, ipv6_seed: str = "") -> GeneratedPlan:
    """Return the plan of ``params``: every pool as a ``create`` operation, parents first.

    Raise TemplateError naming what does not fit and by how much. ``ipv6_seed`` (the
    organization) derives the ULA /48 of a dual-stack plan when no ``ipv6_prefix`` is given.
    """
    spec = TEMPLATES[params.template]
    if not params.supernet:
        raise TemplateError.one("supernet", "An IPv4 prefix such as 10.0.0.0/8 is required.")
    supernet = cidr.parse_prefix(params.supernet)
    root = _build(params)
    for child in root.children:
        _size(child, 32, params.headroom, ipv6=False)
    _fit_root(root, supernet, params.headroom, "supernet", "supernet")
    order: list[_Node] = []
    _place(root, supernet.first, supernet.length, 32, order)
    root_name = params.name or f"{spec.label} {supernet}"
    operations = list(
        _emit(
            order,
            family=4,
            params=params,
            spec=spec,
            root_name=root_name,
            root_parent=params.parent,
            start=1,
        )
    )
    ipv6_supernet = None
    if params.ipv6:
        if params.ipv6_prefix:
            prefix6 = cidr.parse_prefix(params.ipv6_prefix)
        elif ipv6_seed:
            prefix6 = derive_ula(ipv6_seed)
        else:
            raise TemplateError.one("ipv6_prefix", "Give an IPv6 /48 for the dual stack.")
        root6 = _mirror_v6(root)
        if root6 is None:  # pragma: no cover - the supernet always has an IPv6 twin
            raise TemplateError.one("ipv6", "The plan has no IPv6 part.")
        for child in root6.children:
            _size(child, 128, params.headroom, ipv6=True)
        _fit_root(root6, prefix6, params.headroom, "IPv6 prefix", "ipv6_prefix")
        order6: list[_Node] = []
        _place(root6, prefix6.first, prefix6.length, 128, order6)
        operations.extend(
            _emit(
                order6,
                family=6,
                params=params,
                spec=spec,
                root_name=f"{root_name} (IPv6)",
                root_parent=params.ipv6_parent,
                start=len(operations) + 1,
            )
        )
        ipv6_supernet = str(prefix6)
    counts: dict[str, int] = {}
    for operation in operations:
        counts[operation["type"]] = counts.get(operation["type"], 0) + 1
    used = sum(1 << (32 - _len(child)) for child in root.children)
    percent = used * 10000 // supernet.size
    return GeneratedPlan(
        template=spec.key,
        version=spec.version,
        title=f"{spec.label} template v{spec.version}: {supernet}",
        operations=tuple(operations),
        counts=counts,
        supernet=str(supernet),
        ipv6_supernet=ipv6_supernet,
        used_percent=f"{percent // 100}.{percent % 100:02d}",
    )


def render_tree(operations: Sequence[Mapping[str, Any]], limit: int = 400) -> str:
    """Return the created pools as an ASCII tree (at most ``limit`` lines), for previews."""
    children: dict[Any, list[Mapping[str, Any]]] = {}
    roots: list[Mapping[str, Any]] = []
    refs = {operation.get("ref") for operation in operations}
    for operation in operations:
        parent = operation.get("parent")
        if isinstance(parent, str) and parent in refs:
            children.setdefault(parent, []).append(operation)
        else:
            roots.append(operation)
    lines: list[str] = []

    def walk(operation: Mapping[str, Any], prefix: str, tail: str) -> None:
        if len(lines) >= limit:
            return
        lines.append(
            f"{prefix}{tail}{operation.get('cidr')}  {operation.get('name')} "
            f"[{operation.get('type')}]"
        )
        kids = children.get(operation.get("ref"), [])
        extension = prefix + ("    " if tail == "└── " else "│   " if tail else "")
        for index, child in enumerate(kids):
            walk(child, extension, "└── " if index == len(kids) - 1 else "├── ")

    for root in roots:
        walk(root, "", "")
    if len(lines) >= limit and len(operations) > limit:
        lines.append(f"... {len(operations) - limit:,} more pools")
    return "\n".join(lines)


def render_map(operations: Sequence[Mapping[str, Any]], width: int = 64) -> str:
    """Return an ASCII picture of each root's first level, to scale, with a legend.

    One character per ``1/width`` of the root: a letter per child block, ``.`` for free
    space, ``+`` where several blocks share a character. A block smaller than one
    character still gets one, so none disappears.
    """
    by_parent: dict[Any, list[Mapping[str, Any]]] = {}
    roots = []
    refs = {operation.get("ref") for operation in operations}
    for operation in operations:
        parent = operation.get("parent")
        if isinstance(parent, str) and parent in refs:
            by_parent.setdefault(parent, []).append(operation)
        else:
            roots.append(operation)
    letters = string.ascii_uppercase + string.ascii_lowercase + string.digits
    pictures = []
    for root in roots:
        outer = cidr.parse_prefix(str(root.get("cidr")))
        cells = ["."] * width
        legend = []
        for number, child in enumerate(by_parent.get(root.get("ref"), [])):
            prefix = cidr.parse_prefix(str(child.get("cidr")))
            letter = letters[number % len(letters)]
            start = (prefix.first - outer.first) * width // outer.size
            end = max(start + 1, ((prefix.last + 1 - outer.first) * width) // outer.size)
            for cell in range(start, min(end, width)):
                cells[cell] = letter if cells[cell] == "." else "+"
            legend.append(f"  {letter} {prefix} {child.get('name')}")
        pictures.append("\n".join([f"{outer} {root.get('name')}", f"[{''.join(cells)}]", *legend]))
    return "\n\n".join(pictures)
