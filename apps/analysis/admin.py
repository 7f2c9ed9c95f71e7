"""Admin of the analysis records: read-only views, limited to the user's organizations.

Snapshots, runs and recommendations are written by the tasks and services only; the admin
shows them (the active organization's, every organization's for superusers) and offers one
action, applying recommendations, which goes through the same service as the API.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.analysis import services
from apps.analysis.models import AnalysisRun, Recommendation, UtilizationSnapshot
from apps.tenancy.admin_mixins import TenantAdminMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError


class ReadOnlyTenantAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Show rows of the active organization; nothing is added, edited or deleted here."""

    role_permissions = {"view": "analysis.view"}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields] + list(self.readonly_fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(UtilizationSnapshot)
class UtilizationSnapshotAdmin(ReadOnlyTenantAdmin):
    """Daily utilization snapshots of the pools."""

    list_display = ["day", "pool", "used", "total", "percent", "organization"]
    list_filter = ["organization", "day"]
    search_fields = ["pool__cidr", "pool__name"]
    list_select_related = ["pool", "organization"]
    date_hierarchy = "day"


@admin.register(AnalysisRun)
class AnalysisRunAdmin(ReadOnlyTenantAdmin):
    """Background analyses with their progress and summary."""

    list_display = ["id", "organization", "status", "progress", "message", "created_at", "duration"]
    list_filter = ["organization", "status", "all_pools"]
    search_fields = ["message"]
    readonly_fields = ["duration"]

    @admin.display(description="duration (s)")
    def duration(self, obj: AnalysisRun) -> str:
        seconds = obj.duration_seconds
        return "" if seconds is None else f"{seconds:.2f}"


@admin.register(Recommendation)
class RecommendationAdmin(ReadOnlyTenantAdmin):
    """Recommendations; the action applies them through the pool services."""

    list_display = ["title", "organization", "type", "severity", "impact", "status", "pool"]
    list_filter = ["organization", "status", "type", "severity"]
    search_fields = ["title", "rationale", "fingerprint"]
    list_select_related = ["pool", "organization"]
    readonly_fields = ["applicable"]
    actions = ["apply_selected"]

    def has_apply_permission(self, request: HttpRequest) -> bool:
        return self.role_allows(request, "analysis.change")

    @admin.display(boolean=True, description="applicable")
    def applicable(self, obj: Recommendation) -> bool:
        return obj.is_applicable

    @admin.action(description="Apply the selected pending recommendations", permissions=["apply"])
    def apply_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        applied = 0
        allowed, denied = self.permitted(
            request, "analysis.change", queryset.order_by("-impact", "pk")
        )
        self.deny_message(request, "analysis.change", denied)
        for recommendation in allowed:
            try:
                services.recommendation_apply(
                    recommendation=recommendation, actor=actor_of(request)
                )
            except ApplicationError as exc:
                self.message_user(request, f"{recommendation}: {exc.message}", messages.ERROR)
            else:
                applied += 1
        if applied:
            self.message_user(request, f"{applied} recommendation(s) applied.", messages.SUCCESS)
