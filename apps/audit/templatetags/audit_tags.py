"""Template helpers of the audit trail: before/after rows and object histories.

``{% load audit_tags %}{% object_history pool %}`` shows the history of any
row on its page, to the roles that may read the audit trail.
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.urls import reverse
from django.utils.http import urlencode

from apps.audit.documents import actor_display
from apps.audit.selectors import audit_events_for_object
from apps.tenancy.permissions import check_permission

register = template.Library()

HISTORY_LIMIT = 20


def _display(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@register.filter
def change_rows(changes: dict[str, Any] | None) -> list[dict[str, str]]:
    """Return ``{field: [before, after]}`` as rows to show side by side."""
    rows = []
    for field, values in (changes or {}).items():
        before, after = (values[0], values[-1]) if values else (None, None)
        rows.append({"field": field, "before": _display(before), "after": _display(after)})
    return rows


@register.filter
def actor_label(event: Any) -> str:
    """Return who caused an event, in one line."""
    return actor_display(event.actor_info)


@register.inclusion_tag("audit/object_history.html", takes_context=True)
def object_history(
    context: template.Context, obj: Any, limit: int = HISTORY_LIMIT
) -> dict[str, Any]:
    """Render the latest events of ``obj`` for the current organization's audit readers."""
    request = context.get("request")
    if request is None or obj is None or check_permission(request, "audit.view") is not None:
        return {"visible": False}
    events = audit_events_for_object(organization=request.organization, obj=obj)
    query = urlencode({"object_type": obj._meta.model_name, "object_id": obj.pk})
    return {
        "visible": True,
        "events": list(events[:limit]),
        "limit": limit,
        "more_url": f"{reverse('audit:event-list')}?{query}",
    }
