"""Admin of plans: read-only views of the active organization's plans.

Plans are created, validated, applied and rolled back by the services (API and console);
the admin shows them with their operations, verdict and preview.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from apps.planning import template_services
from apps.planning.models import OrganizationTemplate, Plan
from apps.tenancy.admin_mixins import TenantAdminMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError


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


class OrganizationTemplateAdminForm(forms.ModelForm):
    """A saved template's fields; saving runs the template services (checked, audited)."""

    request: HttpRequest

    class Meta:
        model = OrganizationTemplate
        fields = ["organization", "name", "template", "description", "params", "naming"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        actor = actor_of(self.request)
        try:
            if self.instance.pk is None:
                self.instance = template_services.org_template_create(
                    organization=data["organization"],
                    actor=actor,
                    name=data.get("name"),
                    template=data.get("template"),
                    params=data.get("params") or {},
                    naming=data.get("naming") or {},
                    description=data.get("description") or "",
                )
            else:
                saved = OrganizationTemplate.objects.get(pk=self.instance.pk)
                self.instance = template_services.org_template_update(
                    org_template=saved,
                    actor=actor,
                    **{
                        name: data.get(name)
                        for name in ("name", "description", "params", "naming")
                        if name in self.changed_data or name == "name"
                    },
                )
        except ApplicationError as exc:
            placed = False
            for name, errors in exc.fields.items():
                field_name = name.split(".")[0]
                if field_name in self.fields:
                    self.add_error(field_name, [f"{name}: {error}" for error in errors])
                    placed = True
            if not placed:
                self.add_error(None, exc.message)
        return data

    def _post_clean(self) -> None:
        # The services have validated and saved the instance.
        return


@admin.register(OrganizationTemplate)
class OrganizationTemplateAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Saved wizard templates; every write goes through the template services."""

    form = OrganizationTemplateAdminForm
    role_permissions = {
        "view": "plans.view",
        "add": "templates.manage",
        "change": "templates.manage",
        "delete": "templates.manage",
    }
    list_display = ["name", "organization", "template", "version", "created_by", "updated_at"]
    list_filter = ["organization", "template"]
    search_fields = ["name", "description"]
    list_select_related = ["organization", "created_by"]
    readonly_fields = ["version", "created_by", "created_at", "updated_at"]
    # Deleting is one row at a time, through the service, from the delete page.
    actions = None

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("template")
        return fields

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # OrganizationTemplateAdminForm.clean() has saved through the services already.
        return

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        template_services.org_template_delete(org_template=obj, actor=actor_of(request))
