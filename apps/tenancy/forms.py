"""Console forms of tenancy."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django_ratelimit.core import get_usage

from apps.tenancy.choices import Role, TokenScope
from apps.tenancy.models import DEFAULT_ORGANIZATION_SETTINGS, DEFAULT_QUOTAS
from apps.tenancy.org_settings import SETTING_BOUNDS, SETTING_LABELS, quota_bounds, setting_kind
from apps.tenancy.quotas import QUOTA_LABELS


def login_attempt_wait(request: Any, username: str) -> int | None:
    """Count a sign-in attempt; return the seconds to wait when over a limit, else None.

    Attempts are limited per account and per client IP (``LOGIN_RATE_LIMIT``,
    10 a minute by default) in the shared cache, so that several processes
    count together.
    """
    rate = settings.LOGIN_RATE_LIMIT
    checks = [("cloudpam.login.ip", "ip")]
    if username:
        account = username.strip().lower()
        checks.append(("cloudpam.login.account", lambda _group, _request: account))
    waits = []
    for group, key in checks:
        usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
        if usage is not None and usage["should_limit"]:
            waits.append(max(int(usage["time_left"]), 1))
    return max(waits) if waits else None


class _RateLimitedLogin:
    """Refuse a sign-in attempt over the limit before any password is checked."""

    rate_limited_message = "Too many sign-in attempts. Try again in %(seconds)s seconds."

    def clean(self) -> dict[str, Any]:
        request = getattr(self, "request", None)
        if request is not None:
            username = self.data.get("username") or ""
            wait = login_attempt_wait(request, username)
            if wait:
                # authenticate() never runs, so Django sends no signal of its own: a
                # throttled attempt (often the guessing itself) must still reach the audit trail.
                user_login_failed.send(
                    sender=__name__,
                    credentials={"username": username},
                    request=request,
                    reason="rate_limited",
                )
                raise forms.ValidationError(
                    self.rate_limited_message, code="rate_limited", params={"seconds": wait}
                )
        return super().clean()  # type: ignore[misc]

    def confirm_login_allowed(self, user: Any) -> None:
        """Refuse a password sign-in to members of an organization that enforces SSO."""
        super().confirm_login_allowed(user)  # type: ignore[misc]
        from apps.tenancy.sso.services import sso_refusal_for_password

        organization = sso_refusal_for_password(user)
        if organization is not None:
            user_login_failed.send(
                sender=__name__,
                credentials={"username": user.email},
                request=getattr(self, "request", None),
                reason="sso_required",
            )
            raise forms.ValidationError(
                "%(organization)s requires single sign-on: sign in through its identity "
                "provider (enter the organization's short name, %(slug)s, below).",
                code="sso_required",
                params={"organization": organization.name, "slug": organization.slug},
            )


class LoginForm(_RateLimitedLogin, AuthenticationForm):
    """The console sign-in form, rate limited per account and IP."""


class AdminLoginForm(_RateLimitedLogin, AdminAuthenticationForm):
    """The admin sign-in form, rate limited like the console's."""


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=255)


class MemberInviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=TokenScope.choices, widget=forms.CheckboxSelectMultiple, initial=["read"]
    )
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="Empty: the organization's default."
    )


def _setting_form_field(name: str) -> forms.Field:
    kind = setting_kind(name)
    label = SETTING_LABELS.get(name, name.replace("_", " ").capitalize())
    if kind == "bool":
        return forms.BooleanField(label=label, required=False)
    low, high = SETTING_BOUNDS.get(name, (None, None))
    help_text = f"Between {low:,} and {high:,}." if low is not None and high is not None else ""
    return forms.IntegerField(label=label, min_value=low, max_value=high, help_text=help_text)


def editable_settings() -> list[str]:
    """Return the settings the organization form edits: the typed ones.

    An object setting (``compliance``) has its own form in the app that owns
    it, with a field per value; it never appears here as a JSON text area.
    """
    return [name for name in DEFAULT_ORGANIZATION_SETTINGS if setting_kind(name) != "object"]


class OrganizationSettingsForm(forms.Form):
    """The typed settings of ``DEFAULT_ORGANIZATION_SETTINGS``, generated from the defaults.

    The form checks types and bounds; the settings service checks the rest
    (a default token lifetime above the longest, overlapping roots already
    there) and its errors are shown on the field they name.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in editable_settings():
            self.fields[name] = _setting_form_field(name)


class QuotaForm(forms.Form):
    """Every quota of ``DEFAULT_QUOTAS``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in DEFAULT_QUOTAS:
            low, high = quota_bounds(name)
            self.fields[name] = forms.IntegerField(
                label=QUOTA_LABELS.get(name, name),
                min_value=low,
                max_value=high,
                help_text="0 switches the feature off." if low == 0 else f"At least {low:,}.",
            )
