"""
Writes of MFA: enrolment, verification, recovery codes and reset.

Each sends ``signals.mfa_event`` (the audit app records ``mfa_enrolled``,
``mfa_verified``, ``mfa_failed``, ``mfa_reset``) with the method used, never
the code. Codes are checked under the sign-in rate limit (per account and per
client address) and under django-otp's own growing delay after each failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.tenancy import signals
from apps.tenancy.forms import login_attempt_wait
from apps.tenancy.mfa.codes import (
    looks_like_totp,
    recovery_code_digests,
    recovery_code_normalize,
    recovery_codes_generate,
)
from apps.tenancy.mfa.state import mfa_user_state_forget
from apps.tenancy.models import User
from cloudpam.exceptions import Conflict, RateLimited, ValidationError

TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
INVALID_CODE = "That code is not valid. Enter the current code of your app or a recovery code."


@dataclass(frozen=True)
class Enrolment:
    """A confirmed enrolment: the device and the recovery codes, shown this once."""

    device: TOTPDevice
    recovery_codes: list[str]


def _recovery_keys() -> list[bytes]:
    """Return the keys of recovery code digests: the current secret key, then fallbacks."""
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return [
        salted_hmac("cloudpam.mfa.recovery-code", "key", secret=secret).digest()
        for secret in secrets
    ]


def _event(
    user: User, event: str, *, method: str | None, actor: Any, request: Any, **extra: Any
) -> None:
    signals.mfa_event.send(
        sender=User, user=user, event=event, method=method, actor=actor, request=request, **extra
    )


def _check_rate(user: User, request: Any) -> None:
    if request is None:
        return
    wait = login_attempt_wait(request, user.email)
    if wait:
        _event(user, "failed", method=None, actor=user, request=request, reason="rate_limited")
        raise RateLimited(
            f"Too many attempts. Try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )


def mfa_enrolment_start(*, user: User) -> TOTPDevice:
    """Return the user's pending authenticator (made if missing); it counts once confirmed."""
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise Conflict("Multi-factor authentication is already on; reset it to enrol again.")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def _replace_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = recovery_codes_generate()
    key = _recovery_keys()[0]
    StaticToken.objects.bulk_create(
        [StaticToken(device=device, token=recovery_code_digests(code, [key])[0]) for code in codes]
    )
    return codes


def mfa_enrolment_confirm(*, user: User, code: str, request: Any = None) -> Enrolment:
    """Confirm the pending authenticator with a code of it; return it and new recovery codes."""
    _check_rate(user, request)
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("pk")
            .first()
        )
        if device is None:
            raise Conflict("Start the enrolment again: there is no authenticator to confirm.")
        verified = looks_like_totp(code, device.digits) and device.verify_token(
            "".join(code.split())
        )
        if verified:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _replace_recovery_codes(user)
            mfa_user_state_forget(user.pk)
            _event(user, "enrolled", method="totp", actor=user, request=request)
    if not verified:
        _event(user, "failed", method="totp", actor=user, request=request, reason="enrolment")
        raise ValidationError(
            "code: That code is not valid; check the clock of your device and try the next one.",
            code="invalid_code",
            fields={"code": ["That code is not valid."]},
        )
    return Enrolment(device=device, recovery_codes=codes)


def _throttle_wait(device: Device) -> int | None:
    allowed, data = device.verify_is_allowed()
    if allowed:
        return None
    locked_until = (data or {}).get("locked_until")
    if locked_until is None:
        return 1
    return max(int((locked_until - timezone.now()).total_seconds()) + 1, 1)


def mfa_verify(*, user: User, code: str, request: Any = None) -> Device:
    """Return the device that accepts ``code`` (TOTP, or a recovery code, used up).

    Wrong codes are refused with 400 ``invalid_code`` and counted by the
    sign-in rate limit (429 ``rate_limited`` over it) and by the device's own
    delay, which doubles after each failure.
    """
    _check_rate(user, request)
    method = "totp" if looks_like_totp(code) else "recovery_code"
    wait = None
    accepted: Device | None = None
    with transaction.atomic():
        if method == "totp":
            for device in TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True):
                wait = _throttle_wait(device)
                if wait is None and device.verify_token("".join(code.split())):
                    accepted = device
                    break
        else:
            canonical = recovery_code_normalize(code)
            device = StaticDevice.objects.select_for_update().filter(user=user).first()
            if canonical is not None and device is not None:
                wait = _throttle_wait(device)
                if wait is None:
                    digests = recovery_code_digests(canonical, _recovery_keys())
                    found = device.token_set.filter(token__in=digests).first()
                    # Through django-otp, so that the use and the throttling are its own.
                    if device.verify_token(found.token if found else "-"):
                        accepted = device
    if accepted is not None:
        _event(user, "verified", method=method, actor=user, request=request)
        return accepted
    _event(user, "failed", method=method, actor=user, request=request, reason="invalid_code")
    if wait is not None:
        raise RateLimited(
            f"Too many wrong codes. Try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )
    raise ValidationError(
        f"code: {INVALID_CODE}", code="invalid_code", fields={"code": [INVALID_CODE]}
    )


@transaction.atomic
def mfa_recovery_codes_regenerate(*, user: User, request: Any = None) -> list[str]:
    """Replace the user's recovery codes with ten new ones (the old ones stop working)."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise Conflict("Turn on multi-factor authentication first.")
    codes = _replace_recovery_codes(user)
    _event(user, "enrolled", method="recovery_code", actor=user, request=request)
    return codes


@transaction.atomic
def mfa_reset(*, user: User, actor: User | None, request: Any = None) -> int:
    """Remove every MFA device of ``user`` (they enrol again); return how many were removed.

    Done by the user (after a code of theirs, a recovery code for a lost
    phone) or by an admin of an organization of theirs.
    """
    removed = 0
    for model in (TOTPDevice, StaticDevice):
        count, _ = model.objects.filter(user=user).delete()
        removed += count
    mfa_user_state_forget(user.pk)
    _event(user, "reset", method=None, actor=actor, request=request)
    return removed
