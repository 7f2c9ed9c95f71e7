"""Reads of the analysis: pool rows turned into engine data, analyses, findings, records.

Pool rows become :class:`~apps.analysis.engine.PoolData` in one query (the whole plan, or
a pool with its subtree, ancestors and siblings), snapshots in one more; the engine does
the rest in memory. Results that take more than a few queries are cached per organization
(``apps.analysis.cache``) and shaped as the API returns them: address counts as decimal
strings, dates as ISO 8601.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from apps.analysis import engine
from apps.analysis.cache import cached
from apps.analysis.choices import Severity
from apps.analysis.engine import (
    AnalysisSettings,
    Finding,
    PoolAnalysis,
    PoolData,
    PoolTree,
    Runway,
    Snapshot,
)
from apps.analysis.models import AnalysisRun, Recommendation, UtilizationSnapshot
from apps.pools.cidr import Prefix
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from cloudpam.exceptions import Conflict, NotFound, ValidationError

_POOL_FIELDS = (
    "pk",
    "parent_id",
    "family",
    "first_key",
    "prefix_length",
    "name",
    "type",
    "status",
    "tags",
    "created_at",
)
# Free blocks a pool analysis lists by default, and at most.
FREE_BLOCKS_DEFAULT_LIMIT = 1_000
FREE_BLOCKS_MAX_LIMIT = 10_000
# Entries of the dashboard's top lists.
TOP_LENGTH = 10


# Engine input


def _pool_data(rows: Iterable[tuple[Any, ...]]) -> list[PoolData]:
    """Return engine pools from ``values_list(*_POOL_FIELDS)`` rows."""
    return [
        PoolData(
            pk,
            parent_id,
            # Stored rows are valid blocks: no need to check them again, a million times.
            Prefix.trusted(family, int(first_key, 16), length),
            name=name,
            type=kind,
            status=status,
            tags=tags if isinstance(tags, dict) else {},
            created_at=created_at,
        )
        for pk, parent_id, family, first_key, length, name, kind, status, tags, created_at in rows
    ]


def analysis_tree(*, organization: Organization) -> PoolTree:
    """Return the organization's live plan as an engine tree, in one query."""
    rows = Pool.objects.for_organization(organization).live().order_by().values_list(*_POOL_FIELDS)
    return engine.build_tree(_pool_data(rows))


def analysis_tree_around(*, organization: Organization, pool: Pool) -> PoolTree:
    """Return the part of the plan one pool's analysis needs, in one query.

    That is the pool's live subtree (its space), its ancestors (topmost checks, inherited
    tags) and its siblings (overlaps, room to grow in the parent).
    """
    steplen = Pool.steplen
    ancestor_paths = [pool.path[:end] for end in range(steplen, len(pool.path), steplen)]
    around = Q(path__startswith=pool.path) | Q(path__in=ancestor_paths)
    around |= Q(parent_id=pool.parent_id) if pool.parent_id else Q(parent__isnull=True)
    rows = (
        Pool.objects.for_organization(organization)
        .live()
        .filter(around)
        .order_by()
        .values_list(*_POOL_FIELDS)
    )
    return engine.build_tree(_pool_data(rows))


def discovered_usage(*, organization: Organization) -> dict[int, int]:
    """Return the addresses discovered resources use, by the pool that holds them (SPEC 6).

    Reconciliation keeps each present resource's narrowest pool; the count merges the
    resources of one pool so an address is counted once.
    """
    from apps.discovery.selectors import discovered_in_use

    return discovered_in_use(organization=organization)


def analysis_settings(*, organization: Organization) -> AnalysisSettings:
    """Return the organization's effective analysis settings.

    ``settings["compliance"]`` is merged over the rule defaults. An organization that does
    not plan private space only (``plans_private_space`` off) gets no PUBLIC_SPACE findings.
    """
    raw = organization.setting("compliance")
    compliance = dict(raw) if isinstance(raw, Mapping) else {}
    if not organization.setting("plans_private_space"):
        public = compliance.get("PUBLIC_SPACE")
        compliance["PUBLIC_SPACE"] = {
            **(public if isinstance(public, Mapping) else {}),
            "enabled": False,
        }
    return engine.resolve_analysis_settings(compliance)


def snapshot_history(
    *, organization: Organization, pool_ids: Iterable[int] | None = None, days: int = 30
) -> dict[int, list[Snapshot]]:
    """Return the last ``days`` days of snapshots by pool id, oldest first, in one query."""
    since = timezone.now().date() - timedelta(days=days)
    snapshots = UtilizationSnapshot.objects.for_organization(organization).filter(day__gt=since)
    if pool_ids is not None:
        snapshots = snapshots.filter(pool_id__in=list(pool_ids))
    history: dict[int, list[Snapshot]] = {}
    for pool_id, day, used in snapshots.order_by("pool_id", "day").values_list(
        "pool_id", "day", "used"
    ):
        history.setdefault(pool_id, []).append(Snapshot(day, int(used)))
    return history


# Shapes of the API


def finding_data(finding: Finding) -> dict[str, Any]:
    """Return the API form of a finding."""
    return {
        "rule": finding.rule,
        "severity": finding.severity,
        "pool": finding.pool,
        "message": finding.message,
        "remediation": finding.remediation,
        "related": list(finding.related),
    }


def runway_data(runway: Runway) -> dict[str, Any]:
    """Return the API form of a runway: counts as strings, dates in ISO 8601."""
    return {
        "status": runway.status,
        "points": runway.points,
        "span_days": runway.span_days,
        "growth_per_day": runway.growth_per_day,
        "days_until_exhaustion": runway.days_until_exhaustion,
        "exhaustion_date": runway.exhaustion_date.isoformat() if runway.exhaustion_date else None,
        "latest": (
            {"date": runway.latest.day.isoformat(), "used": str(runway.latest.used)}
            if runway.latest
            else None
        ),
        "projections": [
            {
                "months": projection.months,
                "date": projection.day.isoformat(),
                "used": str(projection.used),
                "percent": projection.percent,
            }
            for projection in runway.projections
        ],
    }


def _block(prefix: Prefix) -> dict[str, str]:
    return {"cidr": str(prefix), "size": str(prefix.size)}


def pool_analysis_data(
    analysis: PoolAnalysis,
    *,
    prefix_length: int | None = None,
    limit: int = FREE_BLOCKS_DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Return the API form of one pool's analysis.

    ``free_blocks`` lists up to ``limit`` blocks in address order, or, with
    ``prefix_length``, the blocks that can hold such a request, best suited first, each
    with the ``candidate`` block an allocation would take from it.
    """
    pool = analysis.pool
    usage = analysis.utilization
    subtree = analysis.subtree
    gaps = analysis.gaps
    fragmentation = analysis.fragmentation
    if prefix_length is None:
        free_blocks = [_block(block) for block in gaps.blocks(limit)]
    else:
        free_blocks = [
            {**_block(ranked.block), "candidate": str(ranked.candidate)}
            for ranked in engine.rank_free_blocks(gaps.free_blocks, prefix_length)[:limit]
        ]
    largest = gaps.largest_free_block
    return {
        "pool": {
            "id": pool.id,
            "name": pool.name,
            "cidr": str(pool.cidr),
            "family": pool.family,
            "type": pool.type,
            "status": pool.status,
        },
        "utilization": {
            "total": str(usage.total),
            "used": str(usage.used),
            "free": str(usage.free),
            "percent": usage.percent,
            "in_use": None if usage.in_use is None else str(usage.in_use),
        },
        "subtree": {
            "total": str(subtree.total),
            "used": str(subtree.used),
            "free": str(subtree.free),
            "percent": subtree.percent,
            "descendants": subtree.descendants,
        },
        "free_blocks": free_blocks,
        "free_block_count": gaps.count,
        "total_free": str(gaps.total_free),
        "largest_free_block": (
            {**_block(largest), "share": fragmentation.largest_share} if largest else None
        ),
        "fragmentation": fragmentation.score,
        "findings": [finding_data(finding) for finding in analysis.findings],
        "runway": runway_data(analysis.runway),
    }


# Analyses


def _check_prefix_length(pool: Pool, prefix_length: Any) -> int:
    bits = 32 if pool.family == 4 else 128
    low = pool.prefix_length + 1
    if isinstance(prefix_length, bool) or not isinstance(prefix_length, int):
        message = "A valid integer is required."
        raise ValidationError(f"prefix_length: {message}", fields={"prefix_length": [message]})
    if not low <= prefix_length <= bits:
        message = (
            f"{pool.cidr} has room for prefix lengths {low} to {bits}, not {prefix_length}."
            if low <= bits
            else f"{pool.cidr} is a single address; it has no room for children."
        )
        raise ValidationError(message, fields={"prefix_length": [message]})
    return prefix_length


def pool_analysis_compute(*, organization: Organization, pool: Pool) -> PoolAnalysis:
    """Return the engine's analysis of one live pool (uncached)."""
    if pool.deleted_at is not None:
        raise Conflict(f'Pool {pool.cidr} "{pool.name}" is deleted; restore it to analyse it.')
    settings = analysis_settings(organization=organization)
    tree = analysis_tree_around(organization=organization, pool=pool)
    history = snapshot_history(
        organization=organization, pool_ids=[pool.pk], days=settings.runway_window
    )
    return engine.analyze_pool(
        tree,
        pool.pk,
        now=timezone.now(),
        settings=settings,
        snapshots=history.get(pool.pk, ()),
        in_use=discovered_usage(organization=organization),
    )


def pool_analysis(
    *,
    organization: Organization,
    pool: Pool,
    prefix_length: int | None = None,
    limit: int = FREE_BLOCKS_DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Return the API form of one pool's analysis, cached until the plan changes."""
    if prefix_length is not None:
        prefix_length = _check_prefix_length(pool, prefix_length)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        message = "Ensure this value is greater than or equal to 1."
        raise ValidationError(f"limit: {message}", fields={"limit": [message]})
    limit = min(limit, FREE_BLOCKS_MAX_LIMIT)
    return cached(
        organization.pk,
        f"pool:{pool.pk}:{prefix_length}:{limit}",
        lambda: pool_analysis_data(
            pool_analysis_compute(organization=organization, pool=pool),
            prefix_length=prefix_length,
            limit=limit,
        ),
    )


def _pool_ref(pool: PoolData) -> dict[str, Any]:
    return {"id": pool.id, "name": pool.name, "cidr": str(pool.cidr), "type": pool.type}


def overview_data(tree: PoolTree, result: engine.TreeAnalysis) -> dict[str, Any]:
    """Return the dashboard and compliance form of a whole analysis (also a run's summary)."""
    pools = result.pools
    summary = result.summary
    return {
        "pools": summary.pools,
        "findings_by_severity": dict(summary.findings_by_severity),
        "findings_by_rule": dict(summary.findings_by_rule),
        "recommendations_by_type": dict(summary.recommendations_by_type),
        "most_utilized": [
            {**_pool_ref(tree.get(pool_id)), "percent": pools[pool_id].utilization.percent}
            for pool_id in summary.most_utilized
        ],
        "soonest_exhaustion": [
            {
                **_pool_ref(tree.get(pool_id)),
                "days_until_exhaustion": pools[pool_id].runway.days_until_exhaustion,
                "exhaustion_date": (
                    pools[pool_id].runway.exhaustion_date.isoformat()
                    if pools[pool_id].runway.exhaustion_date
                    else None
                ),
            }
            for pool_id in summary.soonest_exhaustion
        ],
    }


def organization_analysis(
    *,
    organization: Organization,
    pool_ids: Iterable[int] | None = None,
    recommendations: bool = True,
    progress: engine.ProgressCallback | None = None,
) -> tuple[PoolTree, engine.TreeAnalysis]:
    """Return the organization's tree and the analysis of ``pool_ids``' subtrees (all by default).

    Three queries: the organization's settings are on the row already, the pools, the
    snapshots. Raise a 400 naming the first id that is not a live pool of the organization.
    """
    settings = analysis_settings(organization=organization)
    tree = analysis_tree(organization=organization)
    wanted = None if pool_ids is None else list(pool_ids)
    for pool_id in wanted or ():
        if pool_id not in tree:
            message = f"No live pool with id {pool_id} in this organization."
            raise ValidationError(message, fields={"pools": [message]})
    scope = None if wanted is None else engine.scope_of(tree, wanted)
    history = snapshot_history(
        organization=organization, pool_ids=scope, days=settings.runway_window
    )
    result = engine.analyze_tree(
        tree,
        now=timezone.now(),
        settings=settings,
        snapshots=history,
        in_use=discovered_usage(organization=organization),
        pool_ids=wanted,
        recommendations=recommendations,
        progress=progress,
    )
    return tree, result


def organization_overview(*, organization: Organization) -> dict[str, Any]:
    """Return the dashboard view of the whole plan with every finding, cached."""

    def build() -> dict[str, Any]:
        tree, result = organization_analysis(organization=organization, recommendations=False)
        data = overview_data(tree, result)
        data["findings"] = [finding_data(finding) for finding in result.findings]
        data["computed_at"] = timezone.now().isoformat()
        return data

    return cached(organization.pk, "overview", build)


def finding_list(
    *,
    organization: Organization,
    rule: str | None = None,
    severity: str | None = None,
    pool: Pool | None = None,
) -> list[dict[str, Any]]:
    """Return the organization's findings, filtered by rule, severity and pool subtree."""
    findings = organization_overview(organization=organization)["findings"]
    if rule:
        findings = [finding for finding in findings if finding["rule"] == rule]
    if severity:
        findings = [finding for finding in findings if finding["severity"] == severity]
    if pool is not None:
        subtree = set(
            Pool.objects.for_organization(organization)
            .filter(path__startswith=pool.path)
            .values_list("pk", flat=True)
        )
        findings = [finding for finding in findings if finding["pool"] in subtree]
    return findings


def snapshot_series(
    *, organization: Organization, pool: Pool, days: int = 90
) -> list[tuple[date, int, int]]:
    """Return ``(day, used, total)`` of the pool's last ``days`` days of snapshots."""
    since = timezone.now().date() - timedelta(days=days)
    rows = (
        UtilizationSnapshot.objects.for_organization(organization)
        .filter(pool=pool, day__gt=since)
        .order_by("day")
        .values_list("day", "used", "total")
    )
    return [(day, int(used), int(total)) for day, used, total in rows]


# Records


def analysis_run_get(*, organization: Organization | None, pk: Any) -> AnalysisRun:
    """Return the organization's analysis run ``pk``; 404 for anything else."""
    run = None
    if isinstance(pk, int) and not isinstance(pk, bool) and 0 < pk < 2**63:
        run = AnalysisRun.objects.for_organization(organization).filter(pk=pk).first()
    if run is None:
        raise NotFound(f"No analysis run with id {pk} in this organization.")
    return run


def analysis_run_list(*, organization: Organization | None) -> QuerySet[AnalysisRun]:
    """Return the organization's analysis runs, newest first."""
    return AnalysisRun.objects.for_organization(organization).order_by("-created_at", "-pk")


_SEVERITY_ORDER = Case(
    *(When(severity=value, then=Value(index)) for index, value in enumerate(Severity.values)),
    default=Value(len(Severity.values)),
    output_field=IntegerField(),
)


def recommendation_ranking(recommendations: QuerySet[Recommendation]) -> QuerySet[Recommendation]:
    """Return ``recommendations`` ranked: impact, severity, then age, with their pools."""
    return (
        recommendations.select_related("pool")
        .annotate(severity_order=_SEVERITY_ORDER)
        .order_by("-impact", "severity_order", "pk")
    )


def recommendation_list(*, organization: Organization | None) -> QuerySet[Recommendation]:
    """Return the organization's recommendations ranked: impact, severity, then age."""
    return recommendation_ranking(Recommendation.objects.for_organization(organization))


def recommendation_get(*, organization: Organization | None, pk: Any) -> Recommendation:
    """Return the organization's recommendation ``pk``; 404 for anything else."""
    recommendation = None
    if isinstance(pk, int) and not isinstance(pk, bool) and 0 < pk < 2**63:
        recommendation = (
            Recommendation.objects.for_organization(organization)
            .select_related("pool")
            .filter(pk=pk)
            .first()
        )
    if recommendation is None:
        raise NotFound(f"No recommendation with id {pk} in this organization.")
    return recommendation
