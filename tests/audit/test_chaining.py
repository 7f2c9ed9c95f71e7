"""Chaining after commit: events go in unchained, a short chainer gives them their place."""

import threading
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask

from apps.audit import services as audit_services
from apps.audit.choices import AuditAction
from apps.audit.models import AuditChain, AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import audit_chain_settle, audit_event_record
from apps.audit.tasks import audit_chain
from apps.tenancy.models import Organization

pytestmark = pytest.mark.django_db

LIST = "/api/v1/audit/events/"


@pytest.fixture
def after_commit(settings):
    """Chain after commit on every database, SQLite included (its default is inline)."""
    settings.AUDIT_CHAIN_AFTER_COMMIT = True


def _record(organization_id):
    return audit_event_record(action=AuditAction.UPDATE, organization_id=organization_id)


def _crashed(organization_id, count=1):
    """Record events whose process died before its after-commit chainer ran."""
    with mock.patch("apps.audit.services._chain_on_commit"):
        return [_record(organization_id) for _ in range(count)]


def test_the_default_chains_after_commit_on_postgresql_and_inline_on_sqlite(organization):
    event = _record(organization.pk)
    assert (event.sequence is None) == (connection.vendor == "postgresql")


def test_an_event_is_inserted_unchained_and_chained_once_committed(
    organization, after_commit, settle_chains, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event = _record(organization.pk)
        event.refresh_from_db()
        assert (event.sequence, event.prev_hash, event.hash) == (None, None, None)
    event.refresh_from_db()
    head = AuditChain.objects.get(pk=organization.pk)
    assert event.sequence == head.last_sequence
    assert event.hash == head.last_hash == event.compute_hash()
    assert audit_chain_verify(organization_id=organization.pk).intact


def test_one_transaction_of_many_events_is_chained_in_order_by_one_chainer(
    organization, after_commit, settle_chains, django_capture_on_commit_callbacks
):
    settle_chains()
    with (
        mock.patch("apps.audit.services.audit_chain_settle", wraps=audit_chain_settle) as settle,
        django_capture_on_commit_callbacks(execute=True),
    ):
        events = [_record(organization.pk) for _ in range(5)]
    assert settle.call_count == 1
    chained = list(AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("sequence"))
    assert [e.pk for e in chained] == [e.pk for e in events]
    sequences = [e.sequence for e in chained]
    assert sequences == list(range(sequences[0], sequences[0] + 5))
    assert audit_chain_verify(organization_id=organization.pk).intact


def test_a_rolled_back_event_leaves_no_gap(
    organization, after_commit, django_capture_on_commit_callbacks
):
    def record_then_fail():
        with transaction.atomic():
            _record(organization.pk)
            raise RuntimeError

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            record_then_fail()
        _record(organization.pk)
    result = audit_chain_verify(organization_id=organization.pk)
    assert result.intact, result.problem
    assert result.notes == []


def test_the_beat_task_chains_what_a_crash_left_pending(
    organization, other_organization, after_commit, settle_chains
):
    settle_chains()
    events = [*_crashed(organization.pk, 2), *_crashed(other_organization.pk), *_crashed(None)]
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in events], sequence=None).count() == 4
    counts = audit_chain.delay().get()
    assert counts == {"global": 1, str(organization.pk): 2, str(other_organization.pk): 1}
    assert not AuditEvent.objects.filter(sequence=None).exists()
    for key in (None, organization.pk, other_organization.pk):
        assert audit_chain_verify(organization_id=key).intact
    task = PeriodicTask.objects.get(name="Audit chaining")
    assert task.task == "apps.audit.tasks.audit_chain"
    assert (task.interval.every, task.interval.period) == (1, "minutes")


def test_verify_chains_pending_events_first(organization, after_commit, settle_chains, capsys):
    settle_chains()
    _crashed(organization.pk, 2)
    call_command("verify_audit_chain", "--org", "acme")
    out = capsys.readouterr().out
    assert "acme: chained 2 pending event(s)" in out
    assert not AuditEvent.objects.filter(organization=organization, sequence=None).exists()
    assert "not chained yet" not in out


def test_verify_with_no_chain_leaves_pending_events_and_names_them(
    organization, after_commit, settle_chains, capsys
):
    settle_chains()
    _crashed(organization.pk, 2)
    call_command("verify_audit_chain", "--org", "acme", "--no-chain")
    out = capsys.readouterr().out
    assert AuditEvent.objects.filter(organization=organization, sequence=None).count() == 2
    assert "acme: 1 events intact (sequence 1 to 1); 2 event(s) not chained yet" in out
    assert "All 1 audit chain(s) verified." in out


def test_readers_show_an_event_not_chained_yet(organization, after_commit, auditor_client):
    (event,) = _crashed(organization.pk)
    response = auditor_client.get(f"{LIST}?action=update")
    assert response.status_code == 200
    (document,) = [d for d in response.json()["results"] if d["id"] == event.pk]
    assert (document["sequence"], document["hash"], document["prev_hash"]) == (None, None, None)
    page = auditor_client.get(f"/audit/{event.pk}/")
    assert page.status_code == 200
    assert "Not chained yet" in page.content.decode()


@pytest.mark.postgres
def test_postgresql_allows_exactly_the_chaining_update(organization, after_commit):
    (event,) = _crashed(organization.pk)
    pending = AuditEvent.objects.filter(pk=event.pk)
    refused = "audit events are append-only: UPDATE refused"
    # Chaining may not change anything else at the same time.
    with pytest.raises(DatabaseError, match=refused), transaction.atomic():
        pending.update(sequence=99, prev_hash="0" * 64, hash="1" * 64, object_repr="forged")
    # Nor set only part of the chain fields.
    with pytest.raises(DatabaseError, match=refused), transaction.atomic():
        pending.update(sequence=99)
    audit_chain_settle(organization_id=organization.pk, wait=True)
    event.refresh_from_db()
    assert event.sequence is not None
    # Once chained, an event is never updated again: not rechained, not unchained.
    with pytest.raises(DatabaseError, match=refused), transaction.atomic():
        pending.update(hash="2" * 64)
    with pytest.raises(DatabaseError, match=refused), transaction.atomic():
        pending.update(sequence=None, prev_hash=None, hash=None)
    with pytest.raises(DatabaseError, match="DELETE refused"), transaction.atomic():
        pending.delete()
    assert audit_chain_verify(organization_id=organization.pk).intact


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_open_writer_no_longer_blocks_another_writer_of_its_organization():
    """The chain head is held only by the short chainer, not by writing transactions."""
    organization = Organization.objects.create(name="Race", slug="race")
    recorded, release = threading.Event(), threading.Event()
    errors = []

    def slow_writer():
        try:
            with transaction.atomic():
                _record(organization.pk)
                recorded.set()
                release.wait(10)
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert recorded.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            _record(organization.pk)
    finally:
        release.set()
        thread.join()
    assert errors == []
    audit_chain_settle(organization_id=organization.pk, wait=True)
    result = audit_chain_verify(organization_id=organization.pk)
    assert result.intact, result.problem
    assert result.verified == 3  # the organization's creation, then both writers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_chainer_that_finds_the_head_held_skips_and_the_holder_takes_its_event():
    organization = Organization.objects.create(name="Race", slug="race")
    audit_chain_settle(organization_id=organization.pk, wait=True)
    _crashed(organization.pk)
    holding, committed = threading.Event(), threading.Event()
    real_write_places = audit_services._write_places
    chained = []

    def pausing_write_places(head_pk, events):
        # The holder has read its pending events and holds the head until ours commits.
        if threading.current_thread() is not threading.main_thread():
            holding.set()
            committed.wait(10)
        return real_write_places(head_pk, events)

    def holder():
        try:
            chained.append(audit_chain_settle(organization_id=organization.pk))
        finally:
            connections.close_all()

    with mock.patch.object(audit_services, "_write_places", pausing_write_places):
        thread = threading.Thread(target=holder)
        thread.start()
        try:
            assert holding.wait(10)
            with transaction.atomic():
                late = _record(organization.pk)
            # Its own after-commit chainer found the head held and skipped.
            assert AuditEvent.objects.get(pk=late.pk).sequence is None
        finally:
            committed.set()
            thread.join()
    assert chained == [2]  # the crashed event, then ours on the holder's recheck
    late.refresh_from_db()
    assert late.sequence == 3
    assert audit_chain_verify(organization_id=organization.pk).intact


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_thread_that_commits_while_another_of_its_process_chains_leaves_it_the_event():
    organization = Organization.objects.create(name="Coalesce", slug="coalesce")
    audit_chain_settle(organization_id=organization.pk, wait=True)
    _crashed(organization.pk)
    holding, committed = threading.Event(), threading.Event()
    real_write_places = audit_services._write_places
    calls = []

    def pausing_write_places(head_pk, events):
        calls.append(len(events))
        if threading.current_thread() is not threading.main_thread() and len(calls) == 1:
            holding.set()
            committed.wait(10)
        return real_write_places(head_pk, events)

    def holder():
        try:
            audit_services._process_chainer(organization.pk).settle()
        finally:
            connections.close_all()

    with mock.patch.object(audit_services, "_write_places", pausing_write_places):
        thread = threading.Thread(target=holder)
        thread.start()
        try:
            assert holding.wait(10)
            with CaptureQueriesContext(connection) as queries, transaction.atomic():
                late = _record(organization.pk)
            # Its after-commit chainer only marked the chain dirty: no chainer transaction.
            assert [q["sql"] for q in queries][-1] == "COMMIT"
            assert AuditEvent.objects.get(pk=late.pk).sequence is None
        finally:
            committed.set()
            thread.join()
    assert calls == [1, 1]  # the crashed event, then ours in the holder's second settle
    late.refresh_from_db()
    assert late.sequence == 3
    assert audit_chain_verify(organization_id=organization.pk).intact


def test_the_chainer_reads_pending_events_as_the_orm_loads_them(organization, after_commit):
    pool_like = Organization.objects.get(pk=organization.pk)
    with mock.patch("apps.audit.services._chain_on_commit"):
        audit_event_record(
            action=AuditAction.UPDATE,
            organization_id=organization.pk,
            instance=pool_like,
            changes={"name": ["a", "b"], "tags": [{}, {"k": "v\u00e9"}]},
            details={"plan": 7, "nested": {"list": [1, None]}},
        )
    loaded = audit_services._pending_events(organization.pk, None)
    expected = list(
        AuditEvent.objects.filter(organization_id=organization.pk, sequence__isnull=True).order_by(
            "id"
        )
    )
    assert loaded
    assert [event.pk for event in loaded] == [event.pk for event in expected]
    fields = [field.attname for field in AuditEvent._meta.concrete_fields]
    for mine, theirs in zip(loaded, expected, strict=True):
        assert {name: getattr(mine, name) for name in fields} == {
            name: getattr(theirs, name) for name in fields
        }
        assert mine.compute_hash() == theirs.compute_hash()
        assert not mine._state.adding


@pytest.mark.postgres
def test_a_chainer_whose_events_were_placed_meanwhile_writes_nothing(organization):
    audit_chain_settle(organization_id=organization.pk, wait=True)
    _crashed(organization.pk, count=2)
    real_try_lock = audit_services._try_lock_chain

    def placed_meanwhile(organization_id, limit):
        # The head and events as read in a snapshot taken before another chainer, which
        # committed just before this one took the head, placed the first event.
        head, events = real_try_lock(organization_id, limit)
        first = AuditEvent.objects.get(pk=events[0].pk)
        first.sequence, first.prev_hash = head.last_sequence + 1, head.last_hash
        first.hash = first.compute_hash()
        real_write_places(head.pk, [first])
        return head, events

    real_write_places = audit_services._write_places
    with mock.patch.object(audit_services, "_try_lock_chain", placed_meanwhile):
        batch = audit_services._chain_batch(organization.pk, wait=False)
    assert batch.held
    assert batch.events == []
    # Rolled back whole: both still pending, then chained once each.
    assert AuditEvent.objects.filter(organization=organization, sequence__isnull=True).count() == 2
    assert audit_chain_settle(organization_id=organization.pk, wait=True) == 2
    assert audit_chain_verify(organization_id=organization.pk).intact
