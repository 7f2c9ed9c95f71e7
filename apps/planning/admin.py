"""Admin of plans: read-only views of the active organization's plans.

Plans are created, validated, applied and rolled back by the services (API and console);
the admin shows them with their operations, verdict and preview.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from apps.planning import ai_services, llm_services, template_services
from apps.planning import services as plan_services
from apps.planning.models import (
    AIMessage,
    AISession,
    LLMProviderConfig,
    LLMUsageRecord,
    OrganizationTemplate,
    Plan,
)
from apps.tenancy.admin_mixins import TenantAdminMixin
from cloudpam.admin_actions import confirmed_action
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
    actions = ["apply_plans"]

    def has_apply_permission(self, request: HttpRequest) -> bool:
        return self.role_allows(request, "plans.apply")

    @admin.action(description="Apply the selected plans", permissions=["apply"])
    def apply_plans(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        def apply(plan: Plan, data: dict[str, Any]) -> str:
            applied = plan_services.plan_apply(plan=plan, actor=actor_of(request))
            return f"Plan {applied.pk} ({applied.title}) applied."

        return confirmed_action(
            self,
            request,
            queryset.order_by("pk"),
            name="apply_plans",
            title="Apply plans",
            permission="plans.apply",
            button="Yes, apply them",
            note="Each plan is checked again and applied in one transaction through the "
            "pool services, or not at all; an applied plan can be rolled back in the console.",
            run=apply,
        )

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


def _formatted_json(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


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
    autocomplete_fields = ["organization"]
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
            # A saved template's parameters are shown formatted; the console's wizard
            # edits them with a field per value, not JSON typed by hand.
            fields += ["organization", "template", "params_formatted", "naming_formatted"]
        return fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["organization", "name", "template", "description", "params", "naming"]
        shown = ["name", "template", "description", "params_formatted", "naming_formatted"]
        return [*shown, "organization", *self.readonly_fields]

    @admin.display(description="parameters")
    def params_formatted(self, obj: OrganizationTemplate) -> str:
        return _formatted_json(obj.params)

    @admin.display(description="naming")
    def naming_formatted(self, obj: OrganizationTemplate) -> str:
        return _formatted_json(obj.naming)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # OrganizationTemplateAdminForm.clean() has saved through the services already.
        return

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        template_services.org_template_delete(org_template=obj, actor=actor_of(request))


LLM_EDITABLE = [
    "name",
    "provider",
    "model",
    "base_url",
    "api_version",
    "priority",
    "enabled",
    "timeout_seconds",
    "max_output_tokens",
    "input_price",
    "cached_input_price",
    "output_price",
]


class LLMProviderConfigAdminForm(forms.ModelForm):
    """Provider fields plus an empty API key input; saving runs the provider services."""

    api_key = forms.CharField(
        required=False,
        max_length=4096,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted, never shown. Leave empty to keep the stored key.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored API key")

    request: HttpRequest

    class Meta:
        model = LLMProviderConfig
        fields = ["organization", *LLM_EDITABLE]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        fields = {name: data.get(name) for name in LLM_EDITABLE}
        for name in ("base_url", "api_version"):
            fields[name] = fields[name] or ""
        if data.get("clear_api_key"):
            fields["api_key"] = ""
        elif data.get("api_key"):
            fields["api_key"] = data["api_key"]
        actor = actor_of(self.request)
        try:
            if self.instance.pk is None:
                self.instance = llm_services.llm_provider_create(
                    organization=data["organization"], actor=actor, **fields
                )
            else:
                config = LLMProviderConfig.objects.get(pk=self.instance.pk)
                self.instance = llm_services.llm_provider_update(
                    config=config, actor=actor, **fields
                )
        except ApplicationError as exc:
            placed = False
            for name, errors in exc.fields.items():
                if name in self.fields:
                    self.add_error(name, errors)
                    placed = True
            if not placed:
                self.add_error(None, exc.message)
        return data

    def _post_clean(self) -> None:
        # The services have validated and saved the instance.
        return


@admin.register(LLMProviderConfig)
class LLMProviderConfigAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Language model providers of the active organization; the key is write-only."""

    form = LLMProviderConfigAdminForm
    role_permissions = {
        "view": "ai.manage",
        "add": "ai.manage",
        "change": "ai.manage",
        "delete": "ai.manage",
    }
    list_display = [
        "name",
        "organization",
        "provider",
        "model",
        "priority",
        "enabled",
        "api_key_set_display",
        "last_checked_at",
    ]
    list_filter = ["organization", "provider", "enabled"]
    search_fields = ["name", "model"]
    autocomplete_fields = ["organization"]
    list_select_related = ["organization"]
    readonly_fields = [
        "api_key_set_display",
        "api_key_hint",
        "api_key_updated_at",
        "last_checked_at",
        "last_check",
        "created_by",
        "created_at",
        "updated_at",
    ]

    def get_form(
        self, request: HttpRequest, obj: LLMProviderConfig | None = None, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def get_fields(self, request: HttpRequest, obj: LLMProviderConfig | None = None) -> list[str]:
        fields = ["organization", *LLM_EDITABLE, "api_key", "clear_api_key"]
        if obj is not None:
            fields.remove("organization")
        return fields + self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # LLMProviderConfigAdminForm.clean() has saved through the services already.
        return

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return

    def delete_model(self, request: HttpRequest, obj: LLMProviderConfig) -> None:
        llm_services.llm_provider_delete(config=obj, actor=actor_of(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for config in queryset.order_by("pk"):
            llm_services.llm_provider_delete(config=config, actor=actor_of(request))

    @admin.display(boolean=True, description="API key set")
    def api_key_set_display(self, obj: LLMProviderConfig) -> bool:
        return obj.api_key_set


@admin.register(LLMUsageRecord)
class LLMUsageRecordAdmin(TenantAdminMixin, admin.ModelAdmin):
    """The ledger of language model calls, read-only."""

    role_permissions = {"view": "ai.manage"}
    list_display = [
        "created_at",
        "organization",
        "provider",
        "model",
        "purpose",
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cost",
    ]
    list_filter = ["organization", "provider", "purpose"]
    list_select_related = ["organization"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AIMessageInline(admin.TabularInline):
    """A session's messages, read-only."""

    model = AIMessage
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["created_at", "role", "status", "provider", "model", "plan", "repair_rounds"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AISession)
class AISessionAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Conversations with the AI assistant, read-only; deleting goes through the service."""

    role_permissions = {"view": "ai.view", "delete": "ai.use"}
    list_display = [
        "id",
        "title",
        "organization",
        "created_by",
        "message_count",
        "input_tokens",
        "output_tokens",
        "cost",
        "updated_at",
    ]
    list_filter = ["organization"]
    search_fields = ["title"]
    list_select_related = ["organization", "created_by"]
    date_hierarchy = "created_at"
    inlines = [AIMessageInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: AISession) -> None:
        ai_services.ai_session_delete(session=obj, actor=actor_of(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for session in queryset.order_by("pk"):
            ai_services.ai_session_delete(session=session, actor=actor_of(request))


@admin.register(AIMessage)
class AIMessageAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Messages of AI sessions with the provider, tokens, cost and plan of each answer."""

    role_permissions = {"view": "ai.view"}
    list_display = [
        "id",
        "session",
        "organization",
        "role",
        "status",
        "provider",
        "model",
        "plan",
        "repair_rounds",
        "input_tokens",
        "output_tokens",
        "cost",
        "created_at",
    ]
    list_filter = ["organization", "role", "status", "provider"]
    search_fields = ["content"]
    list_select_related = ["organization", "session", "plan"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
