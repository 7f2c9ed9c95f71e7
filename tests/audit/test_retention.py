"""Retention removes old events, anchors the chain and records that it ran; the chain verifies."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from apps.audit.choices import AuditAction
from apps.audit.context import Actor
from apps.audit.models import AuditChain, AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import audit_event_record, audit_retention_apply
from apps.audit.tasks import audit_retention

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 6, 30, 12, tzinfo=UTC)


def _record_at(organization_id, when):
    with mock.patch("apps.audit.services.timezone.now", return_value=when):
        return audit_event_record(
            action=AuditAction.UPDATE, organization_id=organization_id, actor=Actor(system="test")
        )


@pytest.fixture
def aged(organization, settle_chains):
    """Events of acme 100, 40, 20 and 1 days before NOW, after the organization's own."""
    organization.settings = {"audit_retention_days": 30}
    organization.save()
    events = [_record_at(organization.pk, NOW - timedelta(days=days)) for days in (100, 40, 20, 1)]
    settle_chains()
    for event in events:
        event.refresh_from_db()
    return events


def _retain(organization_id):
    with mock.patch("apps.audit.services.timezone.now", return_value=NOW):
        return audit_retention_apply(organization_id=organization_id, now=NOW)


def test_retention_removes_older_events_and_records_that_it_ran(organization, aged):
    before = AuditEvent.objects.filter(organization=organization).count()
    result = _retain(organization.pk)
    # The organization's creation and settings change happened "now" (before 2031) too.
    assert result.removed == before - 2
    kept = list(AuditEvent.objects.filter(organization=organization).order_by("sequence"))
    assert [e.pk for e in kept[:2]] == [aged[2].pk, aged[3].pk]
    event = kept[-1]
    assert event.action == "retention"
    assert event.actor_system == "system"
    assert event.additional_data == {
        "removed": before - 2,
        "retention_days": 30,
        "cutoff": "2031-05-31T12:00:00Z",
        "anchor_sequence": aged[1].sequence,
        "anchor_hash": aged[1].hash,
    }
    chain = AuditChain.objects.get(pk=organization.pk)
    assert (chain.anchor_sequence, chain.anchor_hash) == (aged[1].sequence, aged[1].hash)
    assert kept[0].prev_hash == chain.anchor_hash


def test_the_chain_verifies_after_retention(organization, aged, capsys):
    _retain(organization.pk)
    result = audit_chain_verify(organization_id=organization.pk)
    assert result.intact, result.problem
    assert result.first_sequence == aged[2].sequence
    call_command("verify_audit_chain", "--org", "acme")
    assert f"anchored at sequence {aged[1].sequence} by retention" in capsys.readouterr().out


def test_retention_twice_removes_nothing_more(organization, aged):
    _retain(organization.pk)
    second = _retain(organization.pk)
    assert second.removed == 0
    assert second.anchor_sequence == aged[1].sequence
    assert audit_chain_verify(organization_id=organization.pk).intact
    assert AuditEvent.objects.filter(organization=organization, action="retention").count() == 2


def test_retention_never_leaves_a_hole_in_the_chain(organization):
    organization.settings = {"audit_retention_days": 30}
    organization.save()
    old = _record_at(organization.pk, NOW - timedelta(days=90))
    # A clock that went backwards: an older timestamp after a newer event.
    _record_at(organization.pk, NOW - timedelta(days=5))
    skewed = _record_at(organization.pk, NOW - timedelta(days=60))
    _retain(organization.pk)
    assert not AuditEvent.objects.filter(pk__in=[old.pk, skewed.pk]).exists()
    assert audit_chain_verify(organization_id=organization.pk).intact


@pytest.mark.parametrize("value", ["forever", 0, -5, None, True])
def test_an_unreadable_retention_setting_removes_nothing(organization, aged, value):
    organization.settings = {"audit_retention_days": value}
    organization.save()
    before = AuditEvent.objects.filter(organization=organization).count()
    result = _retain(organization.pk)
    assert result.removed == 0
    assert AuditEvent.objects.filter(organization=organization).count() == before + 1
    details = result.event.additional_data
    assert (
        details["skipped"] == "The organization's audit_retention_days is not a whole number >= 1."
    )


def test_the_default_retention_is_a_year(organization):
    _record_at(organization.pk, NOW - timedelta(days=400))
    kept = _record_at(organization.pk, NOW - timedelta(days=300))
    _retain(organization.pk)
    first = AuditEvent.objects.filter(organization=organization).order_by("sequence").first()
    assert first.pk == kept.pk


def test_the_task_covers_every_chain_as_the_system(organization, other_organization, aged):
    _record_at(None, NOW - timedelta(days=500))
    with mock.patch("apps.audit.services.timezone.now", return_value=NOW):
        removed = audit_retention.delay().get()
    assert set(removed) == {"global", str(organization.pk), str(other_organization.pk)}
    assert removed["global"] == 1
    events = AuditEvent.objects.filter(action="retention")
    assert events.count() == 3
    assert set(events.values_list("actor_system", flat=True)) == {
        "apps.audit.tasks.audit_retention"
    }
    assert len(set(events.values_list("cid", flat=True))) == 1  # one run, one request id
    for key in (None, organization.pk, other_organization.pk):
        assert audit_chain_verify(organization_id=key).intact


def test_the_task_goes_on_when_one_chain_fails(organization, other_organization):
    from apps.audit.tasks import RetentionFailed

    real = audit_retention_apply

    def flaky(*, organization_id, **kwargs):
        if organization_id == organization.pk:
            raise RuntimeError("boom")
        return real(organization_id=organization_id, **kwargs)

    with (
        mock.patch("apps.audit.tasks.audit_retention_apply", side_effect=flaky),
        pytest.raises(RetentionFailed, match=f"chains: {organization.pk}"),
    ):
        audit_retention.delay()
    assert AuditEvent.objects.filter(organization=other_organization, action="retention").exists()


def test_retention_is_scheduled_daily():
    task = PeriodicTask.objects.get(name="Audit retention")
    assert task.task == "apps.audit.tasks.audit_retention"
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("17", "3", "*")
