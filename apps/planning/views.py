"""Console pages of plans: the list and the plan page with its actions.

The plan page serves every producer (wizard, import, AI, recommendations): the diff tree,
the what-if bars, the risk panel, the ASCII and to-scale pictures, and the validate,
apply, discard and rollback buttons, each asking for confirmation first.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from apps.planning import selectors, services
from apps.planning.choices import OPEN_STATUSES, PlanStatus
from apps.planning.filters import PlanFilterSet
from apps.planning.models import Plan
from apps.planning.tables import PlanTable
from apps.tenancy.mixins import TenantViewMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError, NotFound

DIFF_ROWS_SHOWN = 500

# Action -> (service, permission, past tense for the message).
ACTIONS = {
    "validate": (services.plan_validate, "plans.change", "validated"),
    "apply": (services.plan_apply, "plans.apply", "applied"),
    "discard": (services.plan_discard, "plans.change", "discarded"),
    "rollback": (services.plan_rollback, "plans.apply", "rolled back"),
}


def _crumbs(*tail: tuple[str, str | None]) -> list[dict[str, str | None]]:
    crumbs: list[dict[str, str | None]] = [{"label": "Plans", "url": reverse("planning:overview")}]
    crumbs.extend({"label": label, "url": url} for label, url in tail)
    crumbs[-1]["url"] = None
    return crumbs


class PlanConsoleMixin(TenantViewMixin):
    """Require ``plans.view`` to read; each action names its own permission."""

    permission = "plans.view"


class PlanListView(PlanConsoleMixin, View):
    """The organization's plans, newest first, filtered by source, status and author."""

    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = PlanFilterSet(
            request.GET, queryset=selectors.plan_list(organization=request.organization)
        )
        plans = filterset.qs if filterset.is_valid() else Plan.objects.none()
        table = PlanTable(request, plans)
        if table.export_requested:
            return table.export_response()
        context = {
            "filter": filterset,
            "table": table,
            "breadcrumbs": [{"label": "Plans", "url": None}],
        }
        return render(request, "planning/plan_list.html", context)


class PlanDetailView(PlanConsoleMixin, View):
    """One plan: verdict, errors, diff tree, what-if bars, risk, pictures and actions."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        try:
            plan = selectors.plan_get(organization=request.organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None
        preview = plan.preview or {}
        open_plan = plan.status in OPEN_STATUSES
        context = {
            "plan": plan,
            "preview": preview,
            "diff": preview.get("diff", [])[:DIFF_ROWS_SHOWN],
            "diff_more": max(0, len(preview.get("diff", [])) - DIFF_ROWS_SHOWN),
            "errors": plan.errors,
            "can_validate": open_plan and self.allowed("plans.change"),
            "can_discard": open_plan and self.allowed("plans.change"),
            "can_apply": open_plan and self.allowed("plans.apply"),
            "can_rollback": plan.status == PlanStatus.APPLIED and self.allowed("plans.apply"),
            "breadcrumbs": _crumbs((plan.title, None)),
        }
        return render(request, "planning/plan_detail.html", context)


class PlanActionView(PlanConsoleMixin, View):
    """Validate, apply, discard or roll back a plan, then show the plan page again."""

    def post(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        if action not in ACTIONS:
            raise Http404("No such action.")
        service, permission, done = ACTIONS[action]
        self.require(permission)
        try:
            plan = selectors.plan_get(organization=request.organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None
        try:
            plan = service(plan=plan, actor=actor_of(request))
        except ApplicationError as exc:
            messages.error(request, exc.message)
            for key, lines in (exc.fields or {}).items():
                for line in lines[:20]:
                    messages.error(request, f"{key}: {line}")
        else:
            if action == "validate" and plan.status == PlanStatus.INVALID:
                messages.warning(request, f"The plan is invalid: {len(plan.errors)} error(s).")
            else:
                messages.success(request, f"Plan {done}.")
        return HttpResponseRedirect(reverse("planning:plan-detail", args=[pk]))
