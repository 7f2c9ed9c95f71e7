"""Admin of MFA devices and sessions: lists without secrets, reset and revoke actions.

django-otp's own admin classes show the TOTP key and a QR code of it; they are
replaced here by read-only ones (superusers only: a device belongs to a user,
not to an organization).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.tenancy.admin_mixins import SuperuserOnlyAdminMixin
from apps.tenancy.mfa import services
from apps.tenancy.sessions import services as session_services
from apps.tenancy.sessions.models import UserSession

for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.action(description="Reset MFA of the selected devices' users (they enrol again)")
def reset_mfa(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    users = {device.user for device in queryset.select_related("user")}
    for user in users:
        services.mfa_reset(user=user, actor=request.user, request=request)
    modeladmin.message_user(request, f"Reset the MFA of {len(users)} user(s).", messages.SUCCESS)


class _DeviceAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed", "created_at", "last_used_at"]
    search_fields = ["user__email", "name"]
    list_select_related = ["user"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields
    actions = [reset_mfa]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Removing one device by hand would leave half an enrolment: use the reset action.
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Django offers actions only to those who may change or delete; reset is an action
        # of its own, for superusers.
        actions = super().get_actions(request)
        if not self._superuser(request):
            return {}
        actions.setdefault("reset_mfa", self.get_action(reset_mfa))
        return actions


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(_DeviceAdmin):
    """Authenticator apps of users; the key is never shown."""


@admin.register(StaticDevice)
class StaticDeviceAdmin(_DeviceAdmin):
    """Recovery code sets of users; the codes are stored as digests and never shown."""


@admin.action(description="Revoke the selected sessions (signed out at their next request)")
def revoke_sessions(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    count = 0
    for user_session in queryset.filter(revoked_at__isnull=True):
        session_services.user_session_revoke(
            user_session=user_session, actor=request.user, request=request, reason="admin"
        )
        count += 1
    modeladmin.message_user(request, f"Revoked {count} session(s).", messages.SUCCESS)


@admin.register(UserSession)
class UserSessionAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    """Signed-in sessions (superusers: a session may work in several organizations)."""

    list_display = [
        "user",
        "device",
        "ip",
        "last_organization",
        "created_at",
        "last_seen_at",
        "revoked_at",
    ]
    list_filter = ["created_at", "last_seen_at", "revoked_at"]
    search_fields = ["user__email", "ip", "device"]
    list_select_related = ["user", "last_organization"]
    fields = [
        "user",
        "device",
        "user_agent",
        "ip",
        "last_organization",
        "created_at",
        "last_seen_at",
        "revoked_at",
        "revoked_by",
    ]
    readonly_fields = fields
    actions = [revoke_sessions]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not self._superuser(request):
            return {}
        actions.setdefault("revoke_sessions", self.get_action(revoke_sessions))
        return actions
