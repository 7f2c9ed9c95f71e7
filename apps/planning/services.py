"""Every write of plans: create, validate (the dry run), apply, discard, roll back.

A plan changes pools only through ``apps.pools.services.pool_changes_apply``, the batch
write path every bulk writer shares; each service takes its actor explicitly and saves
the plan under a named operation (``plan_validate``, ``plan_apply``, ...) so that the
audit trail records what happened to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.planning import engine
from apps.planning.choices import PlanSource, PlanStatus
from apps.planning.models import TITLE_MAX_LENGTH, Plan
from apps.pools.choices import PoolSource
from apps.tenancy.models import Organization
from cloudpam.context import Actor, operation
from cloudpam.exceptions import ValidationError

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
    """Return the pure checks of a plan's operations, with the pool source its creates get."""
    return engine.validate_operations(plan.operations, source=POOL_SOURCE_OF_PLAN[plan.source])


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
