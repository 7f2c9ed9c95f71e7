"""The AI session API (SPEC.md section 7.3, Conversations): JSON, SSE, analytics, concurrency."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import httpx
import pytest
from django.db import connection, connections

from apps.planning.ai_models import AIMessage, AISession
from apps.planning.choices import PlanStatus
from apps.planning.models import Plan
from apps.tenancy.choices import Role
from tests.fakes.llm import Script
from tests.planning.ai.conftest import creates, provider_on

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/ai/sessions/"
ANALYTICS = "/api/v1/ai/analytics/"
SSE = "text/event-stream"


def messages_url(session_id: int) -> str:
    return f"{SESSIONS}{session_id}/messages/"


def events_of(raw: bytes) -> list[tuple[str, dict]]:
    """Parse server-sent event frames into (name, data) pairs."""
    events = []
    for frame in raw.decode().split("\n\n"):
        lines = [line for line in frame.splitlines() if line and not line.startswith(":")]
        if not lines:
            continue
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = json.loads(next(line[6:] for line in lines if line.startswith("data: ")))
        events.append((name, data))
    return events


def proposal(parent: int, *cidrs: str, reply: str = "Here you are.") -> dict:
    return {"reply": reply, "operations": creates(parent, *cidrs)}


@pytest.fixture
def operator(organization, client_for):
    return client_for(organization, Role.OPERATOR)


@pytest.fixture
def viewer(organization, client_for):
    return client_for(organization, Role.VIEWER)


def error_of(response) -> dict:
    return response.json()["error"]


def test_a_conversation_over_the_api(fake, organization, staging, operator, viewer):
    provider_on(fake, organization)
    fake.script(Script(json=proposal(staging.pk, "10.20.0.0/24")))
    created = operator.post(SESSIONS, {"title": "Staging"}, format="json")
    assert created.status_code == 201, created.content
    session_id = created.json()["id"]
    answer = operator.post(messages_url(session_id), {"text": "a /24 for staging"}, format="json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["role"] == "assistant"
    assert body["status"] == "ok"
    assert body["provider"] == "openai"
    assert body["plan"]["status"] == "valid"
    assert body["plan"]["operation_count"] == 1
    assert body["attempts"][0]["error_code"] == ""
    # Every member reads the organization's sessions; only writers may ask.
    listed = viewer.get(SESSIONS)
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [session_id]
    detail = viewer.get(f"{SESSIONS}{session_id}/").json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    assert detail["message_count"] == 2
    assert detail["total_tokens"] == 17
    denied = viewer.post(messages_url(session_id), {"text": "more"}, format="json")
    assert denied.status_code == 403
    assert error_of(denied)["code"] == "permission_denied"
    # The plan is an ordinary plan of source ai: a person applies it through the plan API.
    plan_id = body["plan"]["id"]
    applied = operator.post(f"/api/v1/plans/{plan_id}/apply/")
    assert applied.status_code == 200
    assert applied.json()["status"] == "applied"
    # Deleting the session keeps the plan.
    assert operator.delete(f"{SESSIONS}{session_id}/").status_code == 204
    assert not AISession.objects.exists()
    assert Plan.objects.get(pk=plan_id).status == PlanStatus.APPLIED


def test_the_answer_streams_as_server_sent_events(fake, organization, staging, operator):
    provider_on(fake, organization, "anthropic")
    fake.script(Script(json=proposal(staging.pk, "10.20.0.0/24", reply="One /24 for staging.")))
    session_id = operator.post(SESSIONS, {}, format="json").json()["id"]
    response = operator.post(
        messages_url(session_id), {"text": "a /24 for staging"}, format="json", HTTP_ACCEPT=SSE
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith(SSE)
    assert response["Cache-Control"] == "no-cache"
    events = events_of(b"".join(response.streaming_content))
    names = [name for name, _ in events]
    assert names[-3:] == ["plan", "usage", "done"]
    assert "".join(data["text"] for name, data in events if name == "delta") == (
        "One /24 for staging."
    )
    done = events[-1][1]
    assert AIMessage.objects.get(pk=done["message_id"]).plan.status == PlanStatus.VALID


def test_bad_input_and_quota_answer_in_the_error_schema_before_any_call(
    fake, organization, staging, operator
):
    provider_on(fake, organization)
    session_id = operator.post(SESSIONS, {}, format="json").json()["id"]
    blank = operator.post(messages_url(session_id), {"text": "  "}, format="json")
    assert blank.status_code == 400
    assert error_of(blank)["code"] == "validation_error"
    assert "text" in error_of(blank)["fields"]
    wrong_type = operator.post(messages_url(session_id), {"text": 5}, format="json")
    assert wrong_type.status_code == 400
    organization.quotas = {"max_llm_tokens_per_month": 0}
    organization.save()
    refused = operator.post(messages_url(session_id), {"text": "a /24"}, format="json")
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "quota_exceeded"
    streamed = operator.post(
        messages_url(session_id), {"text": "a /24"}, format="json", HTTP_ACCEPT=SSE
    )
    assert streamed.status_code == 429
    assert streamed["Content-Type"] == "application/json"
    assert error_of(streamed)["code"] == "quota_exceeded"
    assert fake.requests == []


def test_another_organizations_session_is_not_found(
    fake, organization, other_organization, operator, client_for
):
    theirs = client_for(other_organization, Role.OWNER)
    session_id = theirs.post(SESSIONS, {}, format="json").json()["id"]
    for response in (
        operator.get(f"{SESSIONS}{session_id}/"),
        operator.post(messages_url(session_id), {"text": "a /24"}, format="json"),
        operator.delete(f"{SESSIONS}{session_id}/"),
    ):
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert fake.requests == []


def test_analytics_count_what_the_assistant_proposed_and_what_people_did(
    fake, organization, staging, operator
):
    provider_on(fake, organization)
    fake.script(
        # Valid at once, then applied.
        Script(json=proposal(staging.pk, "10.20.0.0/24")),
        # Overlapping, repaired in one round, then discarded.
        Script(json=proposal(staging.pk, "10.20.4.0/24", "10.20.4.0/24")),
        Script(json=proposal(staging.pk, "10.20.4.0/24", "10.20.5.0/24")),
    )
    session_id = operator.post(SESSIONS, {}, format="json").json()["id"]
    first = operator.post(messages_url(session_id), {"text": "one /24"}, format="json").json()
    second = operator.post(messages_url(session_id), {"text": "two /24s"}, format="json").json()
    assert operator.post(f"/api/v1/plans/{first['plan']['id']}/apply/").status_code == 200
    assert operator.post(f"/api/v1/plans/{second['plan']['id']}/discard/").status_code == 200
    data = operator.get(ANALYTICS).json()
    assert data["sessions"] == 1
    assert data["answers"] == 2
    assert data["plans_proposed"] == 2
    assert data["valid_first"] == 1
    assert data["valid_after_repair"] == 1
    assert (data["applied"], data["discarded"], data["rolled_back"]) == (1, 1, 0)
    assert data["repair_rounds"] == 1
    assert data["input_tokens"] == 36
    assert data["output_tokens"] == 15
    assert data["tokens_per_session"] == "51.000000"
    assert data["tokens_per_applied_plan"] == "51.000000"
    assert [row["provider"] for row in data["by_provider"]] == ["openai"]
    assert len(data["by_month"]) == 1
    assert data["by_month"][0]["answers"] == 2
    cost = Decimal(data["cost"])
    assert cost == Decimal(data["cost_per_applied_plan"])
    assert operator.get(ANALYTICS, {"month": "2001-01"}).json()["answers"] == 0
    bad = operator.get(ANALYTICS, {"month": "2026-13"})
    assert bad.status_code == 400
    assert error_of(bad)["code"] == "validation_error"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the test run's shared-cache in-memory SQLite locks whole tables across threads "
    "instead of waiting; PostgreSQL runs this test",
)
def test_four_streams_run_at_once_in_one_worker_process(
    fake, organization, staging, live_server, token_for
):
    """Four SSE answers overlap in time: none waits for another's provider."""
    provider_on(fake, organization)
    words = " ".join(f"word{i}" for i in range(20))
    fake.default = Script(
        json={"reply": words, "impossible": "Only a demonstration."}, chunk_delay=0.02
    )
    token = token_for(organization, Role.OPERATOR)
    headers = {"Authorization": f"Bearer {token}"}
    sessions = [
        httpx.post(f"{live_server.url}{SESSIONS}", json={}, headers=headers).json()["id"]
        for _ in range(4)
    ]
    results: dict[int, list] = {}
    first_delta: dict[int, float] = {}
    ended: dict[int, float] = {}

    def stream(session_id: int) -> None:
        raw = b""
        with httpx.stream(
            "POST",
            f"{live_server.url}{messages_url(session_id)}",
            json={"text": "show me a demonstration"},
            headers={**headers, "Accept": SSE},
            timeout=30,
        ) as response:
            for chunk in response.iter_bytes():
                raw += chunk
                if b"event: delta" in raw and session_id not in first_delta:
                    first_delta[session_id] = time.monotonic()
        ended[session_id] = time.monotonic()
        results[session_id] = events_of(raw)

    try:
        threads = [threading.Thread(target=stream, args=(sid,)) for sid in sessions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        connections.close_all()
    assert sorted(results) == sorted(sessions)
    for events in results.values():
        assert events[-1][0] == "done"
        assert "".join(d["text"] for n, d in events if n == "delta") == words
    # Every stream had started answering before any of them ended: side by side, not queued.
    assert max(first_delta.values()) < min(ended.values())
