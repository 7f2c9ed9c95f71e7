"""Reads of plans: the organization's plans, one plan, and two plans side by side."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db.models import QuerySet

from apps.planning.models import Plan
from apps.pools.models import Pool
from apps.pools.selectors import pool_utilization_map
from apps.tenancy.models import Organization
from cloudpam.exceptions import NotFound, ValidationError


def plan_list(*, organization: Organization | None) -> QuerySet[Plan]:
    """Return the organization's plans, newest first, with their authors."""
    return (
        Plan.objects.for_organization(organization)
        .select_related("created_by", "applied_by")
        .defer("operations", "preview", "before_values")
        .order_by("-created_at", "-id")
    )


def plan_get(*, organization: Organization | None, pk: Any) -> Plan:
    """Return plan ``pk`` of the organization, or 404."""
    try:
        number = int(pk)
    except (TypeError, ValueError):
        number = None
    plan = (
        Plan.objects.for_organization(organization)
        .select_related("created_by", "applied_by", "rolled_back_by", "discarded_by")
        .filter(pk=number)
        .first()
        if number is not None and 0 < number < 2**63
        else None
    )
    if plan is None:
        raise NotFound(f"No plan with id {pk} in this organization.")
    return plan


def _operation_counts(plan: Plan) -> dict[str, int]:
    counts = Counter(
        operation.get("op") for operation in plan.operations if isinstance(operation, dict)
    )
    return {"added": counts["create"], "changed": counts["update"], "removed": counts["delete"]}


def plan_summary(plan: Plan) -> dict[str, Any]:
    """Return what comparing needs of a plan: counts, addresses, headroom, risk, findings."""
    preview = plan.preview or {}
    findings = preview.get("risk", {}).get("findings", [])
    return {
        "id": plan.pk,
        "title": plan.title,
        "status": plan.status,
        "source": plan.source,
        "operations": plan.operation_count,
        "counts": preview.get("counts") or _operation_counts(plan),
        "addresses_added": preview.get("addresses_added"),
        "risk_level": plan.risk_level or None,
        "findings": dict(Counter(item["rule"] for item in findings)),
        "headroom": {
            entry["cidr"]: {
                "after_percent": entry["after_percent"],
                "free_after": entry["free_after"],
                "largest_free_after": entry["largest_free_after"],
            }
            for entry in preview.get("what_if", [])
        },
        "validated": bool(preview),
    }


def _current_summary(organization: Organization, cidrs: dict[str, int]) -> dict[str, Any]:
    """Return the organization as it stands, over the parents the other side affects."""
    pools = list(
        Pool.objects.for_organization(organization).live().filter(pk__in=set(cidrs.values()))
    )
    usage = pool_utilization_map(pools)
    return {
        "id": "current",
        "title": "Current address plan",
        "status": None,
        "source": None,
        "operations": 0,
        "counts": {"added": 0, "changed": 0, "removed": 0},
        "addresses_added": "0",
        "risk_level": None,
        "findings": {},
        "headroom": {
            pool.cidr: {
                "after_percent": usage[pool.pk].percent,
                "free_after": str(usage[pool.pk].free),
                "largest_free_after": None,
            }
            for pool in pools
        },
        "validated": True,
    }


def plan_compare(*, organization: Organization | None, a: Any, b: Any) -> dict[str, Any]:
    """Return plans ``a`` and ``b`` (a plan id or ``current``) side by side.

    For each side: operation counts, addresses the plan adds, headroom left in each
    affected parent, risk level and findings by rule; ``parents`` lines the headroom up.
    """
    if a in (None, "") or b in (None, ""):
        message = "Give two plans: a=ID and b=ID or b=current."
        raise ValidationError(message, fields={"a" if a in (None, "") else "b": [message]})
    first = plan_summary(plan_get(organization=organization, pk=a))
    if b == "current":
        plan_a = plan_get(organization=organization, pk=a)
        cidrs = {
            entry["cidr"]: entry["pool"]
            for entry in (plan_a.preview or {}).get("what_if", [])
            if entry.get("pool")
        }
        second = _current_summary(organization, cidrs)
    else:
        second = plan_summary(plan_get(organization=organization, pk=b))
    parents = sorted(set(first["headroom"]) | set(second["headroom"]))
    return {
        "a": first,
        "b": second,
        "parents": [
            {"cidr": cidr, "a": first["headroom"].get(cidr), "b": second["headroom"].get(cidr)}
            for cidr in parents
        ],
    }
