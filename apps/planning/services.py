"""Every write of plans: create, validate (the dry run), apply, discard, roll back.

A plan changes pools only through ``apps.pools.services.pool_changes_apply``, the batch
write path every bulk writer shares; each service takes its actor explicitly and saves
the plan under a named operation (``plan_validate``, ``plan_apply``, ...) so that the
audit trail records what happened to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditlog.context import disable_auditlog
from django.db import transaction
from django.utils import timezone

from apps.planning import engine
from apps.planning.choices import OPEN_STATUSES, PlanSource, PlanStatus
from apps.planning.models import TITLE_MAX_LENGTH, Plan
from apps.planning.preview import (
    discovered_resource_model,
    preview_build,
    preview_state,
)
from apps.pools import changes as batch
from apps.pools.choices import PoolSource
from apps.pools.models import Pool
from apps.pools.selectors import describe_pool
from apps.pools.services import ChangesRejected, pool_changes_apply, pool_restore
from apps.tenancy.models import Organization
from apps.tenancy.permissions import actor_permission_denial
from cloudpam.context import Actor, operation
from cloudpam.exceptions import (
    ApplicationError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
)

PLAN_LABEL = "planning.plan"
# A 409 names at most this many failing operations (a validation stores them all).
MAX_REPORTED_ERRORS = 1_000

# The source recorded on the pools a plan creates, by the plan's source.
POOL_SOURCE_OF_PLAN = {
    PlanSource.TEMPLATE: PoolSource.TEMPLATE,
    PlanSource.IMPORT: PoolSource.IMPORTED,
    PlanSource.AI: PoolSource.PLAN,
    PlanSource.RULE: PoolSource.RECOMMENDATION,
}


def _clean_title(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        message = "This field may not be blank."
        raise ValidationError("A plan needs a title.", fields={"title": [message]})
    title = value.strip()
    if len(title) > TITLE_MAX_LENGTH:
        message = f"Ensure this field has no more than {TITLE_MAX_LENGTH} characters."
        raise ValidationError(f"title: {message}", fields={"title": [message]})
    return title


def _clean_source(value: Any) -> str:
    if value not in PlanSource.values:
        message = f"'{value}' is not a valid source; choose one of {', '.join(PlanSource.values)}."
        raise ValidationError(message, fields={"source": [message]})
    return str(value)


def _clean_operations(value: Any) -> list[Any]:
    if not isinstance(value, list):
        message = "A JSON list of operations is required."
        raise ValidationError(f"operations: {message}", fields={"operations": [message]})
    if len(value) > engine.MAX_OPERATIONS:
        message = (
            f"A plan holds at most {engine.MAX_OPERATIONS} operations; this one has {len(value)}."
        )
        raise ValidationError(message, fields={"operations": [message]})
    return value


def pure_validation(plan: Plan) -> engine.Checked:
    """Return the pure checks of a plan's operations, with the pool source its creates get.

    The result is kept on the plan object for as long as its ``operations`` are the same
    list: an import checks a new plan and dry-runs it at once, and the checks of 20,000
    operations are worth doing once. A plan read again from the database is checked anew.
    """
    key = (id(plan.operations), len(plan.operations), plan.source)
    kept = plan.__dict__.get("_pure_validation")
    if kept is not None and kept[0] == key and kept[1] is plan.operations:
        return kept[2]
    checked = engine.validate_operations(plan.operations, source=POOL_SOURCE_OF_PLAN[plan.source])
    if isinstance(plan.operations, list):
        plan.__dict__["_pure_validation"] = (key, plan.operations, checked)
    return checked


# What a dry run's verdict changes in a stored plan (its operations stay as they are).
VERDICT_FIELDS = ["status", "validation", "preview", "risk_level", "validated_at", "updated_at"]


def _validation_document(errors: list[engine.OperationError], *, dry_run: bool) -> dict[str, Any]:
    return {
        "valid": not errors,
        "dry_run": dry_run,
        "error_count": len(errors),
        "errors": [error.as_dict() for error in errors],
        "checked_at": timezone.now().isoformat(),
    }


@transaction.atomic
def plan_create(
    *,
    organization: Organization,
    actor: Actor,
    title: str,
    source: str,
    operations: list[Any],
    source_detail: Mapping[str, Any] | None = None,
    parent_plan: Plan | None = None,
) -> Plan:
    """Store a new plan after the pure checks: ``draft`` when they pass, else ``invalid``.

    The operations are kept as given; the errors of the checks go into ``validation``
    against each operation. The dry run (``plan_validate``) gives the final verdict.
    """
    title = _clean_title(title)
    source = _clean_source(source)
    operations = _clean_operations(operations)
    if source_detail is not None and not isinstance(source_detail, Mapping):
        message = "An object is required."
        raise ValidationError(f"source_detail: {message}", fields={"source_detail": [message]})
    if parent_plan is not None and parent_plan.organization_id != organization.pk:
        raise ValidationError(
            "parent_plan: no such plan in this organization.",
            fields={"parent_plan": ["No such plan in this organization."]},
        )
    plan = Plan(
        organization=organization,
        title=title,
        source=source,
        operations=operations,
        operation_count=len(operations),
        source_detail=dict(source_detail or {}),
        parent_plan=parent_plan,
        version=(parent_plan.version + 1) if parent_plan is not None else 1,
        created_by_id=actor.user_id,
    )
    checked = pure_validation(plan)
    plan.status = PlanStatus.DRAFT if checked.ok else PlanStatus.INVALID
    plan.validation = _validation_document(list(checked.errors), dry_run=False)
    with operation("create", actor=actor):
        plan.save()
    return plan


# Permissions, locks and errors


def _require(actor: Actor, organization: Organization, permission: str) -> None:
    """Refuse (403) a person whose role or token does not allow ``permission``."""
    reason = actor_permission_denial(actor=actor, organization=organization, permission=permission)
    if reason is not None:
        raise PermissionDenied(reason)


def _lock_plan(plan: Plan) -> Plan:
    locked = (
        Plan.objects.select_for_update()
        .filter(pk=plan.pk, organization_id=plan.organization_id)
        .first()
    )
    if locked is None:
        raise NotFound(f"No plan with id {plan.pk} in this organization.")
    return locked


def _require_open(plan: Plan, action: str) -> None:
    if plan.status not in OPEN_STATUSES:
        raise Conflict(
            f"This plan is {plan.get_status_display().lower()}; it cannot be {action}. "
            "A plan applies once.",
            fields={"status": [f"The plan is {plan.status}."]},
        )


class PlanConflict(Conflict):
    """A plan that cannot be applied or rolled back as it stands; ``errors`` name why."""

    def __init__(
        self,
        message: str,
        errors: Sequence[engine.OperationError],
        cause: ApplicationError | None = None,
    ) -> None:
        self.errors = list(errors)
        self.cause = cause
        fields: dict[str, list[str]] = {}
        for error in self.errors[:MAX_REPORTED_ERRORS]:
            key = error.ref or (f"#{error.index + 1}" if error.index is not None else "plan")
            fields.setdefault(key, []).append(f"{error.code}: {error.message}")
        if len(self.errors) > MAX_REPORTED_ERRORS:
            hidden = len(self.errors) - MAX_REPORTED_ERRORS
            fields["plan"] = [*fields.get("plan", []), f"... and {hidden} more failing operations."]
        first = self.errors[0] if self.errors else None
        detail = ""
        if first is not None:
            where = (
                f"operation {first.index + 1} ({first.ref})" if first.index is not None else "plan"
            )
            more = f" ({len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            detail = f": {where}: {first.message}{more}"
        super().__init__(f"{message}{detail}", fields=fields)


def _rejected_errors(
    exc: ApplicationError, indexed: Sequence[tuple[int, batch.PoolChange]]
) -> list[engine.OperationError]:
    """Return the errors of a failed batch, at the plan indexes of its changes."""
    if isinstance(exc, ChangesRejected):
        return [
            engine.OperationError.from_change_error(error, indexed[error.index][0])
            if error.index < len(indexed)
            else engine.OperationError.from_change_error(error, None)
            for error in exc.errors
        ]
    return [engine.OperationError(None, "", exc.code, exc.message)]


# The dry run


class _RollBack(Exception):
    """Leave the dry run's transaction, undoing everything it wrote."""


@dataclass
class DryRun:
    """The verdict of a dry run: every failing operation, and the preview when none failed.

    ``subject`` is what was run (organization, source, operations) and whether the preview
    was asked for, so that ``plan_validate`` can tell whether a verdict is its plan's.
    """

    errors: list[engine.OperationError] = field(default_factory=list)
    preview: dict[str, Any] | None = None
    subject: tuple[int, str, list[Any], bool] | None = None

    @property
    def valid(self) -> bool:
        """Return whether applying the plan would succeed."""
        return not self.errors

    def is_of(self, plan: Plan) -> bool:
        """Return whether this is the verdict, preview included, of ``plan``'s operations."""
        return self.subject is not None and self.subject == (
            plan.organization_id,
            plan.source,
            plan.operations,
            True,
        )


def plan_dry_run(*, plan: Plan, actor: Actor, preview: bool = True) -> DryRun:
    """Carry a plan's operations out through the pool services, then roll everything back.

    Operations that fail the pure checks (and those that name them) are left out and
    reported; the others run in order through ``pool_changes_apply``, which reports every
    change the stored tree refuses, each with the pool service's code. When all pass, the
    preview is read before the rollback. Nothing the run writes survives it: pools and tree
    counters are rolled back, and no audit event is recorded for them.
    """
    organization = Organization.objects.get(pk=plan.organization_id)
    checked = pure_validation(plan)
    indexed, dependants = engine.runnable(checked)
    result = DryRun(
        errors=[*checked.errors, *dependants],
        subject=(plan.organization_id, plan.source, plan.operations, preview),
    )
    if not checked.changes and checked.errors:
        return result  # Not a list, or too long: nothing to run.
    try:
        with transaction.atomic():
            changes = [change for _index, change in indexed]
            state = preview_state(organization, changes) if preview else None
            try:
                # The run's pool changes are rolled back with the transaction: recording
                # audit events for them would only be work thrown away.
                with disable_auditlog():
                    applied = pool_changes_apply(
                        organization=organization,
                        actor=actor,
                        changes=changes,
                        details={"plan": plan.pk, "dry_run": True},
                        # The pure checks ran on exactly these changes when none failed.
                        checked=not checked.errors,
                    )
            except ApplicationError as exc:
                result.errors.extend(_rejected_errors(exc, indexed))
                raise _RollBack from None
            if not result.errors and state is not None:
                result.preview = preview_build(
                    organization=organization, indexed=indexed, applied=applied, state=state
                )
            raise _RollBack
    except _RollBack:
        pass
    result.errors.sort(key=lambda error: -1 if error.index is None else error.index)
    return result


@transaction.atomic
def plan_validate(*, plan: Plan, actor: Actor, dry_run: DryRun | None = None) -> Plan:
    """Dry-run an open plan and store the verdict (``valid``/``invalid``) and the preview.

    ``dry_run`` is a verdict the caller has just made, in the transaction this runs in, of
    the same operations (``plan_dry_run`` of an unsaved plan, with the preview): the AI
    verifier's, for the plan it then stores. It is stored as it is rather than run twice,
    when it is this plan's (same organization, source and operations); otherwise the plan
    is dry-run here.
    """
    organization = Organization.objects.get(pk=plan.organization_id)
    _require(actor, organization, "plans.change")
    locked = _lock_plan(plan)
    _require_open(locked, "validated")
    if dry_run is not None and dry_run.is_of(locked):
        run = dry_run
    else:
        run = plan_dry_run(plan=locked, actor=actor)
    locked.status = PlanStatus.VALID if run.valid else PlanStatus.INVALID
    locked.validation = _validation_document(run.errors, dry_run=True)
    locked.preview = run.preview or {}
    locked.risk_level = (run.preview or {}).get("risk", {}).get("level", "")
    locked.validated_at = timezone.now()
    with operation("plan_validate", actor=actor, target=(PLAN_LABEL, locked.pk)):
        locked.save(update_fields=VERDICT_FIELDS)
    return locked


# Apply


def _pool_fields(pool: Pool) -> dict[str, Any]:
    return {
        "name": pool.name,
        "cidr": pool.cidr,
        "parent": pool.parent_id,
        "type": pool.type,
        "status": pool.status,
        "description": pool.description,
        "tags": dict(pool.tags or {}),
    }


def _undo_record(
    organization: Organization, changes: Sequence[batch.PoolChange]
) -> list[dict[str, Any]]:
    """Return, per operation, what undoing it needs (values before it, as the plan found them).

    Values are followed through the plan: a pool updated twice is restored, by the undo of
    the first update, to what it was before the plan.
    """
    ids = batch.existing_ids(changes)
    state = {
        pool.pk: _pool_fields(pool)
        for pool in Pool.objects.for_organization(organization).filter(pk__in=ids)
    }
    steps: list[dict[str, Any]] = []
    for index, change in enumerate(changes):
        if isinstance(change, batch.PoolCreate):
            steps.append({"index": index, "ref": change.ref, "op": "create"})
        elif isinstance(change, batch.PoolUpdate):
            step: dict[str, Any] = {"index": index, "ref": change.ref, "op": "update"}
            if isinstance(change.pool, int):
                current = state[change.pool]
                step["pool"] = change.pool
                step["fields"] = {name: current[name] for name in change.fields}
                current.update(change.fields)
            steps.append(step)
        else:
            steps.append({"index": index, "ref": change.ref, "op": "delete", "pool": change.pool})
    return steps


def _resolve_ref(value: Any, created: Mapping[str, Pool]) -> Any:
    return created[value].pk if isinstance(value, str) else value


@transaction.atomic
def plan_apply(*, plan: Plan, actor: Actor) -> Plan:
    """Apply an open plan in one transaction through the pool services; it applies once.

    The batch is checked again under the pool locks as it is applied: when the plan has
    stopped being valid, the answer is 409 ``conflict`` naming every failing operation,
    and nothing is written. Every pool event carries the plan id. What rollback needs is
    recorded: the pools created, the values changed, and each pool's state right after.
    """
    organization = Organization.objects.get(pk=plan.organization_id)
    _require(actor, organization, "plans.apply")
    locked = _lock_plan(plan)
    _require_open(locked, "applied")
    checked = pure_validation(locked)
    if not checked.ok:
        raise PlanConflict("The plan is not valid", checked.errors)
    changes = list(checked.changes)
    indexed = list(enumerate(changes))
    steps = _undo_record(organization, changes)
    try:
        with transaction.atomic():
            applied = pool_changes_apply(
                organization=organization,
                actor=actor,
                changes=changes,
                details={"plan": locked.pk},
                checked=True,  # The pure checks just passed on these very changes.
            )
    except ApplicationError as exc:
        raise PlanConflict(
            "The plan is no longer valid; nothing was applied", _rejected_errors(exc, indexed), exc
        ) from None
    created = {
        change.ref: applied.pools[change.ref]
        for change in changes
        if isinstance(change, batch.PoolCreate)
    }
    touched: set[int] = set()
    for step in steps:
        if step["op"] == "create":
            step["pool"] = created[step["ref"]].pk
        if step.get("pool") is not None and isinstance(step["pool"], int):
            touched.add(step["pool"])
        if step["op"] == "update" and "parent" in step.get("fields", {}):
            step["fields"]["parent"] = _resolve_ref(step["fields"]["parent"], created)
    after = {
        pk: (updated_at.isoformat(), deleted_at.isoformat() if deleted_at else None)
        for pk, updated_at, deleted_at in Pool.objects.filter(pk__in=touched).values_list(
            "pk", "updated_at", "deleted_at"
        )
    }
    locked.created_pool_ids = [pool.pk for pool in created.values()]
    locked.before_values = {
        "steps": steps,
        "after": {str(pk): list(values) for pk, values in after.items()},
    }
    locked.status = PlanStatus.APPLIED
    locked.applied_at = timezone.now()
    locked.applied_by_id = actor.user_id
    locked.validation = _validation_document([], dry_run=True)
    with operation("plan_apply", actor=actor, target=(PLAN_LABEL, locked.pk)):
        # Not the operations again: a plan of 20,000 costs more to write than to apply.
        locked.save(
            update_fields=[
                "created_pool_ids",
                "before_values",
                "status",
                "applied_at",
                "applied_by",
                "validation",
                "updated_at",
            ]
        )
    return locked


@transaction.atomic
def plan_discard(*, plan: Plan, actor: Actor) -> Plan:
    """End an open plan without applying it."""
    organization = Organization.objects.get(pk=plan.organization_id)
    _require(actor, organization, "plans.change")
    locked = _lock_plan(plan)
    _require_open(locked, "discarded")
    locked.status = PlanStatus.DISCARDED
    locked.discarded_at = timezone.now()
    locked.discarded_by_id = actor.user_id
    with operation("plan_discard", actor=actor, target=(PLAN_LABEL, locked.pk)):
        locked.save()
    return locked


# Rollback


def _rollback_blockers(organization: Organization, plan: Plan) -> list[str]:
    """Return why the plan cannot be rolled back: what changed or came to use its pools."""
    steps = plan.before_values.get("steps", [])
    after = plan.before_values.get("after", {})
    created = {step["pool"] for step in steps if step["op"] == "create"}
    ids = {step["pool"] for step in steps if isinstance(step.get("pool"), int)}
    pools = {
        pool.pk: pool for pool in Pool.objects.for_organization(organization).filter(pk__in=ids)
    }
    blockers: list[str] = []
    for pk in sorted(ids):
        pool = pools.get(pk)
        if pool is None:
            blockers.append(f"Pool {pk} no longer exists.")
            continue
        updated_at, deleted_at = after.get(str(pk), [None, None])
        now_deleted = pool.deleted_at.isoformat() if pool.deleted_at else None
        if now_deleted != deleted_at:
            what = "deleted" if now_deleted else "restored"
            blockers.append(f"{describe_pool(pool)} was {what} after the plan was applied.")
        elif pool.updated_at.isoformat() != updated_at:
            blockers.append(f"{describe_pool(pool)} was changed after the plan was applied.")
    newcomers = (
        Pool.objects.live()
        .filter(parent_id__in=created)
        .exclude(pk__in=ids)
        .order_by("parent_id", "first_key")
    )
    blockers.extend(
        f"{describe_pool(child)} was added under {describe_pool(pools[child.parent_id])} "
        "after the plan was applied."
        for child in newcomers[:50]
    )
    model = discovered_resource_model()
    if model is not None and created:
        used = (
            model.objects.filter(organization=organization, pool_id__in=created)
            .exclude(state="gone")
            .order_by("pool_id", "first_key")
        )
        blockers.extend(
            f"{describe_pool(pools[resource.pool_id])} is used by the discovered "
            f"{resource.cidr} ({resource.resource_type} {resource.resource_id})."
            for resource in used[:50]
        )
    return blockers


def _undo_changes(plan: Plan) -> list[batch.PoolChange | int]:
    """Return the undo of the plan's operations in reverse order; an int is a pool to restore."""
    undo: list[batch.PoolChange | int] = []
    for step in reversed(plan.before_values.get("steps", [])):
        ref = f"undo-{step['index'] + 1}"
        if step["op"] == "create":
            undo.append(batch.PoolDelete(ref=ref, pool=step["pool"]))
        elif step["op"] == "update" and isinstance(step.get("pool"), int):
            undo.append(batch.PoolUpdate(ref=ref, pool=step["pool"], fields=step["fields"]))
        elif step["op"] == "delete" and isinstance(step.get("pool"), int):
            undo.append(step["pool"])
    return undo


@transaction.atomic
def plan_rollback(*, plan: Plan, actor: Actor) -> Plan:
    """Undo an applied plan: remove what it created, restore what it changed and deleted.

    Refused (409 ``conflict`` naming the blockers) when anything the plan created or
    changed has been changed, deleted, given children or found in use since. The undo
    runs through the pool services, operation by operation in reverse order, in one
    transaction; its pool events carry the plan id.
    """
    organization = Organization.objects.get(pk=plan.organization_id)
    _require(actor, organization, "plans.apply")
    locked = _lock_plan(plan)
    if locked.status != PlanStatus.APPLIED:
        raise Conflict(
            f"This plan is {locked.get_status_display().lower()}; only an applied plan can be "
            "rolled back.",
            fields={"status": [f"The plan is {locked.status}."]},
        )
    blockers = _rollback_blockers(organization, locked)
    if blockers:
        more = f" ({len(blockers) - 1} more)" if len(blockers) > 1 else ""
        raise Conflict(
            f"The plan cannot be rolled back: {blockers[0]}{more}",
            fields={"blockers": blockers},
        )
    details = {"plan": locked.pk, "rollback": True}
    pending: list[batch.PoolChange] = []

    def flush() -> None:
        if pending:
            pool_changes_apply(
                organization=organization, actor=actor, changes=list(pending), details=details
            )
            pending.clear()

    try:
        with transaction.atomic():
            for item in _undo_changes(locked):
                if isinstance(item, int):
                    flush()
                    with operation("restore", actor=actor, details=details):
                        pool_restore(pool=Pool.objects.get(pk=item), actor=actor)
                else:
                    pending.append(item)
            flush()
    except ApplicationError as exc:
        messages = [error.message for error in getattr(exc, "errors", [])] or [exc.message]
        raise Conflict(
            f"The plan cannot be rolled back: {messages[0]}", fields={"blockers": messages}
        ) from None
    locked.status = PlanStatus.ROLLED_BACK
    locked.rolled_back_at = timezone.now()
    locked.rolled_back_by_id = actor.user_id
    with operation("plan_rollback", actor=actor, target=(PLAN_LABEL, locked.pk)):
        locked.save()
    return locked
