"""The agents API: provisioning, the register -> approve lifecycle, heartbeats, ingest."""

from __future__ import annotations

import gzip
import json

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.discovery import services
from apps.discovery.models import Agent, AgentProvisioningToken, IngestBatch
from apps.discovery.parsers import MAX_DECOMPRESSED_BYTES
from tests.actors import TEST_ACTOR
from tests.discovery import factories

pytestmark = pytest.mark.django_db

AGENTS = "/api/v1/discovery/agents/"
INGEST = "/api/v1/discovery/ingest/"
TOKENS = "/api/v1/discovery/agent-tokens/"


def _as(credential: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
    return client


def _push(credential: str, body: object, *, compress: bool = False):  # type: ignore[no-untyped-def]
    raw = json.dumps(body).encode()
    extra = {}
    if compress:
        raw = gzip.compress(raw)
        extra["HTTP_CONTENT_ENCODING"] = "gzip"
    return _as(credential).generic(
        "POST", INGEST, data=raw, content_type="application/json", **extra
    )


def _error(response) -> dict:  # type: ignore[no-untyped-def]
    return response.json()["error"]


# ---------------------------------------------------------------- provisioning and lifecycle


def test_an_admin_creates_a_provisioning_token_shown_once(organization, client_for):
    admin = client_for(organization, "admin")
    response = admin.post(TOKENS, {"name": "datacenter fleet"}, format="json")

    assert response.status_code == 201, response.content
    value = response.json()["token"]
    assert value.startswith("cpap_")
    assert response["Cache-Control"] == "no-store"
    token = AgentProvisioningToken.objects.get()
    secret = value.split("_", 2)[2]  # the secret itself may contain "_"
    assert secret not in token.secret_hash
    listed = admin.get(TOKENS).content.decode()
    assert "datacenter fleet" in listed
    assert value not in listed


def test_an_operator_may_not_create_provisioning_tokens(organization, client_for):
    response = client_for(organization, "operator").post(TOKENS, {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "'agents.manage'" in _error(response)["message"]


def test_register_approve_heartbeat_then_ingest(organization, client_for):
    _token, value = factories.provisioning_token(organization)
    registered = _as(value).post(
        AGENTS + "register/",
        {"name": "dc-1", "version": "1.0.0", "hostname": "collector.local"},
        format="json",
    )
    assert registered.status_code == 201, registered.content
    body = registered.json()
    assert body["status"] == "pending"
    credential = body["credential"]
    assert credential.startswith("cpag_")
    agent_id = body["id"]

    # Pending: the heartbeat is accepted and says so; the ingest is refused.
    beat = _as(credential).post(f"{AGENTS}{agent_id}/heartbeat/", {}, format="json")
    assert beat.status_code == 200
    assert beat.json()["status"] == "pending"
    refused = _push(credential, factories.batch())
    assert refused.status_code == 403
    assert _error(refused)["code"] == "agent_pending"

    viewer = client_for(organization, "viewer")
    assert viewer.post(f"{AGENTS}{agent_id}/approve/").status_code == 403
    listed = viewer.get(AGENTS).json()["results"]
    assert [(a["name"], a["status"], a["hostname"]) for a in listed] == [
        ("dc-1", "pending", "collector.local")
    ]
    assert credential not in viewer.get(AGENTS).content.decode()

    approved = client_for(organization, "admin").post(f"{AGENTS}{agent_id}/approve/")
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved"
    assert approved.json()["decided_by"] == "admin-acme@example.com"

    beat = _as(credential).post(
        f"{AGENTS}{agent_id}/heartbeat/", {"version": "1.0.1"}, format="json"
    )
    assert beat.json() | {"last_heartbeat_at": None} == {
        "id": agent_id,
        "status": "approved",
        "last_heartbeat_at": None,
        "heartbeat_interval_seconds": 300,
    }
    agent = Agent.objects.get(pk=agent_id)
    assert agent.last_heartbeat_at is not None
    assert agent.version == "1.0.1"

    pushed = _push(credential, factories.batch("b-1", 3), compress=True)
    assert pushed.status_code == 201, pushed.content
    assert pushed.json()["record_count"] == 3
    assert pushed.json()["duplicate"] is False


def test_a_heartbeat_for_another_agent_is_not_found(organization):
    _a, credential = factories.agent(organization, "a")
    b, _other = factories.agent(organization, "b")
    response = _as(credential).post(f"{AGENTS}{b.pk}/heartbeat/", {}, format="json")
    assert response.status_code == 404
    assert Agent.objects.get(pk=b.pk).last_heartbeat_at is None


def test_a_revoked_provisioning_token_registers_nobody(organization, client_for):
    token, value = factories.provisioning_token(organization)
    assert client_for(organization, "admin").delete(f"{TOKENS}{token.pk}/").status_code == 204
    response = _as(value).post(AGENTS + "register/", {"name": "late"}, format="json")
    assert response.status_code == 401
    assert _error(response)["code"] == "not_authenticated"
    assert not Agent.objects.exists()


def test_an_api_token_is_no_agent_credential_and_the_reverse(organization, token_for):
    user_token = token_for(organization, "owner")
    assert _push(user_token, factories.batch()).status_code == 401
    _agent, credential = factories.agent(organization)
    assert _as(credential).get(AGENTS).status_code == 401


def test_decisions_follow_the_lifecycle(organization, client_for):
    admin = client_for(organization, "admin")
    agent, _credential = factories.agent(organization, approved=False)
    assert admin.post(f"{AGENTS}{agent.pk}/reject/").json()["status"] == "rejected"
    again = admin.post(f"{AGENTS}{agent.pk}/approve/")
    assert again.status_code == 409
    assert _error(again) == {
        "code": "conflict",
        "message": "The agent is rejected; it cannot become approved.",
        "fields": {},
    }


def test_a_rejected_agent_is_told_so(organization):
    agent, credential = factories.agent(organization, approved=False)
    services.agent_reject(agent=agent, actor=TEST_ACTOR)
    beat = _as(credential).post(f"{AGENTS}{agent.pk}/heartbeat/", {}, format="json")
    assert beat.status_code == 403
    assert _error(beat)["code"] == "agent_rejected"
    assert _push(credential, factories.batch()).status_code == 403


def test_a_revoked_agent_gets_401_at_once(organization, client_for):
    agent, credential = factories.agent(organization)
    assert _push(credential, factories.batch("b-1")).status_code == 201
    assert client_for(organization, "admin").post(f"{AGENTS}{agent.pk}/revoke/").status_code == 200

    response = _push(credential, factories.batch("b-2"))
    assert response.status_code == 401
    assert _error(response)["message"] == "This agent has been revoked."
    assert IngestBatch.objects.count() == 1


def test_an_unknown_or_forged_credential_gets_401(organization):
    _agent, credential = factories.agent(organization)
    forged = credential[:-4] + ("aaaa" if not credential.endswith("aaaa") else "bbbb")
    assert _push(forged, factories.batch()).status_code == 401
    assert _push("cpag_0123456789_" + "x" * 43, factories.batch()).status_code == 401
    assert not IngestBatch.objects.exists()


def test_stale_after_fifteen_minutes_without_heartbeat(organization):
    from datetime import timedelta

    from django.utils import timezone

    agent, _credential = factories.agent(organization)
    now = timezone.now()
    agent.last_heartbeat_at = now - timedelta(minutes=14)
    assert not agent.is_stale(now)
    agent.last_heartbeat_at = now - timedelta(minutes=16)
    assert agent.is_stale(now)
    agent.status = "pending"
    assert not agent.is_stale(now), "only an approved agent is expected to beat"


# ---------------------------------------------------------------- ingest


def test_the_same_batch_twice_is_stored_once(organization):
    agent, credential = factories.agent(organization)
    first = _push(credential, factories.batch("b-7", 10), compress=True)
    second = _push(credential, factories.batch("b-7", 10))

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["duplicate"] is True
    assert second.json()["id"] == first.json()["id"]
    stored = IngestBatch.objects.get()
    assert (stored.agent_id, stored.record_count, stored.consumed_at) == (agent.pk, 10, None)


def test_the_stored_batch_keeps_every_field_as_sent(organization):
    _agent, credential = factories.agent(organization)
    sent = factories.batch("b-1", 2)
    sent["records"][1]["attributes"] = {"nested": {"list": [1, "two", None]}}
    assert _push(credential, sent).status_code == 201
    content = IngestBatch.objects.get().content()
    assert content["records"] == sent["records"]
    assert content["regions"] == [
        {"region": "eu-west-1", "ok": True, "records": 2, "error_code": None, "error_message": None}
    ]


def test_other_content_under_a_used_batch_id_is_a_conflict(organization):
    _agent, credential = factories.agent(organization)
    assert _push(credential, factories.batch("b-1", 2)).status_code == 201
    response = _push(credential, factories.batch("b-1", 3))
    assert response.status_code == 409
    assert "already received with different content" in _error(response)["message"]
    assert IngestBatch.objects.get().record_count == 2


def test_batch_ids_are_per_agent(organization):
    _a, first = factories.agent(organization, "a")
    _b, second = factories.agent(organization, "b")
    assert _push(first, factories.batch("b-1")).status_code == 201
    assert _push(second, factories.batch("b-1")).status_code == 201
    assert IngestBatch.objects.count() == 2


MALFORMED = [
    (
        "non-canonical CIDR",
        lambda b: b["records"][1].update(cidr="10.0.0.9/24"),
        "records.1.cidr",
        "'10.0.0.9/24' is not canonical; send '10.0.0.0/24'.",
    ),
    (
        "not a CIDR",
        lambda b: b["records"][0].update(cidr="10.0.0.300"),
        "records.0.cidr",
        "'10.0.0.300' is not a CIDR.",
    ),
    (
        "wrong provider",
        lambda b: b["records"][0].update(provider="gcp"),
        "records.0.provider",
        "is 'gcp' in a batch of 'aws'.",
    ),
    (
        "long name",
        lambda b: b["records"][0].update(name="n" * 256),
        "records.0.name",
        "is longer than 255 characters.",
    ),
    (
        "missing resource id",
        lambda b: b["records"][0].pop("resource_id"),
        "records.0.resource_id",
        "is required.",
    ),
    (
        "unknown field",
        lambda b: b["records"][0].update(colour="blue"),
        "records.0.colour",
        "is not a known field.",
    ),
    (
        "tag not a string",
        lambda b: b["records"][0].update(tags={"n": 1}),
        "records.0.tags.n",
        "must be a string.",
    ),
    (
        "unknown provider",
        lambda b: b.update(provider="oracle"),
        "provider",
        "must be one of aws, gcp, azure.",
    ),
    (
        "bad batch id",
        lambda b: b.update(batch_id="../etc"),
        "batch_id",
        "may hold only letters, digits and . _ : -",
    ),
    (
        "region ok not a boolean",
        lambda b: b["regions"][0].update(ok="yes"),
        "regions.0.ok",
        "must be true or false.",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_a_malformed_batch_is_400_with_the_reason_and_nothing_is_stored(
    organization, mutate, field, message
):
    _agent, credential = factories.agent(organization)
    body = factories.batch("b-1", 3)
    mutate(body)
    response = _push(credential, body)

    assert response.status_code == 400, response.content
    assert _error(response) == {
        "code": "validation_error",
        "message": f"{field}: {message}",
        "fields": {field: [message]},
    }
    assert not IngestBatch.objects.exists()


def test_more_than_5000_records_are_refused(organization):
    _agent, credential = factories.agent(organization)
    response = _push(credential, factories.batch("big", 5001), compress=True)
    assert response.status_code == 400
    assert _error(response)["message"] == (
        "records: holds 5001 records; send at most 5000 a batch."
    )
    assert not IngestBatch.objects.exists()


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_5000_records_are_accepted(organization, compress):
    _agent, credential = factories.agent(organization)
    body = factories.batch("full", 5000)
    for record in body["records"]:
        record["name"] = "n" * 255
    # Past Django's 2.5 MB limit on request bodies, which must not apply here.
    assert len(json.dumps(body)) > 2_621_440
    response = _push(credential, body, compress=compress)
    assert response.status_code == 201, response.content
    assert IngestBatch.objects.get().record_count == 5000


def test_a_gzip_bomb_is_refused_before_it_inflates(organization):
    _agent, credential = factories.agent(organization)
    bomb = gzip.compress(b" " * (MAX_DECOMPRESSED_BYTES + 1))
    response = _as(credential).generic(
        "POST", INGEST, data=bomb, content_type="application/json", HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 400
    assert _error(response)["message"] == f"The body inflates past {MAX_DECOMPRESSED_BYTES} bytes."


@pytest.mark.parametrize(
    ("raw", "encoding", "message"),
    [
        (b"not gzip", "gzip", "The body is not valid gzip."),
        (gzip.compress(b'{"a": 1}')[:-6], "gzip", "The gzip body is truncated."),
        (b"{", "identity", "The body is not valid JSON"),
        (b"{}", "br", "Unsupported Content-Encoding 'br': send gzip or none."),
    ],
)
def test_undecodable_bodies_are_400(organization, raw, encoding, message):
    _agent, credential = factories.agent(organization)
    response = _as(credential).generic(
        "POST", INGEST, data=raw, content_type="application/json", HTTP_CONTENT_ENCODING=encoding
    )
    assert response.status_code == 400
    assert _error(response)["message"].startswith(message)


def test_the_agent_list_costs_a_fixed_number_of_queries(
    organization, client_for, django_assert_max_num_queries
):
    viewer = client_for(organization, "viewer")
    for index in range(3):
        factories.agent(organization, f"dc-{index}")
    viewer.get(AGENTS)  # warm the session and membership caches
    with django_assert_max_num_queries(8) as few:
        assert viewer.get(AGENTS).status_code == 200
    for index in range(3, 13):
        factories.agent(organization, f"dc-{index}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(viewer.get(AGENTS).json()["results"]) == 13


def test_a_verified_credential_skips_argon2_for_a_minute_but_not_revocation(
    organization, monkeypatch
):
    from apps.discovery import authentication, credentials

    calls = []
    real = credentials.secret_matches
    monkeypatch.setattr(credentials, "secret_matches", lambda *args: calls.append(1) or real(*args))
    agent, credential = factories.agent(organization)
    beat = f"{AGENTS}{agent.pk}/heartbeat/"
    assert _as(credential).post(beat, {}, format="json").status_code == 200
    assert _as(credential).post(beat, {}, format="json").status_code == 200
    assert len(calls) == 1
    assert cache.get(authentication._cache_key(credential)) == agent.pk
    # A wrong secret under the same prefix is another key: verified, and refused.
    forged = credential[:-1] + ("A" if credential[-1] != "A" else "B")
    assert _as(forged).post(beat, {}, format="json").status_code == 401
    assert len(calls) == 2

    services.agent_revoke(agent=agent, actor=TEST_ACTOR)
    assert _as(credential).post(beat, {}, format="json").status_code == 401


def test_an_ingest_costs_the_same_queries_for_ten_records_or_5000(
    organization, django_assert_max_num_queries
):
    _agent, credential = factories.agent(organization)
    _push(credential, factories.batch("warm", 1))  # the credential is verified and remembered
    with django_assert_max_num_queries(20) as small:
        assert _push(credential, factories.batch("small", 10)).status_code == 201
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert _push(credential, factories.batch("large", 5000), compress=True).status_code == 201
