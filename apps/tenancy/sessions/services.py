"""
Writes of sessions: start, touch, revoke.

A session is found from the id its Django session data holds
(``SESSION_ROW_KEY``); a live one is remembered in the cache for
``ALIVE_SECONDS`` so that most requests do not read the row. Revoking a
session marks the row and drops the cache entry, so the next request of that
session (in any process sharing the cache) signs it out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.tenancy import signals
from apps.tenancy.models import Membership, User
from apps.tenancy.sessions.device import MAX_USER_AGENT, device_describe, session_key_hash
from apps.tenancy.sessions.models import UserSession
from cloudpam.net import client_ip

SESSION_ROW_KEY = "_cloudpam_session_id"
# How often ``last_seen_at`` is written, and how long a live session is trusted from the cache.
TOUCH_INTERVAL = timedelta(minutes=1)
ALIVE_SECONDS = 60


def _alive_key(pk: int) -> str:
    return f"cloudpam:session-alive:{pk}"


def session_remember_alive(user_session: UserSession) -> None:
    """Cache that ``user_session`` is live (its user and when it was last seen)."""
    cache.set(
        _alive_key(user_session.pk),
        (user_session.user_id, user_session.last_seen_at),
        ALIVE_SECONDS,
    )


def session_forget(pk: int) -> None:
    """Drop the cached liveness of a session."""
    cache.delete(_alive_key(pk))


def session_cached(pk: int) -> tuple[int, Any] | None:
    """Return ``(user id, last seen)`` of a session cached as live, or None."""
    return cache.get(_alive_key(pk))


def _request_client(request: Any) -> tuple[str | None, str]:
    ip = client_ip(request) if request is not None else None
    agent = request.headers.get("User-Agent", "")[:MAX_USER_AGENT] if request is not None else ""
    return ip or None, agent


def user_session_start(*, request: Any, user: User) -> UserSession:
    """Record the session ``request`` has just signed in to, and bind it to the session data."""
    session = request.session
    if session.session_key is None:
        session.save()
    ip, agent = _request_client(request)
    now = timezone.now()
    organization = getattr(request, "organization", None)
    user_session = UserSession.objects.create(
        user=user,
        session_key_hash=session_key_hash(session.session_key),
        last_organization=organization if getattr(organization, "pk", None) else None,
        ip=ip,
        user_agent=agent,
        device=device_describe(agent),
        created_at=now,
        last_seen_at=now,
    )
    session[SESSION_ROW_KEY] = user_session.pk
    session_remember_alive(user_session)
    return user_session


def user_session_touch(*, user_session_id: int, request: Any, organization_id: int | None) -> None:
    """Write when and from where a session was last seen (at most once a minute)."""
    now = timezone.now()
    ip, agent = _request_client(request)
    values: dict[str, Any] = {
        "last_seen_at": now,
        "ip": ip,
        "last_organization_id": organization_id,
    }
    session_key = request.session.session_key
    if session_key:
        # The key changes when Django cycles it (a password change): follow it.
        values["session_key_hash"] = session_key_hash(session_key)
    if agent:
        values["user_agent"] = agent
        values["device"] = device_describe(agent)
    UserSession.objects.filter(
        pk=user_session_id, revoked_at__isnull=True, last_seen_at__lt=now - TOUCH_INTERVAL
    ).update(**values)


def user_session_end(*, user_session_id: int) -> None:
    """Forget a session its user signed out of."""
    UserSession.objects.filter(pk=user_session_id).delete()
    session_forget(user_session_id)


def _revoke(
    sessions: Iterable[UserSession], *, actor: User | None, request: Any, reason: str
) -> list[UserSession]:
    now = timezone.now()
    revoked = []
    for user_session in sessions:
        if user_session.revoked_at is not None:
            continue
        user_session.revoked_at = now
        user_session.revoked_by = actor if getattr(actor, "pk", None) else None
        user_session.save(update_fields=["revoked_at", "revoked_by"])
        session_forget(user_session.pk)
        # Dropped again after commit: a request of that session could have cached it meanwhile.
        transaction.on_commit(lambda pk=user_session.pk: session_forget(pk))
        signals.session_revoked.send(
            sender=UserSession,
            user_session=user_session,
            actor=actor,
            request=request,
            reason=reason,
        )
        revoked.append(user_session)
    return revoked


def _live(queryset: Any) -> Any:
    return queryset.filter(revoked_at__isnull=True).select_for_update().order_by("pk")


@transaction.atomic
def user_session_revoke(
    *, user_session: UserSession, actor: User | None, request: Any = None, reason: str = "user"
) -> UserSession:
    """Revoke one session: its next request is signed out. Revoking twice changes nothing."""
    locked = list(_live(UserSession.objects.filter(pk=user_session.pk)))
    _revoke(locked, actor=actor, request=request, reason=reason)
    user_session.refresh_from_db()
    return user_session


@transaction.atomic
def user_sessions_revoke_others(
    *, user: User, keep_id: int | None, actor: User | None, request: Any = None
) -> int:
    """Revoke every live session of ``user`` except ``keep_id``; return how many."""
    sessions = _live(UserSession.objects.filter(user=user).exclude(pk=keep_id))
    return len(_revoke(list(sessions), actor=actor, request=request, reason="user"))


@transaction.atomic
def member_sessions_revoke(
    *,
    membership: Membership,
    actor: User | None,
    request: Any = None,
    reason: str = "admin",
    only_this_organization: bool = False,
) -> int:
    """Revoke the live sessions of a member; return how many.

    An admin's revocation ends all of the user's sessions, not only those
    working in this organization: a session can switch to this organization at
    any time, so any session left alive could be the lost laptop's. Removing a
    member (``only_this_organization``) ends the sessions working in this
    organization; their other sessions lose this organization with the
    membership and stay signed in to the others.
    """
    sessions = UserSession.objects.filter(user_id=membership.user_id)
    if only_this_organization:
        sessions = sessions.filter(last_organization_id=membership.organization_id)
    return len(_revoke(list(_live(sessions)), actor=actor, request=request, reason=reason))


def user_sessions_purge(*, now: Any = None) -> int:
    """Delete the rows of sessions revoked, or expired with their cookie; return how many.

    A revoked session's row is kept for a day (its next request finds it and
    signs out; the audit trail keeps the revocation for good).
    """
    now = now or timezone.now()
    expired_before = now - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    revoked_before = now - timedelta(days=1)
    deleted, _ = UserSession.objects.filter(
        Q(last_seen_at__lt=expired_before) | Q(revoked_at__lt=revoked_before)
    ).delete()
    return deleted
