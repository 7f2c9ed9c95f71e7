"""Compliance rules over the address plan.

Each rule has a stable id, a default severity and default parameters. An organization
stores its choices in ``settings["compliance"]`` as ``{RULE_ID: {"enabled": bool,
"severity": "error"|"warning"|"info", "params": {...}}}``; :func:`resolve_compliance_settings`
merges them over the defaults (parameters key by key; mapping parameters such as
``bounds`` and ``patterns`` one level deeper, where ``null`` removes a default entry).
Settings that do not validate are ignored key by key, so a bad value can never stop an
analysis; :func:`validate_compliance_settings` reports them to whoever saves them.

=================  ========  ====================================================================
rule               default   finds (parameters and their defaults)
=================  ========  ====================================================================
OVERLAP            error     live sibling pools (or roots, ``roots: true``) that overlap
PUBLIC_SPACE       warning   pools outside RFC 1918, RFC 6598 and ULA space; only the topmost
                             such pool of a branch (``allowed: []``, extra prefixes to accept)
SPECIAL_PURPOSE    error     pools overlapping loopback, link-local, multicast, documentation
                             or reserved ranges, reported on the topmost pool that overlaps
                             each range (``categories``: all five)
PREFIX_BOUNDS      warning   a prefix length outside the bounds for the pool's type
                             (``bounds``: vpc /16-/28 and /44-/60, subnet /16-/29 and /44-/64)
NAMING             info      a name that does not fully match the regular expression set for
                             the pool's type, or for ``"*"`` (``patterns: {}``); RE2 syntax,
                             at most 512 characters (see below)
REQUIRED_TAGS      warning   a tag of ``keys`` missing or empty on a pool of ``types``
                             (``keys: []``, ``types: []`` meaning every type)
EMPTY_POOL         info      a container pool (``types``: supernet, region, environment, vpc)
                             with no live children and no discovered use, older than
                             ``min_age_days`` (30); reserved pools are left alone
OVER_UTILIZED      warning   utilization (by children or discovered use, the higher) at or
                             above ``threshold`` percent (80)
DEPRECATED_IN_USE  warning   a deprecated pool with live children or discovered use
=================  ========  ====================================================================

Naming patterns come from users and run against every pool name, so they run in RE2, whose
matching time is linear in the name whatever the pattern: ``(a|aa)+$``, which backtracks for
minutes in Python's ``re`` on ``"a" * 42 + "!"``, answers at once. RE2 has no backreferences
or lookaround; a pattern that uses them is refused when it is saved.

A finding is ``{rule, severity, pool, message, remediation}`` (:class:`Finding`), plus the
ids of the other pools involved (``related``), for example the sibling an overlap is with.

>>> from datetime import UTC, datetime
>>> from apps.pools.cidr import parse_prefix as p
>>> from apps.analysis.engine.data import PoolData, build_tree
>>> tree = build_tree([
...     PoolData(1, None, p("10.0.0.0/8"), name="corp", type="supernet"),
...     PoolData(2, 1, p("10.1.0.0/16"), name="Prod VPC", type="vpc"),
...     PoolData(3, 1, p("10.1.0.0/20"), name="vpc-legacy", type="vpc"),
... ])
>>> naming = {"NAMING": {"params": {"patterns": {"vpc": "vpc-[a-z-]+"}}}}
>>> settings = resolve_compliance_settings(naming)
>>> findings = evaluate_compliance(tree, settings=settings, now=datetime(2025, 1, 1, tzinfo=UTC))
>>> [(f.rule, f.severity, f.pool) for f in findings]
[('OVERLAP', 'error', 2), ('OVERLAP', 'error', 3), ('NAMING', 'info', 2)]
>>> findings[0].message
"vpc 'Prod VPC' (10.1.0.0/16) overlaps its sibling 'vpc-legacy' (10.1.0.0/20)."
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Protocol

import re2

from apps.analysis.engine.data import (
    CONTAINER_TYPES,
    POOL_TYPES,
    SEVERITIES,
    PoolData,
    PoolTree,
    Severity,
    severity_rank,
)
from apps.analysis.engine.spaces import (
    SPECIAL_CATEGORIES,
    SPECIAL_PURPOSE,
    is_private,
    special_purpose_hits,
)
from apps.analysis.engine.utilization import Utilization, at_or_above, pool_utilization
from apps.pools.cidr import CidrError, Prefix, format_address_count, parse_prefix

__all__ = [
    "MAX_PATTERN_LENGTH",
    "RULES",
    "RULE_IDS",
    "ComplianceSettings",
    "Finding",
    "RuleDefinition",
    "RuleSettings",
    "evaluate_compliance",
    "resolve_compliance_settings",
    "validate_compliance_settings",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """Report one rule broken by one pool."""

    rule: str
    severity: Severity
    pool: int
    message: str
    remediation: str
    related: tuple[int, ...] = ()


# Parameter parsers: each returns the parsed value or raises ValueError with a sentence.


def _parse_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _parse_non_negative_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be a whole number of 0 or more")
    return value


def _parse_threshold(value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number between 0 and 100")
    threshold = Fraction(str(value))
    if not 0 < threshold <= 100:
        raise ValueError("must be a number between 0 and 100")
    return threshold


def _parse_strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, str) and item for item in value
    ):
        raise ValueError("must be a list of non-empty strings")
    return tuple(value)


def _parse_types(value: object) -> tuple[str, ...]:
    types = _parse_strings(value)
    unknown = sorted(set(types) - set(POOL_TYPES))
    if unknown:
        raise ValueError(f"unknown pool types {unknown}; expected some of {list(POOL_TYPES)}")
    return types


def _parse_categories(value: object) -> tuple[str, ...]:
    categories = _parse_strings(value)
    unknown = sorted(set(categories) - set(SPECIAL_CATEGORIES))
    if unknown:
        raise ValueError(f"unknown categories {unknown}; expected some of {SPECIAL_CATEGORIES}")
    return categories


def _parse_prefixes(value: object) -> tuple[Prefix, ...]:
    texts = _parse_strings(value)
    try:
        return tuple(parse_prefix(text) for text in texts)
    except CidrError as error:
        raise ValueError(error.message) from None


def _check_type_key(key: object) -> str:
    if not isinstance(key, str) or (key != "*" and key not in POOL_TYPES):
        raise ValueError(f"{key!r} is not a pool type (or '*')")
    return key


def _parse_bounds(value: object) -> dict[str, dict[int, tuple[int, int]]]:
    if not isinstance(value, Mapping):
        raise ValueError("must map pool types to {'ipv4': [min, max], 'ipv6': [min, max]}")
    bounds: dict[str, dict[int, tuple[int, int]]] = {}
    for key, families in value.items():
        pool_type = _check_type_key(key)
        if families is None:
            continue
        if not isinstance(families, Mapping) or not set(families) <= {"ipv4", "ipv6"}:
            raise ValueError(f"{pool_type}: expected {{'ipv4': [min, max], 'ipv6': [min, max]}}")
        parsed: dict[int, tuple[int, int]] = {}
        for name, pair in families.items():
            family, bits = (4, 32) if name == "ipv4" else (6, 128)
            if (
                not isinstance(pair, list | tuple)
                or len(pair) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in pair)
                or not 0 <= pair[0] <= pair[1] <= bits
            ):
                raise ValueError(
                    f"{pool_type}.{name}: expected [min, max] with 0 <= min <= max <= {bits}"
                )
            parsed[family] = (pair[0], pair[1])
        bounds[pool_type] = parsed
    return bounds


MAX_PATTERN_LENGTH = 512


class NamePattern(Protocol):
    """A compiled naming pattern (an RE2 regular expression)."""

    @property
    def pattern(self) -> str: ...

    def fullmatch(self, text: str) -> object | None: ...


def _re2_options() -> Any:
    options = re2.Options()
    # A refused pattern is reported to whoever saved it; RE2 need not log it too.
    options.log_errors = False
    return options


_RE2_OPTIONS = _re2_options()


def compile_name_pattern(pattern: str) -> NamePattern:
    """Compile a naming pattern in RE2, or raise ValueError with the reason."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"longer than {MAX_PATTERN_LENGTH} characters")
    try:
        compiled: NamePattern = re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(
            f"{pattern!r} is not a regular expression RE2 accepts ({reason})"
        ) from None
    return compiled


def _parse_patterns(value: object) -> dict[str, NamePattern]:
    if not isinstance(value, Mapping):
        raise ValueError("must map pool types (or '*') to regular expressions")
    patterns: dict[str, NamePattern] = {}
    for key, pattern in value.items():
        pool_type = _check_type_key(key)
        if pattern is None:
            continue
        if not isinstance(pattern, str):
            raise ValueError(f"{pool_type}: the pattern must be a string")
        try:
            patterns[pool_type] = compile_name_pattern(pattern)
        except ValueError as error:
            raise ValueError(f"{pool_type}: {error}") from None
    return patterns


Parser = Callable[[object], Any]
# Parameters whose value is a mapping merge one level deeper than the others.
_DEEP_PARAMS = frozenset({"bounds", "patterns"})


@dataclass(frozen=True, slots=True)
class RuleDefinition:
    """Describe a rule: id, title, default severity, default parameters and their parsers."""

    id: str
    title: str
    default_severity: Severity
    defaults: Mapping[str, object]
    parsers: Mapping[str, Parser] = field(default_factory=dict)


RULES: Mapping[str, RuleDefinition] = {
    rule.id: rule
    for rule in (
        RuleDefinition(
            "OVERLAP", "Overlapping pools", "error", {"roots": True}, {"roots": _parse_bool}
        ),
        RuleDefinition(
            "PUBLIC_SPACE",
            "Public address space",
            "warning",
            {"allowed": []},
            {"allowed": _parse_prefixes},
        ),
        RuleDefinition(
            "SPECIAL_PURPOSE",
            "Special-purpose address space",
            "error",
            {"categories": list(SPECIAL_CATEGORIES)},
            {"categories": _parse_categories},
        ),
        RuleDefinition(
            "PREFIX_BOUNDS",
            "Prefix length bounds",
            "warning",
            {
                "bounds": {
                    "vpc": {"ipv4": [16, 28], "ipv6": [44, 60]},
                    "subnet": {"ipv4": [16, 29], "ipv6": [44, 64]},
                }
            },
            {"bounds": _parse_bounds},
        ),
        RuleDefinition(
            "NAMING", "Naming convention", "info", {"patterns": {}}, {"patterns": _parse_patterns}
        ),
        RuleDefinition(
            "REQUIRED_TAGS",
            "Required tags",
            "warning",
            {"keys": [], "types": []},
            {"keys": _parse_strings, "types": _parse_types},
        ),
        RuleDefinition(
            "EMPTY_POOL",
            "Empty container pool",
            "info",
            {"min_age_days": 30, "types": list(CONTAINER_TYPES)},
            {"min_age_days": _parse_non_negative_int, "types": _parse_types},
        ),
        RuleDefinition(
            "OVER_UTILIZED",
            "Over-utilized pool",
            "warning",
            {"threshold": 80},
            {"threshold": _parse_threshold},
        ),
        RuleDefinition("DEPRECATED_IN_USE", "Deprecated pool in use", "warning", {}),
    )
}
RULE_IDS: tuple[str, ...] = tuple(RULES)


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """Hold the effective settings of one rule; ``params`` are parsed values."""

    enabled: bool
    severity: Severity
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ComplianceSettings:
    """Hold the effective settings of every rule, keyed by rule id."""

    rules: Mapping[str, RuleSettings]

    def __getitem__(self, rule_id: str) -> RuleSettings:
        """Return the settings of ``rule_id``."""
        return self.rules[rule_id]

    def enabled(self) -> tuple[str, ...]:
        """Return the ids of the enabled rules, in rule order."""
        return tuple(rule_id for rule_id in RULE_IDS if self.rules[rule_id].enabled)


def _merge_params(rule: RuleDefinition, raw: object, errors: list[str]) -> dict[str, Any]:
    """Return the parsed parameters of ``rule``: defaults overlaid with the valid ``raw`` keys."""
    merged: dict[str, object] = dict(rule.defaults)
    if raw is not None and not isinstance(raw, Mapping):
        errors.append("params: must be an object")
        raw = None
    for key, value in (raw or {}).items():
        if key not in rule.parsers:
            errors.append(f"params.{key}: unknown parameter")
            continue
        default = rule.defaults[key]
        if key in _DEEP_PARAMS and isinstance(value, Mapping) and isinstance(default, Mapping):
            value = {**default, **value}
        try:
            rule.parsers[key](value)
        except ValueError as error:
            errors.append(f"params.{key}: {error}")
            continue
        merged[key] = value
    return {key: rule.parsers[key](value) for key, value in merged.items()}


def _resolve(raw: object) -> tuple[ComplianceSettings, dict[str, list[str]]]:
    """Return the effective settings and the problems found in ``raw``, by rule id."""
    problems: dict[str, list[str]] = {}
    if raw is not None and not isinstance(raw, Mapping):
        problems["compliance"] = ["must be an object keyed by rule id"]
        raw = None
    overrides: Mapping[str, object] = raw or {}
    for key in overrides:
        if key not in RULES:
            problems.setdefault(str(key), []).append(f"unknown rule; expected one of {RULE_IDS}")
    rules: dict[str, RuleSettings] = {}
    for rule_id, rule in RULES.items():
        errors: list[str] = []
        override = overrides.get(rule_id)
        if override is not None and not isinstance(override, Mapping):
            errors.append("must be an object with enabled, severity and params")
            override = None
        override = override or {}
        unknown = sorted(set(override) - {"enabled", "severity", "params"})
        errors.extend(f"{key}: unknown setting" for key in unknown)
        enabled = override.get("enabled", True)
        if not isinstance(enabled, bool):
            errors.append("enabled: must be true or false")
            enabled = True
        severity = override.get("severity", rule.default_severity)
        if severity not in SEVERITIES:
            errors.append(f"severity: must be one of {list(SEVERITIES)}")
            severity = rule.default_severity
        params = _merge_params(rule, override.get("params"), errors)
        rules[rule_id] = RuleSettings(enabled=enabled, severity=severity, params=params)
        if errors:
            problems[rule_id] = errors
    return ComplianceSettings(rules=rules), problems


def resolve_compliance_settings(raw: object = None) -> ComplianceSettings:
    """Return the effective rule settings: the organization's ``raw`` merged over defaults.

    Invalid entries are skipped (their defaults apply); see
    :func:`validate_compliance_settings` to report them.
    """
    return _resolve(raw)[0]


def validate_compliance_settings(raw: object) -> dict[str, list[str]]:
    """Return the problems of ``raw`` compliance settings by rule id; empty when valid."""
    return _resolve(raw)[1]


DEFAULT_SETTINGS = resolve_compliance_settings()


# Evaluation


class _Context:
    """Carry what the rules of one evaluation share, computing utilization on demand."""

    def __init__(
        self,
        tree: PoolTree,
        settings: ComplianceSettings,
        now: datetime,
        utilization: Mapping[int, Utilization],
        in_use: Mapping[int, int],
    ) -> None:
        self.tree = tree
        self.settings = settings
        self.now = now
        self._utilization = utilization
        self._in_use = in_use
        self._overlaps: dict[int | None, dict[int, int]] = {}
        self._public: dict[int, bool] = {}

    def utilization(self, pool_id: int) -> Utilization:
        known = self._utilization.get(pool_id)
        if known is None:
            known = pool_utilization(self.tree, pool_id, in_use=self._in_use)
        return known

    def overlap_partner(self, pool: PoolData) -> int | None:
        """Return the id of one live sibling that ``pool`` overlaps, or None."""
        parent_id = self.tree.effective_parent_id(pool.id)
        partners = self._overlaps.get(parent_id)
        if partners is None:
            partners = _overlapping_siblings(self.tree, self.tree.children_of(parent_id))
            self._overlaps[parent_id] = partners
        return partners.get(pool.id)

    def is_public(self, pool: PoolData, allowed: tuple[Prefix, ...]) -> bool:
        known = self._public.get(pool.id)
        if known is None:
            known = not is_private(pool.cidr, allowed)
            self._public[pool.id] = known
        return known


def _overlapping_siblings(tree: PoolTree, sibling_ids: Iterable[int]) -> dict[int, int]:
    """Return, for every sibling that overlaps another, the id of one it overlaps.

    Siblings come in address order. A sibling overlaps an earlier one when it starts before
    the furthest end reached so far, and a later one when the next sibling starts before its
    own end: one pass each way, ``O(n)`` after the sort the tree already did.
    """
    pools = tree.pools
    ordered = [pools[pool_id] for pool_id in sibling_ids]
    partners: dict[int, int] = {}
    reach_family = 0
    reach_last = -1
    reach_id = -1
    for index, pool in enumerate(ordered):
        cidr = pool.cidr
        if cidr.family != reach_family:
            reach_family, reach_last, reach_id = cidr.family, -1, -1
        if cidr.first <= reach_last:
            partners[pool.id] = reach_id
        elif index + 1 < len(ordered):
            following = ordered[index + 1].cidr
            if following.family == cidr.family and following.first <= cidr.last:
                partners[pool.id] = ordered[index + 1].id
        if cidr.last > reach_last:
            reach_last, reach_id = cidr.last, pool.id
    return partners


def _describe(pool: PoolData) -> str:
    """Return ``type 'name' (cidr)`` for the start of a message."""
    return f"{pool.type} {pool.label()}"


def _check_overlap(ctx: _Context, pool: PoolData, rule: RuleSettings) -> Finding | None:
    if ctx.tree.effective_parent_id(pool.id) is None and not rule.params["roots"]:
        return None
    partner_id = ctx.overlap_partner(pool)
    if partner_id is None:
        return None
    partner = ctx.tree.get(partner_id)
    where = "root pool" if ctx.tree.effective_parent_id(pool.id) is None else "sibling"
    return Finding(
        rule="OVERLAP",
        severity=rule.severity,
        pool=pool.id,
        message=f"{_describe(pool)} overlaps its {where} {partner.label()}.",
        remediation=(
            "Renumber or move one of the two pools so that their blocks are disjoint; "
            "if they are separate routing domains, disable the check for root pools."
        ),
        related=(partner_id,),
    )


def _check_public_space(ctx: _Context, pool: PoolData, rule: RuleSettings) -> Finding | None:
    allowed: tuple[Prefix, ...] = rule.params["allowed"]
    if not ctx.is_public(pool, allowed):
        return None
    parent = ctx.tree.parent_of(pool.id)
    if parent is not None and ctx.is_public(parent, allowed):
        # Reported once, on the topmost public pool of the branch.
        return None
    if any(special.prefix.contains(pool.cidr) for special in SPECIAL_PURPOSE):
        # Loopback, documentation and the like are SPECIAL_PURPOSE's business.
        return None
    space = "RFC 1918 or RFC 6598" if pool.cidr.family == 4 else "unique local (fc00::/7)"
    return Finding(
        rule="PUBLIC_SPACE",
        severity=rule.severity,
        pool=pool.id,
        message=f"{_describe(pool)} lies outside private address space ({space}).",
        remediation=(
            "Renumber the pool into private space, or add the organization's own public "
            "prefixes to the rule's 'allowed' list."
        ),
    )


def _check_special_purpose(ctx: _Context, pool: PoolData, rule: RuleSettings) -> Finding | None:
    categories: tuple[str, ...] = rule.params["categories"]
    hits = special_purpose_hits(pool.cidr, categories)
    if not hits:
        return None
    parent = ctx.tree.parent_of(pool.id)
    if parent is not None:
        # Each range is reported on the topmost pool that overlaps it.
        hits = tuple(hit for hit in hits if not hit.prefix.overlaps(parent.cidr))
        if not hits:
            return None
    ranges = ", ".join(f"{hit.prefix} ({hit.description})" for hit in hits)
    return Finding(
        rule="SPECIAL_PURPOSE",
        severity=rule.severity,
        pool=pool.id,
        message=f"{_describe(pool)} overlaps special-purpose space: {ranges}.",
        remediation=(
            "Renumber the pool outside special-purpose ranges: these addresses are not "
            "routed as ordinary unicast space."
        ),
    )


def _check_prefix_bounds(ctx: _Context, pool: PoolData, rule: RuleSettings) -> Finding | None:
    bounds: Mapping[str, Mapping[int, tuple[int, int]]] = rule.params["bounds"]
    by_family = bounds.get(pool.type) or bounds.get("*")
    if not by_family or pool.cidr.family not in by_family:
        return None
    low, high = by_family[pool.cidr.family]
    length = pool.cidr.length
    if low <= length <= high:
        return None
    return Finding(
        rule="PREFIX_BOUNDS",
        severity=rule.severity,
        pool=pool.id,
        message=(
            f"{_describe(pool)} is a /{length}; {pool.type} pools of IPv{pool.cidr.family} "
            f"must be /{low} to /{high}."
        ),
        remediation=f"Resize the pool to a prefix length between /{low} and /{high}.",
    )


def _check_naming(ctx: _Context, pool: PoolData, rule: RuleSettings) -> Finding | None:
    patterns: Mapping[str, NamePattern] = rule.params["patterns"]
    pattern = patterns.get(pool.type) or patterns.get("*")
    if pattern is None or pattern.fullmatch(pool.name):
        return None
    return Finding(
        rule="NAMING",
        severity=rule.severity,
        pool=pool.id,
        message=(
            f"{_describe(pool)} does not match the naming pattern "
            f"'{pattern.pattern}' for {pool.type} pools."
        ),
        remediation=f"Rename the pool to match '{pattern.pattern}'.",
    )


def _check_required_tags(ctx: _Context, pool: PoolData, rule: RuleSettings) -> Finding | None:
    keys: tuple[str, ...] = rule.params["keys"]
    types: tuple[str, ...] = rule.params["types"]
    if not keys or (types and pool.type not in types):
        return None
    missing = [key for key in keys if not pool.tags.get(key)]
    if not missing:
        return None
    names = ", ".join(missing)
    return Finding(
        rule="REQUIRED_TAGS",
        severity=rule.severity,
        pool=pool.id,
        message=f"{_describe(pool)} is missing required tags: {names}.",
        remediation=f"Set the tags {names} on the pool.",
    )


def _check_empty_pool(ctx: _Context, pool: PoolData, rule: RuleSettings) -> Finding | None:
    if pool.type not in rule.params["types"] or pool.status == "reserved":
        return None
    if ctx.tree.children_of(pool.id) or pool.created_at is None:
        return None
    if ctx.utilization(pool.id).in_use:
        return None
    min_age: int = rule.params["min_age_days"]
    age = ctx.now - pool.created_at
    if age < timedelta(days=min_age):
        return None
    return Finding(
        rule="EMPTY_POOL",
        severity=rule.severity,
        pool=pool.id,
        message=f"{_describe(pool)} has had no children for {age.days} days.",
        remediation="Allocate from the pool, mark it reserved, or delete it to reclaim its space.",
    )


def _check_over_utilized(ctx: _Context, pool: PoolData, rule: RuleSettings) -> Finding | None:
    threshold: Fraction = rule.params["threshold"]
    usage = ctx.utilization(pool.id)
    used = usage.effective_used
    if not at_or_above(used, usage.total, threshold):
        return None
    what = "in use" if (usage.in_use or 0) > usage.used else "allocated"
    return Finding(
        rule="OVER_UTILIZED",
        severity=rule.severity,
        pool=pool.id,
        message=(
            f"{_describe(pool)} is {used * 100 / usage.total:.1f}% {what}, at or above "
            f"the {float(threshold):g}% threshold."
        ),
        remediation=(
            "Plan more space: expand the pool into free space next to it, allocate another "
            "block in its parent, or reclaim unused children."
        ),
    )


def _check_deprecated_in_use(ctx: _Context, pool: PoolData, rule: RuleSettings) -> Finding | None:
    if pool.status != "deprecated":
        return None
    children = len(ctx.tree.children_of(pool.id))
    in_use = ctx.utilization(pool.id).in_use or 0
    if not children and not in_use:
        return None
    reasons = []
    if children:
        reasons.append(f"{children} live child pool{'s' if children != 1 else ''}")
    if in_use:
        reasons.append(f"{format_address_count(in_use)} in use")
    return Finding(
        rule="DEPRECATED_IN_USE",
        severity=rule.severity,
        pool=pool.id,
        message=f"{_describe(pool)} is deprecated but still has {' and '.join(reasons)}.",
        remediation=(
            "Migrate the children and resources out of the pool, or set its status back to active."
        ),
    )


_CHECKS: Mapping[str, Callable[[_Context, PoolData, RuleSettings], Finding | None]] = {
    "OVERLAP": _check_overlap,
    "PUBLIC_SPACE": _check_public_space,
    "SPECIAL_PURPOSE": _check_special_purpose,
    "PREFIX_BOUNDS": _check_prefix_bounds,
    "NAMING": _check_naming,
    "REQUIRED_TAGS": _check_required_tags,
    "EMPTY_POOL": _check_empty_pool,
    "OVER_UTILIZED": _check_over_utilized,
    "DEPRECATED_IN_USE": _check_deprecated_in_use,
}
_RULE_ORDER = {rule_id: index for index, rule_id in enumerate(RULE_IDS)}


def finding_order(finding: Finding, tree: PoolTree) -> tuple[int, int, int, Prefix, int]:
    """Return the sort key of findings: severity, rule, then the pool's address and id."""
    pool = tree.pools[finding.pool]
    return (
        severity_rank(finding.severity),
        _RULE_ORDER.get(finding.rule, len(_RULE_ORDER)),
        pool.cidr.family,
        pool.cidr,
        pool.id,
    )


def evaluate_compliance(
    tree: PoolTree,
    *,
    now: datetime,
    settings: ComplianceSettings | None = None,
    utilization: Mapping[int, Utilization] | None = None,
    in_use: Mapping[int, int] | None = None,
    pool_ids: Iterable[int] | None = None,
) -> tuple[Finding, ...]:
    """Return the findings of the enabled rules, most severe first.

    ``pool_ids`` limits the pools checked (default: every live pool); rules still look at
    their parents and siblings. ``utilization`` may hold precomputed pool utilizations; the
    missing ones are computed, with ``in_use`` for discovered usage.
    """
    settings = settings or DEFAULT_SETTINGS
    ctx = _Context(tree, settings, now, utilization or {}, in_use or {})
    checks = [(settings[rule_id], _CHECKS[rule_id]) for rule_id in settings.enabled()]
    findings: list[Finding] = []
    pools = tree.pools
    for pool_id in tree.walk() if pool_ids is None else pool_ids:
        pool = pools[pool_id]
        for rule, check in checks:
            finding = check(ctx, pool, rule)
            if finding is not None:
                findings.append(finding)
    findings.sort(key=lambda finding: finding_order(finding, tree))
    return tuple(findings)
