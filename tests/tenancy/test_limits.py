"""Rate limits (per token, per user), the organization's API quota, other quotas, sign-in."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.tenancy.models import Organization
from apps.tenancy.quotas import quota_check, quota_usage, register_quota_usage
from cloudpam.exceptions import QuotaExceeded

pytestmark = pytest.mark.django_db


def set_settings(organization: Organization, **values: int) -> None:
    organization.settings = {**organization.settings, **values}
    organization.save()


def set_quotas(organization: Organization, **values: int) -> None:
    organization.quotas = {**organization.quotas, **values}
    organization.save()


def test_a_token_over_its_rate_answers_429_rate_limited(organization, token_client):
    set_settings(organization, rate_limit_per_minute=3)
    client = token_client(organization, "viewer")
    remaining = []
    for _ in range(3):
        response = client.get("/api/v1/me/")
        assert response.status_code == 200
        assert response["X-RateLimit-Limit"] == "3"
        assert 0 <= int(response["X-RateLimit-Reset"]) <= 60
        remaining.append(response["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]

    response = client.get("/api/v1/me/")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["message"].startswith("Rate limit of this token (3 requests a minute) reached;")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["X-RateLimit-Limit"] == "3"
    assert response["X-RateLimit-Remaining"] == "0"


def test_a_tokens_own_limit_overrides_the_organizations(organization, token_client):
    client = token_client(organization, "viewer", rate_limit_per_minute=1)
    assert client.get("/api/v1/me/").status_code == 200
    assert client.get("/api/v1/me/").status_code == 429
    # Another token of the same member counts apart.
    assert token_client(organization, "viewer").get("/api/v1/me/").status_code == 200


def test_a_signed_in_user_has_a_rate_too(organization, client_for):
    set_settings(organization, rate_limit_per_minute=2)
    client = client_for(organization, "viewer")
    assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 429]
    response = client.get("/api/v1/me/")
    assert response.json()["error"]["message"].startswith(
        "Rate limit of your user (2 requests a minute) reached;"
    )


def test_the_organization_quota_counts_every_caller(organization, token_client, client_for):
    set_quotas(organization, max_api_calls_per_minute=3)
    first, second = token_client(organization, "viewer"), token_client(organization, "operator")
    session = client_for(organization, "auditor")
    assert first.get("/api/v1/me/").status_code == 200
    assert second.get("/api/v1/me/").status_code == 200
    response = session.get("/api/v1/me/")
    assert response.status_code == 200
    assert response["X-RateLimit-Limit"] == "3"
    assert response["X-RateLimit-Remaining"] == "0"

    response = first.get("/api/v1/me/")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["message"].startswith("Quota max_api_calls_per_minute (3) reached; retry in ")
    assert int(response["Retry-After"]) >= 1


def test_limits_are_per_organization(organization, other_organization, token_client):
    set_quotas(organization, max_api_calls_per_minute=1)
    acme, globex = token_client(organization, "viewer"), token_client(other_organization, "viewer")
    assert acme.get("/api/v1/me/").status_code == 200
    assert acme.get("/api/v1/me/").status_code == 429
    assert globex.get("/api/v1/me/").status_code == 200


def test_unauthenticated_requests_are_not_counted(organization, client):
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert "X-RateLimit-Limit" not in response


def test_limits_count_in_redis_when_configured(redis_url, organization, token_client):
    from django.conf import settings

    assert "redis" in settings.CACHES["default"]["BACKEND"].lower()
    set_settings(organization, rate_limit_per_minute=2)
    client = token_client(organization, "viewer")
    assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 429]


# ---------------------------------------------------------------- quotas


def test_quota_check_raises_naming_the_limit(organization):
    set_quotas(organization, max_pools=2)
    quota_check(organization=organization, name="max_pools", used=1)
    with pytest.raises(QuotaExceeded, match=r"^Quota max_pools \(2\) reached\.$") as caught:
        quota_check(organization=organization, name="max_pools", used=2)
    assert caught.value.code == "quota_exceeded"
    assert caught.value.status_code == 429
    with pytest.raises(QuotaExceeded):
        quota_check(organization=organization, name="max_pools", used=0, amount=3)


def test_quota_check_asks_the_registered_counter(organization, monkeypatch):
    from apps.tenancy import quotas

    monkeypatch.setattr(quotas, "_usage_counters", {})
    set_quotas(organization, max_cloud_accounts=1)
    with pytest.raises(ValueError, match="No usage counter is registered"):
        quota_check(organization=organization, name="max_cloud_accounts")
    register_quota_usage("max_cloud_accounts", lambda org: 1 if org.pk == organization.pk else 0)
    with pytest.raises(QuotaExceeded, match=r"max_cloud_accounts \(1\)"):
        quota_check(organization=organization, name="max_cloud_accounts")
    usage = quota_usage(organization=organization)
    assert usage["max_cloud_accounts"] == {"label": "Cloud accounts", "limit": 1, "used": 1}
    with pytest.raises(ValueError, match="Unknown quota"):
        register_quota_usage("max_unicorns", lambda org: 0)


# ---------------------------------------------------------------- sign-in attempts


def test_sign_in_attempts_are_limited_per_account(user, settings):
    settings.LOGIN_RATE_LIMIT = "3/m"
    attempts = []
    for index in range(4):
        client = Client(REMOTE_ADDR=f"198.51.100.{index}")
        attempts.append(
            client.post("/login/", {"username": user.email.upper(), "password": "wrong"})
        )
    assert [r.status_code for r in attempts] == [200, 200, 200, 429]
    assert b"Too many sign-in attempts. Try again in" in attempts[-1].content
    # Even the right password waits out the window: the limit is per attempt.
    right = Client(REMOTE_ADDR="198.51.100.9").post(
        "/login/", {"username": user.email, "password": "correct horse battery staple"}
    )
    assert right.status_code == 429


def test_sign_in_attempts_are_limited_per_ip(user, settings):
    settings.LOGIN_RATE_LIMIT = "2/m"
    client = Client(REMOTE_ADDR="203.0.113.5")
    codes = [
        client.post("/login/", {"username": f"u{i}@example.com", "password": "x"}).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]
    other_ip = Client(REMOTE_ADDR="203.0.113.6").post(
        "/login/", {"username": user.email, "password": "correct horse battery staple"}
    )
    assert other_ip.status_code == 302


def test_admin_sign_in_is_limited_too(user, settings):
    settings.LOGIN_RATE_LIMIT = "1/m"
    client = Client()
    client.post("/admin/login/", {"username": user.email, "password": "x"})
    response = client.post("/admin/login/", {"username": user.email, "password": "x"})
    assert response.status_code == 200
    assert b"Too many sign-in attempts" in response.content
