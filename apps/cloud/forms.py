"""Console forms of cloud accounts. They parse input only; the services check the rules.

An account form is built for one provider and shows only that provider's fields. Secret
fields are password inputs that never render a value: what was stored is never sent back.
"""

from __future__ import annotations

import copy
from typing import Any

from django import forms

from apps.cloud.choices import AuthMethod
from apps.cloud.models import CloudAccount
from apps.cloud.providers import AUTH_METHODS
from apps.cloud.services import NAME_MAX_LENGTH, PROVIDER_FIELDS, SECRET_FIELDS
from cloudpam.exceptions import ApplicationError

# Labels and help of the public provider fields, in the order the forms show them.
PROVIDER_FIELD_FORMS: dict[str, forms.Field] = {
    "role_arn": forms.CharField(
        label="Role ARN",
        required=False,
        max_length=2048,
        help_text="assume_role: arn:aws:iam::123456789012:role/CloudPAM",
    ),
    "role_external_id": forms.CharField(
        label="External id",
        required=False,
        max_length=1224,
        help_text="The external id the role's trust policy requires.",
    ),
    "member_role_name": forms.CharField(
        label="Member role name",
        required=False,
        max_length=64,
        help_text="AWS Organizations: the role assumed in member accounts.",
    ),
    "access_key_id": forms.CharField(label="Access key id", required=False, max_length=128),
    "tenant_id": forms.CharField(label="Tenant id", required=False, max_length=64),
    "client_id": forms.CharField(label="Client id", required=False, max_length=64),
}
FIELD_ORDER = ["role_arn", "role_external_id", "member_role_name", "access_key_id"]
FIELD_ORDER += ["tenant_id", "client_id"]


class ServiceErrorMixin:
    """Show a service's ApplicationError on the form, by field where it names one."""

    def apply_error(self, exc: ApplicationError) -> None:
        placed = False
        for name, errors in exc.fields.items():
            if name in self.fields:  # type: ignore[attr-defined]
                self.add_error(name, errors)  # type: ignore[attr-defined]
                placed = True
        if not placed:
            self.add_error(None, exc.message)  # type: ignore[attr-defined]


class SecretTextarea(forms.Textarea):
    """A textarea that never renders a value, even the one just submitted."""

    def format_value(self, value: Any) -> None:
        return None


class RegionsField(forms.CharField):
    """Regions or locations, separated by commas, spaces or lines."""

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value) or ""
        return [part for part in text.replace(",", " ").split() if part]

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value or ""


class AccountForm(ServiceErrorMixin, forms.Form):
    """The fields of an account of one provider."""

    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    external_id = forms.CharField(max_length=64)
    auth_method = forms.ChoiceField(label="Authentication")
    regions = RegionsField(
        required=False,
        max_length=4000,
        help_text="Separated by commas; empty collects every enabled region or location.",
    )
    sync_enabled = forms.BooleanField(required=False, initial=True, label="Sync on a schedule")
    sync_interval_minutes = forms.IntegerField(min_value=5, max_value=10_080, initial=60)
    auto_import = forms.BooleanField(required=False, label="Import new resources as pools")
    requests_per_second = forms.FloatField(min_value=0.1, max_value=1000, initial=10.0)

    def __init__(self, *args: Any, provider: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.provider = provider
        labels = dict(AuthMethod.choices)
        self.fields["auth_method"].choices = [
            (method, labels[method]) for method in AUTH_METHODS[provider]
        ]
        self.fields["external_id"].label = {
            "aws": "AWS account id",
            "gcp": "GCP project id",
            "azure": "Azure subscription id",
        }[provider]
        for name in FIELD_ORDER:
            if name in PROVIDER_FIELDS[provider]:
                self.fields[name] = copy.deepcopy(PROVIDER_FIELD_FORMS[name])
        if provider == "aws":
            self.fields["member_role_name"].initial = "OrganizationAccountAccessRole"

    @classmethod
    def initial_of(cls, account: CloudAccount) -> dict[str, Any]:
        """Return the form's initial values for ``account`` (no secret among them)."""
        names = ["name", "external_id", "auth_method", "regions", "sync_enabled"]
        names += ["sync_interval_minutes", "auto_import", "requests_per_second"]
        names += sorted(PROVIDER_FIELDS[account.provider])
        return {name: getattr(account, name) for name in names}


class CredentialsForm(ServiceErrorMixin, forms.Form):
    """The secret of an account's authentication method; nothing stored is shown."""

    def __init__(self, *args: Any, account: CloudAccount, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        method = account.auth_method
        if account.provider == "aws" and method in SECRET_FIELDS:
            self.fields["access_key_id"] = forms.CharField(
                label="Access key id", max_length=128, initial=account.access_key_id
            )
            self.fields["secret_access_key"] = forms.CharField(
                label="Secret access key",
                max_length=4096,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
            )
        elif method == AuthMethod.SERVICE_ACCOUNT_KEY:
            self.fields["service_account_key"] = forms.CharField(
                label="Service-account key (JSON)",
                max_length=20_000,
                widget=SecretTextarea(attrs={"rows": 8, "autocomplete": "off"}),
                help_text="Paste the key file Google issued; it is encrypted and never shown.",
            )
        elif method == AuthMethod.CLIENT_SECRET:
            self.fields["client_id"] = forms.CharField(
                label="Client id", max_length=64, initial=account.client_id
            )
            self.fields["client_secret"] = forms.CharField(
                label="Client secret",
                max_length=4096,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
            )


class ConfirmForm(forms.Form):
    """A confirmation with nothing to fill in."""
