"""The agents console page and the agents admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.discovery.choices import AgentStatus
from apps.discovery.models import Agent, AgentProvisioningToken
from apps.tenancy.choices import Role
from tests.discovery import factories

pytestmark = pytest.mark.django_db

PAGE = "/discovery/agents/"


@pytest.fixture
def console(organization, make_member):  # type: ignore[no-untyped-def]
    def make(role: str) -> Client:
        client = Client()
        client.force_login(make_member(organization, role))
        return client

    return make


def test_viewers_see_agents_with_status_and_staleness_but_no_buttons(organization, console):
    stale, _ = factories.agent(organization, "old-dc")
    Agent.objects.filter(pk=stale.pk).update(last_heartbeat_at=timezone.now() - timedelta(hours=1))
    fresh, _ = factories.agent(organization, "new-dc")
    Agent.objects.filter(pk=fresh.pk).update(last_heartbeat_at=timezone.now())
    factories.agent(organization, "waiting-dc", approved=False)

    html = console(Role.VIEWER).get(PAGE).content.decode()
    assert html.count(">stale</span>") == 1
    assert "old-dc" in html
    assert "Pending approval" in html
    assert "Approve</button>" not in html
    assert "Provisioning tokens" not in html
    assert 'href="/discovery/agents/"' in html, "the navigation links the page"


def test_an_admin_approves_from_the_page(organization, console):
    agent, _ = factories.agent(organization, "dc-1", approved=False)
    admin = console(Role.ADMIN)
    html = admin.get(PAGE).content.decode()
    assert "Approve</button>" in html
    # The Content-Security-Policy runs no inline handler: confirmations are data attributes.
    assert not re.search(r"\son[a-z]+=", html)
    assert 'data-confirm="Reject dc-1? It cannot be approved afterwards."' in html

    response = admin.post(f"/discovery/agents/{agent.pk}/approve/", follow=True)
    assert "Approved the agent dc-1." in response.content.decode()
    assert Agent.objects.get().status == AgentStatus.APPROVED


def test_an_operator_may_not_decide(organization, console):
    agent, _ = factories.agent(organization, approved=False)
    response = console(Role.OPERATOR).post(f"/discovery/agents/{agent.pk}/reject/")
    assert response.status_code == 403
    assert Agent.objects.get().status == AgentStatus.PENDING


def test_another_organizations_agent_is_a_404(other_organization, console):
    foreign, _ = factories.agent(other_organization, approved=False)
    response = console(Role.ADMIN).post(f"/discovery/agents/{foreign.pk}/approve/")
    assert response.status_code == 404
    assert Agent.objects.get().status == AgentStatus.PENDING


def test_a_provisioning_token_is_shown_once(organization, console):
    admin = console(Role.ADMIN)
    response = admin.post(PAGE, {"name": "branch offices", "expires_in_days": 7})
    assert response.status_code == 201
    html = response.content.decode()
    token = AgentProvisioningToken.objects.get()
    assert not re.search(r"\son[a-z]+=", html)
    value = html.split('id="new-token" value="')[1].split('"')[0]
    assert value.startswith(f"cpap_{token.prefix}_")
    assert response["Cache-Control"] == "no-store"
    later = admin.get(PAGE).content.decode()
    assert "branch offices" in later
    assert value not in later

    admin.post(f"/discovery/agent-tokens/{token.pk}/revoke/")
    assert AgentProvisioningToken.objects.get().status == "revoked"


def test_staff_admin_shows_no_credential_and_decides_through_the_service(
    organization, other_organization, make_member
):
    agent, credential = factories.agent(organization, "mine", approved=False)
    factories.agent(other_organization, "theirs")
    member = make_member(organization, Role.ADMIN, email="staff@example.com")
    member.is_staff = True
    member.save()
    client = Client()
    client.force_login(member)

    html = client.get("/admin/discovery/agent/").content.decode()
    assert "mine" in html
    assert "theirs" not in html
    detail = client.get(f"/admin/discovery/agent/{agent.pk}/change/").content.decode()
    stored = Agent.objects.get(pk=agent.pk).credential_hash
    assert credential.split("_", 2)[2] not in detail
    assert stored not in detail
    assert client.get("/admin/discovery/agentprovisioningtoken/").status_code == 200
    assert client.get("/admin/discovery/ingestbatch/").status_code == 200

    client.post(
        "/admin/discovery/agent/",
        {"action": "approve_agents", "_selected_action": [agent.pk], "post": "yes"},
    )
    assert Agent.objects.get(pk=agent.pk).status == AgentStatus.APPROVED


def test_staff_without_agents_manage_are_not_offered_decisions_in_the_admin(
    organization, make_member
):
    agent, _ = factories.agent(organization, approved=False)
    member = make_member(organization, Role.OPERATOR, email="ops@example.com")
    member.is_staff = True
    member.save()
    client = Client()
    client.force_login(member)
    page = client.get("/admin/discovery/agent/")
    assert page.status_code == 200
    assert "revoke_agents" not in page.content.decode()
    client.post(
        "/admin/discovery/agent/", {"action": "revoke_agents", "_selected_action": [agent.pk]}
    )
    assert Agent.objects.get().status == AgentStatus.PENDING
    assert client.get("/admin/discovery/agentprovisioningtoken/").status_code == 403
