"""Whole analyses: one pool (:func:`analyze_pool`) or a tree or subtrees (:func:`analyze_tree`).

Both compute, for each pool, its free blocks once and derive from them the pool's
utilization (``used = size - free``), its fragmentation and the ranking inputs; subtree
utilization comes from one post-order pass; findings from the enabled compliance rules;
runway from the pool's snapshots. :func:`analyze_tree` adds the ranked recommendations and
a summary, and reports progress through an optional callback, so a background task can
publish it.

>>> from datetime import UTC, datetime
>>> from apps.pools.cidr import parse_prefix as p
>>> from apps.analysis.engine.data import PoolData, build_tree
>>> tree = build_tree([
...     PoolData(1, None, p("10.0.0.0/22"), name="vpc", type="vpc"),
...     PoolData(2, 1, p("10.0.0.0/24"), name="a", type="subnet"),
...     PoolData(3, 1, p("10.0.2.0/24"), name="b", type="subnet"),
... ])
>>> result = analyze_pool(tree, 1, now=datetime(2025, 1, 1, tzinfo=UTC))
>>> result.utilization.used, result.utilization.percent, result.fragmentation.score
(512, 50.0, 50.0)
>>> [str(block) for block in result.gaps.free_blocks]
['10.0.1.0/24', '10.0.3.0/24']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from apps.analysis.engine.compliance import (
    RULE_IDS,
    Finding,
    evaluate_compliance,
    finding_order,
)
from apps.analysis.engine.data import SEVERITIES, PoolTree, Snapshot
from apps.analysis.engine.fragmentation import Fragmentation, fragmentation_from
from apps.analysis.engine.gaps import GapAnalysis, gap_analysis
from apps.analysis.engine.recommendations import (
    RECOMMENDATION_TYPES,
    Recommendation,
    generate_recommendations,
    root_consolidations,
)
from apps.analysis.engine.results import AnalysisSettings, AnalysisSummary, PoolAnalysis
from apps.analysis.engine.runway import runway_of
from apps.analysis.engine.utilization import (
    SubtreeTotals,
    SubtreeUtilization,
    Utilization,
    subtree_pass,
    subtree_utilization,
)
from apps.pools.utilization import utilization

__all__ = [
    "ProgressCallback",
    "TreeAnalysis",
    "analyze_part",
    "analyze_pool",
    "analyze_tree",
    "pool_core",
    "roots_consolidation",
    "scope_of",
]

# Called with (pools done, pools to do) while a tree is analysed.
ProgressCallback = Callable[[int, int], None]
_SUMMARY_LENGTH = 10


@dataclass(frozen=True, slots=True)
class TreeAnalysis:
    """Hold the analysis of a tree or of some subtrees."""

    pools: Mapping[int, PoolAnalysis]
    findings: tuple[Finding, ...]
    recommendations: tuple[Recommendation, ...]
    summary: AnalysisSummary


def scope_of(tree: PoolTree, pool_ids: Iterable[int] | None) -> list[int]:
    """Return the pools of the subtrees of ``pool_ids`` in pre-order, each once.

    ``None`` means the whole tree. Ids that are not live pools raise KeyError, naming the
    first of them.
    """
    if pool_ids is None:
        return list(tree.walk())
    seen: set[int] = set()
    scope: list[int] = []
    for pool_id in pool_ids:
        if pool_id not in tree:
            raise KeyError(pool_id)
        if pool_id in seen:
            continue
        for member in tree.walk(pool_id):
            if member not in seen:
                seen.add(member)
                scope.append(member)
    return scope


def _subtree_roots(tree: PoolTree, scope: Sequence[int]) -> list[int]:
    """Return the pools of ``scope`` whose parent is outside it."""
    members = set(scope)
    return [pool_id for pool_id in scope if tree.effective_parent_id(pool_id) not in members]


def pool_core(
    tree: PoolTree, pool_id: int, in_use: Mapping[int, int]
) -> tuple[Utilization, GapAnalysis, Fragmentation]:
    """Return the utilization, gaps and fragmentation of one pool."""
    pools = tree.pools
    cidr = pools[pool_id].cidr
    children = [pools[kid].cidr for kid in tree.children_of(pool_id)]
    gaps = gap_analysis(cidr, children)
    usage = utilization(
        total=cidr.size,
        used=cidr.size - gaps.total_free,
        children=sum(1 for child in children if cidr.overlaps(child)) if children else 0,
        in_use=in_use.get(pool_id),
    )
    return usage, gaps, fragmentation_from(gaps.count, gaps.total_free, gaps.largest_free_block)


def _analyze(
    tree: PoolTree,
    scope: Sequence[int],
    *,
    now: datetime,
    settings: AnalysisSettings,
    snapshots: Mapping[int, Sequence[Snapshot]],
    in_use: Mapping[int, int],
    subtree: Mapping[int, SubtreeUtilization],
    progress: ProgressCallback | None,
) -> dict[int, PoolAnalysis]:
    """Return the analyses of the pools of ``scope``."""
    pools = tree.pools
    total = len(scope)
    step = max(total // 100, 1)
    cores = {}
    for index, pool_id in enumerate(scope, start=1):
        cores[pool_id] = pool_core(tree, pool_id, in_use)
        if progress is not None and (index % step == 0 or index == total):
            # Computing the pools is most of the work: it reports up to 90 %.
            progress(index * 9 // 10, total)
    utilization = {pool_id: core[0] for pool_id, core in cores.items()}
    findings = evaluate_compliance(
        tree,
        now=now,
        settings=settings.compliance,
        utilization=utilization,
        in_use=in_use,
        pool_ids=scope,
    )
    by_pool: dict[int, list[Finding]] = {}
    for finding in findings:
        by_pool.setdefault(finding.pool, []).append(finding)
    result: dict[int, PoolAnalysis] = {}
    for pool_id in scope:
        usage, gaps, fragmentation = cores[pool_id]
        result[pool_id] = PoolAnalysis(
            pool=pools[pool_id],
            utilization=usage,
            subtree=subtree[pool_id],
            gaps=gaps,
            fragmentation=fragmentation,
            runway=runway_of(
                snapshots.get(pool_id, ()), total=usage.total, window=settings.runway_window
            ),
            findings=tuple(by_pool.get(pool_id, ())),
        )
    return result


def analyze_pool(
    tree: PoolTree,
    pool_id: int,
    *,
    now: datetime,
    settings: AnalysisSettings | None = None,
    snapshots: Sequence[Snapshot] = (),
    in_use: Mapping[int, int] | None = None,
) -> PoolAnalysis:
    """Return the analysis of one pool (its descendants count only for subtree utilization).

    Raise KeyError when ``pool_id`` is not a live pool of ``tree``.
    """
    if pool_id not in tree:
        raise KeyError(pool_id)
    in_use = in_use or {}
    subtree = {pool_id: subtree_utilization(tree, pool_id, in_use=in_use)}
    return _analyze(
        tree,
        [pool_id],
        now=now,
        settings=settings or AnalysisSettings(),
        snapshots={pool_id: snapshots},
        in_use=in_use,
        subtree=subtree,
        progress=None,
    )[pool_id]


def _summary(
    analyses: Mapping[int, PoolAnalysis],
    findings: Sequence[Finding],
    recommendations: Sequence[Recommendation],
) -> AnalysisSummary:
    """Return the counts and top lists of an analysis."""
    by_severity = Counter(finding.severity for finding in findings)
    by_rule = Counter(finding.rule for finding in findings)
    by_type = Counter(rec.type for rec in recommendations)
    utilized = sorted(
        (
            (-analysis.utilization.effective_used / analysis.utilization.total, pool_id)
            for pool_id, analysis in analyses.items()
            if analysis.utilization.effective_used
        ),
    )
    exhausting = sorted(
        (analysis.runway.days_until_exhaustion, pool_id)
        for pool_id, analysis in analyses.items()
        if analysis.runway.days_until_exhaustion is not None
    )
    return AnalysisSummary(
        pools=len(analyses),
        findings_by_severity={severity: by_severity[severity] for severity in SEVERITIES},
        findings_by_rule={rule: by_rule[rule] for rule in RULE_IDS if by_rule[rule]},
        recommendations_by_type={
            kind: by_type[kind] for kind in RECOMMENDATION_TYPES if by_type[kind]
        },
        most_utilized=tuple(pool_id for _, pool_id in utilized[:_SUMMARY_LENGTH]),
        soonest_exhaustion=tuple(pool_id for _, pool_id in exhausting[:_SUMMARY_LENGTH]),
    )


def analyze_tree(
    tree: PoolTree,
    *,
    now: datetime,
    settings: AnalysisSettings | None = None,
    snapshots: Mapping[int, Sequence[Snapshot]] | None = None,
    in_use: Mapping[int, int] | None = None,
    pool_ids: Iterable[int] | None = None,
    recommendations: bool = True,
    progress: ProgressCallback | None = None,
    totals: dict[int, SubtreeTotals] | None = None,
) -> TreeAnalysis:
    """Return the analysis of the subtrees of ``pool_ids`` (the whole tree by default).

    ``snapshots`` maps pool ids to their utilization history, ``in_use`` pool ids to the
    addresses discovery saw in use. ``progress`` is called with ``(done, total)`` about a
    hundred times. ``totals``, when given, receives the :class:`SubtreeTotals` of the top
    pools of the subtrees (for an analysis in parts). Raise KeyError for an id that is not
    a live pool.
    """
    settings = settings or AnalysisSettings()
    in_use = in_use or {}
    scope = scope_of(tree, pool_ids)
    subtree: dict[int, SubtreeUtilization] = {}
    if pool_ids is None:
        subtree, tops = subtree_pass(tree, None, in_use)
    else:
        tops = {}
        for root in _subtree_roots(tree, scope):
            part, top = subtree_pass(tree, root, in_use)
            subtree.update(part)
            tops.update(top)
    if totals is not None:
        totals.update(tops)
    analyses = _analyze(
        tree,
        scope,
        now=now,
        settings=settings,
        snapshots=snapshots or {},
        in_use=in_use,
        subtree=subtree,
        progress=progress,
    )
    findings = sorted(
        (finding for analysis in analyses.values() for finding in analysis.findings),
        key=lambda finding: finding_order(finding, tree),
    )
    ranked = (
        generate_recommendations(tree, analyses, settings=settings, findings=findings, now=now)
        if recommendations
        else ()
    )
    if progress is not None:
        progress(len(scope), len(scope))
    return TreeAnalysis(
        pools=analyses,
        findings=tuple(findings),
        recommendations=ranked,
        summary=_summary(analyses, findings, ranked),
    )


def analyze_part(
    tree: PoolTree,
    pool_ids: Sequence[int],
    *,
    subtree: Mapping[int, SubtreeUtilization],
    now: datetime,
    settings: AnalysisSettings | None = None,
    snapshots: Mapping[int, Sequence[Snapshot]] | None = None,
    in_use: Mapping[int, int] | None = None,
    recommendations: bool = True,
) -> TreeAnalysis:
    """Return the analysis of exactly ``pool_ids``, whose subtree utilizations are given.

    The building block of an analysis done in parts (a plan too large to hold at once):
    ``tree`` holds the pools, their children, their siblings and their ancestors, but not
    necessarily their deeper descendants, whose figures come summed in ``subtree`` (see
    :func:`~apps.analysis.engine.utilization.combine_subtree`). The pools' analyses,
    findings and recommendations are what :func:`analyze_tree` finds for them in the
    whole tree.
    """
    settings = settings or AnalysisSettings()
    in_use = in_use or {}
    analyses = _analyze(
        tree,
        list(pool_ids),
        now=now,
        settings=settings,
        snapshots=snapshots or {},
        in_use=in_use,
        subtree=subtree,
        progress=None,
    )
    findings = sorted(
        (finding for analysis in analyses.values() for finding in analysis.findings),
        key=lambda finding: finding_order(finding, tree),
    )
    ranked = (
        generate_recommendations(tree, analyses, settings=settings, findings=findings, now=now)
        if recommendations
        else ()
    )
    return TreeAnalysis(
        pools=analyses,
        findings=tuple(findings),
        recommendations=ranked,
        summary=_summary(analyses, findings, ranked),
    )


def roots_consolidation(
    tree: PoolTree,
    analyses: Mapping[int, PoolAnalysis],
    *,
    now: datetime,
    settings: AnalysisSettings | None = None,
) -> tuple[Recommendation, ...]:
    """Return the consolidations among the roots, for an analysis done in parts."""
    return root_consolidations(tree, analyses, settings=settings, now=now)
