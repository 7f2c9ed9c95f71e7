"""Who and where: actors of requests, tokens, tasks and commands; client addresses."""

import sys
from types import SimpleNamespace

import pytest
from django.test import RequestFactory, override_settings

from apps.audit import receivers
from apps.audit.choices import AuditAction
from apps.audit.context import current_actor
from apps.audit.models import AuditEvent
from apps.audit.services import audit_event_record
from cloudpam import context
from cloudpam.net import client_ip

pytestmark = pytest.mark.django_db


def _address(remote, forwarded=None):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, **headers))


def test_forwarded_for_is_ignored_without_trusted_proxies():
    assert _address("198.51.100.1", "6.6.6.6") == "198.51.100.1"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_forwarded_for_is_read_from_trusted_proxies_from_the_right():
    assert _address("10.0.0.5", "203.0.113.7") == "203.0.113.7"
    # A client cannot prepend an address: the rightmost untrusted hop wins.
    assert _address("10.0.0.5", "6.6.6.6, 203.0.113.7, 10.1.1.1") == "203.0.113.7"
    assert _address("10.0.0.5", "[2001:db8::1]:443") == "2001:db8::1"
    assert _address("10.0.0.5", "203.0.113.7:8443") == "203.0.113.7"
    # Not from a trusted proxy: the header is the client's own claim.
    assert _address("198.51.100.1", "203.0.113.7") == "198.51.100.1"
    assert _address("10.0.0.5", "garbage") == "10.0.0.5"


def test_an_unparsable_remote_address_is_unknown():
    assert _address("not-an-ip") is None


def test_a_token_actor_is_recorded_with_its_user(organization, user):
    token = SimpleNamespace(pk=42, name="terraform", user=user)
    with context.bound(
        request_id="req-tok", organization=organization, actor={"user": user, "token": token}
    ):
        event = audit_event_record(action=AuditAction.UPDATE, organization_id=organization.pk)
    assert (event.actor_id, event.actor_email) == (user.pk, user.email)
    assert (event.actor_token_id, event.actor_token_name) == (42, "terraform")
    assert event.cid == "req-tok"
    assert event.actor_info.type == "token"


def test_without_a_request_the_system_acts():
    assert current_actor().system == "system"


def test_a_management_command_names_itself_and_groups_its_events(monkeypatch, organization):
    monkeypatch.setattr(sys, "argv", ["manage.py", "rename_things"])
    organization.name = "Renamed by a command"
    organization.save()
    organization.slug = "acme-2"
    organization.save()
    first, second = AuditEvent.objects.filter(organization=organization, action="update")
    assert first.actor_system == second.actor_system == "command:rename_things"
    assert first.cid
    assert first.cid == second.cid


def test_an_in_process_task_acts_as_itself_for_the_caller(organization, user):
    from celery import shared_task

    @shared_task(name="tests.audit.rename")
    def rename(organization_id):
        organization.name = "Renamed by a task"
        organization.save()

    with context.bound(request_id="req-task", organization=organization, actor={"user": user}):
        rename.delay(organization.pk)
        assert context.get_actor() == {"user": user}  # restored after the task
    event = AuditEvent.objects.get(organization=organization, action="update")
    assert event.actor_system == "tests.audit.rename"
    assert event.actor_email == user.email
    assert event.cid == "req-task"


def test_a_published_task_carries_the_callers_context(organization, user):
    headers = {}
    token = SimpleNamespace(pk=9, name="ci")
    with context.bound(
        request_id="req-pub", organization=organization, actor={"user": user, "token": token}
    ):
        receivers.on_before_task_publish(headers=headers)
    assert headers[receivers.CONTEXT_HEADER] == {
        "request_id": "req-pub",
        "organization_id": organization.pk,
        "user_id": user.pk,
        "token_id": 9,
        "token_name": "ci",
    }
    # In the worker: the task's request carries the header.
    task = SimpleNamespace(name="apps.x.tasks.y", request=SimpleNamespace(**headers))
    receivers.on_task_prerun(task_id="t-1", task=task)
    try:
        assert context.get_request_id() == "req-pub"
        assert context.get_organization() == organization
        event = audit_event_record(action=AuditAction.UPDATE, organization_id=organization.pk)
    finally:
        receivers.on_task_postrun(task_id="t-1")
    assert (event.actor_email, event.actor_token_name) == (user.email, "ci")
    assert event.actor_system == "apps.x.tasks.y"
    assert context.get_request_id() is None
