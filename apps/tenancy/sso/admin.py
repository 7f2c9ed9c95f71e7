"""
Admin of single sign-on: identity providers and their mappings, for ``sso.manage``.

The client secret is write-only here too: the form has an empty password input
(empty keeps the stored secret) and shows only whether one is set. Every save
goes through the services, so the rules and the audit are the API's.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.tenancy.admin_mixins import TenantAdminMixin
from apps.tenancy.sso import services
from apps.tenancy.sso.forms import FIELDS
from apps.tenancy.sso.models import GroupRoleMapping, IdentityProvider
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError


class IdentityProviderAdminForm(forms.ModelForm):
    # Checked by the service (https, or http on loopback), not by Django's URL rules.
    issuer = forms.CharField(max_length=500)
    client_secret = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted, never shown. Leave empty to keep the stored secret.",
    )

    request: HttpRequest

    class Meta:
        model = IdentityProvider
        fields = ["organization", *FIELDS]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        actor = actor_of(self.request)
        values = {name: data.get(name) for name in FIELDS}
        if data.get("client_secret"):
            values["client_secret"] = data["client_secret"]
        try:
            if self.instance.pk is None:
                organization = data["organization"]
                self.instance = services.identity_provider_create(
                    organization=organization, actor=actor, **values
                )
            else:
                provider = IdentityProvider.objects.get(pk=self.instance.pk)
                changes = {
                    name: value
                    for name, value in values.items()
                    if name in self.changed_data or name == "client_secret"
                }
                self.instance = services.identity_provider_update(
                    provider=provider, actor=actor, **changes
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


class IdentityProviderAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Identity providers of the active organization (every organization for superusers)."""

    form = IdentityProviderAdminForm
    role_permissions = {
        "view": "sso.manage",
        "add": "sso.manage",
        "change": "sso.manage",
        "delete": "sso.manage",
    }
    list_display = ["name", "slug", "organization", "issuer", "enabled", "secret_set"]
    list_filter = ["enabled", "organization"]
    search_fields = ["name", "slug", "issuer", "client_id"]
    autocomplete_fields = ["organization"]
    readonly_fields = [
        "secret_set",
        "client_secret_updated_at",
        "discovery_fetched_at",
        "created_at",
        "updated_at",
    ]
    actions = ["check_discovery"]

    def get_form(
        self, request: HttpRequest, obj: IdentityProvider | None = None, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def get_fields(self, request: HttpRequest, obj: IdentityProvider | None = None) -> list[str]:
        fields = ["organization", *FIELDS, "client_secret"]
        if obj is not None:
            fields.remove("organization")
        return fields + self.readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("organization")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        return

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return

    def delete_model(self, request: HttpRequest, obj: IdentityProvider) -> None:
        services.identity_provider_delete(provider=obj, actor=actor_of(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for provider in queryset.order_by("pk"):
            services.identity_provider_delete(provider=provider, actor=actor_of(request))

    @admin.display(boolean=True, description="client secret set")
    def secret_set(self, obj: IdentityProvider) -> bool:
        return obj.client_secret_set

    def has_check_discovery_permission(self, request: HttpRequest) -> bool:
        return self.role_allows(request, "sso.manage")

    @admin.action(description="Check the discovery document", permissions=["check_discovery"])
    def check_discovery(self, request: HttpRequest, queryset: QuerySet) -> None:
        allowed, denied = self.permitted(request, "sso.manage", queryset.order_by("pk"))
        self.deny_message(request, "sso.manage", denied)
        for provider in allowed:
            result = services.identity_provider_check(provider=provider, actor=actor_of(request))
            if result.ok:
                self.message_user(request, f"{provider.name}: OK ({result.issuer}).")
            else:
                self.message_user(request, f"{provider.name}: {result.error}", messages.ERROR)


class GroupRoleMappingAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Group-to-role mappings (read here; written in the console and the API)."""

    role_permissions = {"view": "sso.manage"}
    list_display = ["group", "role", "provider", "organization"]
    list_filter = ["role", "organization"]
    search_fields = ["group", "provider__name"]
    list_select_related = ["provider", "organization"]
    readonly_fields = ["provider", "group", "role", "organization", "created_at"]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def register(site: admin.AdminSite) -> None:
    """Register the SSO models on ``site``."""
    site.register(IdentityProvider, IdentityProviderAdmin)
    site.register(GroupRoleMapping, GroupRoleMappingAdmin)
