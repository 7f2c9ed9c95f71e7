"""The agents' writes in the audit trail, and the whole lifecycle under row-level security."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.audit.registration import REDACTED
from apps.discovery.models import Agent, IngestBatch
from apps.tenancy.rls import rls_bypass, table_protection, tenant_context
from tests.discovery import factories
from tests.rls import become

pytestmark = pytest.mark.django_db

AGENTS = "/api/v1/discovery/agents/"


def _as(credential: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
    return client


def _lifecycle(organization, admin: APIClient) -> tuple[Agent, str]:  # type: ignore[no-untyped-def]
    with tenant_context(organization):
        _token, value = factories.provisioning_token(organization)
    registered = _as(value).post(AGENTS + "register/", {"name": "dc-1"}, format="json").json()
    agent_id, credential = registered["id"], registered["credential"]
    assert admin.post(f"{AGENTS}{agent_id}/approve/").status_code == 200
    beat = _as(credential).post(f"{AGENTS}{agent_id}/heartbeat/", {}, format="json")
    assert beat.status_code == 200
    pushed = _as(credential).post(
        "/api/v1/discovery/ingest/", factories.batch("b-1", 3), format="json"
    )
    assert pushed.status_code == 201, pushed.content
    with rls_bypass():
        return Agent.objects.get(pk=agent_id), credential


def _events(**filters) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with rls_bypass():
        return list(AuditEvent.objects.filter(**filters).order_by("sequence"))


def test_registration_decisions_and_batches_are_audited_without_secrets(organization, client_for):
    admin = client_for(organization, "admin")
    agent, credential = _lifecycle(organization, admin)

    created, approved = _events(object_type="agent", object_id=str(agent.pk))
    assert created.action == "create"
    assert created.actor_system.startswith("agent provisioning token ")
    assert created.changes["credential_hash"][1] == REDACTED
    assert approved.action == "update"
    assert approved.actor_email == "admin-acme@example.com"
    assert approved.changes["status"] == ["pending", "approved"]
    (batch,) = _events(object_type="ingestbatch")
    assert batch.actor_system == f"agent {agent.pk} dc-1"
    assert batch.organization_id == organization.pk
    assert "payload" not in batch.changes
    dumped = json.dumps([e.changes for e in _events()])
    assert credential.split("_", 2)[2] not in dumped
    assert not _events(object_type="agent", changes__has_key="last_heartbeat_at")


@pytest.mark.postgres
def test_the_agent_tables_are_protected_tenant_tables():
    protection = table_protection()
    for table in ("discovery_agent", "discovery_agentprovisioningtoken", "discovery_ingestbatch"):
        assert protection[table] == {"enabled": True, "forced": True, "policy": True}, table


@pytest.mark.postgres
def test_the_lifecycle_works_as_the_application_role_and_stays_in_its_organization(
    organization, other_organization, client_for, app_role
):
    admin = client_for(organization, "admin")
    foreign, _ = factories.agent(other_organization, "theirs")
    become(app_role)
    agent, _credential = _lifecycle(organization, admin)

    assert agent.status == "approved"
    assert agent.last_heartbeat_at is not None
    listed = admin.get(AGENTS).json()["results"]
    assert [a["name"] for a in listed] == ["dc-1"]
    assert admin.get(f"{AGENTS}{foreign.pk}/").status_code == 404
    with rls_bypass():
        assert IngestBatch.objects.get().organization_id == organization.pk
