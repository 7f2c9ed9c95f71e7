"""API tokens: format, storage, verification cache, revocation, expiry, last use."""

from __future__ import annotations

import re
from datetime import timedelta

import argon2
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.tenancy import signals
from apps.tenancy.models import ApiToken, User
from apps.tenancy.tokens import verification_key
from tests.conftest import parse_log_lines

pytestmark = pytest.mark.django_db

TOKEN_RE = re.compile(r"^cpam_[A-Za-z0-9]{10}_[A-Za-z0-9_\-]{43}$")


def bearer(value: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


@pytest.fixture
def signal_log():
    """Record the access signals tenancy sends."""
    received = []
    hooks = [
        (signals.token_created, "created"),
        (signals.token_revoked, "revoked"),
        (signals.token_first_used, "first_used"),
        (signals.membership_changed, "membership"),
    ]
    handlers = []
    for signal, name in hooks:

        def handler(sender, _name=name, **kwargs):  # type: ignore[no-untyped-def]
            received.append((_name, kwargs))

        signal.connect(handler, weak=False)
        handlers.append((signal, handler))
    yield received
    for signal, handler in handlers:
        signal.disconnect(handler)


def all_database_text() -> str:
    """Return every row of every table as text (to look for secrets in it)."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_created_token_is_shown_once_and_only_its_hash_is_stored(owner_client, json_logs):
    response = owner_client.post(
        "/api/v1/tokens/", {"name": "ci", "scopes": ["read", "write"]}, format="json"
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    value = body["token"]
    assert TOKEN_RE.match(value)
    prefix, secret = value.split("_", 2)[1:]
    assert body["prefix"] == prefix
    assert body["scopes"] == ["read", "write"]
    assert body["status"] == "active"

    token = ApiToken.objects.get(prefix=prefix)
    assert token.secret_hash.startswith("$argon2id$")
    assert secret not in token.secret_hash

    # Used, listed, read, used wrongly: the secret never shows again.
    client = bearer(value)
    assert client.get("/api/v1/me/").status_code == 200
    assert bearer(value + "x").get("/api/v1/me/").status_code == 401
    later = [
        owner_client.get("/api/v1/tokens/"),
        owner_client.get(f"/api/v1/tokens/{token.pk}/"),
        client.get("/api/v1/tokens/"),
        client.get("/api/v1/me/"),
    ]
    for later_response in later:
        assert later_response.status_code == 200
        assert secret not in later_response.content.decode()
    assert secret not in all_database_text()
    logged = json_logs.getvalue()
    assert parse_log_lines(json_logs)
    assert secret not in logged
    # Nor in the cache: its keys are keyed hashes, its values token ids.
    assert secret not in verification_key(value)
    assert cache.get(verification_key(value)) == {"id": token.pk, "org": token.organization_id}


def test_token_authenticates_as_its_member_in_its_organization(
    organization, other_organization, token_client
):
    client = token_client(organization, "operator", scopes=["read"])
    response = client.get("/api/v1/me/", HTTP_X_CLOUDPAM_ORGANIZATION="globex")
    assert response.status_code == 200
    body = response.json()
    assert body["auth_method"] == "token"
    assert body["organization"]["slug"] == "acme"
    assert body["role"] == "operator"
    # Narrowed to the read scope: an operator's writes are not in it.
    assert "pools.view" in body["permissions"]
    assert "pools.change" not in body["permissions"]


def test_argon2_runs_once_then_the_cache_answers(organization, token_for, monkeypatch):
    value = token_for(organization, "viewer", scopes=["read"])
    calls = []
    original = argon2.PasswordHasher.verify

    def counting(self, hash_, password):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(self, hash_, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting)
    client = bearer(value)
    for _ in range(3):
        assert client.get("/api/v1/me/").status_code == 200
    assert len(calls) == 1


def test_a_wrong_secret_is_refused_and_not_verified_twice(organization, token_for, monkeypatch):
    value = token_for(organization, "viewer", scopes=["read"])
    wrong = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
    calls = []
    original = argon2.PasswordHasher.verify

    def counting(self, hash_, password):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(self, hash_, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting)
    for _ in range(2):
        response = bearer(wrong).get("/api/v1/me/")
        assert response.status_code == 401
        assert response.json()["error"] == {
            "code": "not_authenticated",
            "message": "Invalid or expired token.",
            "fields": {},
        }
    assert len(calls) == 1
    assert bearer(value).get("/api/v1/me/").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer a b",
        "Bearer cpam_short_x",
        "Bearer cpam_ABCDEFGHIJ_" + "x" * 43,
        "Bearer not-a-cloudpam-token",
    ],
)
def test_malformed_or_unknown_tokens_answer_401(header, user):
    response = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_revocation_is_immediate_even_when_cached(organization, token_client, signal_log):
    client = token_client(organization, "owner")
    assert client.get("/api/v1/me/").status_code == 200
    key = verification_key(client.token_value)
    assert cache.get(key) is not None

    response = client.delete(f"/api/v1/tokens/{client.token.pk}/")
    assert response.status_code == 204
    assert cache.get(key) is None
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "not_authenticated",
        "message": "This token has been revoked.",
        "fields": {},
    }
    token = ApiToken.objects.get(pk=client.token.pk)
    assert token.revoked_at is not None
    assert token.revoked_by == client.user
    assert [name for name, _ in signal_log if name == "revoked"] == ["revoked"]


def test_a_revoked_row_wins_over_a_surviving_cache_entry(organization, token_client):
    client = token_client(organization, "owner")
    assert client.get("/api/v1/me/").status_code == 200
    # As if a cache entry outlived the revocation (another process, a race).
    ApiToken.objects.filter(pk=client.token.pk).update(revoked_at=timezone.now())
    assert cache.get(verification_key(client.token_value)) is not None
    assert client.get("/api/v1/me/").status_code == 401


def test_an_expired_token_answers_401_even_when_cached(organization, token_client):
    client = token_client(organization, "owner")
    assert client.get("/api/v1/me/").status_code == 200
    ApiToken.objects.filter(pk=client.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This token has expired."
    assert cache.get(verification_key(client.token_value)) is None


def test_the_cache_never_outlives_the_expiry(organization, token_for, monkeypatch):
    expires_at = timezone.now() + timedelta(seconds=5)
    value = token_for(organization, "owner", expires_at=expires_at)
    seen = {}
    original = cache.set_many

    def spy(mapping, timeout=None, **kwargs):  # type: ignore[no-untyped-def]
        seen["timeout"] = timeout
        return original(mapping, timeout=timeout, **kwargs)

    monkeypatch.setattr(cache, "set_many", spy)
    assert bearer(value).get("/api/v1/me/").status_code == 200
    assert 0 < seen["timeout"] <= 5


def test_an_inactive_user_cannot_use_a_token(organization, token_client):
    client = token_client(organization, "owner")
    User.objects.filter(pk=client.user.pk).update(is_active=False)
    response = client.get("/api/v1/me/")
    assert response.status_code == 401


def _token_updates(queries: CaptureQueriesContext) -> int:
    return sum(
        1
        for query in queries.captured_queries
        if query["sql"].startswith("UPDATE") and "tenancy_apitoken" in query["sql"]
    )


def test_last_use_is_written_at_most_once_a_minute(organization, token_client, signal_log):
    client = token_client(organization, "viewer")
    with CaptureQueriesContext(connection) as first:
        assert client.get("/api/v1/me/", REMOTE_ADDR="192.0.2.7").status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get("/api/v1/me/", REMOTE_ADDR="192.0.2.8").status_code == 200
    assert _token_updates(first) == 1
    assert _token_updates(second) == 0
    token = ApiToken.objects.get(pk=client.token.pk)
    assert token.last_used_ip == "192.0.2.7"
    assert [name for name, _ in signal_log].count("first_used") == 1

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    assert client.get("/api/v1/me/", REMOTE_ADDR="192.0.2.9").status_code == 200
    token.refresh_from_db()
    assert token.last_used_ip == "192.0.2.9"
    assert [name for name, _ in signal_log].count("first_used") == 1


def test_scopes_can_never_exceed_the_role(organization, client_for):
    viewer = client_for(organization, "viewer")
    response = viewer.post("/api/v1/tokens/", {"name": "x", "scopes": ["write"]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == {
        "scopes": ["The role 'viewer' allows the token scopes read; 'write' is above it."]
    }
    assert (
        viewer.post("/api/v1/tokens/", {"name": "x", "scopes": ["read"]}, format="json").status_code
        == 201
    )


def test_a_token_is_held_to_its_scopes(organization, token_client):
    client = token_client(organization, "owner", scopes=["read"])
    response = client.post(
        "/api/v1/organizations/acme/members/", {"email": "new@example.com"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "permission_denied",
        "message": "This token's scopes (read) do not allow 'members.manage'.",
        "fields": {},
    }


def test_expiry_defaults_and_bounds(organization, owner_client):
    response = owner_client.post(
        "/api/v1/tokens/", {"name": "a", "scopes": ["read"]}, format="json"
    )
    expires = ApiToken.objects.get(pk=response.json()["id"]).expires_at
    assert abs(expires - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)

    too_late = (timezone.now() + timedelta(days=366)).isoformat()
    response = owner_client.post(
        "/api/v1/tokens/", {"name": "a", "scopes": ["read"], "expires_at": too_late}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "expires_at": ["Tokens of this organization live at most 365 days."]
    }
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = owner_client.post(
        "/api/v1/tokens/", {"name": "a", "scopes": ["read"], "expires_at": past}, format="json"
    )
    assert response.json()["error"]["fields"] == {
        "expires_at": ["The expiry must be in the future."]
    }


def test_token_list_shows_your_own_unless_you_manage_tokens(
    organization, token_for, client_for, django_assert_max_num_queries
):
    admin = client_for(organization, "admin")
    viewer = client_for(organization, "viewer")
    token_for(organization, "admin", user=admin.user)
    token_for(organization, "viewer", user=viewer.user)
    for _ in range(3):
        token_for(organization, "operator", scopes=["read"])

    with django_assert_max_num_queries(8):
        everyone = admin.get("/api/v1/tokens/")
    assert everyone.json()["count"] == 5
    mine = viewer.get("/api/v1/tokens/").json()
    assert [t["member"] for t in mine["results"]] == [viewer.user.email]

    others = [t for t in everyone.json()["results"] if t["member"] != viewer.user.email]
    response = viewer.delete(f"/api/v1/tokens/{others[0]['id']}/")
    assert response.status_code == 404
    assert admin.delete(f"/api/v1/tokens/{others[0]['id']}/").status_code == 204
    revoked = admin.get("/api/v1/tokens/?status=revoked").json()
    assert [t["id"] for t in revoked["results"]] == [others[0]["id"]]
    assert admin.get("/api/v1/tokens/?status=bogus").status_code == 400


def test_token_signals(organization, owner_client, signal_log):
    response = owner_client.post(
        "/api/v1/tokens/", {"name": "a", "scopes": ["read"]}, format="json"
    )
    value = response.json()["token"]
    bearer(value).get("/api/v1/me/")
    owner_client.delete(f"/api/v1/tokens/{response.json()['id']}/")
    names = [name for name, _ in signal_log]
    assert names == ["created", "first_used", "revoked"]
    created = signal_log[0][1]
    assert created["actor"] == owner_client.user
    assert created["token"].name == "a"
    assert created["request"] is not None
