"""The audit trail's dashboard tile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone

from apps.audit.selectors import audit_event_list
from apps.tenancy.permissions import check_permission


def dashboard_widgets(request: Any) -> list[dict[str, Any]]:
    """Return the count of the last day's events, for the roles that may read them."""
    if check_permission(request, "audit.view") is not None:
        return []
    since = timezone.now() - timedelta(days=1)
    count = audit_event_list(organization=request.organization).filter(timestamp__gte=since).count()
    return [{"label": "Audit events (24 h)", "value": count, "url": reverse("audit:event-list")}]
