"""The audit trail under PostgreSQL row-level security, as the ordinary application role.

CI connects as the superuser ``postgres``, which row-level security never binds; these
tests switch to an ordinary role inside the test's transaction, as tenancy's do.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.tasks import audit_retention
from apps.tenancy.choices import Role
from apps.tenancy.models import Membership
from apps.tenancy.rls import rls_bypass, table_protection
from tests.rls import become

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PASSWORD = "correct horse battery staple"


def all_events(**filters):
    with rls_bypass():
        return list(AuditEvent.objects.filter(**filters).order_by("organization_id", "sequence"))


def test_the_audit_table_is_a_protected_tenant_table():
    assert table_protection()["audit_auditevent"] == {
        "enabled": True,
        "forced": True,
        "policy": True,
    }


def test_sign_in_events_reach_every_chain_as_the_application_role(
    organization, other_organization, make_member, app_role
):
    person = make_member(organization, Role.VIEWER, email="dual@example.com")
    Membership.objects.create(user=person, organization=other_organization, role=Role.AUDITOR)
    become(app_role)
    assert (
        Client().post("/login/", {"username": person.email, "password": PASSWORD}).status_code
        == 302
    )
    Client().post("/login/", {"username": "nobody@example.com", "password": "guess"})
    logins = all_events(action="login")
    assert [e.organization_id for e in logins] == [organization.pk, other_organization.pk]
    (failed,) = all_events(action="login_failed")
    assert (failed.organization_id, failed.actor_email) == (None, "nobody@example.com")


def test_changes_reach_every_chain_of_a_user_as_the_application_role(
    organization, other_organization, make_member, app_role
):
    person = make_member(organization, Role.VIEWER, email="dual@example.com")
    Membership.objects.create(user=person, organization=other_organization, role=Role.VIEWER)
    become(app_role)
    client = Client()
    client.force_login(person)
    person.full_name = "Dual"
    person.save()
    events = all_events(action="update", object_type="user")
    assert [e.organization_id for e in events] == [organization.pk, other_organization.pk]


def test_reading_and_exporting_see_the_active_organization_only(
    organization, other_organization, client_for, app_role
):
    auditor = client_for(organization, Role.AUDITOR)
    become(app_role)
    listed = auditor.get("/api/v1/audit/events/?limit=1000").json()
    assert listed["count"] > 0
    assert {e["organization"] for e in listed["results"]} == {"acme"}
    response = auditor.get("/api/v1/audit/events/export/?format=jsonl")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == listed["count"]
    assert '"organization": "globex"' not in "\n".join(lines)


def test_verification_and_retention_span_every_chain_as_the_application_role(
    organization, other_organization, app_role, capsys
):
    organization.settings = {"audit_retention_days": 1}
    organization.save()
    become(app_role)
    with rls_bypass():
        before = AuditEvent.objects.filter(organization=organization).count()
    later = timezone.now() + timedelta(days=3)
    from unittest import mock

    with mock.patch("apps.audit.services.timezone.now", return_value=later):
        removed = audit_retention.delay().get()
    assert removed[str(organization.pk)] == before
    call_command("verify_audit_chain")
    out = capsys.readouterr().out
    assert "acme: 1 events intact" in out
    assert "All 3 audit chain(s) verified." in out
