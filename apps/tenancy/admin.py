"""Admin for users, organizations, memberships and API tokens."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from apps.tenancy import services
from apps.tenancy.admin_mixins import TenantAdminMixin
from apps.tenancy.forms import AdminLoginForm
from apps.tenancy.models import ApiToken, Membership, Organization, User
from apps.tenancy.org_settings import validate_quotas, validate_settings
from cloudpam.exceptions import ApplicationError

# Sign-in attempts to the admin are limited like the console's.
admin.site.login_form = AdminLoginForm


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Users span organizations, so only superusers manage them here."""

    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


class OrganizationAdminForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["name", "slug", "settings", "quotas"]

    def clean_settings(self) -> dict[str, Any]:
        value = self.cleaned_data["settings"] or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Settings must be a JSON object.")
        try:
            validate_settings(value, {})
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None
        return value

    def clean_quotas(self) -> dict[str, Any]:
        value = self.cleaned_data["quotas"] or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Quotas must be a JSON object.")
        try:
            validate_quotas(value)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None
        return value


@admin.register(Organization)
class OrganizationAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Organizations; creating and deleting them is for superusers (or the console's owners)."""

    form = OrganizationAdminForm
    list_display = ["name", "slug", "member_count", "created_at"]
    search_fields = ["name", "slug"]
    list_filter = ["created_at"]
    readonly_fields = ["created_at", "updated_at", "effective_settings", "effective_quotas"]
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        from django.db.models import Count

        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, obj: Organization) -> int:
        return obj._member_count

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def delete_model(self, request: HttpRequest, obj: Organization) -> None:
        services.organization_delete(organization=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for organization in queryset:
            services.organization_delete(organization=organization)


@admin.register(Membership)
class MembershipAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Memberships; every change goes through the tenancy services (the last owner stays)."""

    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__email", "organization__name", "organization__slug"]
    autocomplete_fields = ["user"]
    readonly_fields = ["created_at", "updated_at"]
    list_select_related = ["user", "organization"]
    actions: list[Any] = []

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "user", "organization"] if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        try:
            if change:
                services.membership_change_role(
                    membership=obj, role=obj.role, actor=request.user, request=request
                )
            else:
                created = services.membership_invite(
                    organization=obj.organization,
                    email=obj.user.email,
                    role=obj.role,
                    actor=request.user,
                    request=request,
                )
                obj.pk = created.pk
        except ApplicationError as exc:
            messages.error(request, exc.message)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        try:
            services.membership_remove(membership=obj, actor=request.user, request=request)
        except ApplicationError as exc:
            messages.error(request, exc.message)


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now)
            )
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.action(description="Revoke the selected tokens", permissions=["change"])
def revoke_tokens(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    count = 0
    for token in queryset.filter(revoked_at__isnull=True):
        services.api_token_revoke(token=token, actor=request.user, request=request)
        count += 1
    modeladmin.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(TenantAdminMixin, admin.ModelAdmin):
    """API tokens, read-only but for revocation; the secret hash is never shown.

    Tokens are created in the console, the API or ``manage.py create_token``,
    where the value can be shown once.
    """

    list_display = [
        "name",
        "display_prefix",
        "member",
        "organization",
        "scopes",
        "status",
        "expires_at",
        "last_used_at",
        "last_used_ip",
    ]
    list_filter = [TokenStatusFilter, "organization", "created_at", "last_used_at"]
    search_fields = ["name", "prefix", "membership__user__email"]
    list_select_related = ["membership__user", "organization"]
    fields = [
        "name",
        "display_prefix",
        "organization",
        "membership",
        "scopes",
        "status",
        "expires_at",
        "rate_limit_per_minute",
        "last_used_at",
        "last_used_ip",
        "created_at",
        "created_by",
        "revoked_at",
        "revoked_by",
    ]
    readonly_fields = fields
    actions = [revoke_tokens]

    @admin.display(description="Member", ordering="membership__user__email")
    def member(self, obj: ApiToken) -> str:
        return obj.membership.user.email

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
