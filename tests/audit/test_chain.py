"""The hash chain: every event chained to the previous one; tampering is caught."""

import itertools
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from apps.audit.choices import AuditAction
from apps.audit.hashing import GENESIS_HASH, chain_hash
from apps.audit.models import AuditChain, AuditEvent, hash_content
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import audit_event_record
from apps.tenancy.models import Organization

pytestmark = pytest.mark.django_db


def _without_append_only_guard():
    """Disable PostgreSQL triggers for this transaction, as an attacker with DB access could."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")


def _run_verify(*args):
    """Run verify_audit_chain; return the exit code manage.py would give (stderr as it would)."""
    import sys

    try:
        call_command("verify_audit_chain", *args)
    except CommandError as error:
        # What manage.py does with a CommandError (BaseCommand.run_from_argv).
        sys.stderr.write(f"CommandError: {error}\n")
        return error.returncode
    return 0


@pytest.fixture
def chain(organization, settle_chains):
    organization.name = "Acme 2"
    organization.save()
    organization.name = "Acme 3"
    organization.save()
    settle_chains()
    return list(AuditEvent.objects.filter(organization=organization).order_by("sequence"))


def test_events_of_an_organization_form_a_chain(chain, organization):
    assert [e.sequence for e in chain] == [1, 2, 3]
    assert chain[0].prev_hash == GENESIS_HASH
    for previous, event in itertools.pairwise(chain):
        assert event.prev_hash == previous.hash
    for event in chain:
        event.refresh_from_db()  # the hash must survive the database round trip
        assert chain_hash(hash_content(vars(event)), event.prev_hash) == event.hash
    head = AuditChain.objects.get(pk=organization.pk)
    assert (head.last_sequence, head.last_hash) == (3, chain[-1].hash)


def test_chains_are_per_organization(chain, other_organization, settle_chains):
    settle_chains()
    (event,) = AuditEvent.objects.filter(organization=other_organization)
    assert (event.sequence, event.prev_hash) == (1, GENESIS_HASH)


def test_verify_exits_zero_when_every_chain_is_intact(chain, other_organization, capsys):
    assert _run_verify() == 0
    out = capsys.readouterr().out
    assert "acme: 3 events intact (sequence 1 to 3)" in out
    assert "globex: 1 events intact (sequence 1 to 1)" in out
    assert "All 3 audit chain(s) verified." in out
    assert _run_verify("--org", "acme") == 0


def test_verify_refuses_an_unknown_organization():
    with pytest.raises(CommandError, match="No organization with the slug 'nope'"):
        call_command("verify_audit_chain", "--org", "nope")


def test_a_changed_event_is_caught_and_named(chain, capsys):
    _without_append_only_guard()
    AuditEvent.objects.filter(pk=chain[1].pk).update(changes={"name": ["Acme", "Evil"]})
    assert _run_verify("--org", "acme") == 1
    err = capsys.readouterr().err
    assert (
        f"acme: chain broken at event {chain[1].pk} (sequence 2): "
        "its content does not match its hash: it was changed"
    ) in err


def test_a_rehashed_event_breaks_the_next_link(chain):
    _without_append_only_guard()
    forged = chain[1]
    forged.changes = {"name": ["Acme", "Evil"]}
    forged.hash = forged.compute_hash()
    AuditEvent.objects.filter(pk=forged.pk).update(changes=forged.changes, hash=forged.hash)
    result = audit_chain_verify(organization_id=forged.organization_id)
    assert (result.broken_event_id, result.broken_sequence) == (chain[2].pk, 3)
    assert result.problem == "its previous hash does not match the hash of the event before it"


def test_a_removed_event_is_caught(chain):
    _without_append_only_guard()
    AuditEvent.objects.filter(pk=chain[1].pk).delete()
    result = audit_chain_verify(organization_id=chain[0].organization_id)
    assert result.broken_event_id == chain[2].pk
    assert result.problem == "expected sequence 2, found 3: events before it are missing"


def test_events_removed_from_the_end_are_caught(chain):
    _without_append_only_guard()
    AuditEvent.objects.filter(pk=chain[2].pk).delete()
    result = audit_chain_verify(organization_id=chain[0].organization_id)
    assert not result.intact
    assert result.problem == (
        "the chain ends at sequence 2 but its head records sequence 3: "
        "events were removed from its end"
    )
    with pytest.raises(CommandError, match="sequence 3"):
        call_command("verify_audit_chain", "--org", "acme")


def test_a_moved_retention_anchor_is_caught(chain, organization):
    _without_append_only_guard()
    AuditEvent.objects.filter(pk=chain[0].pk).delete()
    AuditChain.objects.filter(pk=organization.pk).update(
        anchor_sequence=1, anchor_hash=chain[0].hash
    )
    result = audit_chain_verify(organization_id=organization.pk)
    assert result.problem == "the chain starts after an anchor that no retention event records"


def test_the_global_chain_is_verified_too(settle_chains):
    audit_event_record(action=AuditAction.LOGIN_FAILED, organization_id=None)
    audit_event_record(action=AuditAction.LOGIN_FAILED, organization_id=None)
    settle_chains()
    assert audit_chain_verify(organization_id=None).verified == 2


@pytest.mark.postgres
def test_postgresql_refuses_to_update_or_delete_events(chain):
    refused_update = "audit events are append-only: UPDATE refused"
    with pytest.raises(DatabaseError, match=refused_update), transaction.atomic():
        AuditEvent.objects.filter(pk=chain[0].pk).update(object_repr="x")
    refused_delete = "audit events are append-only: DELETE refused"
    with pytest.raises(DatabaseError, match=refused_delete), transaction.atomic():
        AuditEvent.objects.filter(pk=chain[0].pk).delete()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_auditevent SET action = 'create'")
    assert AuditEvent.objects.filter(pk=chain[0].pk, object_repr="Acme Networks").exists()


@pytest.mark.postgres
def test_only_the_retention_path_may_delete_and_it_never_updates(chain):
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL cloudpam.audit_retention = 'on'")
        with pytest.raises(DatabaseError, match="UPDATE refused"), transaction.atomic():
            AuditEvent.objects.filter(pk=chain[0].pk).update(object_repr="x")
        AuditEvent.objects.filter(pk=chain[0].pk).delete()
    assert not AuditEvent.objects.filter(pk=chain[0].pk).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_a_chain():
    organization = Organization.objects.create(name="Race", slug="race")
    errors = []

    def write(count):
        try:
            for _ in range(count):
                with transaction.atomic():
                    audit_event_record(action=AuditAction.UPDATE, organization_id=organization.pk)
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(15,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sequences = list(
        AuditEvent.objects.filter(organization=organization)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, 62))  # the organization's creation, then 60
    assert audit_chain_verify(organization_id=organization.pk).intact
