"""Reads of sessions."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from apps.tenancy.models import Membership, User
from apps.tenancy.sessions.models import UserSession
from cloudpam.exceptions import NotFound


def user_session_list(*, user: User) -> QuerySet[UserSession]:
    """Return the live sessions of ``user``, most recently seen first.

    A session not seen for ``SESSION_COOKIE_AGE`` has expired with its cookie
    and is not listed.
    """
    expired_before = timezone.now() - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    return UserSession.objects.filter(
        user=user, revoked_at__isnull=True, last_seen_at__gte=expired_before
    )


def user_session_get(*, user: User, pk: int) -> UserSession:
    """Return one live session of ``user``; another user's, or a revoked one, is a 404."""
    user_session = user_session_list(user=user).filter(pk=pk).first()
    if user_session is None:
        raise NotFound("No such session.")
    return user_session


def member_session_list(*, membership: Membership) -> QuerySet[UserSession]:
    """Return the live sessions of a member working in the member's organization.

    Sessions of the same user seen working in other organizations are not
    shown: their addresses and devices are none of this organization's business.
    """
    return user_session_list(user=membership.user).filter(
        last_organization_id=membership.organization_id
    )
