"""The console wizard's form: the template parameters as text fields, turned into JSON.

Lists are typed as comma-separated names; tiers one per line (``app 4000 hosts x2``,
``web /24 x3``); cloud providers one per line (``aws | shared, payments | us-east-1``);
naming patterns one per line (``subnet: {region}-{env}-{tier}-{index}``). The form only
reshapes text: the generator checks the parameters and names each wrong one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django import forms

from apps.planning.engine.templates import PROVIDERS, STATUSES, TEMPLATES
from apps.planning.template_models import NAME_MAX_LENGTH
from apps.pools.forms import PoolReferenceField

_TIER = re.compile(
    r"^(?P<name>[^\s/]+)\s+(?:/(?P<length>\d{1,3})|(?P<hosts>[\d,_]{1,12})\s*(?:hosts?|h)?)"
    r"(?:\s*[x\u00d7*]\s*(?P<count>\d{1,4}))?$",
    re.IGNORECASE,
)
LIST_FIELDS = ("regions", "environments", "units", "sites")


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def tiers_from_text(text: str) -> list[Any]:
    """Return the tiers of ``text``, one per line; a line that does not parse stays a string.

    The generator then reports such a line as a tier that is not an object, by position.
    """
    tiers: list[Any] = []
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        match = _TIER.match(line)
        if match is None:
            tiers.append(line)
            continue
        tier: dict[str, Any] = {"name": match["name"]}
        if match["length"]:
            tier["prefix_length"] = int(match["length"])
        else:
            tier["hosts"] = int(match["hosts"].replace(",", "").replace("_", ""))
        tier["count"] = int(match["count"] or 1)
        tiers.append(tier)
    return tiers


def tiers_to_text(tiers: Any) -> str:
    """Return ``tiers`` (JSON) as the form's text, the inverse of ``tiers_from_text``."""
    lines = []
    for tier in tiers or []:
        if not isinstance(tier, Mapping):
            continue
        size = (
            f"/{tier['prefix_length']}"
            if tier.get("prefix_length") is not None
            else f"{tier.get('hosts')} hosts"
        )
        count = tier.get("count", 1)
        lines.append(f"{tier.get('name')} {size}" + (f" x{count}" if count != 1 else ""))
    return "\n".join(lines)


def providers_from_text(text: str) -> list[Any]:
    """Return the cloud providers of ``text``: ``provider | accounts | regions`` per line."""
    providers: list[Any] = []
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) != 3:
            providers.append(line)
            continue
        providers.append(
            {
                "provider": parts[0].lower(),
                "accounts": _names(parts[1]),
                "regions": _names(parts[2]),
            }
        )
    return providers


def providers_to_text(providers: Any) -> str:
    """Return ``providers`` (JSON) as the form's text."""
    return "\n".join(
        f"{item.get('provider')} | {', '.join(item.get('accounts', []))} | "
        f"{', '.join(item.get('regions', []))}"
        for item in providers or []
        if isinstance(item, Mapping)
    )


def naming_from_text(text: str) -> dict[str, str]:
    """Return the naming patterns of ``text``: ``level: pattern`` per line."""
    naming: dict[str, str] = {}
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        level, _colon, pattern = line.partition(":")
        naming[level.strip()] = pattern.strip()
    return naming


def naming_to_text(naming: Mapping[str, str] | None) -> str:
    """Return naming patterns as the form's text."""
    return "\n".join(f"{level}: {pattern}" for level, pattern in (naming or {}).items())


class WizardForm(forms.Form):
    """Every parameter of every template; the chosen template reads its own."""

    template = forms.ChoiceField(label="1. Template")
    supernet = forms.CharField(
        label="2. Supernet",
        required=False,
        max_length=64,
        help_text="An IPv4 prefix, e.g. 10.0.0.0/8.",
    )
    supernet_pool = PoolReferenceField(
        label="…or the first free block in pool",
        required=False,
        family=4,
        help_text="An IPv4 pool: search by name, CIDR or address.",
    )
    supernet_prefix_length = forms.TypedChoiceField(
        label="of size",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—")] + [(str(n), f"/{n}") for n in range(8, 31)],
    )
    name = forms.CharField(
        label="Supernet pool name",
        required=False,
        max_length=255,
        help_text="Empty: the template's name and the prefix.",
    )
    regions = forms.CharField(
        label="3. Regions", required=False, max_length=4000, help_text="Comma-separated."
    )
    sites = forms.CharField(
        label="On-premises sites",
        required=False,
        max_length=4000,
        help_text="Hybrid; comma-separated.",
    )
    units = forms.CharField(
        label="Business units",
        required=False,
        max_length=4000,
        help_text="Hierarchical; comma-separated.",
    )
    providers = forms.CharField(
        label="Cloud providers",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Cloud-Native; one per line: aws | account, account | region, region",
    )
    environments = forms.CharField(
        label="4. Environments", required=False, max_length=4000, help_text="Comma-separated."
    )
    vpcs = forms.IntegerField(
        label="VPCs per environment", required=False, min_value=1, max_value=64, initial=1
    )
    tiers = forms.CharField(
        label="5. Subnet tiers",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line: a name, then /prefix or a host count, then xcount, e.g. "
        "'app 4000 hosts x2' or 'web /24 x3'.",
    )
    site_tiers = forms.CharField(
        label="Site subnet tiers",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Hybrid: the tiers of each site, as above.",
    )
    provider = forms.ChoiceField(
        label="Addresses reserved per subnet as in",
        required=False,
        choices=[(key, f"{limits.label} ({limits.reserved})") for key, limits in PROVIDERS.items()],
    )
    transit_prefix_length = forms.IntegerField(
        label="Transit block size (prefix length)", required=False, min_value=8, max_value=30
    )
    headroom = forms.IntegerField(
        label="6. Growth headroom (%)",
        required=False,
        min_value=0,
        max_value=90,
        initial=0,
        help_text="Left free at every level.",
    )
    naming = forms.CharField(
        label="Naming patterns",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line, 'level: pattern', with {region} {env} {tier} {unit} {site} "
        "{provider} {account} {index}.",
    )
    status = forms.ChoiceField(
        label="Status of the new pools", required=False, choices=[(s, s.title()) for s in STATUSES]
    )
    ipv6 = forms.BooleanField(label="IPv6 dual stack (/56 per VPC, /64 per subnet)", required=False)
    ipv6_prefix = forms.CharField(
        label="IPv6 /48",
        required=False,
        max_length=64,
        help_text="Empty: a ULA derived from the organization.",
    )
    template_name = forms.CharField(
        label="Save as organization template named", required=False, max_length=NAME_MAX_LENGTH
    )

    def __init__(self, *args: Any, template_choices: list, organization: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = template_choices
        self.fields["supernet_pool"].organization = organization
        self.fields["template"].widget.attrs["id"] = "id_template"

    def params(self) -> dict[str, Any]:
        """Return the JSON parameters the form's text spells."""
        data = self.cleaned_data
        params: dict[str, Any] = {
            "supernet": data.get("supernet") or None,
            "name": data.get("name") or "",
            "providers": providers_from_text(data.get("providers") or ""),
            "vpcs": data.get("vpcs") or 1,
            "tiers": tiers_from_text(data.get("tiers") or ""),
            "site_tiers": tiers_from_text(data.get("site_tiers") or ""),
            "provider": data.get("provider") or "aws",
            "transit_prefix_length": data.get("transit_prefix_length") or 24,
            "headroom": data.get("headroom") or 0,
            "naming": naming_from_text(data.get("naming") or ""),
            "status": data.get("status") or "planned",
            "ipv6": bool(data.get("ipv6")),
            "ipv6_prefix": data.get("ipv6_prefix") or None,
        }
        for key in LIST_FIELDS:
            params[key] = _names(data.get(key) or "")
        if data.get("supernet_pool"):
            params["supernet_pool"] = data["supernet_pool"].pk
            params["supernet_prefix_length"] = data.get("supernet_prefix_length")
        return params

    @classmethod
    def initial_for(cls, template: str, params: Mapping[str, Any], naming: Mapping[str, str]):
        """Return the form's initial text for a template's parameters."""
        initial: dict[str, Any] = {
            "template": template,
            "supernet": params.get("supernet") or "",
            "supernet_pool": params.get("supernet_pool") or "",
            "supernet_prefix_length": params.get("supernet_prefix_length") or "",
            "name": params.get("name") or "",
            "providers": providers_to_text(params.get("providers")),
            "vpcs": params.get("vpcs") or 1,
            "tiers": tiers_to_text(params.get("tiers")),
            "site_tiers": tiers_to_text(params.get("site_tiers")),
            "provider": params.get("provider") or "aws",
            "transit_prefix_length": params.get("transit_prefix_length") or 24,
            "headroom": params.get("headroom") or 0,
            "naming": naming_to_text(naming),
            "status": params.get("status") or "planned",
            "ipv6": bool(params.get("ipv6")),
            "ipv6_prefix": params.get("ipv6_prefix") or "",
        }
        for key in LIST_FIELDS:
            initial[key] = ", ".join(params.get(key) or [])
        return initial


TEMPLATE_KEYS = tuple(TEMPLATES)
