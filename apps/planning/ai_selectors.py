"""Reads of the AI assistant's conversations, and the analytics of what it earns its cost.

The analytics answer "does the assistant pay for itself": how many answers proposed a
plan, how many were valid on the first answer or only after repair, how many people
applied, discarded or rolled back, and the tokens and cost per session and per applied
plan, by provider and month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth

from apps.planning.ai_models import AIMessage, AISession
from apps.planning.choices import AIMessageRole, PlanStatus
from apps.tenancy.models import Organization
from cloudpam.exceptions import NotFound, ValidationError

TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens")


def ai_session_list(*, organization: Organization) -> QuerySet[AISession]:
    """Return the organization's sessions, most recently active first."""
    return (
        AISession.objects.for_organization(organization)
        .select_related("created_by")
        .order_by("-updated_at", "-id")
    )


def ai_session_get(*, organization: Organization, pk: Any) -> AISession:
    """Return one of the organization's sessions (NotFound for another's)."""
    try:
        return ai_session_list(organization=organization).get(pk=pk)
    except (AISession.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such AI session.") from None


def ai_message_list(*, session: AISession) -> QuerySet[AIMessage]:
    """Return a session's messages in order, with the plans they proposed."""
    return (
        AIMessage.objects.filter(session=session, organization_id=session.organization_id)
        .select_related("plan")
        .order_by("created_at", "id")
    )


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """Return the first instant of ``YYYY-MM`` and of the month after (UTC)."""
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        message = "A month as YYYY-MM."
        raise ValidationError(f"month: {message}", fields={"month": [message]}) from None
    if not 2000 <= start.year <= 9998:
        message = "A month between 2000-01 and 9998-12."
        raise ValidationError(f"month: {message}", fields={"month": [message]})
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


@dataclass(frozen=True)
class _Figures:
    answers: int
    plans_proposed: int
    valid_first: int
    valid_after_repair: int
    invalid: int
    applied: int
    discarded: int
    rolled_back: int
    repair_rounds: int
    tokens: dict[str, int]
    cost: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "answers": self.answers,
            "plans_proposed": self.plans_proposed,
            "valid_first": self.valid_first,
            "valid_after_repair": self.valid_after_repair,
            "invalid": self.invalid,
            "applied": self.applied,
            "discarded": self.discarded,
            "rolled_back": self.rolled_back,
            "repair_rounds": self.repair_rounds,
            **self.tokens,
            "total_tokens": self.tokens["input_tokens"] + self.tokens["output_tokens"],
            "cost": self.cost,
        }


def _aggregates() -> dict[str, Any]:
    with_plan = Q(plan__isnull=False)
    valid = Q(plan__status__in=[PlanStatus.VALID, PlanStatus.APPLIED, PlanStatus.ROLLED_BACK])
    valid |= Q(plan__validation__valid=True)
    applied = Q(plan__applied_at__isnull=False)
    return {
        "answers": Count("id"),
        "plans_proposed": Count("id", filter=with_plan),
        "valid_first": Count("id", filter=with_plan & Q(valid_first=True, repair_rounds=0)),
        "valid_after_repair": Count("id", filter=with_plan & Q(repair_rounds__gt=0) & valid),
        "invalid": Count("id", filter=with_plan & Q(plan__status=PlanStatus.INVALID)),
        "applied": Count("id", filter=with_plan & applied),
        "discarded": Count("id", filter=with_plan & Q(plan__status=PlanStatus.DISCARDED)),
        "rolled_back": Count("id", filter=with_plan & Q(plan__status=PlanStatus.ROLLED_BACK)),
        "repair_rounds": Sum("repair_rounds"),
        **{name: Sum(name) for name in TOKEN_FIELDS},
        "cost": Sum("cost"),
    }


def _figures(row: dict[str, Any]) -> _Figures:
    return _Figures(
        answers=row["answers"] or 0,
        plans_proposed=row["plans_proposed"] or 0,
        valid_first=row["valid_first"] or 0,
        valid_after_repair=row["valid_after_repair"] or 0,
        invalid=row["invalid"] or 0,
        applied=row["applied"] or 0,
        discarded=row["discarded"] or 0,
        rolled_back=row["rolled_back"] or 0,
        repair_rounds=row["repair_rounds"] or 0,
        tokens={name: row[name] or 0 for name in TOKEN_FIELDS},
        cost=row["cost"] or Decimal(0),
    )


def _per(total: Decimal | int, count: int) -> Decimal | None:
    if not count:
        return None
    return (Decimal(total) / count).quantize(Decimal("0.000001"))


def ai_analytics(*, organization: Organization, month: str | None = None) -> dict[str, Any]:
    """Return the assistant's figures for the organization, all time or one ``YYYY-MM``."""
    answers = AIMessage.objects.for_organization(organization).filter(role=AIMessageRole.ASSISTANT)
    sessions = AISession.objects.for_organization(organization)
    if month:
        start, end = month_bounds(month)
        answers = answers.filter(created_at__gte=start, created_at__lt=end)
        sessions = sessions.filter(created_at__gte=start, created_at__lt=end)
    aggregates = _aggregates()
    totals = _figures(answers.aggregate(**aggregates))
    session_count = sessions.count()
    total_tokens = totals.tokens["input_tokens"] + totals.tokens["output_tokens"]
    by_provider = [
        {
            "provider": row["provider"] or "fallback",
            "model": row["model"],
            **_figures(row).as_dict(),
        }
        for row in answers.order_by()
        .values("provider", "model")
        .annotate(**aggregates)
        .order_by("provider", "model")
    ]
    by_month = [
        {"month": row["month"].strftime("%Y-%m"), "sessions": row["sessions"]}
        | _figures(row).as_dict()
        for row in answers.order_by()
        .annotate(month=TruncMonth("created_at", tzinfo=UTC))
        .values("month")
        .annotate(sessions=Count("session", distinct=True), **aggregates)
        .order_by("month")
    ]
    return {
        "month": month or None,
        "sessions": session_count,
        **totals.as_dict(),
        "tokens_per_session": _per(total_tokens, session_count),
        "cost_per_session": _per(totals.cost, session_count),
        "tokens_per_applied_plan": _per(total_tokens, totals.applied),
        "cost_per_applied_plan": _per(totals.cost, totals.applied),
        "by_provider": by_provider,
        "by_month": by_month,
    }
