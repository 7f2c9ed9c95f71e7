"""Writes of the analysis app: snapshots, runs, recommendations and compliance settings.

Applying a recommendation goes through the pool services, so the pool invariants, their
locks and the audit trail apply to it exactly as to a change made by hand. Each apply is
one transaction: a change that has become impossible raises its 409 and nothing of it is
written, the recommendation stays pending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.analysis import engine, selectors
from apps.analysis.cache import bump_organization_version
from apps.analysis.choices import RecommendationStatus, RunStatus
from apps.analysis.models import AnalysisRun, Recommendation, UtilizationSnapshot
from apps.analysis.parts import organization_summary_in_parts
from apps.pools import services as pool_services
from apps.pools.changes import PoolCreate, PoolDelete, PoolUpdate
from apps.pools.choices import PoolSource
from apps.pools.models import Pool
from apps.pools.selectors import free_block_for, pool_utilization_map
from apps.pools.services import ChangesApplied, ChangesRejected
from apps.tenancy.models import Organization
from cloudpam.context import Actor
from cloudpam.exceptions import ApplicationError, Conflict, NotFound, ValidationError

logger = logging.getLogger("apps.analysis")

DISMISS_REASON_MAX_LENGTH = 1_000
RUN_MESSAGE_MAX_LENGTH = 255
# Progress is written when it moved by at least this many points, to spare the database.
PROGRESS_STEP = 5


# Snapshots


# Pools whose snapshots are computed and written at a time: the job's memory is one chunk's.
SNAPSHOT_CHUNK = 5_000


@transaction.atomic
def snapshot_take(*, organization: Organization, day: date | None = None) -> int:
    """Record today's (or ``day``'s) utilization of every live pool; return how many.

    Idempotent: a second call the same day overwrites that day's rows. The pools are read
    in keyset chunks of ``SNAPSHOT_CHUNK`` by primary key (an index range scan each), so
    memory stays flat at any plan size: per chunk, the grouped utilization queries and one
    upsert.
    """
    day = day or timezone.now().date()
    now = timezone.now()
    live = (
        Pool.objects.for_organization(organization)
        .live()
        .only("pk", "family", "prefix_length")
        .order_by("pk")
    )
    taken = 0
    last = 0
    while chunk := list(live.filter(pk__gt=last)[:SNAPSHOT_CHUNK]):
        last = chunk[-1].pk
        usage = pool_utilization_map(chunk)
        UtilizationSnapshot.objects.bulk_create(
            [
                UtilizationSnapshot(
                    organization=organization,
                    pool_id=pool.pk,
                    day=day,
                    total=str(usage[pool.pk].total),
                    used=str(usage[pool.pk].used),
                    percent=usage[pool.pk].percent,
                    taken_at=now,
                )
                for pool in chunk
            ],
            batch_size=1_000,
            update_conflicts=True,
            unique_fields=["pool", "day"],
            update_fields=["total", "used", "percent", "taken_at"],
        )
        taken += len(chunk)
    if taken:
        bump_organization_version(organization.pk)
    return taken


# Analysis runs


def _clean_pool_ids(value: Any) -> list[int]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, int) and not isinstance(item, bool) and 0 < item < 2**63 for item in value
    ):
        message = "Expected a list of pool ids."
        raise ValidationError(f"pools: {message}", fields={"pools": [message]})
    return list(dict.fromkeys(value))


def _check_live_pools(organization: Organization, pool_ids: list[int]) -> None:
    found = set(
        Pool.objects.for_organization(organization)
        .live()
        .filter(pk__in=pool_ids)
        .values_list("pk", flat=True)
    )
    missing = [pool_id for pool_id in pool_ids if pool_id not in found]
    if missing:
        message = f"No live pool with id {missing[0]} in this organization."
        raise ValidationError(message, fields={"pools": [message]})


@transaction.atomic
def analysis_run_create(
    *,
    organization: Organization,
    pools: Iterable[int] | None = None,
    all_pools: bool = False,
    user: Any = None,
) -> AnalysisRun:
    """Queue an analysis of the subtrees of ``pools``, or of the whole plan with ``all_pools``.

    Exactly one of the two must be given. The task is sent once the transaction commits.
    """
    pool_ids = None if pools is None else _clean_pool_ids(list(pools))
    if all_pools is not True and all_pools is not False:
        message = "Must be true or false."
        raise ValidationError(f"all: {message}", fields={"all": [message]})
    if all_pools == bool(pool_ids):
        message = "Pass either a non-empty list of pools or all=true."
        raise ValidationError(message, fields={"pools": [message]})
    if pool_ids:
        _check_live_pools(organization, pool_ids)
    run = AnalysisRun.objects.create(
        organization=organization,
        pools=pool_ids or [],
        all_pools=all_pools,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        message="Waiting for a worker.",
    )
    from apps.analysis.tasks import run_analysis

    transaction.on_commit(
        lambda: run_analysis.delay(run_id=run.pk, organization_id=organization.pk)
    )
    return run


def _set_progress(run: AnalysisRun, progress: int, message: str) -> None:
    """Write the run's progress at once, outside any transaction the caller holds open.

    ``update()`` keeps progress out of the audit trail: it is bookkeeping, not a change.
    """
    run.progress = progress
    run.message = message[:RUN_MESSAGE_MAX_LENGTH]
    AnalysisRun.objects.filter(pk=run.pk).update(progress=run.progress, message=run.message)


def analysis_run_execute(
    *, run: AnalysisRun, on_progress: Callable[[int, str], None] | None = None
) -> AnalysisRun:
    """Carry out a queued run: analyse, report progress, record the summary.

    Idempotent: a run that has already finished is returned as it is. A failure marks the
    run failed with its reason and re-raises. Not atomic on purpose: progress must be
    visible to readers while the analysis is under way.
    """
    run = AnalysisRun.objects.get(pk=run.pk)
    if run.is_finished:
        return run
    organization = Organization.objects.get(pk=run.organization_id)

    def report(progress: int, message: str) -> None:
        _set_progress(run, progress, message)
        if on_progress is not None:
            on_progress(progress, message)

    run.status = RunStatus.RUNNING
    run.started_at = timezone.now()
    run.save(update_fields=["status", "started_at"])
    report(1, "Loading the address plan.")
    last = [0]

    def engine_progress(done: int, total: int) -> None:
        # The engine's share of the work is reported from 5 to 95 %.
        percent = 5 + (done * 90 // total if total else 90)
        if percent - last[0] >= PROGRESS_STEP or done == total:
            last[0] = percent
            report(percent, f"Analysed {done:,} of {total:,} pools.")

    try:
        if run.all_pools:
            # The whole plan in parts: memory stays flat however many pools there are.
            summary = organization_summary_in_parts(
                organization=organization, progress=engine_progress
            )
        else:
            tree, result = selectors.organization_analysis(
                organization=organization,
                pool_ids=run.pools,
                recommendations=True,
                progress=engine_progress,
            )
            summary = selectors.overview_data(tree, result)
            summary["findings"] = len(result.findings)
            summary["recommendations"] = len(result.recommendations)
    except ApplicationError as exc:
        _finish(run, RunStatus.FAILED, exc.message)
        return run
    except Exception:
        logger.exception("analysis run %s failed", run.pk)
        _finish(run, RunStatus.FAILED, "The analysis failed unexpectedly; see the worker log.")
        raise
    run.summary = summary
    _finish(run, RunStatus.COMPLETED, f"Analysed {summary['pools']:,} pools.")
    if on_progress is not None:
        on_progress(100, run.message)
    return run


def _finish(run: AnalysisRun, status: str, message: str) -> None:
    run.status = status
    run.message = message[:RUN_MESSAGE_MAX_LENGTH]
    run.finished_at = timezone.now()
    if status == RunStatus.COMPLETED:
        run.progress = 100
    run.save(update_fields=["status", "message", "finished_at", "progress", "summary"])


# Recommendations


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """Count what a generation did: new, refreshed and withdrawn pending recommendations."""

    created: int
    updated: int
    removed: int
    pending: int


@transaction.atomic
def recommendation_generate(
    *, organization: Organization, pools: Iterable[int] | None = None
) -> GenerationResult:
    """Store the current recommendations for the subtrees of ``pools`` (the whole plan).

    A pending recommendation with the same fingerprint is refreshed, not duplicated; a
    fingerprint once dismissed is not offered again; pending recommendations about pools
    in scope that the analysis no longer makes are withdrawn (deleted).
    """
    pool_ids = None if pools is None else _clean_pool_ids(list(pools))
    if pool_ids is not None and not pool_ids:
        pool_ids = None
    # The organization row serializes generations: two at once would both insert the
    # same new fingerprints.
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    _tree, result = selectors.organization_analysis(
        organization=organization, pool_ids=pool_ids, recommendations=True
    )
    scope = set(result.pools)
    existing = Recommendation.objects.for_organization(organization)
    pending = {rec.fingerprint: rec for rec in existing.filter(status=RecommendationStatus.PENDING)}
    dismissed = set(
        existing.filter(status=RecommendationStatus.DISMISSED).values_list("fingerprint", flat=True)
    )
    created: list[Recommendation] = []
    refreshed: list[Recommendation] = []
    produced: set[str] = set()
    for advice in result.recommendations:
        produced.add(advice.fingerprint)
        fields = {
            "type": advice.type,
            "severity": advice.severity,
            "impact": advice.impact,
            "title": advice.title[:255],
            "rationale": advice.rationale,
            "change": dict(advice.change),
            "pool_id": advice.pool,
        }
        current = pending.get(advice.fingerprint)
        if current is not None:
            for name, value in fields.items():
                setattr(current, name, value)
            refreshed.append(current)
        elif advice.fingerprint not in dismissed:
            created.append(
                Recommendation(organization=organization, fingerprint=advice.fingerprint, **fields)
            )
    # A whole-plan generation withdraws every pending advice it no longer gives, also about
    # pools deleted since; a partial one only the advice about pools it looked at.
    stale = [
        rec
        for fingerprint, rec in pending.items()
        if fingerprint not in produced
        and (pool_ids is None or rec.pool_id is None or rec.pool_id in scope)
    ]
    # One save per row so that the audit trail records each change.
    for rec in refreshed:
        rec.save()
    for rec in created:
        rec.save()
    for rec in stale:
        rec.delete()
    pending_count = (
        Recommendation.objects.for_organization(organization)
        .filter(status=RecommendationStatus.PENDING)
        .count()
    )
    return GenerationResult(
        created=len(created), updated=len(refreshed), removed=len(stale), pending=pending_count
    )


def _lock_recommendation(recommendation: Recommendation) -> Recommendation:
    locked = (
        Recommendation.objects.select_for_update()
        .filter(pk=recommendation.pk, organization_id=recommendation.organization_id)
        .first()
    )
    if locked is None:
        raise NotFound(f"No recommendation with id {recommendation.pk} in this organization.")
    if locked.status != RecommendationStatus.PENDING:
        raise Conflict(
            f"This recommendation is {locked.status}; only a pending one can be applied or "
            "dismissed."
        )
    return locked


def _change_pool(organization: Organization, pool_id: Any) -> Pool:
    """Return the live pool a change names, or 409 when it is gone."""
    pool = None
    if isinstance(pool_id, int) and not isinstance(pool_id, bool):
        pool = Pool.objects.for_organization(organization).filter(pk=pool_id).first()
    if pool is None or pool.deleted_at is not None:
        raise Conflict(
            f"Pool {pool_id} no longer exists or is deleted; generate recommendations again."
        )
    return pool


def _apply_allocate(organization: Organization, change: Mapping[str, Any]) -> list:
    parent = _change_pool(organization, change.get("parent"))
    return [
        PoolCreate(
            ref="allocate",
            parent=parent.pk,
            cidr=change["cidr"],
            name=change["name"],
            type=change.get("type", "custom"),
            status=change.get("status", "planned"),
            source=PoolSource.RECOMMENDATION,
        )
    ]


def _check_expected(pool: Pool, expect: Mapping[str, Any]) -> None:
    """Refuse to overwrite fields that changed since the recommendation was made."""
    for field, value in expect.items():
        current = getattr(pool, field)
        if current != value:
            raise Conflict(
                f"The {field} of pool {pool.pk} changed since this recommendation was made "
                f"({value!r} then, {current!r} now); generate recommendations again."
            )


def _apply_update(organization: Organization, change: Mapping[str, Any]) -> list:
    pool = _change_pool(organization, change.get("pool"))
    fields = {
        key: value
        for key, value in change.get("fields", {}).items()
        if key in {"cidr", "name", "tags"}
    }
    _check_expected(pool, change.get("expect", {}))
    return [PoolUpdate(ref="update", pool=pool.pk, fields=fields)]


def _apply_delete(organization: Organization, change: Mapping[str, Any]) -> list:
    pool = _change_pool(organization, change.get("pool"))
    return [PoolDelete(ref="delete", pool=pool.pk)]


def _apply_merge(organization: Organization, change: Mapping[str, Any]) -> list:
    ids = change.get("pools", [])
    keep = _change_pool(organization, change.get("keep"))
    others = [_change_pool(organization, pool_id) for pool_id in ids if pool_id != change["keep"]]
    if any(other.parent_id != keep.parent_id for other in others):
        raise Conflict("The pools to merge are no longer siblings; generate recommendations again.")
    return [
        *(PoolDelete(ref=f"delete-{other.pk}", pool=other.pk) for other in others),
        PoolUpdate(ref="merge", pool=keep.pk, fields={"cidr": change["cidr"]}),
    ]


def _result(action: str, applied: ChangesApplied) -> dict[str, Any]:
    """Return what the applied change did, as the recommendation records it."""
    if action == "delete":
        return {"pool": applied.pools["delete"].pk, "deleted": True}
    if action == "merge":
        deleted = [pool.pk for ref, pool in applied.pools.items() if ref.startswith("delete-")]
        pool = applied.pools["merge"]
        return {"pool": pool.pk, "cidr": pool.cidr, "deleted": deleted}
    pool = applied.pools[action]
    return {"pool": pool.pk, "cidr": pool.cidr}


def _no_longer_free(organization: Organization, change: Mapping[str, Any], exc: Exception) -> None:
    """Say ``no_space`` when no block of the advised size is left in the parent at all.

    The advice then cannot be followed anywhere in the parent, not just at the place it
    named; otherwise the advised block was taken meanwhile (``overlap``).
    """
    parent = _change_pool(organization, change.get("parent"))
    free_block_for(parent, prefix_length=change["prefix_length"])
    raise Conflict(
        f'{change["cidr"]} is no longer free in {parent.cidr} "{parent.name}"; '
        "generate recommendations again for another block.",
        code="overlap",
        fields=getattr(exc, "fields", None),
    ) from exc


_APPLIERS: Mapping[str, Callable[[Organization, Mapping[str, Any]], list]] = {
    "allocate": _apply_allocate,
    "update": _apply_update,
    "delete": _apply_delete,
    "merge": _apply_merge,
}


@transaction.atomic
def recommendation_apply(*, recommendation: Recommendation, actor: Actor) -> Recommendation:
    """Carry out a pending recommendation's change through the pool services' batch path.

    The change is one batch (a merge deletes and resizes in one), checked with the
    actor's permissions inside the pool services. A change that is no longer possible
    answers its 409 (``overlap``, ``no_space``, ``conflict``) and nothing is written; a
    review has nothing to apply (409 ``not_applicable``).
    """
    locked = _lock_recommendation(recommendation)
    organization = Organization.objects.get(pk=locked.organization_id)
    action = locked.change.get("action")
    applier = _APPLIERS.get(action)
    if applier is None:
        raise Conflict(
            "This recommendation has no automatic change; dismiss it once it is handled.",
            code="not_applicable",
        )
    changes = applier(organization, locked.change)
    if len(changes) > 1:
        return _apply_as_plan(locked, organization, action, changes, actor)
    try:
        # A savepoint, so that the no_space check can still read after a failure.
        with transaction.atomic():
            applied = pool_services.pool_changes_apply(
                organization=organization,
                actor=actor,
                changes=changes,
                details={"recommendation": locked.pk},
            )
    except ChangesRejected as exc:
        cause = exc.first_cause()
        if action == "allocate" and exc.errors[0].code == "overlap":
            _no_longer_free(organization, locked.change, cause or exc)
        raise (cause or exc) from None
    locked.status = RecommendationStatus.APPLIED
    locked.applied_at = timezone.now()
    locked.applied_by_id = actor.user_id
    locked.result = _result(action, applied)
    locked.save()
    return locked


def _apply_as_plan(
    recommendation: Recommendation,
    organization: Organization,
    action: str,
    changes: list,
    actor: Actor,
) -> Recommendation:
    """Apply a change that spans several pools as a plan of source ``rule`` (SPEC.md 7.0).

    The plan is created and applied in the recommendation's transaction, so a change that
    is no longer possible leaves neither pools nor plan behind; its error is the pool
    service's own when one change failed.
    """
    from apps.planning.engine import to_operation
    from apps.planning.services import PlanConflict, plan_apply, plan_create

    plan = plan_create(
        organization=organization,
        actor=actor,
        title=recommendation.title,
        source="rule",
        operations=[to_operation(change) for change in changes],
        source_detail={"recommendation": recommendation.pk, "action": action},
    )
    try:
        plan = plan_apply(plan=plan, actor=actor)
    except PlanConflict as exc:
        cause = exc.cause
        if isinstance(cause, ChangesRejected):
            cause = cause.first_cause() or cause
        raise (cause or exc) from None
    pools = {
        pool.pk: pool
        for pool in Pool.objects.filter(
            pk__in=[change.pool for change in changes if not isinstance(change, PoolCreate)]
        )
    }
    recommendation.status = RecommendationStatus.APPLIED
    recommendation.applied_at = timezone.now()
    recommendation.applied_by_id = actor.user_id
    if action == "merge":
        kept = pools[recommendation.change["keep"]]
        deleted = [change.pool for change in changes if isinstance(change, PoolDelete)]
        recommendation.result = {
            "pool": kept.pk,
            "cidr": kept.cidr,
            "deleted": deleted,
            "plan": plan.pk,
        }
    else:
        recommendation.result = {"plan": plan.pk, "pools": sorted(pools)}
    recommendation.save()
    return recommendation


@transaction.atomic
def recommendation_dismiss(
    *, recommendation: Recommendation, reason: Any, actor: Actor
) -> Recommendation:
    """Set a pending recommendation aside, with the reason; it is not offered again."""
    if not isinstance(reason, str) or not reason.strip():
        message = "Say why the recommendation is dismissed."
        raise ValidationError(message, fields={"reason": [message]})
    reason = reason.strip()
    if len(reason) > DISMISS_REASON_MAX_LENGTH:
        message = f"Ensure this field has no more than {DISMISS_REASON_MAX_LENGTH} characters."
        raise ValidationError(f"reason: {message}", fields={"reason": [message]})
    locked = _lock_recommendation(recommendation)
    locked.status = RecommendationStatus.DISMISSED
    locked.dismiss_reason = reason
    locked.dismissed_at = timezone.now()
    locked.dismissed_by_id = actor.user_id
    locked.save()
    return locked


# Compliance settings


@transaction.atomic
def compliance_settings_update(*, organization: Organization, compliance: Any) -> Organization:
    """Store the organization's compliance rule settings after validating them (400 if not)."""
    problems = engine.validate_compliance_settings(compliance)
    if problems:
        first_rule, first_messages = next(iter(problems.items()))
        raise ValidationError(f"{first_rule}: {first_messages[0]}", fields=dict(problems))
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    locked.settings = {**(locked.settings or {}), "compliance": compliance}
    locked.save(update_fields=["settings"])
    # The receiver has bumped the version already; again after the commit, so that a
    # request that read the old settings meanwhile cannot keep them cached.
    transaction.on_commit(lambda: bump_organization_version(locked.pk))
    organization.settings = locked.settings
    return locked
