"""Admin of plans: read-only views of the active organization's plans.

Plans are created, validated, applied and rolled back by the services (API and console);
the admin shows them with their operations, verdict and preview.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.planning.models import Plan
from apps.tenancy.admin_mixins import TenantAdminMixin


@admin.register(Plan)
class PlanAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Plans with their status, source, verdict and what they created."""

    role_permissions = {"view": "plans.view"}
    list_display = [
        "id",
        "title",
        "organization",
        "source",
        "status",
        "operation_count",
        "risk_level",
        "created_by",
        "created_at",
        "applied_at",
    ]
    list_filter = ["organization", "source", "status", "risk_level"]
    search_fields = ["title"]
    list_select_related = ["organization", "created_by"]
    date_hierarchy = "created_at"
    readonly_fields = ["error_count"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields] + list(self.readonly_fields)

    @admin.display(description="errors")
    def error_count(self, obj: Plan) -> int:
        return len(obj.errors)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
