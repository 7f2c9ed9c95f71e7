"""Sign-in, sign-out, failed sign-in and membership events; no secret in any event or line."""

import json

import pytest

from apps.audit.models import AuditEvent
from apps.tenancy import signals as tenancy_signals
from apps.tenancy.models import Membership
from cloudpam import context
from tests.conftest import parse_log_lines

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
WRONG = "wrong-password-xyz-123"


def _login(client, email, password, **extra):
    return client.post("/login/", {"username": email, "password": password}, **extra)


def test_a_login_is_an_event_with_where_it_came_from(client, user, organization, trail):
    response = _login(
        client, user.email, PASSWORD, REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="Firefox/140"
    )
    assert response.status_code == 302
    (event,) = trail(action="login")
    assert event.organization_id == organization.pk
    assert (event.actor_id, event.actor_email) == (user.pk, user.email)
    assert (event.object_type, event.object_pk) == ("user", str(user.pk))
    assert event.cid == response["X-Request-ID"]
    assert (event.remote_addr, event.user_agent) == ("198.51.100.7", "Firefox/140")


def test_a_logout_is_an_event(client, user, trail):
    _login(client, user.email, PASSWORD)
    response = client.post("/logout/")
    (event,) = trail(action="logout")
    assert event.actor_email == user.email
    assert event.cid == response["X-Request-ID"]


def test_a_failed_login_records_the_attempted_identity_only(
    client, user, organization, trail, json_logs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _login(client, user.email.upper(), WRONG, REMOTE_ADDR="203.0.113.50")
    assert response.status_code == 200
    (event,) = trail(action="login_failed")
    assert event.organization_id == organization.pk  # the targeted member's organization
    assert event.actor_id is None
    assert event.actor_email == user.email.upper()
    assert (event.object_type, event.object_pk) == ("user", str(user.pk))
    assert event.remote_addr == "203.0.113.50"
    assert event.cid == response["X-Request-ID"]
    audit_lines = [
        line for line in parse_log_lines(json_logs) if line["logger"] == "cloudpam.audit"
    ]
    assert [line["action"] for line in audit_lines] == ["login_failed"]
    assert audit_lines[0]["actor"]["email"] == user.email.upper()


def test_a_failed_login_of_an_unknown_email_goes_to_the_global_chain(client, trail):
    _login(client, "mallory@example.com", WRONG)
    (event,) = trail(action="login_failed")
    assert event.organization_id is None
    assert event.actor_email == "mallory@example.com"
    assert event.object_type == ""


def test_no_event_or_log_line_contains_a_password(
    client, user, json_logs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _login(client, user.email, WRONG)
        _login(client, "nobody@example.com", WRONG)
        _login(client, user.email, PASSWORD)
        client.post("/logout/")
        user.set_password("a brand new passphrase 42")
        user.save()
    stored = json.dumps(list(AuditEvent.objects.values()), default=str)
    logged = json_logs.getvalue()
    for secret in (PASSWORD, WRONG, "a brand new passphrase 42", user.password):
        assert secret not in stored
        assert secret not in logged
    assert "login_failed" in logged


def test_a_membership_signal_after_the_saved_change_is_not_recorded_twice(
    organization, make_member, trail
):
    person = make_member(organization, "viewer", email="member@example.com")
    membership = Membership.objects.get(user=person)
    with context.bound(request_id="req-role-1"):
        membership.role = "operator"
        membership.save()
        tenancy_signals.membership_changed.send(
            sender=Membership,
            membership=membership,
            action="role_changed",
            old_role="viewer",
            new_role="operator",
            actor=None,
            request=None,
        )
    (event,) = trail(action="role_changed")
    assert event.cid == "req-role-1"


def test_a_membership_signal_records_a_change_that_bypassed_save(
    organization, owner_client, make_member, trail
):
    person = make_member(organization, "viewer", email="member@example.com")
    membership = Membership.objects.get(user=person)
    with context.bound(request_id="req-role-2"):
        Membership.objects.filter(pk=membership.pk).update(role="admin")
        tenancy_signals.membership_changed.send(
            sender=Membership,
            membership=membership,
            action="role_changed",
            old_role="viewer",
            new_role="admin",
            actor=owner_client.user,
            request=None,
        )
    (event,) = trail(action="role_changed")
    assert event.changes == {"role": ["viewer", "admin"]}
    assert event.actor_email == owner_client.user.email
    assert event.organization_id == organization.pk


def test_an_unknown_membership_action_records_nothing(organization, user, trail):
    membership = Membership.objects.get(user=user)
    before = AuditEvent.objects.count()
    tenancy_signals.membership_changed.send(
        sender=Membership, membership=membership, action="renamed", actor=None, request=None
    )
    assert AuditEvent.objects.count() == before


def test_an_audit_failure_fails_the_change(organization, monkeypatch):
    """A change that cannot be audited is not made (same transaction)."""
    from django.db import transaction

    from apps.audit import services

    def broken(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "audit_event_record", broken)
    organization.name = "Not Audited"
    with pytest.raises(RuntimeError, match="audit store down"), transaction.atomic():
        organization.save()
    organization.refresh_from_db()
    assert organization.name == "Acme Networks"


def test_a_throttled_sign_in_is_a_login_failed_event_with_reason_rate_limited(
    client, user, organization, trail, settings
):
    settings.LOGIN_RATE_LIMIT = "2/m"
    statuses = [
        _login(client, user.email, WRONG, REMOTE_ADDR="203.0.113.9").status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    events = trail(action="login_failed")
    assert [event.additional_data["reason"] for event in events] == [
        "invalid_credentials",
        "invalid_credentials",
        "rate_limited",
    ]
    throttled = events[-1]
    assert throttled.organization_id == organization.pk
    assert throttled.actor_email == user.email
    assert throttled.remote_addr == "203.0.113.9"


def test_a_throttled_admin_sign_in_is_recorded_too(client, user, trail, settings):
    settings.LOGIN_RATE_LIMIT = "1/m"
    client.post("/admin/login/", {"username": user.email, "password": WRONG})
    response = client.post("/admin/login/", {"username": user.email, "password": WRONG})
    assert response.status_code in (200, 429)
    assert [event.additional_data["reason"] for event in trail(action="login_failed")][-1] == (
        "rate_limited"
    )
