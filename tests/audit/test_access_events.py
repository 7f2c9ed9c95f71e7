"""Tokens and memberships through tenancy's API: one event per change, no secret anywhere."""

from __future__ import annotations

import json

import pytest

from apps.audit.models import AuditEvent
from apps.audit.registration import REDACTED
from apps.tenancy.choices import Role
from apps.tenancy.models import ApiToken, Membership
from tests.conftest import parse_log_lines

pytestmark = pytest.mark.django_db


def events_of(response):
    return list(AuditEvent.objects.filter(cid=response["X-Request-ID"]).order_by("id"))


def test_creating_a_token_is_one_event_without_its_secret(
    owner_client, organization, json_logs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/api/v1/tokens/", {"name": "terraform", "scopes": ["read", "write"]}, format="json"
        )
    assert response.status_code == 201, response.json()
    secret = response.json()["token"]
    (event,) = events_of(response)
    token = ApiToken.objects.get(name="terraform")
    assert (event.action, event.object_type, event.object_pk) == (
        "token_created",
        "apitoken",
        str(token.pk),
    )
    assert event.organization_id == organization.pk
    assert event.actor_email == owner_client.user.email
    assert event.changes["secret_hash"] == [None, REDACTED]
    assert event.changes["name"] == [None, "terraform"]
    stored = json.dumps(list(AuditEvent.objects.values()), default=str)
    # The secret is URL-safe base64 and may itself contain "_": split after the prefix.
    secret_part = secret.split("_", 2)[2]
    assert secret_part not in stored
    assert token.secret_hash not in stored
    assert secret_part not in json_logs.getvalue()
    lines = [line for line in parse_log_lines(json_logs) if line["logger"] == "cloudpam.audit"]
    assert [line["action"] for line in lines] == ["token_created"]


def test_revoking_a_token_is_one_event(owner_client, organization, token_for):
    token_for(organization, Role.VIEWER)
    token = token_for.last
    response = owner_client.delete(f"/api/v1/tokens/{token.pk}/")
    assert response.status_code in (200, 204), response.content
    (event,) = events_of(response)
    assert (event.action, event.object_pk) == ("token_revoked", str(token.pk))
    assert event.changes["revoked_at"][0] is None
    assert event.actor_email == owner_client.user.email


def test_a_tokens_first_use_and_its_changes_name_the_token(organization, token_client):
    client = token_client(organization, Role.OPERATOR)
    token = client.token
    response = client.post("/api/v1/pools/", {"name": "corp", "cidr": "10.0.0.0/8"}, format="json")
    assert response.status_code == 201, response.json()
    first_use, created = events_of(response)
    assert (first_use.action, first_use.object_pk) == ("token_first_used", str(token.pk))
    assert created.action == "create"
    assert created.object_type == "pool"
    for event in (first_use, created):
        assert (event.actor_token_id, event.actor_token_name) == (token.pk, token.name)
        assert event.actor_email == client.user.email
        assert event.actor_info.type == "token"
    # Used again: no second first use.
    response = client.get("/api/v1/pools/")
    assert events_of(response) == []


def test_the_events_api_filters_by_token_name(organization, token_client, client_for):
    client = token_client(organization, Role.OPERATOR)
    client.post("/api/v1/pools/", {"name": "corp", "cidr": "10.0.0.0/8"}, format="json")
    auditor = client_for(organization, Role.AUDITOR)
    body = auditor.get(f"/api/v1/audit/events/?actor={client.token.name}").json()
    assert [e["action"] for e in body["results"]] == ["create", "token_first_used"]
    assert body["results"][0]["actor"]["display"] == (
        f"token {client.token.name} ({client.user.email})"
    )


def test_membership_changes_through_the_api_are_one_event_each(owner_client, organization):
    base = "/api/v1/organizations/acme/members/"
    response = owner_client.post(
        base, {"email": "new@example.com", "role": "viewer"}, format="json"
    )
    assert response.status_code == 201, response.json()
    membership = Membership.objects.get(user__email="new@example.com")
    added = [e for e in events_of(response) if e.object_type == "membership"]
    assert [e.action for e in added] == ["member_added"]
    response = owner_client.patch(f"{base}{membership.pk}/", {"role": "operator"}, format="json")
    assert response.status_code == 200, response.json()
    (changed,) = events_of(response)
    assert (changed.action, changed.changes) == ("role_changed", {"role": ["viewer", "operator"]})
    response = owner_client.delete(f"{base}{membership.pk}/")
    assert response.status_code == 204
    # tenancy signals the removal before deleting the row: still one event, the full row.
    (removed,) = events_of(response)
    assert removed.action == "member_removed"
    assert removed.actor_email == owner_client.user.email
    assert removed.changes["role"] == ["operator", None]
    assert removed.changes["user"] == [membership.user_id, None]
