"""Admin of cloud accounts: the API's role rules, every write through the services.

Credentials are write-only here too: the change form has empty secret inputs, shown only
to members who may write credentials (``accounts.credentials``); the ciphertext is never
a field, a column or a search target.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from apps.cloud import services
from apps.cloud.forms import RegionsField, SecretTextarea
from apps.cloud.models import CloudAccount
from apps.cloud.services import ALL_PROVIDER_FIELDS, SECRET_FIELDS
from apps.tenancy.admin_mixins import TenantAdminMixin
from cloudpam.admin_actions import confirmed_action
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError

EDITABLE = [
    "name",
    "external_id",
    "auth_method",
    "regions",
    "role_arn",
    "role_external_id",
    "member_role_name",
    "access_key_id",
    "tenant_id",
    "client_id",
    "sync_enabled",
    "sync_interval_minutes",
    "auto_import",
    "requests_per_second",
]
SECRET_INPUTS = ["secret_access_key", "service_account_key", "client_secret"]


class CloudAccountAdminForm(forms.ModelForm):
    """Account fields plus empty secret inputs; saving runs the account services."""

    # Typed as in the console, never a JSON list in a text area.
    regions = RegionsField(
        required=False,
        help_text="Regions or locations, separated by commas or spaces; empty for every one.",
    )

    secret_access_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="AWS. Leave empty to keep the stored credentials.",
    )
    service_account_key = forms.CharField(
        required=False,
        widget=SecretTextarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text="GCP key file (JSON). Leave empty to keep the stored credentials.",
    )
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Azure. Leave empty to keep the stored credentials.",
    )

    request: HttpRequest
    may_write_credentials: bool

    class Meta:
        model = CloudAccount
        fields = ["organization", "provider", *EDITABLE, "status"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        actor = actor_of(self.request)
        secrets = {name: data.get(name) for name in SECRET_INPUTS if data.get(name)}
        if secrets and not self.may_write_credentials:
            # Refused before anything is written: a form error does not roll back.
            self.add_error(None, "Your role does not have the permission 'accounts.credentials'.")
            return data
        try:
            if self.instance.pk is None:
                fields = {name: data.get(name) for name in EDITABLE}
                provider = data["provider"]
                for name in ALL_PROVIDER_FIELDS:
                    if not fields.get(name) or name not in services.PROVIDER_FIELDS[provider]:
                        fields.pop(name, None)
                self.instance = services.account_create(
                    organization=data["organization"],
                    actor=actor,
                    provider=provider,
                    **fields,
                )
            else:
                account = CloudAccount.objects.get(pk=self.instance.pk)
                changes = {
                    name: data.get(name)
                    for name in EDITABLE
                    if name in self.changed_data or name == "name"
                }
                if "status" in self.changed_data:
                    changes["status"] = data["status"]
                self.instance = services.account_update(account=account, actor=actor, **changes)
            if secrets:
                secret_name = SECRET_FIELDS.get(self.instance.auth_method)
                self.instance = services.account_credentials_set(
                    account=self.instance,
                    actor=actor,
                    credentials={secret_name: secrets.get(secret_name, "")}
                    if secret_name
                    else secrets,
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


@admin.register(CloudAccount)
class CloudAccountAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Cloud accounts of the active organization (every organization for superusers)."""

    form = CloudAccountAdminForm
    # Deleting is the soft-delete action's, never the admin's delete page.
    role_permissions = {
        "view": "accounts.view",
        "add": "accounts.change",
        "change": "accounts.change",
    }
    list_display = [
        "name",
        "provider",
        "external_id",
        "organization",
        "status",
        "credentials_set_display",
        "last_checked_at",
        "is_live",
    ]
    list_filter = ["provider", "status", "auth_method", "organization"]
    search_fields = ["name", "external_id"]
    autocomplete_fields = ["organization"]
    readonly_fields = [
        "parent",
        "credentials_set_display",
        "credentials_hint",
        "credentials_updated_at",
        "last_checked_at",
        "last_error",
        "last_collection",
        "last_collected_at",
        "created_by",
        "created_at",
        "updated_at",
        "deleted_at",
    ]
    actions = ["sync_now", "soft_delete", "check_connectivity"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Rows are never deleted directly: the action soft-deletes through the service.
        return False

    def has_soft_delete_permission(self, request: HttpRequest) -> bool:
        return self.role_allows(request, "accounts.change")

    def has_check_connectivity_permission(self, request: HttpRequest) -> bool:
        return self.role_allows(request, "accounts.change")

    def has_sync_permission(self, request: HttpRequest) -> bool:
        # As the console's "Sync now": discovery.change.
        return self.role_allows(request, "discovery.change")

    def get_form(self, request: HttpRequest, obj: CloudAccount | None = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        may = self.role_allows(request, "accounts.credentials")
        return type(form.__name__, (form,), {"request": request, "may_write_credentials": may})

    def get_fields(self, request: HttpRequest, obj: CloudAccount | None = None) -> list[str]:
        fields = ["organization", "provider", *EDITABLE, "status"]
        if obj is not None:
            fields.remove("organization")
            fields.remove("provider")
        if self.role_allows(request, "accounts.credentials"):
            fields += SECRET_INPUTS
        return fields + self.readonly_fields

    def get_readonly_fields(
        self, request: HttpRequest, obj: CloudAccount | None = None
    ) -> list[str]:
        return list(self.readonly_fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("organization", "parent")

    def save_model(self, request: HttpRequest, obj: CloudAccount, form: Any, change: bool) -> None:
        # CloudAccountAdminForm.clean() has saved through the services already.
        return

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return

    @admin.display(boolean=True, description="credentials set")
    def credentials_set_display(self, obj: CloudAccount) -> bool:
        return obj.credentials_set

    @admin.display(boolean=True, description="live")
    def is_live(self, obj: CloudAccount) -> bool:
        return obj.deleted_at is None

    @admin.action(description="Soft-delete selected accounts", permissions=["soft_delete"])
    def soft_delete(self, request: HttpRequest, queryset: QuerySet) -> None:
        allowed, denied = self.permitted(
            request, "accounts.change", queryset.filter(deleted_at__isnull=True).order_by("pk")
        )
        self.deny_message(request, "accounts.change", denied)
        done = 0
        for account in allowed:
            services.account_delete(account=account, actor=actor_of(request))
            done += 1
        self.message_user(request, f"Deleted {done} account(s).", messages.SUCCESS)

    @admin.action(
        description="Test connectivity of selected accounts", permissions=["check_connectivity"]
    )
    def check_connectivity(self, request: HttpRequest, queryset: QuerySet) -> None:
        allowed, denied = self.permitted(
            request, "accounts.change", queryset.filter(deleted_at__isnull=True).order_by("pk")
        )
        self.deny_message(request, "accounts.change", denied)
        for account in allowed:
            try:
                result = services.account_check(account=account, actor=actor_of(request))
            except ApplicationError as exc:
                self.message_user(request, f"{account.name}: {exc.message}", messages.ERROR)
                continue
            if result.ok:
                self.message_user(request, f"{account.name}: connected as {result.identity}.")
            else:
                error = result.error or {}
                self.message_user(
                    request,
                    f"{account.name}: {error.get('code')}: {error.get('message')}",
                    messages.ERROR,
                )

    @admin.action(description="Sync the selected accounts now", permissions=["sync"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        from apps.discovery.sync import sync_run_start

        def sync(account: CloudAccount, data: dict[str, Any]) -> str:
            run = sync_run_start(account=account, actor=actor_of(request))
            return f"Sync run {run.pk} of {account.name} queued."

        return confirmed_action(
            self,
            request,
            queryset.filter(deleted_at__isnull=True).order_by("pk"),
            name="sync_now",
            title="Sync accounts now",
            permission="discovery.change",
            button="Yes, sync them",
            note="Each sync run reads the account's networks in the background "
            "and counts against the daily quota of sync runs.",
            run=sync,
        )
