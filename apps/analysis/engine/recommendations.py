"""Recommendations: concrete changes to the plan, derived from an analysis and ranked.

Types, in the order they are listed among equals:

``capacity``
    A pool at or above the utilization threshold (OVER_UTILIZED's, default 80 %) or whose
    runway is at most ``runway_warning_days`` (default 90). The change expands the pool
    into its buddy block (the other half of the next shorter prefix) when that block is
    wholly free in the parent, else it is a ``review``.
``allocation``
    For a pool under capacity pressure that cannot expand: another block of the same size
    in its parent, at the best-suited free block (see :mod:`.gaps`). Also produced on
    request by :func:`suggest_allocations` (where a requested size would best go).
``compliance``
    A finding that a change can fix without a human choosing values: NAMING when a simple
    normalization of the name (trimmed, lower-cased, spaces and underscores to hyphens)
    matches the pattern, a rename; REQUIRED_TAGS when the nearest ancestors carry every
    missing tag, a copy of them. Other findings need a person and stay findings.
``reclaim``
    A pool with no live children that nobody uses: deprecated and without discovered use
    (warning); flagged EMPTY_POOL (info); or a non-container pool whose discovered use is 0
    and that is older than EMPTY_POOL's ``min_age_days`` (info). The change deletes it.
``consolidation``
    Two or more live siblings of one type and one status, planned or reserved (active
    pools are real networks: merging them would renumber them), without discovered use,
    at most one of them with children, whose blocks summarize into a single CIDR
    (``cidr.summarize``).
    The change merges them: the others are deleted and the kept one (the one with
    children, else the lowest) takes the summary prefix.

Changes are data that the pool services apply, each re-checked by the pool invariants:

* ``{"action": "allocate", "parent": id, "cidr": "10.0.4.0/22", "prefix_length": 22,
  "name": "...", "type": "vpc", "status": "planned"}``: create exactly that block.
* ``{"action": "update", "pool": id, "fields": {"cidr" | "name" | "tags": ...},
  "expect": {...}}``: ``expect`` holds the current values of the changed fields, so that
  a change made meanwhile by someone else is not overwritten.
* ``{"action": "delete", "pool": id}``
* ``{"action": "merge", "pools": [ids], "keep": id, "cidr": "10.0.0.0/23"}``
* ``{"action": "review", "pool": id}``: a capacity warning that no change can settle
  automatically; it is dismissed once handled.

Impact score (0-100)::

    impact = min(100, base[severity] + round(40 * magnitude))
    base = {"error": 60, "warning": 35, "info": 10}, magnitude in [0, 1]:

* capacity and allocation: the larger of the utilization pressure
  ``(percent - threshold) / (100 - threshold)`` and the runway pressure
  ``1 - days / runway_warning_days`` (each clipped to 0..1);
* reclaim: the share of the parent's addresses the pool frees (1 for a root);
* consolidation: ``1 - 1/k`` for k pools merged into one;
* compliance: 0.5;
* suggested allocations: 1 for an exact-size block, ``1 / (1 + d)`` when the chosen free
  block is ``d`` bits shorter than the request.

Severity: capacity and its allocation are ``error`` at 95 % or more, at 30 days of runway
or less, or when exhausted, ``warning`` otherwise; reclaim as above; consolidation and
suggested allocations ``info``; compliance the finding's. Ranking: impact (highest
first), severity, type order above, the pool's address, then the fingerprint.

The ``fingerprint`` is the SHA-256 of the type and the change (canonical JSON), so the same
advice about the same plan always has the same fingerprint, and storing recommendations by
fingerprint never duplicates a pending one. Rationale text and scores are left out of it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from apps.analysis.engine.compliance import Finding
from apps.analysis.engine.data import (
    CONTAINER_TYPES,
    PoolData,
    PoolTree,
    Severity,
    severity_rank,
)
from apps.analysis.engine.gaps import GapAnalysis, best_free_block, gap_analysis
from apps.analysis.engine.results import AnalysisSettings, PoolAnalysis
from apps.analysis.engine.utilization import at_or_above
from apps.pools.cidr import Prefix, format_address_count, summarize, validate_prefix_length

__all__ = [
    "RECOMMENDATION_TYPES",
    "Recommendation",
    "fingerprint_of",
    "generate_recommendations",
    "impact_score",
    "suggest_allocations",
]

RECOMMENDATION_TYPES: tuple[str, ...] = (
    "capacity",
    "allocation",
    "compliance",
    "reclaim",
    "consolidation",
)
_TYPE_ORDER = {name: index for index, name in enumerate(RECOMMENDATION_TYPES)}
# Only placeholders are merged: an active pool stands for a real network, and merging it
# would mean renumbering it.
_CONSOLIDATED_STATUSES = frozenset({"planned", "reserved"})
_BASE = {"error": 60, "warning": 35, "info": 10}
_MAGNITUDE_POINTS = 40


@dataclass(frozen=True, slots=True)
class Recommendation:
    """Describe one recommended change to the plan.

    ``pool`` is the pool the advice is about (for an allocation, the pool under pressure or
    the suggested parent). ``change`` is JSON-serializable.
    """

    type: str
    severity: Severity
    impact: int
    pool: int | None
    title: str
    rationale: str
    change: Mapping[str, Any]
    fingerprint: str


def impact_score(severity: str, magnitude: float | Fraction) -> int:
    """Return the impact score of a recommendation (see the module docstring).

    >>> impact_score("error", 1), impact_score("warning", 0.5), impact_score("info", 0)
    (100, 55, 10)
    """
    clipped = min(max(float(magnitude), 0.0), 1.0)
    return min(100, _BASE.get(severity, 10) + round(_MAGNITUDE_POINTS * clipped))


def fingerprint_of(kind: str, change: Mapping[str, Any]) -> str:
    """Return the stable fingerprint of a recommendation of ``kind`` proposing ``change``."""
    canonical = json.dumps([kind, change], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _recommendation(
    kind: str,
    severity: Severity,
    magnitude: float | Fraction,
    pool: int | None,
    title: str,
    rationale: str,
    change: dict[str, Any],
) -> Recommendation:
    """Return a Recommendation with its impact and fingerprint filled in."""
    return Recommendation(
        type=kind,
        severity=severity,
        impact=impact_score(severity, magnitude),
        pool=pool,
        title=title,
        rationale=rationale,
        change=change,
        fingerprint=fingerprint_of(kind, change),
    )


def _clip(value: Fraction) -> Fraction:
    """Return ``value`` clipped to 0..1."""
    return min(max(value, Fraction(0)), Fraction(1))


class _Generator:
    """Produce the recommendations of one analysis."""

    def __init__(
        self,
        tree: PoolTree,
        analyses: Mapping[int, PoolAnalysis],
        settings: AnalysisSettings,
        now: datetime | None,
    ) -> None:
        self.tree = tree
        self.now = now
        self.analyses = analyses
        self.settings = settings
        self.threshold: Fraction = settings.compliance["OVER_UTILIZED"].params["threshold"]
        self.min_age: int = settings.compliance["EMPTY_POOL"].params["min_age_days"]
        self._gaps: dict[int, GapAnalysis] = {}

    def gaps_of(self, pool_id: int) -> GapAnalysis:
        """Return the free space of a pool, from its analysis when there is one."""
        known = self.analyses.get(pool_id)
        if known is not None:
            return known.gaps
        cached = self._gaps.get(pool_id)
        if cached is None:
            cached = _gaps_in_tree(self.tree, pool_id)
            self._gaps[pool_id] = cached
        return cached

    # Capacity and allocation

    def capacity(self, analysis: PoolAnalysis) -> list[Recommendation]:
        pool = analysis.pool
        if pool.status in ("reserved", "deprecated"):
            return []
        usage = analysis.utilization
        used = usage.effective_used
        runway = analysis.runway
        days = runway.days_until_exhaustion
        over = at_or_above(used, usage.total, self.threshold)
        short = days is not None and days <= self.settings.runway_warning_days
        if not over and not short:
            return []
        share = Fraction(used * 100, usage.total)
        pressures = [Fraction(0)]
        if over:
            room = 100 - self.threshold
            pressures.append(_clip((share - self.threshold) / room) if room else Fraction(1))
        if short and days is not None:
            pressures.append(_clip(1 - Fraction(days, self.settings.runway_warning_days)))
        magnitude = max(pressures)
        urgent = share >= 95 or (days is not None and days <= 30)
        severity: Severity = "error" if urgent else "warning"
        reasons = []
        if over:
            reasons.append(f"{float(share):.1f}% of its addresses are used")
        if short:
            reasons.append(
                f"at {runway.growth_per_day or 0:.1f} addresses a day it runs out in {days} days"
            )
        why = " and ".join(reasons)
        expansion = self._expansion(pool)
        if expansion is not None:
            change: dict[str, Any] = {
                "action": "update",
                "pool": pool.id,
                "fields": {"cidr": str(expansion)},
                "expect": {"cidr": str(pool.cidr)},
            }
            title = f"Expand {pool.label()} to {expansion}"
            rationale = (
                f"{pool.label()} is under pressure: {why}. The adjacent block of the same size "
                f"is free in its parent, so the pool can grow to {expansion} in place."
            )
            return [
                _recommendation("capacity", severity, magnitude, pool.id, title, rationale, change)
            ]
        result = [
            _recommendation(
                "capacity",
                severity,
                magnitude,
                pool.id,
                f"Plan capacity for {pool.label()}",
                f"{pool.label()} is under pressure: {why}. It cannot grow in place.",
                {"action": "review", "pool": pool.id},
            )
        ]
        allocation = self._sibling_allocation(pool, severity, magnitude, why)
        if allocation is not None:
            result.append(allocation)
        return result

    def _expansion(self, pool: PoolData) -> Prefix | None:
        """Return the prefix one bit shorter if its other half is free in the parent."""
        parent = self.tree.parent_of(pool.id)
        cidr = pool.cidr
        if parent is None or cidr.length <= parent.cidr.length:
            return None
        buddy = Prefix(cidr.family, cidr.first ^ cidr.size, cidr.length)
        if self.gaps_of(parent.id).is_free(buddy):
            return Prefix(cidr.family, min(cidr.first, buddy.first), cidr.length - 1)
        return None

    def _sibling_allocation(
        self, pool: PoolData, severity: Severity, magnitude: Fraction, why: str
    ) -> Recommendation | None:
        parent = self.tree.parent_of(pool.id)
        if parent is None:
            return None
        choice = best_free_block(self.gaps_of(parent.id).iter_blocks(), pool.cidr.length)
        if choice is None:
            return None
        name = f"{pool.name}-expansion" if pool.name else f"{pool.type}-{choice.candidate}"
        change = {
            "action": "allocate",
            "parent": parent.id,
            "cidr": str(choice.candidate),
            "prefix_length": pool.cidr.length,
            "name": name,
            "type": pool.type,
            "status": "planned",
        }
        fit = "an exact-size free block" if choice.exact else f"the free block {choice.block}"
        return _recommendation(
            "allocation",
            severity,
            magnitude,
            pool.id,
            f"Allocate {choice.candidate} next to {pool.label()}",
            (
                f"{pool.label()} is under pressure: {why}. Its parent {parent.label()} has "
                f"room for another /{pool.cidr.length}; {choice.candidate} is taken from {fit}, "
                "which keeps larger blocks whole."
            ),
            change,
        )

    # Reclaim

    def reclaim(self, analysis: PoolAnalysis) -> Recommendation | None:
        pool = analysis.pool
        if self.tree.children_of(pool.id) or pool.status == "reserved":
            return None
        in_use = analysis.utilization.in_use
        severity: Severity
        if pool.status == "deprecated" and not in_use:
            severity = "warning"
            reason = "is deprecated, has no children and no discovered use"
        elif any(finding.rule == "EMPTY_POOL" for finding in analysis.findings):
            severity = "info"
            reason = f"has had no children for at least {self.min_age} days"
        elif (
            in_use == 0
            and pool.type not in CONTAINER_TYPES
            and pool.created_at is not None
            and self._age_days(pool) >= self.min_age
        ):
            severity = "info"
            reason = f"has no discovered use and is older than {self.min_age} days"
        else:
            return None
        parent = self.tree.parent_of(pool.id)
        magnitude = Fraction(pool.cidr.size, parent.cidr.size) if parent else Fraction(1)
        where = f"to {parent.label()}" if parent else "to the organization"
        return _recommendation(
            "reclaim",
            severity,
            magnitude,
            pool.id,
            f"Reclaim {pool.label()}",
            f"{pool.type} {pool.label()} {reason}; deleting it returns "
            f"{format_address_count(pool.cidr.size)} {where}.",
            {"action": "delete", "pool": pool.id},
        )

    def _age_days(self, pool: PoolData) -> int:
        """Return the age of a pool in whole days, 0 without a clock or a creation time."""
        if pool.created_at is None or self.now is None:
            return 0
        return (self.now - pool.created_at).days

    # Consolidation

    def consolidation(self, parent_id: int | None) -> list[Recommendation]:
        pools = self.tree.pools
        buckets: dict[tuple[int, str, str], list[PoolData]] = {}
        for pool_id in self.tree.children_of(parent_id):
            pool = pools[pool_id]
            analysis = self.analyses.get(pool_id)
            if analysis is not None and analysis.utilization.in_use:
                continue
            if pool.status not in _CONSOLIDATED_STATUSES:
                continue
            buckets.setdefault((pool.family, pool.type, pool.status), []).append(pool)
        result: list[Recommendation] = []
        for members in buckets.values():
            if len(members) < 2:
                continue
            # Members come in address order and the summary blocks too: one sweep pairs them.
            index = 0
            for block in summarize(member.cidr for member in members):
                inside: list[PoolData] = []
                while index < len(members) and members[index].cidr.first <= block.last:
                    if block.contains(members[index].cidr):
                        inside.append(members[index])
                    index += 1
                if len(inside) < 2 or any(member.cidr == block for member in inside):
                    continue
                parents = [m for m in inside if self.tree.children_of(m.id)]
                if len(parents) > 1:
                    continue
                keep = parents[0] if parents else inside[0]
                ids = [member.id for member in inside]
                others = ", ".join(member.label() for member in inside if member is not keep)
                result.append(
                    _recommendation(
                        "consolidation",
                        "info",
                        1 - Fraction(1, len(inside)),
                        keep.id,
                        f"Merge {len(inside)} {keep.type} pools into {block}",
                        (
                            f"{len(inside)} adjacent {keep.type} pools with status {keep.status} "
                            f"summarize into {block}; {keep.label()} can take the whole block "
                            f"once {others} {'are' if len(inside) > 2 else 'is'} deleted."
                        ),
                        {"action": "merge", "pools": ids, "keep": keep.id, "cidr": str(block)},
                    )
                )
        return result

    # Compliance fixes

    def compliance(self, finding: Finding) -> Recommendation | None:
        pool = self.tree.get(finding.pool)
        change: dict[str, Any] | None = None
        if finding.rule == "NAMING":
            change = self._rename(pool)
        elif finding.rule == "REQUIRED_TAGS":
            change = self._inherit_tags(pool)
        if change is None:
            return None
        return _recommendation(
            "compliance",
            finding.severity,
            Fraction(1, 2),
            pool.id,
            f"Fix {finding.rule} on {pool.label()}",
            f"{finding.message} {finding.remediation}",
            change,
        )

    def _rename(self, pool: PoolData) -> dict[str, Any] | None:
        patterns = self.settings.compliance["NAMING"].params["patterns"]
        pattern = patterns.get(pool.type) or patterns.get("*")
        if pattern is None:
            return None
        stripped = pool.name.strip()
        hyphenated = re.sub(r"[\s_]+", "-", stripped)
        for candidate in (stripped, stripped.lower(), hyphenated, hyphenated.lower()):
            if candidate and candidate != pool.name and pattern.fullmatch(candidate):
                return {
                    "action": "update",
                    "pool": pool.id,
                    "fields": {"name": candidate},
                    "expect": {"name": pool.name},
                }
        return None

    def _inherit_tags(self, pool: PoolData) -> dict[str, Any] | None:
        keys: tuple[str, ...] = self.settings.compliance["REQUIRED_TAGS"].params["keys"]
        missing = [key for key in keys if not pool.tags.get(key)]
        inherited: dict[str, str] = {}
        for ancestor in self.tree.ancestors(pool.id):
            for key in missing:
                if key not in inherited and ancestor.tags.get(key):
                    inherited[key] = ancestor.tags[key]
        if not missing or len(inherited) < len(missing):
            return None
        tags = {**dict(pool.tags), **inherited}
        return {
            "action": "update",
            "pool": pool.id,
            "fields": {"tags": tags},
            "expect": {"tags": dict(pool.tags)},
        }


def _gaps_in_tree(tree: PoolTree, pool_id: int) -> GapAnalysis:
    """Return the free space of a pool of ``tree`` given its live children."""
    pools = tree.pools
    return gap_analysis(pools[pool_id].cidr, (pools[kid].cidr for kid in tree.children_of(pool_id)))


def _rank_key(
    recommendation: Recommendation, tree: PoolTree
) -> tuple[int, int, int, tuple[int, int], int, str]:
    pool = tree.pools.get(recommendation.pool) if recommendation.pool is not None else None
    address = (pool.cidr.family, pool.cidr.first) if pool is not None else (0, 0)
    return (
        -recommendation.impact,
        severity_rank(recommendation.severity),
        _TYPE_ORDER.get(recommendation.type, len(_TYPE_ORDER)),
        address,
        pool.cidr.length if pool is not None else 0,
        recommendation.fingerprint,
    )


def rank(recommendations: Iterable[Recommendation], tree: PoolTree) -> tuple[Recommendation, ...]:
    """Return ``recommendations`` ranked, with duplicates (same fingerprint) removed."""
    unique = {rec.fingerprint: rec for rec in recommendations}
    return tuple(sorted(unique.values(), key=lambda rec: _rank_key(rec, tree)))


def generate_recommendations(
    tree: PoolTree,
    analyses: Mapping[int, PoolAnalysis],
    *,
    settings: AnalysisSettings | None = None,
    findings: Iterable[Finding] | None = None,
    now: datetime | None = None,
) -> tuple[Recommendation, ...]:
    """Return the ranked recommendations for the analysed pools.

    ``analyses`` are the per-pool results (:func:`~apps.analysis.engine.analysis.analyze_tree`);
    recommendations are made about those pools only, while the rest of ``tree`` gives them
    context (parents' free space, ancestors' tags). ``findings`` default to the analyses'
    own; ``now`` (a datetime) dates the age of pools for the reclaim of unused subnets.
    """
    generator = _Generator(tree, analyses, settings or AnalysisSettings(), now)
    result: list[Recommendation] = []
    parents: set[int | None] = set()
    for pool_id, analysis in analyses.items():
        result.extend(generator.capacity(analysis))
        reclaim = generator.reclaim(analysis)
        if reclaim is not None:
            result.append(reclaim)
        parents.add(pool_id)
    if all(root in analyses for root in tree.roots) and tree.roots:
        parents.add(None)
    for parent_id in parents:
        result.extend(generator.consolidation(parent_id))
    if findings is None:
        findings = (finding for analysis in analyses.values() for finding in analysis.findings)
    for finding in findings:
        if finding.pool in tree:
            fix = generator.compliance(finding)
            if fix is not None:
                result.append(fix)
    return rank(result, tree)


def root_consolidations(
    tree: PoolTree,
    analyses: Mapping[int, PoolAnalysis],
    *,
    settings: AnalysisSettings | None = None,
    now: datetime | None = None,
) -> tuple[Recommendation, ...]:
    """Return the consolidations among the roots of ``tree``, ranked.

    :func:`generate_recommendations` makes them when every root is analysed at once; a job
    that analyses a large plan in parts asks for them separately, with a tree of the roots
    and their children and the roots' analyses.
    """
    generator = _Generator(tree, analyses, settings or AnalysisSettings(), now)
    return rank(generator.consolidation(None), tree)


_TYPE_LEVELS = {"supernet": 0, "region": 1, "environment": 2, "vpc": 3, "subnet": 4}


def _can_hold(parent_type: str, child_type: str) -> bool:
    """Return False when the hierarchy puts ``parent_type`` at or below ``child_type``."""
    parent_level = _TYPE_LEVELS.get(parent_type)
    child_level = _TYPE_LEVELS.get(child_type)
    return parent_level is None or child_level is None or parent_level < child_level


def suggest_allocations(
    tree: PoolTree,
    *,
    prefix_length: int,
    family: int,
    parents: Iterable[int] | None = None,
    name: str = "",
    pool_type: str = "custom",
    limit: int = 5,
) -> tuple[Recommendation, ...]:
    """Return where a new /``prefix_length`` would best go, best first.

    Candidates are ``parents`` (default: every live pool of ``family``), leaving out
    deprecated pools, pools not larger than the request, and pools of a type at or below
    ``pool_type`` in the hierarchy supernet > region > environment > vpc > subnet (a subnet
    does not go inside a subnet). In each, the best-ranked free block decides
    (:func:`.gaps.best_free_block`); across parents: exact-size blocks first, then the
    smallest block, then the deepest parent (the most specific place), then the address.
    """
    validate_prefix_length(family, prefix_length)
    pools = tree.pools
    candidates = list(parents) if parents is not None else list(tree.walk())
    depth_of: dict[int, int] = {}
    scored: list[tuple[tuple[int, int, int, int], int, Prefix, Prefix, bool]] = []
    for parent_id in candidates:
        parent = pools.get(parent_id)
        if parent is None or parent.family != family or parent.status == "deprecated":
            continue
        if prefix_length <= parent.cidr.length or not _can_hold(parent.type, pool_type):
            continue
        best = best_free_block(_gaps_in_tree(tree, parent_id).iter_blocks(), prefix_length)
        if best is None:
            continue
        depth = depth_of.setdefault(parent_id, sum(1 for _ in tree.ancestors(parent_id)))
        key = (0 if best.exact else 1, -best.block.length, -depth, best.block.first)
        scored.append((key, parent_id, best.block, best.candidate, best.exact))
    scored.sort(key=lambda item: (item[0], item[1]))
    result = []
    for _key, parent_id, block, candidate, exact in scored[: max(limit, 0)]:
        parent = pools[parent_id]
        spare_bits = prefix_length - block.length
        change = {
            "action": "allocate",
            "parent": parent_id,
            "cidr": str(candidate),
            "prefix_length": prefix_length,
            "name": name or f"{pool_type}-{candidate}",
            "type": pool_type,
            "status": "planned",
        }
        fit = "an exact-size free block" if exact else f"the free block {block}"
        result.append(
            _recommendation(
                "allocation",
                "info",
                Fraction(1, 1 + spare_bits),
                parent_id,
                f"Allocate {candidate} in {parent.label()}",
                f"{candidate} comes from {fit} of {parent.label()}.",
                change,
            )
        )
    return tuple(result)
