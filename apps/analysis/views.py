"""Console pages of the analysis: dashboard, pool analysis, findings, recommendations, runs.

Views parse the request, call one selector or service and render; a service error is shown
as a message with the API's wording.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from apps.analysis import selectors, services
from apps.analysis.charts import utilization_chart
from apps.analysis.choices import RecommendationStatus
from apps.analysis.filters import RecommendationFilterSet
from apps.analysis.forms import ComplianceSettingsForm, DismissForm, FindingFilterForm
from apps.analysis.models import Recommendation
from apps.analysis.tables import FindingTable, RecommendationTable
from apps.pools.selectors import pool_ancestors, pool_get
from apps.tenancy.mixins import TenantViewMixin
from cloudpam.bulk import BulkRowsView
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError, NotFound

FREE_BLOCKS_SHOWN = 20
CHART_DAYS = 90


class AnalysisConsoleMixin(TenantViewMixin):
    """Require ``analysis.view`` to read and ``analysis.change`` to write, in the active org."""

    permission = "analysis.view"
    method_permissions = {"post": "analysis.change"}

    def base_context(self, **extra: Any) -> dict[str, Any]:
        return {
            "can_change": self.allowed("analysis.change"),
            "can_apply": self.allowed("analysis.change") and self.allowed("pools.change"),
            **extra,
        }

    def back(self, default: str) -> HttpResponseRedirect:
        """Redirect to the ``next`` field when it is a local URL, else to ``default``."""
        target = self.request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={self.request.get_host()}, require_https=False
        ):
            target = default
        return HttpResponseRedirect(target or default)


def _crumbs(*tail: tuple[str, str | None]) -> list[dict[str, str | None]]:
    crumbs: list[dict[str, str | None]] = [
        {"label": "Analysis", "url": reverse("analysis:dashboard")}
    ]
    crumbs.extend({"label": label, "url": url} for label, url in tail)
    crumbs[-1]["url"] = None
    return crumbs


class AnalysisDashboardView(AnalysisConsoleMixin, View):
    """The organization at a glance: pressure, exhaustion, findings, advice, runs."""

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = request.organization
        overview = selectors.organization_overview(organization=organization)
        pending = selectors.recommendation_list(organization=organization).filter(
            status=RecommendationStatus.PENDING
        )
        context = self.base_context(
            overview=overview,
            recommendations=list(pending[:5]),
            pending_count=pending.count(),
            runs=list(selectors.analysis_run_list(organization=organization)[:5]),
            breadcrumbs=None,
        )
        return render(request, "analysis/analysis_dashboard.html", context)


class AnalysisRunStartView(AnalysisConsoleMixin, View):
    """Queue an analysis of the whole plan and show its progress."""

    def post(self, request: HttpRequest) -> HttpResponse:
        run = services.analysis_run_create(
            organization=request.organization, all_pools=True, user=request.user
        )
        messages.success(request, "The analysis has been queued.")
        return HttpResponseRedirect(reverse("analysis:run-detail", args=[run.pk]))


class AnalysisRunDetailView(AnalysisConsoleMixin, View):
    """One analysis run; its progress refreshes itself (htmx) until it finishes."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        try:
            run = selectors.analysis_run_get(organization=request.organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None
        context = self.base_context(run=run, breadcrumbs=_crumbs((f"Run {run.pk}", None)))
        if request.headers.get("HX-Request"):
            return render(request, "analysis/analysisrun_progress.html", context)
        return render(request, "analysis/analysisrun_detail.html", context)


class PoolAnalysisView(AnalysisConsoleMixin, View):
    """The analysis of one pool: utilization over time, free space, findings and runway."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        organization = request.organization
        try:
            pool = pool_get(organization=organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None
        context = self.base_context(pool=pool)
        crumbs = [
            (ancestor.cidr, reverse("analysis:pool-analysis", args=[ancestor.pk]))
            for ancestor in [*pool_ancestors(pool), pool]
        ]
        context["breadcrumbs"] = _crumbs(*crumbs)
        try:
            analysis = selectors.pool_analysis(
                organization=organization, pool=pool, limit=FREE_BLOCKS_SHOWN
            )
        except ApplicationError as exc:
            context["error"] = exc.message
            return render(request, "analysis/pool_analysis.html", context)
        runway = analysis["runway"]
        projection = None
        if runway["projections"]:
            first = runway["projections"][0]
            projection = (date.fromisoformat(first["date"]), first["percent"])
        threshold = (
            selectors.analysis_settings(organization=organization)
            .compliance["OVER_UTILIZED"]
            .params["threshold"]
        )
        series = selectors.snapshot_series(organization=organization, pool=pool, days=CHART_DAYS)
        context.update(
            analysis=analysis,
            chart=utilization_chart(series, threshold=float(threshold), projection=projection),
            recommendations=list(
                selectors.recommendation_list(organization=organization).filter(
                    pool=pool, status=RecommendationStatus.PENDING
                )
            ),
        )
        return render(request, "analysis/pool_analysis.html", context)


class FindingListView(AnalysisConsoleMixin, View):
    """The compliance findings of the organization, filtered and paginated."""

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = request.organization
        form = FindingFilterForm(request.GET or None, organization=organization)
        filters: dict[str, Any] = {}
        if form.is_valid():
            filters = {key: value for key, value in form.cleaned_data.items() if value}
        pool = filters.pop("pool", None)
        error = None
        findings = (
            []
            if "pool" in form.errors
            else selectors.finding_list(organization=organization, pool=pool, **filters)
        )
        table = FindingTable(request, findings)
        if table.export_requested:
            return table.export_response()
        context = self.base_context(
            form=form,
            table=table,
            error=error,
            breadcrumbs=_crumbs(("Compliance", None)),
        )
        return render(request, "analysis/finding_list.html", context)


class ComplianceSettingsView(AnalysisConsoleMixin, View):
    """The organization's compliance rule settings; changing them needs ``settings.change``."""

    method_permissions = {"post": "settings.change"}

    def _render(self, form: ComplianceSettingsForm) -> HttpResponse:
        context = self.base_context(
            form=form,
            can_edit=self.allowed("settings.change"),
            breadcrumbs=_crumbs(
                ("Compliance", reverse("analysis:finding-list")), ("Settings", None)
            ),
        )
        return render(self.request, "analysis/compliance_settings.html", context)

    def _current(self) -> dict[str, Any]:
        raw = self.request.organization.setting("compliance")
        return raw if isinstance(raw, dict) else {}

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(ComplianceSettingsForm(current=self._current()))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ComplianceSettingsForm(request.POST, current=self._current())
        if form.is_valid():
            try:
                services.compliance_settings_update(
                    organization=request.organization, compliance=form.cleaned_data["compliance"]
                )
            except ApplicationError as exc:
                form.apply_problems(exc.fields or {"": [exc.message]})
            else:
                messages.success(request, "The compliance settings have been saved.")
                return HttpResponseRedirect(reverse("analysis:compliance-settings"))
        return self._render(form)


class RecommendationListView(AnalysisConsoleMixin, View):
    """Recommendations ranked by impact, with apply and dismiss."""

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = request.organization
        data = request.GET.copy()
        if "status" not in data:
            data["status"] = RecommendationStatus.PENDING
        filterset = RecommendationFilterSet(
            data, queryset=selectors.recommendation_list(organization=organization)
        )
        recommendations = filterset.qs if filterset.is_valid() else Recommendation.objects.none()
        context = self.base_context(filter=filterset, dismiss_form=DismissForm())
        table = RecommendationTable(
            request,
            recommendations,
            bulk=context["can_change"],
            context={
                "can_change": context["can_change"],
                "can_apply": context.get("can_apply"),
                "next": request.get_full_path(),
            },
        )
        if table.export_requested:
            return table.export_response()
        context.update(
            table=table,
            empty="No recommendation matches these filters."
            + (
                " Generate them to see what the analysis suggests." if context["can_change"] else ""
            ),
            breadcrumbs=_crumbs(("Recommendations", None)),
        )
        return render(request, "analysis/recommendation_list.html", context)


class RecommendationGenerateView(AnalysisConsoleMixin, View):
    """Generate the recommendations of the whole plan."""

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            result = services.recommendation_generate(organization=request.organization)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"{result.created} new, {result.updated} refreshed, {result.removed} withdrawn; "
                f"{result.pending} pending.",
            )
        return self.back(reverse("analysis:recommendation-list"))


class RecommendationApplyView(AnalysisConsoleMixin, View):
    """Apply one recommendation through the pool services."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        self.require("pools.change")
        try:
            recommendation = selectors.recommendation_get(organization=request.organization, pk=pk)
            services.recommendation_apply(recommendation=recommendation, actor=actor_of(request))
        except NotFound as exc:
            raise Http404(exc.message) from None
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Applied: {recommendation.title}.")
        return self.back(reverse("analysis:recommendation-list"))


class RecommendationDismissView(AnalysisConsoleMixin, View):
    """Dismiss one recommendation with a reason."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        form = DismissForm(request.POST)
        try:
            recommendation = selectors.recommendation_get(organization=request.organization, pk=pk)
            if not form.is_valid():
                messages.error(request, "Say why the recommendation is dismissed.")
            else:
                services.recommendation_dismiss(
                    recommendation=recommendation,
                    reason=form.cleaned_data["reason"],
                    actor=actor_of(request),
                )
                messages.success(request, f"Dismissed: {recommendation.title}.")
        except NotFound as exc:
            raise Http404(exc.message) from None
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return self.back(reverse("analysis:recommendation-list"))


class RecommendationBulkView(BulkRowsView):
    """Dismiss the selected pending recommendations, with one reason for all."""

    permission = "analysis.change"
    table = RecommendationTable
    form_class = DismissForm
    done: ClassVar[dict[str, str]] = {"dismiss": "dismissed"}
    noun = ("recommendation", "recommendations")
    default_back = "/recommendations/"

    def get_queryset(self) -> QuerySet[Recommendation]:
        return selectors.recommendation_list(organization=self.request.organization).filter(
            status=RecommendationStatus.PENDING
        )

    def describe(self, row: Recommendation) -> str:
        return row.title

    def apply(self, action: str, row: Recommendation, data: dict[str, Any]) -> None:
        services.recommendation_dismiss(
            recommendation=row, reason=data["reason"], actor=actor_of(self.request)
        )
