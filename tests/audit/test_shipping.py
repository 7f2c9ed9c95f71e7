"""Every event is one JSON line on ``cloudpam.audit``, written once its transaction commits."""

import logging

import pytest
from auditlog import get_logentry_model
from django.conf import settings
from django.db import transaction

from apps.audit.models import AuditEvent
from apps.tenancy.models import Membership
from tests.conftest import parse_log_lines

pytestmark = pytest.mark.django_db

# What deploy/vector/vector.toml reads from each line.
SHIPPED_FIELDS = {
    "id",
    "timestamp",
    "organization",
    "actor",
    "action",
    "object_type",
    "object_id",
    "changes",
    "request_id",
    "ip",
    "hash",
}


def _audit_lines(stream):
    return [line for line in parse_log_lines(stream) if line["logger"] == "cloudpam.audit"]


def test_an_event_is_one_json_line_after_commit(
    organization, json_logs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        organization.name = "Shipped"
        organization.save()
        assert _audit_lines(json_logs) == []  # not before the commit
    (line,) = _audit_lines(json_logs)
    event = AuditEvent.objects.get(organization=organization, action="update")
    assert set(line) >= SHIPPED_FIELDS
    assert line["id"] == event.pk
    assert line["organization"] == "acme"
    assert line["action"] == "update"
    assert (line["object_type"], line["object_id"]) == ("organization", str(organization.pk))
    assert line["changes"] == {"name": ["Acme Networks", "Shipped"]}
    assert line["hash"] == event.hash is not None  # shipped once chained
    assert line["sequence"] == event.sequence
    assert line["timestamp"].endswith("Z")
    assert line["level"] == "INFO"


def test_a_rolled_back_change_ships_nothing(
    organization, json_logs, django_capture_on_commit_callbacks
):
    def change_then_fail():
        with transaction.atomic():
            organization.name = "Never"
            organization.save()
            raise RuntimeError

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        change_then_fail()
    assert _audit_lines(json_logs) == []
    assert not AuditEvent.objects.filter(action="update").exists()


def test_the_audit_logger_is_never_muted_by_log_level():
    config = settings.LOGGING["loggers"]["cloudpam.audit"]
    assert config == {"handlers": ["stdout"], "level": "INFO", "propagate": False}
    assert logging.getLogger("cloudpam.audit").isEnabledFor(logging.INFO)


def test_bulk_writes_record_one_event_per_object_through_log_create(
    organization, make_member, json_logs, django_capture_on_commit_callbacks
):
    """A service that writes with ``QuerySet.update`` records each row it changed."""
    members = [make_member(organization, "viewer", email=f"m{i}@example.com") for i in range(3)]
    memberships = list(Membership.objects.filter(user__in=members).order_by("pk"))
    log_entry = get_logentry_model()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        Membership.objects.filter(pk__in=[m.pk for m in memberships]).update(role="operator")
        for membership in memberships:
            log_entry.objects.log_create(
                membership,
                action=log_entry.Action.UPDATE,
                changes={"role": ["viewer", "operator"]},
            )
    events = AuditEvent.objects.filter(action="role_changed").order_by("sequence")
    assert [e.object_pk for e in events] == [str(m.pk) for m in memberships]
    assert [line["action"] for line in _audit_lines(json_logs)] == ["role_changed"] * 3


def test_log_create_without_changes_records_nothing(organization):
    before = AuditEvent.objects.count()
    assert get_logentry_model().objects.log_create(organization, changes=None) is None
    assert AuditEvent.objects.count() == before
