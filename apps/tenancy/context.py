"""Resolve the organization a request acts in."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.tenancy.models import Membership
from apps.tenancy.rls import rls_bypass

SESSION_KEY = "cloudpam_organization_id"
HEADER = "X-CloudPAM-Organization"


def memberships_of(user: Any) -> list[Membership]:
    """Return the user's memberships with their organizations, by organization name."""
    if not user or not user.is_authenticated:
        return []
    # A user's memberships span organizations by design (the switcher lists
    # them all): the explicit bypass covers this one user-filtered query.
    with rls_bypass():
        return list(
            Membership.objects.filter(user=user)
            .select_related("organization")
            .order_by("organization__name")
        )


def request_memberships(request: HttpRequest) -> list[Membership]:
    """Return the signed-in user's memberships, read once per request."""
    cached = getattr(request, "_cloudpam_memberships", None)
    if cached is None:
        cached = memberships_of(getattr(request, "user", None))
        request._cloudpam_memberships = cached
    return cached


def session_membership(request: HttpRequest, user: Any) -> Membership | None:
    """Return the membership a session user acts through.

    ``X-CloudPAM-Organization: <slug>`` wins, then the organization chosen in
    the console switcher, then the user's first organization by name.
    """
    memberships = request_memberships(request)
    if not memberships:
        return None
    wanted_slug = request.headers.get(HEADER)
    if wanted_slug:
        # A slug the user is not a member of selects nothing: no silent fallback.
        return next((m for m in memberships if m.organization.slug == wanted_slug), None)
    wanted_id = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if wanted_id:
        chosen = next((m for m in memberships if m.organization_id == wanted_id), None)
        if chosen:
            return chosen
    return memberships[0]


def bind_membership(request: HttpRequest, membership: Membership | None) -> None:
    """Make ``membership`` the request's active membership and organization."""
    request.membership = membership
    request.organization = membership.organization if membership else None
