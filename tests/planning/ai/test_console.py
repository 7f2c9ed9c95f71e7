"""The AI assistant's console pages: conversations, the chat (no-script path), analytics."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.planning.ai_models import AIMessage, AISession
from apps.planning.ai_services import ai_session_create
from apps.planning.choices import PlanStatus
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.fakes.llm import Script
from tests.planning.ai.conftest import creates, provider_on

pytestmark = pytest.mark.django_db

ALL_ROLES = [Role.OWNER, Role.ADMIN, Role.OPERATOR, Role.VIEWER, Role.AUDITOR]
CHATTERS = {Role.OWNER, Role.ADMIN, Role.OPERATOR}


@pytest.fixture
def sign_in(organization, make_member):
    def make(role: str) -> Client:
        client = Client()
        client.force_login(make_member(organization, role, email=f"{role}-chat@example.com"))
        return client

    return make


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_member_reads_and_only_writers_may_ask(organization, staging, sign_in, role):
    session = ai_session_create(organization=organization, actor=TEST_ACTOR, title="Staging")
    client = sign_in(role)
    listing = client.get("/ai/")
    assert listing.status_code == 200
    assert b"Staging" in listing.content
    assert (b"New conversation" in listing.content) is (role in CHATTERS)
    chat = client.get(f"/ai/sessions/{session.pk}/")
    assert chat.status_code == 200
    assert (b'id="ai-form"' in chat.content) is (role in CHATTERS)
    assert client.get("/ai/analytics/").status_code == 200
    asked = client.post(
        f"/ai/sessions/{session.pk}/", {"text": "allocate four /24s for staging in 10.20.0.0/16"}
    )
    if role in CHATTERS:
        assert asked.status_code == 302
        answer = AIMessage.objects.filter(session=session, role="assistant").get()
        assert answer.plan.status == PlanStatus.VALID
        page = client.get(f"/ai/sessions/{session.pk}/").content.decode()
        assert f"/plans/{answer.plan_id}/" in page
        assert "Valid" in page
    else:
        assert asked.status_code == 403
        assert not AIMessage.objects.exists()


def test_the_chat_page_shows_the_plan_diff_risk_and_counters(fake, organization, staging, sign_in):
    provider_on(fake, organization)
    fake.script(
        Script(json={"reply": "One /24.", "operations": creates(staging.pk, "10.20.7.0/24")})
    )
    client = sign_in(Role.OPERATOR)
    created = client.post("/ai/", {"title": "Chat"})
    session = AISession.objects.get()
    assert created["Location"] == f"/ai/sessions/{session.pk}/"
    client.post(f"/ai/sessions/{session.pk}/", {"text": "a /24 for staging"})
    answer = AIMessage.objects.get(role="assistant")
    partial = client.get(f"/ai/sessions/{session.pk}/messages/{answer.pk}/").content.decode()
    assert "10.20.7.0/24" in partial  # the diff
    assert f"Plan {answer.plan_id}" in partial
    assert "risk" in partial
    assert "12 in (0 cached)" in partial  # the fake's usage
    page = client.get(f"/ai/sessions/{session.pk}/").content.decode()
    assert 'data-counter="total_tokens">17<' in page
    assert "js/ai_chat.js" in page


def test_another_organizations_session_is_a_404(other_organization, sign_in):
    theirs = ai_session_create(organization=other_organization, actor=TEST_ACTOR, title="x")
    client = sign_in(Role.OWNER)
    assert client.get(f"/ai/sessions/{theirs.pk}/").status_code == 404
    assert client.post(f"/ai/sessions/{theirs.pk}/", {"text": "a /24"}).status_code == 404
    assert client.post(f"/ai/sessions/{theirs.pk}/delete/").status_code == 404
    assert AISession.objects.filter(pk=theirs.pk).exists()


def test_deleting_a_conversation_keeps_its_plans(organization, staging, sign_in):
    client = sign_in(Role.OPERATOR)
    client.post("/ai/", {})
    session = AISession.objects.get()
    client.post(f"/ai/sessions/{session.pk}/", {"text": "allocate four /24s for staging"})
    plan_id = AIMessage.objects.get(role="assistant").plan_id
    assert client.post(f"/ai/sessions/{session.pk}/delete/").status_code == 302
    assert not AISession.objects.exists()
    assert client.get(f"/plans/{plan_id}/").status_code == 200


def test_the_analytics_panel_takes_a_month(organization, sign_in):
    client = sign_in(Role.VIEWER)
    assert b"Plans proposed" in client.get("/ai/analytics/").content
    assert client.get("/ai/analytics/", {"month": "2026-01"}).status_code == 200
    bad = client.get("/ai/analytics/", {"month": "nope"})
    assert bad.status_code == 200
    assert b"A month as YYYY-MM." in bad.content
