"""
What the MFA checks need to know about a user and a session.

``mfa_user_state`` (whether the user has a confirmed authenticator, whether
one of their organizations requires MFA) is cached per user for a minute, so
the check on every request reads no table; the MFA services drop it when
they change a user's devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import django_otp
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.core.cache import cache
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.tenancy.mfa.codes import reverification_due
from apps.tenancy.models import Membership
from apps.tenancy.rls import rls_bypass

VERIFIED_AT_KEY = "_cloudpam_mfa_verified_at"
PENDING_KEY = "_cloudpam_mfa_pending"
STATE_SECONDS = 60


@dataclass(frozen=True)
class MfaUserState:
    """Whether a user has MFA, and whether an organization of theirs requires it."""

    enrolled: bool
    required: bool


def _state_key(user_id: int) -> str:
    return f"cloudpam:mfa-state:{user_id}"


def mfa_user_state(user: Any, *, fresh: bool = False) -> MfaUserState:
    """Return the MFA state of ``user`` (cached for a minute unless ``fresh``)."""
    key = _state_key(user.pk)
    state = None if fresh else cache.get(key)
    if state is None:
        enrolled = TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()
        # A user's memberships span organizations by design, before any is active.
        with rls_bypass():
            all_settings = list(
                Membership.objects.filter(user_id=user.pk).values_list(
                    "organization__settings", flat=True
                )
            )
        required = any(bool((value or {}).get("require_mfa", False)) for value in all_settings)
        state = MfaUserState(enrolled=enrolled, required=required)
        cache.set(key, state, STATE_SECONDS)
    return state


def mfa_user_state_forget(user_id: int) -> None:
    """Drop the cached MFA state of a user (after a change of their devices)."""
    cache.delete(_state_key(user_id))


def is_local_session(request: Any) -> bool:
    """Return whether the session signed in with a password here (not through an IdP).

    MFA applies to local accounts; a session of a single sign-on backend
    relies on the identity provider's own factors.
    """
    backend = request.session.get(BACKEND_SESSION_KEY)
    return backend is None or backend in settings.CLOUDPAM_MFA_LOCAL_BACKENDS


def session_mark_verified(request: Any, device: Any) -> None:
    """Note in the session that ``device`` verified its user now."""
    django_otp.login(request, device)
    request.session[VERIFIED_AT_KEY] = timezone.now().timestamp()


def session_verified_at(request: Any) -> datetime | None:
    """Return when the session's second factor was last verified, or None."""
    value = request.session.get(VERIFIED_AT_KEY)
    if not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def reverification_max_age() -> timedelta:
    return timedelta(hours=settings.CLOUDPAM_MFA_REVERIFY_HOURS)


def session_reverification_due(request: Any) -> bool:
    """Return whether a sensitive action of this session needs the second factor again.

    Only for users with an authenticator: without one there is no factor to
    ask for (an organization that requires MFA enrols them first).
    """
    if not mfa_user_state(request.user).enrolled:
        return False
    return reverification_due(
        session_verified_at(request), timezone.now(), reverification_max_age()
    )
