"""Settings and results of a whole analysis: what goes in besides the tree, what comes out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from apps.analysis.engine.compliance import (
    DEFAULT_SETTINGS,
    ComplianceSettings,
    Finding,
    resolve_compliance_settings,
)
from apps.analysis.engine.data import PoolData
from apps.analysis.engine.fragmentation import Fragmentation
from apps.analysis.engine.gaps import GapAnalysis
from apps.analysis.engine.runway import DEFAULT_WINDOW, Runway
from apps.analysis.engine.utilization import SubtreeUtilization, Utilization

__all__ = [
    "ANALYSIS_DEFAULTS",
    "AnalysisSettings",
    "AnalysisSummary",
    "PoolAnalysis",
    "resolve_analysis_settings",
    "validate_analysis_settings",
]

ANALYSIS_DEFAULTS: Mapping[str, int] = {
    "runway_window": DEFAULT_WINDOW,
    "runway_warning_days": 90,
}
_LIMITS: Mapping[str, tuple[int, int]] = {
    "runway_window": (3, 3650),
    "runway_warning_days": (1, 3650),
}


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """Hold the knobs of an analysis.

    ``compliance`` are the effective rule settings; ``runway_window`` the number of recent
    snapshots fitted; ``runway_warning_days`` the runway under which a capacity warning is
    raised. The utilization threshold of capacity warnings is OVER_UTILIZED's.
    """

    compliance: ComplianceSettings = DEFAULT_SETTINGS
    runway_window: int = DEFAULT_WINDOW
    runway_warning_days: int = 90


def _analysis_problems(raw: object) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Return the valid analysis knobs of ``raw`` merged over defaults, and the problems."""
    values = dict(ANALYSIS_DEFAULTS)
    problems: dict[str, list[str]] = {}
    if raw is None:
        return values, problems
    if not isinstance(raw, Mapping):
        return values, {"analysis": ["must be an object"]}
    for key, value in raw.items():
        if key not in _LIMITS:
            problems[str(key)] = ["unknown setting"]
            continue
        low, high = _LIMITS[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems[key] = [f"must be a whole number from {low} to {high}"]
            continue
        values[key] = value
    return values, problems


def resolve_analysis_settings(
    compliance: object = None, analysis: object = None
) -> AnalysisSettings:
    """Return the effective settings from an organization's raw ``compliance`` and ``analysis``.

    Invalid entries fall back to their defaults.
    """
    values, _ = _analysis_problems(analysis)
    return AnalysisSettings(compliance=resolve_compliance_settings(compliance), **values)


def validate_analysis_settings(raw: object) -> dict[str, list[str]]:
    """Return the problems of raw analysis settings by key; empty when valid."""
    return _analysis_problems(raw)[1]


@dataclass(frozen=True, slots=True)
class PoolAnalysis:
    """Gather everything the engine knows about one pool."""

    pool: PoolData
    utilization: Utilization
    subtree: SubtreeUtilization
    gaps: GapAnalysis
    fragmentation: Fragmentation
    runway: Runway
    findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class AnalysisSummary:
    """Summarize an analysis for dashboards and run records.

    ``most_utilized`` lists up to ten pool ids by descending effective utilization (pools
    above 0 % only); ``soonest_exhaustion`` up to ten pool ids with a projected exhaustion,
    soonest first.
    """

    pools: int
    findings_by_severity: Mapping[str, int]
    findings_by_rule: Mapping[str, int]
    recommendations_by_type: Mapping[str, int] = field(default_factory=dict)
    most_utilized: tuple[int, ...] = ()
    soonest_exhaustion: tuple[int, ...] = ()
