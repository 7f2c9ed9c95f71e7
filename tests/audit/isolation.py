"""Path factories of the audit routes for the tenant-isolation walk (``tests/isolation.py``)."""

from __future__ import annotations

from apps.audit.models import AuditEvent
from tests.isolation import World


def audit_event_id(world: World) -> int:
    """Return the event of the organization's creation: its object shows the marker."""
    return (
        AuditEvent.objects.filter(organization=world.organization, object_type="organization")
        .order_by("sequence")
        .values_list("pk", flat=True)
        .first()
    )


PATH_FACTORIES = {"api:audit-event-detail:pk": audit_event_id}
