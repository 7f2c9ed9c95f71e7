"""Admin for users, organizations, memberships and API tokens."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from apps.tenancy import services
from apps.tenancy.admin_mixins import SuperuserOnlyAdminMixin, TenantAdminMixin
from apps.tenancy.choices import Role
from apps.tenancy.forms import AdminLoginForm, OrganizationSettingsForm, QuotaForm
from apps.tenancy.models import ApiToken, Membership, Organization, TablePreference, User
from apps.tenancy.permissions import check_permission
from cloudpam.exceptions import ApplicationError, ValidationError

# The console's typed settings and quota fields, on the organization's change page.
SETTING_FIELDS = OrganizationSettingsForm().fields
QUOTA_FIELDS = QuotaForm().fields
# Members listed on the organization's page; the rest are in the membership list.
MEMBERS_SHOWN = 50

# Sign-in attempts to the admin are limited like the console's.
admin.site.login_form = AdminLoginForm


@admin.register(User)
class UserAdmin(SuperuserOnlyAdminMixin, BaseUserAdmin):
    """Users span organizations, so only superusers manage them here."""

    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "full_name"]
    autocomplete_fields = ["groups"]

    class Media:
        # Labels the search box of the groups picker (select2 leaves it unlabelled).
        js = ["js/admin_picker_labels.js"]

    readonly_fields = ["date_joined", "last_login"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class OrganizationAdminForm(forms.ModelForm):
    """An organization written through the tenancy services, as the API writes it.

    Adding one makes an existing user its owner; the slug is fixed once
    created (URLs and scripts use it). The change form has the console's typed
    settings and quota fields (``OrganizationSettingsForm``, ``QuotaForm``),
    showing the effective values; only the ones changed are written, each
    validated by the service, never a wholesale replacement.
    """

    owner_email = forms.EmailField(
        required=False,
        label="Owner's e-mail",
        help_text="An existing user, who becomes the organization's first owner.",
    )

    request: HttpRequest
    model_admin: OrganizationAdmin

    class Meta:
        model = Organization
        fields = ["name", "slug"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields.pop("owner_email", None)
            effective = {**self.instance.effective_settings, **self.instance.effective_quotas}
            for name, field in (*SETTING_FIELDS.items(), *QUOTA_FIELDS.items()):
                self.fields[name] = copy.deepcopy(field)
                self.initial.setdefault(name, effective.get(name))
        if "slug" in self.fields:
            self.fields["slug"].required = False
            self.fields["slug"].help_text = "Empty for one made from the name; fixed once created."
        if "owner_email" in self.fields:
            self.fields["owner_email"].required = True

    def _changes(self, names: Iterable[str]) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in names if name in self.changed_data}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        settings, quotas = {}, {}
        if self.instance.pk is not None:
            settings, quotas = self._changes(SETTING_FIELDS), self._changes(QUOTA_FIELDS)
            if quotas and not self.model_admin.role_allows(
                self.request, "quotas.change", self.instance
            ):
                self.add_error(None, "Your role may not change quotas.")
                return data
        step = "name"
        try:
            # A savepoint: a later step's error must undo the earlier steps' writes.
            with transaction.atomic():
                if self.instance.pk is None:
                    self.instance = self._create(data)
                else:
                    organization = self.instance
                    if data["name"] != organization.name:
                        organization = services.organization_update(
                            organization=organization, name=data["name"]
                        )
                    for step, changes in (("settings", settings), ("quotas", quotas)):
                        if changes:
                            organization = services.organization_settings_update(
                                organization=organization, **{step: changes}
                            )
                    self.instance = organization
        except ApplicationError as exc:
            # A setting's error names it (``settings.audit_retention_days``) or the key alone.
            fields = {name: name.rsplit(".", 1)[-1] for name in exc.fields}
            placed = [name for name, field in fields.items() if field in self.fields]
            for name in placed:
                self.add_error(fields[name], exc.fields[name])
            if not placed:
                self.add_error("name" if step == "name" else None, exc.message)
        return data

    def _create(self, data: dict[str, Any]) -> Organization:
        owner = User.objects.filter(email__iexact=data["owner_email"]).first()
        if owner is None:
            raise ValidationError(
                "No user has this e-mail.",
                fields={"owner_email": ["No user has this e-mail; add the user first."]},
            )
        return services.organization_create(
            name=data["name"],
            slug=data.get("slug") or None,
            creator=self.request.user,
            owner=owner,
            request=self.request,
        )

    def _post_clean(self) -> None:
        # The services have validated and saved the organization.
        return


@admin.register(Organization)
class OrganizationAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Organizations; creating them is for superusers (or any user in the console)."""

    form = OrganizationAdminForm
    role_permissions = {
        "view": "organization.view",
        "change": "organization.change",
        "delete": "organization.delete",
    }
    list_display = ["name", "slug", "member_count", "created_at"]
    search_fields = ["name", "slug"]
    ordering = ["name"]
    list_filter = ["created_at"]
    readonly_fields = ["created_at", "updated_at", "members"]
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        from django.db.models import Count

        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    def get_fieldsets(self, request: HttpRequest, obj: Organization | None = None) -> Any:
        if obj is None:
            return [(None, {"fields": ["name", "slug", "owner_email"]})]
        return [
            (None, {"fields": ["name", "slug", "created_at", "updated_at"]}),
            ("Settings", {"fields": list(SETTING_FIELDS)}),
            ("Quotas", {"fields": list(QUOTA_FIELDS)}),
            ("Members", {"fields": ["members"]}),
        ]

    @admin.display(description="Members")
    def members(self, obj: Organization) -> str:
        """The first members, each a link to their membership; the rest one link away.

        Read-only: inviting, changing a role and removing go through the membership
        pages, whose forms call the tenancy services.
        """
        memberships = obj.memberships.select_related("user").order_by("user__email")
        shown = list(memberships[:MEMBERS_SHOWN])
        total = obj.memberships.count() if len(shown) == MEMBERS_SHOWN else len(shown)
        changelist = reverse("admin:tenancy_membership_changelist")
        rows = format_html_join(
            "",
            '<li><a href="{}">{}</a> ({})</li>',
            (
                (
                    reverse("admin:tenancy_membership_change", args=[m.pk]),
                    m.user.email,
                    m.get_role_display(),
                )
                for m in shown
            ),
        )
        more = f"All {total} members" if total > len(shown) else "The members' list"
        return format_html(
            '<ul class="members">{}</ul><a href="{}?organization__id__exact={}">{}</a>',
            rows,
            changelist,
            obj.pk,
            more,
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["slug", *self.readonly_fields]

    def get_prepopulated_fields(self, request: HttpRequest, obj: Any = None) -> dict[str, Any]:
        return dict(self.prepopulated_fields) if obj is None else {}

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        # The settings and quota fields are the form's own, not the model's.
        if "fields" in kwargs:
            typed = {*SETTING_FIELDS, *QUOTA_FIELDS}
            kwargs["fields"] = [name for name in kwargs["fields"] if name not in typed]
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request, "model_admin": self})

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, obj: Organization) -> int:
        return obj._member_count

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # OrganizationAdminForm.clean() has saved through the services.
        return

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return

    def delete_model(self, request: HttpRequest, obj: Organization) -> None:
        services.organization_delete(organization=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        allowed, _denied = self.permitted(request, "organization.delete", queryset)
        for organization in allowed:
            services.organization_delete(organization=organization)


class MembershipAdminForm(forms.ModelForm):
    """A membership written through the tenancy services: invited by e-mail, as in the API.

    New members are named by e-mail rather than picked from the site's users,
    whom an organization's admins may not browse.
    """

    email = forms.EmailField(
        required=False,
        label="E-mail",
        help_text="A new user is created and invited when no user has this e-mail.",
    )

    request: HttpRequest
    model_admin: MembershipAdmin

    class Meta:
        model = Membership
        fields = ["organization", "role"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.fields["email"].required = True
        else:
            self.fields.pop("email")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        role = data["role"]
        stored = self.instance if self.instance.pk else None
        organization = stored.organization if stored else data["organization"]
        if Role.OWNER in (role, getattr(stored, "role", None)) and not (
            self.model_admin.role_allows(self.request, "owners.manage", organization)
        ):
            self.add_error("role", "Only owners add, promote or demote owners.")
            return data
        try:
            if stored is not None:
                self.instance = services.membership_change_role(
                    membership=stored, role=role, actor=self.request.user, request=self.request
                )
            else:
                self.instance = services.membership_invite(
                    organization=organization,
                    email=data["email"],
                    role=role,
                    actor=self.request.user,
                    request=self.request,
                )
        except ApplicationError as exc:
            self.add_error("role" if stored is not None else "email", exc.message)
        return data

    def _post_clean(self) -> None:
        # The services have validated and saved the membership.
        return


@admin.register(Membership)
class MembershipAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Memberships; every change goes through the tenancy services (the last owner stays).

    As in the API, adding, promoting, demoting or removing an owner takes
    ``owners.manage`` besides ``members.manage``.
    """

    form = MembershipAdminForm
    role_permissions = {
        "view": "members.view",
        "add": "members.manage",
        "change": "members.manage",
        "delete": "members.manage",
    }
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__email", "organization__name", "organization__slug"]
    autocomplete_fields = ["organization"]
    readonly_fields = ["created_at", "updated_at"]
    list_select_related = ["user", "organization"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["email", "organization", "role"]
        return ["user", "organization", "role", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "user", "organization"] if obj is not None else fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request, "model_admin": self})

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # MembershipAdminForm.clean() has saved through the services.
        return

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if (
            obj is not None
            and obj.role == Role.OWNER
            and not self.role_allows(request, "owners.manage", obj.organization)
        ):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        try:
            services.membership_remove(membership=obj, actor=request.user, request=request)
        except ApplicationError as exc:
            messages.error(request, exc.message)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        # Row by row through the service, never a bulk delete: the last owner stays.
        for membership in queryset.select_related("organization"):
            if self.has_delete_permission(request, membership):
                self.delete_model(request, membership)
            else:
                messages.error(request, f"You may not remove {membership}.")


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


@admin.action(description="Revoke the selected tokens", permissions=["revoke"])
def revoke_tokens(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    count = 0
    # The queryset holds only the tokens the member may see: theirs, or all for token managers.
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
    role_permissions = {"view": "tokens.view"}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # As in the API: a member sees their own tokens, a token manager everyone's.
        queryset = super().get_queryset(request)
        if self._unrestricted(request) or check_permission(request, "tokens.manage") is None:
            return queryset
        return queryset.filter(membership=getattr(request, "membership", None))

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return self.role_allows(request, "tokens.create")

    @admin.display(description="Member", ordering="membership__user__email")
    def member(self, obj: ApiToken) -> str:
        return obj.membership.user.email

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# MFA devices and sessions: their own module, registered with the rest of tenancy's admin.
from apps.tenancy.mfa import admin as mfa_admin  # noqa: E402, F401


@admin.register(TablePreference)
class TablePreferenceAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    """Users' console table choices (superusers: a preference is a user's, not a tenant's)."""

    list_display = ["user", "table", "page_size", "updated_at"]
    list_filter = ["table", "updated_at"]
    search_fields = ["user__email", "table"]
    list_select_related = ["user"]
    fields = ["user", "table", "columns", "page_size", "updated_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# Single sign-on's admin classes live in their package.
from apps.tenancy.sso.admin import register as _register_sso  # noqa: E402

_register_sso(admin.site)

# django-celery-beat's task admin shows a saved task's JSON arguments formatted, read-only.
from cloudpam.admin_celery import register as _register_celery  # noqa: E402

_register_celery(admin.site)
