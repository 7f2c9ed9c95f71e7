"""Reads of MFA: a user's devices, never their secrets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.tenancy.models import User


@dataclass(frozen=True)
class MfaDevice:
    """One factor of a user as lists show it: its kind, name and use, no secret."""

    type: str
    name: str
    created_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class MfaSummary:
    """Whether a user has MFA, their devices and how many recovery codes are left."""

    enabled: bool
    devices: list[MfaDevice]
    recovery_codes_left: int


def mfa_summary(*, user: User) -> MfaSummary:
    """Return the confirmed MFA devices of ``user`` and the recovery codes left."""
    authenticators = list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk"))
    devices = [
        MfaDevice("totp", device.name, device.created_at, device.last_used_at)
        for device in authenticators
    ]
    left = 0
    if authenticators:
        for static in StaticDevice.objects.filter(user=user).order_by("pk"):
            devices.append(
                MfaDevice("recovery_codes", static.name, static.created_at, static.last_used_at)
            )
            left += static.token_set.count()
    return MfaSummary(enabled=bool(authenticators), devices=devices, recovery_codes_left=left)


def mfa_recovery_codes_left(*, user: User) -> int:
    """Return how many unused recovery codes ``user`` has."""
    return StaticToken.objects.filter(device__user=user).count()
