"""/api/schema/ and /api/docs/ follow CLOUDPAM_API_DOCS; every page carries a CSP."""

from __future__ import annotations

import secrets

import pytest

from tests.platform.test_settings import run_manage

pytestmark = pytest.mark.django_db

DOCS = ["/api/schema/", "/api/docs/"]


@pytest.mark.parametrize("path", DOCS)
def test_authenticated_docs_refuse_anonymous_callers_in_json(client, settings, path):
    settings.CLOUDPAM_API_DOCS = "authenticated"
    response = client.get(path)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("path", DOCS)
def test_authenticated_docs_serve_a_signed_in_user_or_a_token(
    client, owner_client, make_member, organization, settings, path
):
    settings.CLOUDPAM_API_DOCS = "authenticated"
    client.force_login(make_member(organization, "viewer"))
    assert client.get(path).status_code == 200
    assert owner_client.get(path).status_code == 200


@pytest.mark.parametrize("path", DOCS)
def test_public_docs_serve_anyone(client, settings, path):
    settings.CLOUDPAM_API_DOCS = "public"
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", DOCS)
def test_docs_off_are_json_404_even_signed_in(client, user, settings, path):
    settings.CLOUDPAM_API_DOCS = "off"
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_swagger_ui_inline_script_carries_the_nonce_of_the_policy(client, settings):
    settings.CLOUDPAM_API_DOCS = "public"
    response = client.get("/api/docs/")
    policy = response["Content-Security-Policy"]
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<script nonce="{nonce}">' in response.content.decode()
    assert "unsafe-inline" not in policy


def test_console_pages_carry_a_policy_without_unsafe_inline(client):
    policy = client.get("/login/")["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.slow
def test_production_docs_default_to_authenticated():
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.CLOUDPAM_API_DOCS)",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="cloudpam.example.com",
    )
    assert result.stdout.strip().splitlines()[-1] == "authenticated", result.stderr
