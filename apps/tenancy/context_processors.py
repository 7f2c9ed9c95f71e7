"""Template context: the active organization and the switcher's choices."""

from typing import Any

from django.http import HttpRequest

from apps.tenancy.context import request_memberships
from apps.tenancy.services import organization_create_allowed


def organization(request: HttpRequest) -> dict[str, Any]:
    """Return the active organization, membership and the switcher's organizations."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "active_organization": getattr(request, "organization", None),
        "active_membership": getattr(request, "membership", None),
        "organization_choices": [m.organization for m in request_memberships(request)],
        "may_create_organization": organization_create_allowed(user),
    }
