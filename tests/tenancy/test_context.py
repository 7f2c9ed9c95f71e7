"""The active organization: sessions, the header, tokens, the bases other apps build on."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.tenancy.models import ApiToken, Membership
from apps.tenancy.rls import TenantState, current_state
from tests.conftest import parse_log_lines

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.tenancy.urls")]


def test_the_header_chooses_among_a_sessions_organizations(
    organization, other_organization, owner_client
):
    Membership.objects.create(
        user=owner_client.user, organization=other_organization, role="auditor"
    )
    me = owner_client.get("/api/v1/me/", HTTP_X_CLOUDPAM_ORGANIZATION="globex").json()
    assert (me["organization"]["slug"], me["role"]) == ("globex", "auditor")
    assert owner_client.get("/api/v1/me/").json()["organization"]["slug"] == "acme"
    nowhere = owner_client.get("/api/v1/me/", HTTP_X_CLOUDPAM_ORGANIZATION="initech").json()
    assert (nowhere["organization"], nowhere["role"], nowhere["permissions"]) == (None, None, [])
    denied = owner_client.get("/api/v1/tokens/", HTTP_X_CLOUDPAM_ORGANIZATION="initech")
    assert denied.status_code == 403


def test_scoped_api_bases_list_and_find_only_the_active_organization(
    organization, other_organization, token_client, token_for, django_assert_max_num_queries
):
    client = token_client(organization, "admin")
    token_for(organization, "viewer")
    token_for(other_organization, "owner")
    foreign = token_for.last
    # The first request records the token's first use (an audit event); pin the steady state.
    client.get("/scoped/tokens/")
    with django_assert_max_num_queries(6):
        listed = client.get("/scoped/tokens/").json()
    assert listed["count"] == 2
    assert {t["member"] for t in listed["results"]} == {
        "admin-acme@example.com",
        "viewer-acme@example.com",
    }
    response = client.get(f"/scoped/tokens/{foreign.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client.get(f"/scoped/tokens/{client.token.pk}/").status_code == 200


def test_scoped_console_base_answers_404_for_another_organization(
    organization, other_organization, user, token_for
):
    token_for(other_organization, "owner")
    foreign = token_for.last
    token_for(organization, "owner", user=user)
    own = token_for.last
    browser = Client()
    browser.force_login(user)
    assert browser.get(f"/scoped/pages/{own.pk}/").content == b"owner test token"
    assert browser.get(f"/scoped/pages/{foreign.pk}/").status_code == 404


def test_a_streamed_body_is_produced_in_the_requests_organization(organization, owner_client):
    response = owner_client.get("/scoped/stream/")
    body = b"".join(response.streaming_content).decode()
    assert body == f"start;{organization.pk};acme;{response['X-Request-ID']}"
    assert current_state() == TenantState()


def test_token_requests_log_their_organization_and_user(organization, token_client, json_logs):
    client = token_client(organization, "operator")
    client.get("/api/v1/me/")
    access = [line for line in parse_log_lines(json_logs) if line["logger"] == "cloudpam.request"]
    assert access[-1]["org"] == "acme"
    assert access[-1]["user"] == "operator-acme@example.com"
    assert client.token_value not in json_logs.getvalue()


def test_requests_leave_no_tenant_state_behind(organization, token_client):
    token_client(organization, "owner").get("/api/v1/tokens/")
    assert current_state() == TenantState()
    assert ApiToken.objects.count() == 1
