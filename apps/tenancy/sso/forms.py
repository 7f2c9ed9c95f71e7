"""Console forms of single sign-on: parse only; the services check the rules."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.tenancy.choices import Role
from apps.tenancy.sso.models import DEFAULT_SCOPES, IdentityProvider

FIELDS = (
    "name",
    "slug",
    "issuer",
    "client_id",
    "scopes",
    "email_claim",
    "groups_claim",
    "default_role",
    "require_mapped_group",
    "enabled",
)


class IdentityProviderForm(forms.Form):
    """Create or edit a provider; the client secret is write-only (empty keeps it)."""

    name = forms.CharField(max_length=100, label="Display name")
    slug = forms.SlugField(max_length=63, required=False, help_text="Empty: from the name.")
    issuer = forms.CharField(
        max_length=500, help_text="e.g. https://example.okta.com/oauth2/default"
    )
    client_id = forms.CharField(max_length=255, label="Client ID")
    client_secret = forms.CharField(
        max_length=2000,
        required=False,
        label="Client secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Empty keeps the current one.",
    )
    clear_client_secret = forms.BooleanField(
        required=False, label="Remove the stored client secret (public client)"
    )
    scopes = forms.CharField(max_length=500, initial=DEFAULT_SCOPES)
    email_claim = forms.CharField(max_length=100, initial="email", label="E-mail claim")
    groups_claim = forms.CharField(
        max_length=100,
        initial="groups",
        required=False,
        label="Groups claim",
        help_text="A dotted name reads a nested claim (Keycloak: realm_access.roles).",
    )
    default_role = forms.ChoiceField(
        choices=[("", "None: refuse users without a mapped group"), *Role.choices],
        required=False,
    )
    require_mapped_group = forms.BooleanField(required=False)
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(
        self,
        *args: Any,
        instance: IdentityProvider | None = None,
        creating: bool = False,
        **kwargs: Any,
    ) -> None:
        if instance is not None and not args and "initial" not in kwargs:
            kwargs["initial"] = {name: getattr(instance, name) for name in FIELDS}
        super().__init__(*args, **kwargs)
        self.instance = instance
        if creating or instance is None:
            del self.fields["clear_client_secret"]
            self.fields["client_secret"].help_text = "Stored encrypted and never shown again."

    def values(self) -> dict[str, Any]:
        """Return the service arguments: the secret only when one was typed or cleared."""
        data = {name: self.cleaned_data[name] for name in FIELDS}
        if not data["slug"]:
            data.pop("slug")  # new: from the name; editing: the current one stays
        secret = self.cleaned_data.get("client_secret") or ""
        if secret:
            data["client_secret"] = secret
        elif self.cleaned_data.get("clear_client_secret"):
            data["client_secret"] = ""
        return data


class GroupMappingForm(forms.Form):
    group = forms.CharField(max_length=255, help_text="A value of the groups claim.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)
