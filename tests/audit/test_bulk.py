"""The bulk writer: events built without model instances, inserted in sets, chained exactly."""

import pytest
from django.db import connection

from apps.audit.choices import AuditAction
from apps.audit.models import AuditChain, AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import EventRecord, audit_event_record, audit_events_record
from apps.tenancy.models import Organization

pytestmark = pytest.mark.django_db

# Values a JSON column may give back spelled another way (floats), or that need escaping.
AWKWARD = {
    "big": 1e16,
    "small": 0.1,
    "whole": 2.0,
    "negative": -0.0,
    "text": 'é "quoted" \\ tab\t ☃',
    "nested": {"list": [1, 2.5, None, True, {"z": 1, "a": [3e-7]}]},
    "huge": 123456789012345678901234567890,
}
CONTENT = (
    "organization_id",
    "action",
    "content_type_id",
    "object_type",
    "object_pk",
    "object_id",
    "object_repr",
    "changes",
    "additional_data",
    "actor_id",
    "actor_email",
    "actor_token_id",
    "actor_token_name",
    "actor_system",
    "cid",
    "remote_addr",
    "user_agent",
)


def _records(organization: Organization, count: int) -> list[EventRecord]:
    return [
        EventRecord(
            action=AuditAction.UPDATE,
            organization_id=organization.pk,
            instance=organization,
            changes={"name": [f"before {n}", f"after {n}"], "awkward": [AWKWARD, None]},
            details={"n": n, "awkward": AWKWARD} if n % 2 else None,
        )
        for n in range(count)
    ]


def test_a_bulk_event_holds_what_a_single_event_holds(organization, settle_chains):
    record = _records(organization, 2)[1]
    single = audit_event_record(
        action=record.action,
        organization_id=record.organization_id,
        instance=record.instance,
        changes=record.changes,
        details=record.details,
    )
    (bulk,) = audit_events_record(records=[record])
    assert bulk.pk > single.pk
    stored = AuditEvent.objects.filter(pk__in=[single.pk, bulk.pk]).order_by("pk")
    first, second = stored.values(*CONTENT)
    assert first == second
    assert {name: getattr(bulk, name) for name in CONTENT} == second
    settle_chains()
    assert audit_chain_verify(organization_id=organization.pk).intact


def test_without_return_events_nothing_is_returned_and_every_event_is_written(
    organization, settle_chains
):
    before = AuditEvent.objects.filter(organization_id=organization.pk).count()
    assert audit_events_record(records=_records(organization, 7), return_events=False) == []
    events = AuditEvent.objects.filter(organization_id=organization.pk).order_by("pk")
    assert events.count() == before + 7
    names = [event.changes["name"][1] for event in events[before:]]
    assert names == [f"after {n}" for n in range(7)]
    settle_chains()
    assert audit_chain_verify(organization_id=organization.pk).intact


def test_chain_now_places_what_is_pending_first_then_the_batch_in_order(organization):
    pending = audit_event_record(action=AuditAction.UPDATE, organization_id=organization.pk)
    audit_events_record(records=_records(organization, 5), return_events=False, chain_now=True)
    if connection.vendor == "postgresql":
        # No chainer has run (the test's transaction never commits): the writer placed them.
        assert not AuditEvent.objects.filter(
            organization_id=organization.pk, sequence__isnull=True
        ).exists()
    events = list(
        AuditEvent.objects.filter(organization_id=organization.pk, pk__gte=pending.pk).order_by(
            "sequence"
        )
    )
    assert [event.pk for event in events] == sorted(event.pk for event in events)
    assert events[0].pk == pending.pk
    head = AuditChain.objects.get(pk=organization.pk)
    assert (head.last_sequence, head.last_hash) == (events[-1].sequence, events[-1].hash)
    # Hashed on the values the database gives back, floats included.
    assert all(event.hash == event.compute_hash() for event in events)
    assert audit_chain_verify(organization_id=organization.pk).intact
