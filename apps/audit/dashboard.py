"""The audit trail's panel on the console's dashboard: the latest changes."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.audit.selectors import audit_event_list
from apps.tenancy.permissions import check_permission

# Events the dashboard lists; the trail is a link away.
LATEST_SHOWN = 10


def dashboard_widgets(request: Any) -> list[dict[str, Any]]:
    """Return no tile: the audit trail shows as a panel."""
    return []


def dashboard_panels(request: Any) -> list[dict[str, Any]]:
    """Return the organization's latest audit events, for the roles that may read them."""
    organization = getattr(request, "organization", None)
    if organization is None or check_permission(request, "audit.view"):
        return []
    events = list(
        audit_event_list(organization=organization)
        .select_related("actor")
        .order_by("-timestamp", "-pk")[:LATEST_SHOWN]
    )
    return [
        {
            "order": 50,
            "title": "Latest changes",
            "template": "audit/dashboard_latest.html",
            "events": events,
            "url": reverse("audit:event-list"),
        }
    ]
