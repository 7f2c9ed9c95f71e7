"""Drift: the differences between the plan and the clouds, their suggestions, apply and ignore.

``drift_store`` stores a reconciliation's findings (one per resource or pool at
most, keyed so that a recomputation updates rather than duplicates, and keeps a user's
ignore). Kinds, severities and suggestions:

==============  ========  =======================================================
kind            severity  suggestion
==============  ========  =======================================================
overlap         error     ``ignore`` (fix it in the cloud; the plan cannot)
duplicate       error     ``ignore`` (same CIDR in two networks of one domain)
outside         warning   ``create_parent``: a root pool at the resource's CIDR
unmanaged       info      ``import_as_pool`` under the narrowest pool
orphaned_pool   warning   ``retire_pool``: soft-delete the pool
cidr_changed    warning   ``link_to_pool``: resize the pool to the resource's new
                          CIDR and link it again
==============  ========  =======================================================

A resource is reported by the first kind that applies, in that order; missing, gone and
ignored resources are not reported. ``drift_apply`` carries a suggestion out through the
pool services (audited: the pool's own event, ``link``, and ``drift_apply`` on the
finding) and answers 409 ``conflict`` with nothing written when the finding no longer
holds or the plan refuses the change; ``drift_ignore`` mutes a finding with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from apps.discovery import reconcile as engine
from apps.discovery.choices import (
    DriftAction,
    DriftKind,
    DriftSeverity,
    DriftStatus,
    ManagementState,
    ResourceState,
)
from apps.discovery.models import DiscoveredResource, DriftFinding
from apps.pools import changes as batch
from apps.pools.choices import PoolSource
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from cloudpam.context import Actor, operation
from cloudpam.db.bulk import insert_values, update_rows
from cloudpam.exceptions import ApplicationError, Conflict, NotFound, ValidationError

if TYPE_CHECKING:
    from apps.discovery.reconciliation import Computed

FINDING_LABEL = "discovery.driftfinding"
POOL_LABEL = "pools.pool"
REASON_MAX_LENGTH = 1_000
SEVERITY_OF = {
    DriftKind.OVERLAP: DriftSeverity.ERROR,
    DriftKind.DUPLICATE: DriftSeverity.ERROR,
    DriftKind.OUTSIDE: DriftSeverity.WARNING,
    DriftKind.UNMANAGED: DriftSeverity.INFO,
    DriftKind.ORPHANED_POOL: DriftSeverity.WARNING,
    DriftKind.CIDR_CHANGED: DriftSeverity.WARNING,
}
# Findings held before they are written.
WRITE_BATCH = 1_000
_COMPARED = ("kind", "severity", "account_id", "resource_id", "pool_id", "message", "suggestion")


def _describe_sides(sides: tuple[engine.Overlap, ...]) -> str:
    return ", ".join(f"{side.kind} {side.id} ({side.cidr})" for side in sides)


def _resource_label(row: Any) -> str:
    name = f" '{row.name}'" if row.name else ""
    return f"{row.resource_type} {row.resource_id}{name} ({row.item.cidr})"


def _resource_finding(row: Any, outcome: engine.ResourceOutcome) -> dict[str, Any] | None:
    """Return the finding of one resource, or None when it is in order."""
    if row.item.state != ResourceState.PRESENT or outcome.management_state in (
        ManagementState.IGNORED,
        ManagementState.MANAGED,
    ):
        return None
    label = _resource_label(row)
    cidr = str(row.item.cidr)
    name = (row.name or row.resource_id)[:255]
    pool_type = engine.pool_type_of(row.resource_type)
    ignore = {"action": DriftAction.IGNORE, "params": {"resource": row.item.id}}
    if outcome.overlapping:
        kind = DriftKind.OVERLAP
        message = f"{label} overlaps {_describe_sides(outcome.overlaps_with)}."
        suggestion = ignore
    elif outcome.duplicates:
        kind = DriftKind.DUPLICATE
        message = (
            f"{label} has the same CIDR as {_describe_sides(outcome.duplicates)} "
            "in another network of the same routing domain."
        )
        suggestion = ignore
    elif outcome.management_state == ManagementState.OUTSIDE:
        kind = DriftKind.OUTSIDE
        message = f"{label} lies in no planned pool."
        suggestion = {
            "action": DriftAction.CREATE_PARENT,
            "params": {"resource": row.item.id, "cidr": cidr, "name": name, "type": pool_type},
        }
    elif outcome.exact_pool is None:
        kind = DriftKind.UNMANAGED
        message = f"{label} is in the cloud but not planned: it lies in pool {outcome.pool}."
        suggestion = {
            "action": DriftAction.IMPORT_AS_POOL,
            "params": {
                "resource": row.item.id,
                "parent": outcome.pool,
                "cidr": cidr,
                "name": name,
                "type": pool_type,
            },
        }
    else:
        # A pool has exactly its block, linked to another resource of its network.
        return None
    return {
        "key": f"{kind}:resource:{row.item.id}",
        "kind": kind,
        "account_id": row.account_id,
        "resource_id": row.item.id,
        "pool_id": outcome.pool,
        "message": message,
        "suggestion": suggestion,
    }


def _pool_findings(computed: Computed) -> list[dict[str, Any]]:
    """Return the orphaned and changed-CIDR findings of the pools."""
    if not any(outcome.orphaned for outcome in computed.result.pools.values()):
        return []
    rows = {row.item.id: row for row in computed.resources}
    present_by_id: dict[tuple[int, str], list[Any]] = {}
    for row in computed.resources:
        if row.item.state == ResourceState.PRESENT:
            present_by_id.setdefault((row.account_id, row.resource_id), []).append(row)
    found = []
    for pool_row in computed.pools:
        outcome = computed.result.pools[pool_row.item.id]
        if not outcome.orphaned:
            continue
        pool_label = f"pool '{pool_row.name}' ({pool_row.item.cidr})"
        was = rows.get(outcome.linked_resource) if outcome.linked_resource else None
        successors = (
            [
                row
                for row in present_by_id.get((was.account_id, was.resource_id), [])
                if row.item.cidr != pool_row.item.cidr
                and row.item.cidr.family == pool_row.item.cidr.family
            ]
            if was is not None
            else []
        )
        base = {"pool_id": pool_row.item.id, "account_id": pool_row.cloud_account_id}
        if successors:
            new = min(successors, key=lambda row: (row.item.cidr.length, row.item.id))
            found.append(
                {
                    **base,
                    "key": f"{DriftKind.CIDR_CHANGED}:pool:{pool_row.item.id}",
                    "kind": DriftKind.CIDR_CHANGED,
                    "resource_id": new.item.id,
                    "message": (
                        f"{pool_label} was linked to {was.resource_type} {was.resource_id}, "
                        f"whose CIDR is now {new.item.cidr}."
                    ),
                    "suggestion": {
                        "action": DriftAction.LINK_TO_POOL,
                        "params": {
                            "pool": pool_row.item.id,
                            "resource": new.item.id,
                            "from_cidr": str(pool_row.item.cidr),
                            "cidr": str(new.item.cidr),
                        },
                    },
                }
            )
            continue
        what = f"{was.resource_type} {was.resource_id}" if was is not None else "its resource"
        found.append(
            {
                **base,
                "key": f"{DriftKind.ORPHANED_POOL}:pool:{pool_row.item.id}",
                "kind": DriftKind.ORPHANED_POOL,
                "resource_id": was.item.id if was is not None else None,
                "message": f"{pool_label} is linked to {what}, which is gone from the cloud.",
                "suggestion": {
                    "action": DriftAction.RETIRE_POOL,
                    "params": {"pool": pool_row.item.id, "cidr": str(pool_row.item.cidr)},
                },
            }
        )
    return found


def resource_findings(
    rows: Iterable[Any], outcomes: Mapping[int, engine.ResourceOutcome]
) -> Iterator[dict[str, Any]]:
    """Yield the findings of the resources ``rows`` given their reconciliation ``outcomes``."""
    for row in rows:
        outcome = outcomes.get(row.item.id)
        if outcome is not None and (finding := _resource_finding(row, outcome)) is not None:
            finding["severity"] = SEVERITY_OF[finding["kind"]]
            yield finding


def pool_findings(computed: Computed) -> Iterator[dict[str, Any]]:
    """Yield the orphaned and changed-CIDR findings of the pools of ``computed``.

    ``computed.resources`` needs only the orphaned pools' resources and their successors.
    """
    for finding in _pool_findings(computed):
        finding["severity"] = SEVERITY_OF[finding["kind"]]
        yield finding


def drift_findings(computed: Computed) -> Iterator[dict[str, Any]]:
    """Yield the findings a reconciliation implies, as field dicts with a unique ``key``."""
    yield from resource_findings(computed.resources, computed.result.resources)
    yield from pool_findings(computed)


def drift_compute(computed: Computed) -> list[dict[str, Any]]:
    """Return the findings a reconciliation implies, as field dicts keyed by ``key``."""
    return list(drift_findings(computed))


_COMPARED_TYPES = (
    ("kind", "text"),
    ("severity", "text"),
    ("account_id", "bigint"),
    ("resource_id", "bigint"),
    ("pool_id", "bigint"),
    ("message", "text"),
    ("suggestion", "jsonb"),
)


def _update_findings(rows: list[DriftFinding], extra: list[tuple[str, str]]) -> None:
    """Write the compared fields, ``updated_at`` and ``extra`` of ``rows``, set-based."""
    columns = [*_COMPARED_TYPES, *extra, ("updated_at", "timestamptz")]
    update_rows(
        DriftFinding,
        columns,
        [
            (
                row.pk,
                *(getattr(row, name) for name, _ in columns),
            )
            for row in rows
        ],
    )


def drift_store(
    *, organization: Organization, findings: Iterable[dict[str, Any]], now: Any | None = None
) -> tuple[dict[str, int], int]:
    """Store ``findings`` (each key once); return the open findings' counts by kind and
    how many findings were created, changed or removed.

    New findings are created, changed open ones updated, ignored ones keep their status
    (their text follows the estate), an applied one that holds again reopens, and an open
    finding that no longer holds is removed. Bulk writes: these are computed rows; the
    decisions taken on them (apply, ignore) are the audited events.
    """
    now = now or timezone.now()
    # Plain values, not model instances: an estate has tens of thousands of findings.
    stored: dict[str, tuple[int, str, dict[str, Any]]] = {
        row[1]: (row[0], row[2], dict(zip(_COMPARED, row[3:], strict=True)))
        for row in DriftFinding.objects.for_organization(organization)
        .order_by()
        .values_list("pk", "key", "status", *_COMPARED)
        .iterator(chunk_size=5_000)
    }
    # The findings are written as they come, a batch at a time: a first reconciliation
    # creates one per resource, and holding them all would grow with the estate.
    creates: list[dict[str, Any]] = []
    updates: list[DriftFinding] = []
    reopened: list[DriftFinding] = []
    seen: set[str] = set()
    counts: dict[str, int] = {}
    written = 0

    def flush(least: int) -> None:
        nonlocal creates, updates, reopened, written
        written += sum(len(rows) for rows in (creates, updates, reopened) if len(rows) >= least)
        if len(creates) >= least:
            insert_values(DriftFinding, creates)
            creates = []
        if len(updates) >= least:
            _update_findings(updates, [])
            updates = []
        if len(reopened) >= least:
            _update_findings(reopened, [("status", "text"), ("detected_at", "timestamptz")])
            reopened = []

    for values in findings:
        key = values["key"]
        if key in seen:
            continue
        seen.add(key)
        known = stored.get(key)
        if known is None or known[1] != DriftStatus.IGNORED:
            counts[values["kind"]] = counts.get(values["kind"], 0) + 1
        if known is None:
            creates.append({"organization_id": organization.pk, "detected_at": now, **values})
        else:
            pk, status, previous = known
            fields = {name: values[name] for name in _COMPARED}
            if status == DriftStatus.APPLIED:
                reopened.append(
                    DriftFinding(
                        pk=pk, status=DriftStatus.OPEN, detected_at=now, updated_at=now, **fields
                    )
                )
            elif previous != fields:
                updates.append(DriftFinding(pk=pk, updated_at=now, **fields))
        flush(WRITE_BATCH)
    flush(1)
    gone = [
        pk
        for key, (pk, status, _) in stored.items()
        if key not in seen and status == DriftStatus.OPEN
    ]
    for start in range(0, len(gone), 1_000):
        # A computed row that no longer holds, removed like it was written: in bulk,
        # without a per-row delete event (nobody decided anything about it).
        stale = DriftFinding.objects.filter(pk__in=gone[start : start + 1_000])
        stale._raw_delete(stale.db)
    return counts, written + len(gone)


# Apply and ignore


def _lock_finding(finding: DriftFinding) -> DriftFinding:
    locked = (
        DriftFinding.objects.select_for_update()
        .filter(pk=finding.pk, organization_id=finding.organization_id)
        .first()
    )
    if locked is None:
        raise NotFound(f"No drift finding with id {finding.pk} in this organization.")
    if locked.status != DriftStatus.OPEN:
        raise Conflict(
            f"This finding is {locked.status}; only an open finding can be applied or ignored."
        )
    return locked


def _stale(reason: str) -> Conflict:
    return Conflict(f"The suggestion no longer applies: {reason} Reconcile again.")


def _param(params: Mapping[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None:
        raise _stale(f"it names no {name}.")
    return value


def _present_resource(organization: Organization, params: Mapping[str, Any]) -> Any:
    resource = (
        DiscoveredResource.objects.for_organization(organization)
        .select_for_update()
        .filter(pk=_param(params, "resource"))
        .first()
    )
    if resource is None or resource.state != ResourceState.PRESENT:
        raise _stale("the resource is gone from the cloud.")
    if resource.management_state == ManagementState.IGNORED:
        raise _stale("the resource is ignored.")
    if "cidr" in params and resource.cidr != params["cidr"]:
        raise _stale(f"the resource's CIDR is now {resource.cidr}.")
    return resource


def _live_pool(organization: Organization, pk: Any) -> Pool:
    pool = Pool.objects.for_organization(organization).filter(pk=pk).first()
    if pool is None or pool.deleted_at is not None:
        raise _stale(f"pool {pk} no longer exists.")
    return pool


def _link(pool: Pool, resource: DiscoveredResource, actor: Actor) -> None:
    """Link ``pool`` to ``resource`` (audited ``link``) and mark the resource managed."""
    pool.cloud_resource = resource
    pool.cloud_account_id = resource.account_id
    pool.orphaned_at = None
    with operation("link", actor=actor, target=(POOL_LABEL, pool.pk)):
        pool.save(update_fields=["cloud_resource", "cloud_account", "orphaned_at", "updated_at"])
    DiscoveredResource.objects.filter(pk=resource.pk).update(
        pool=pool, management_state=ManagementState.MANAGED, reconciled_at=timezone.now()
    )


def _through_pools(call: Any) -> Any:
    """Run a pool service; a refusal of the plan is the finding's 409 (403 stays 403)."""
    from apps.pools.services import ChangesRejected

    try:
        with transaction.atomic():
            return call()
    except ChangesRejected as exc:
        cause = exc.first_cause() or exc
        if cause.status_code == 403:
            raise cause from None
        raise _stale(f"the plan refuses it ({cause.message})") from None
    except ApplicationError as exc:
        if exc.status_code == 403:
            raise
        raise _stale(f"the plan refuses it ({exc.message})") from None


def _import(
    organization: Organization, finding: DriftFinding, actor: Actor, *, root: bool
) -> dict[str, Any]:
    from apps.pools.services import pool_changes_apply

    params = finding.suggestion.get("params") or {}
    resource = _present_resource(organization, params)
    parent = None
    if root:
        if resource.pool_id is not None:
            raise _stale(f"the resource now lies in pool {resource.pool_id}.")
    else:
        parent = _live_pool(organization, _param(params, "parent")).pk
        if resource.pool_id != parent:
            raise _stale(f"the resource now lies in pool {resource.pool_id}.")
    change = batch.PoolCreate(
        ref="drift",
        name=str(params.get("name") or resource.name or resource.resource_id)[:255],
        cidr=resource.cidr,
        parent=parent,
        type=str(params.get("type") or engine.pool_type_of(resource.resource_type)),
        source=PoolSource.DISCOVERED,
        description=f"Imported from {resource.resource_type} {resource.resource_id}"[:1000],
    )
    applied = _through_pools(
        lambda: pool_changes_apply(
            organization=organization,
            actor=actor,
            changes=[change],
            details={"drift_finding": finding.pk},
        )
    )
    pool = applied.pools["drift"]
    _link(pool, resource, actor)
    return {"pool": pool.pk}


def _link_to_pool(organization: Organization, finding: DriftFinding, actor: Actor) -> dict:
    from apps.pools.services import pool_update

    params = finding.suggestion.get("params") or {}
    resource = _present_resource(organization, params)
    pool = _live_pool(organization, _param(params, "pool"))
    if pool.cidr not in (params.get("from_cidr"), resource.cidr):
        raise _stale(f"the pool's CIDR is now {pool.cidr}.")
    if pool.cidr != resource.cidr:
        pool = _through_pools(lambda: pool_update(pool=pool, cidr=resource.cidr, actor=actor))
    _link(pool, resource, actor)
    return {"pool": pool.pk}


def _retire(organization: Organization, finding: DriftFinding, actor: Actor) -> dict:
    from apps.pools.services import pool_delete

    params = finding.suggestion.get("params") or {}
    pool = _live_pool(organization, _param(params, "pool"))
    if pool.orphaned_at is None:
        raise _stale("the pool is linked to a resource in the cloud again.")
    if pool.cidr != params.get("cidr"):
        raise _stale(f"the pool's CIDR is now {pool.cidr}.")
    _through_pools(lambda: pool_delete(pool=pool, actor=actor))
    return {"pool": pool.pk, "deleted": True}


def _ignore_resource(organization: Organization, finding: DriftFinding, actor: Actor) -> dict:
    params = finding.suggestion.get("params") or {}
    resource = _present_resource(organization, params)
    resource.management_state = ManagementState.IGNORED
    with operation("drift_apply", actor=actor, details={"drift_finding": finding.pk}):
        resource.save(update_fields=["management_state", "updated_at"])
    return {"resource": resource.pk, "ignored": True}


def drift_target_pool(finding: DriftFinding) -> int | None:
    """Return the id of the stored pool applying ``finding`` changes or creates under.

    None: a new root (``create_parent``) or no pool at all (``ignore``); the caller checks
    the permission on this pool (or the role, for None).
    """
    params = (finding.suggestion or {}).get("params") or {}
    action = finding.action
    if action == DriftAction.IMPORT_AS_POOL:
        return params.get("parent") if isinstance(params.get("parent"), int) else None
    if action in (DriftAction.LINK_TO_POOL, DriftAction.RETIRE_POOL):
        return params.get("pool") if isinstance(params.get("pool"), int) else None
    return None


@transaction.atomic
def drift_apply(*, finding: DriftFinding, actor: Actor) -> DriftFinding:
    """Carry out an open finding's suggestion through the pool services.

    Nothing is written when it no longer applies (the resource is gone or moved, the pool
    changed, the plan now refuses the change): 409 ``conflict`` saying why.
    """
    locked = _lock_finding(finding)
    organization = Organization.objects.get(pk=locked.organization_id)
    action = locked.action
    if action == DriftAction.IMPORT_AS_POOL:
        result = _import(organization, locked, actor, root=False)
    elif action == DriftAction.CREATE_PARENT:
        result = _import(organization, locked, actor, root=True)
    elif action == DriftAction.LINK_TO_POOL:
        result = _link_to_pool(organization, locked, actor)
    elif action == DriftAction.RETIRE_POOL:
        result = _retire(organization, locked, actor)
    else:
        result = _ignore_resource(organization, locked, actor)
    locked.status = DriftStatus.APPLIED
    locked.applied_by_id = actor.user_id
    locked.applied_at = timezone.now()
    locked.result = {"action": action, **result}
    with operation("drift_apply", actor=actor, target=(FINDING_LABEL, locked.pk)):
        locked.save()
    return locked


@transaction.atomic
def drift_ignore(*, finding: DriftFinding, reason: Any, actor: Actor) -> DriftFinding:
    """Mute an open finding with the reason; recomputations keep it ignored."""
    if not isinstance(reason, str) or not reason.strip():
        message = "Say why the finding is ignored."
        raise ValidationError(message, fields={"reason": [message]})
    reason = reason.strip()
    if len(reason) > REASON_MAX_LENGTH:
        message = f"Ensure this field has no more than {REASON_MAX_LENGTH} characters."
        raise ValidationError(f"reason: {message}", fields={"reason": [message]})
    locked = _lock_finding(finding)
    locked.status = DriftStatus.IGNORED
    locked.ignored_reason = reason
    locked.ignored_by_id = actor.user_id
    locked.ignored_at = timezone.now()
    with operation("drift_ignore", actor=actor, target=(FINDING_LABEL, locked.pk)):
        locked.save()
    return locked
