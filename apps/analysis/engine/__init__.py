"""The analysis engine: pure Python over pool trees given as data.

Nothing here imports Django (a test walks the imports): callers turn pool rows into
:class:`PoolData`, build a :class:`PoolTree` and call the analyses. IPv4 and IPv6 alike;
address counts are Python integers, so IPv6-sized numbers stay exact.

Modules, each documented with worked examples:

* :mod:`.data`: input values (pools, snapshots) and the tree.
* :mod:`.gaps`: free blocks and their ranking for a requested size.
* :mod:`.utilization`: pool and subtree utilization, discovered use.
* :mod:`.fragmentation`: the 0-100 fragmentation score.
* :mod:`.spaces`: private and special-purpose address ranges.
* :mod:`.compliance`: the rules, their settings and findings.
* :mod:`.runway`: the growth fit and exhaustion projections.
* :mod:`.recommendations`: ranked, fingerprinted changes to the plan.
* :mod:`.analysis`: whole analyses of a pool, subtrees or a tree.
"""

from apps.analysis.engine.analysis import (
    ProgressCallback,
    TreeAnalysis,
    analyze_part,
    analyze_pool,
    analyze_tree,
    pool_core,
    roots_consolidation,
    scope_of,
)
from apps.analysis.engine.compliance import (
    RULE_IDS,
    RULES,
    ComplianceSettings,
    Finding,
    RuleSettings,
    evaluate_compliance,
    resolve_compliance_settings,
    validate_compliance_settings,
)
from apps.analysis.engine.data import (
    CONTAINER_TYPES,
    POOL_STATUSES,
    POOL_TYPES,
    SEVERITIES,
    PoolData,
    PoolTree,
    Severity,
    Snapshot,
    TreeError,
    build_tree,
)
from apps.analysis.engine.fragmentation import Fragmentation, fragmentation_of
from apps.analysis.engine.gaps import GapAnalysis, RankedBlock, gap_analysis, rank_free_blocks
from apps.analysis.engine.recommendations import (
    RECOMMENDATION_TYPES,
    Recommendation,
    fingerprint_of,
    generate_recommendations,
    impact_score,
    suggest_allocations,
)
from apps.analysis.engine.results import (
    AnalysisSettings,
    AnalysisSummary,
    PoolAnalysis,
    resolve_analysis_settings,
    validate_analysis_settings,
)
from apps.analysis.engine.runway import Projection, Runway, runway_of
from apps.analysis.engine.utilization import (
    SubtreeTotals,
    SubtreeUtilization,
    Utilization,
    combine_subtree,
    pool_utilization,
    subtree_totals,
    subtree_utilizations,
)

__all__ = [
    "CONTAINER_TYPES",
    "POOL_STATUSES",
    "POOL_TYPES",
    "RECOMMENDATION_TYPES",
    "RULES",
    "RULE_IDS",
    "SEVERITIES",
    "AnalysisSettings",
    "AnalysisSummary",
    "ComplianceSettings",
    "Finding",
    "Fragmentation",
    "GapAnalysis",
    "PoolAnalysis",
    "PoolData",
    "PoolTree",
    "ProgressCallback",
    "Projection",
    "RankedBlock",
    "Recommendation",
    "RuleSettings",
    "Runway",
    "Severity",
    "Snapshot",
    "SubtreeTotals",
    "SubtreeUtilization",
    "TreeAnalysis",
    "TreeError",
    "Utilization",
    "analyze_part",
    "analyze_pool",
    "analyze_tree",
    "build_tree",
    "combine_subtree",
    "evaluate_compliance",
    "fingerprint_of",
    "fragmentation_of",
    "gap_analysis",
    "generate_recommendations",
    "impact_score",
    "pool_core",
    "pool_utilization",
    "rank_free_blocks",
    "resolve_analysis_settings",
    "resolve_compliance_settings",
    "roots_consolidation",
    "runway_of",
    "scope_of",
    "subtree_totals",
    "subtree_utilizations",
    "suggest_allocations",
    "validate_analysis_settings",
    "validate_compliance_settings",
]
