"""The LLM provider API and services of SPEC.md section 7.3 (Providers, Accounting)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings

from apps.audit.models import AuditEvent
from apps.planning.llm.base import ChatMessage, ProviderSpec
from apps.planning.llm_models import LLMProviderConfig, LLMUsageRecord
from apps.planning.llm_selectors import (
    llm_quota_check,
    llm_specs_for,
    llm_tokens_used_this_month,
    llm_usage_totals,
)
from apps.planning.llm_services import llm_complete, llm_provider_create
from apps.tenancy.choices import Role
from cloudpam.exceptions import QuotaExceeded
from tests.actors import TEST_ACTOR
from tests.fakes.llm import FakeLLM, Script

pytestmark = pytest.mark.django_db

LIST = "/api/v1/ai/providers/"
CANARY = "sk-canary-llm-0123456789"
MESSAGES = [ChatMessage("user", "Allocate a /24.")]


def detail(config) -> str:
    return f"{LIST}{config.pk}/"


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def admin(organization, client_for):
    return client_for(organization, Role.ADMIN)


@pytest.fixture
def operator(organization, client_for):
    return client_for(organization, Role.OPERATOR)


def body(fake: FakeLLM, **extra):
    return {
        "name": "Primary",
        "provider": "openai",
        "model": "gpt-test",
        "base_url": f"{fake.url}/v1",
        "api_key": CANARY,
        "timeout_seconds": 5,
        "input_price": "2.50",
        "cached_input_price": "1.25",
        "output_price": "10",
        **extra,
    }


def make(organization, fake: FakeLLM, **extra) -> LLMProviderConfig:
    fields = body(fake, **extra)
    return llm_provider_create(organization=organization, actor=TEST_ACTOR, **fields)


def error_of(response):
    return response.json()["error"]


def test_an_admin_adds_a_provider_and_the_key_is_never_shown(admin, fake, organization):
    response = admin.post(LIST, body(fake), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["api_key_set"] is True
    assert data["api_key_hint"] == "6789"
    assert data["input_price"] == "2.500000"
    assert data["cached_input_price"] == "1.250000"
    assert CANARY not in response.content.decode()
    config = LLMProviderConfig.objects.get(pk=data["id"])
    assert config.organization == organization
    assert CANARY not in config.api_key_encrypted
    listed = admin.get(LIST)
    assert listed.json()["results"][0]["name"] == "Primary"
    assert CANARY not in listed.content.decode()
    assert CANARY not in admin.get(detail(config)).content.decode()
    event = AuditEvent.objects.get(action="create", object_type="llmproviderconfig")
    assert CANARY not in json.dumps(event.changes, default=str)
    assert "api_key_encrypted" not in event.changes


def test_the_key_is_replaced_kept_or_removed(admin, fake, organization):
    config = make(organization, fake)
    admin.patch(detail(config), {"model": "gpt-other"}, format="json")
    config.refresh_from_db()
    assert config.api_key_hint == "6789"
    assert config.model == "gpt-other"
    admin.patch(detail(config), {"api_key": "sk-new-key-abcd"}, format="json")
    config.refresh_from_db()
    assert config.api_key_hint == "abcd"
    assert llm_specs_for(organization=organization)[0].api_key == "sk-new-key-abcd"
    response = admin.patch(detail(config), {"api_key": ""}, format="json")
    assert response.json()["api_key_set"] is False
    for event in AuditEvent.objects.filter(object_type="llmproviderconfig"):
        assert "sk-new-key-abcd" not in json.dumps(event.changes, default=str)


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"provider": "gemini"}, "provider", '"gemini" is not a valid choice.'),
        ({"model": ""}, "model", "This field may not be blank."),
        (
            {"timeout_seconds": 0},
            "timeout_seconds",
            "Ensure this value is greater than or equal to 1.",
        ),
        ({"timeout_seconds": "5"}, "timeout_seconds", "A valid integer is required."),
        ({"input_price": "-1"}, "input_price", "Ensure this value is greater than or equal to 0."),
        ({"base_url": "ftp://x/v1"}, "base_url", "An http:// or https:// URL."),
        (
            {"base_url": "http://user:pw@host/v1"},
            "base_url",
            "Put the API key in api_key, not in the URL.",
        ),
        (
            {"provider": "azure_openai", "api_version": ""},
            "api_version",
            "Azure OpenAI needs an API version.",
        ),
        (
            {"provider": "openai_compatible", "base_url": ""},
            "base_url",
            "An OpenAI-compatible endpoint needs its base URL.",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(admin, fake, extra, field, message):
    response = admin.post(LIST, body(fake, **extra), format="json")
    assert response.status_code == 400
    assert error_of(response)["fields"][field] == [message]
    assert not LLMProviderConfig.objects.exists()


def test_a_name_is_unique_per_organization(admin, fake, organization, other_organization):
    make(organization, fake)
    make(other_organization, fake)
    response = admin.post(LIST, body(fake), format="json")
    assert response.status_code == 409
    assert error_of(response)["fields"]["name"] == [
        "The organization already has an LLM provider named 'Primary'."
    ]


def test_operators_read_but_only_admins_write(operator, admin, fake, organization):
    config = make(organization, fake)
    assert operator.get(LIST).status_code == 200
    assert operator.get(detail(config)).status_code == 200
    for response in (
        operator.post(LIST, body(fake, name="Other"), format="json"),
        operator.patch(detail(config), {"enabled": False}, format="json"),
        operator.delete(detail(config)),
        operator.post(f"{detail(config)}check/"),
    ):
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"
    assert admin.delete(detail(config)).status_code == 204
    assert AuditEvent.objects.filter(action="delete", object_type="llmproviderconfig").exists()


def test_another_organizations_provider_is_a_404(admin, fake, other_organization):
    config = make(other_organization, fake)
    assert admin.get(detail(config)).status_code == 404
    assert admin.post(f"{detail(config)}check/").status_code == 404
    assert fake.requests == []


def test_the_check_answers_ok_with_latency_and_records_usage(admin, fake, organization):
    config = make(organization, fake)
    response = admin.post(f"{detail(config)}check/")
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert data["latency_ms"] >= 0
    assert "error" not in data
    assert data["provider"]["last_check"]["ok"] is True
    sent = fake.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {CANARY}"
    assert CANARY not in sent.body
    record = LLMUsageRecord.objects.get()
    assert (record.purpose, record.input_tokens, record.output_tokens) == ("check", 12, 5)
    # 12 x 2.50 + 5 x 10 = 80 per million.
    assert record.cost == Decimal("0.000080")
    assert AuditEvent.objects.filter(
        action="connectivity_check", object_type="llmproviderconfig"
    ).exists()


@pytest.mark.parametrize(
    ("script", "code"),
    [
        (Script(status=429, retry_after=2), "rate_limited"),
        (Script(status=500), "provider_error"),
        (Script(status=401), "auth"),
        (Script(delay=1.5), "timeout"),
    ],
)
def test_a_failed_check_names_the_error_code(admin, fake, organization, script, code):
    config = make(organization, fake, timeout_seconds=1)
    fake.script(script)
    response = admin.post(f"{detail(config)}check/")
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == code
    config.refresh_from_db()
    assert config.last_check["error"]["code"] == code
    assert not LLMUsageRecord.objects.exists()


def test_fallback_order_is_priority_then_the_instance_default(fake, organization):
    make(organization, fake, name="second", priority=20)
    make(organization, fake, name="first", priority=10)
    make(organization, fake, name="off", priority=1, enabled=False)
    with override_settings(
        LLM_PROVIDER="anthropic", LLM_MODEL="claude-test", LLM_API_KEY="k", LLM_BASE_URL=""
    ):
        specs = llm_specs_for(organization=organization)
    assert [(s.provider, s.model, s.key != "default") for s in specs][-1] == (
        "anthropic",
        "claude-test",
        False,
    )
    names = [LLMProviderConfig.objects.get(pk=int(s.key)).name for s in specs[:-1]]
    assert names == ["first", "second"]


def test_no_default_without_provider_and_model(organization):
    with override_settings(LLM_PROVIDER="openai", LLM_MODEL=""):
        assert llm_specs_for(organization=organization) == []


def test_llm_complete_falls_back_and_records_who_answered(fake, organization):
    first = make(organization, fake, name="first", priority=1)
    second = make(
        organization, fake, name="second", priority=2, provider="anthropic", base_url=fake.url
    )
    fake.script(Script(status=503), Script(text="Answer."))
    result = llm_complete(organization=organization, actor=TEST_ACTOR, messages=MESSAGES)
    assert result.text == "Answer."
    assert [(a.key, a.error_code) for a in result.attempts] == [
        (str(first.pk), "provider_error"),
        (str(second.pk), ""),
    ]
    record = LLMUsageRecord.objects.get()
    assert (record.config_id, record.provider, record.purpose) == (second.pk, "anthropic", "chat")


def test_the_monthly_quota_refuses_before_any_provider_call(fake, organization, admin):
    config = make(organization, fake)
    organization.quotas = {"max_llm_tokens_per_month": 100}
    organization.save()
    LLMUsageRecord.objects.create(
        organization=organization,
        provider="openai",
        model="m",
        purpose="chat",
        input_tokens=60,
        output_tokens=40,
    )
    assert llm_tokens_used_this_month(organization) == 100
    with pytest.raises(QuotaExceeded) as caught:
        llm_complete(organization=organization, actor=TEST_ACTOR, messages=MESSAGES)
    assert caught.value.code == "quota_exceeded"
    assert caught.value.message == "Quota max_llm_tokens_per_month (100) reached."
    response = admin.post(f"{detail(config)}check/")
    assert response.status_code == 429
    assert error_of(response)["code"] == "quota_exceeded"
    assert fake.requests == []


def test_last_months_usage_does_not_count(organization):
    organization.quotas = {"max_llm_tokens_per_month": 100}
    organization.save()
    record = LLMUsageRecord.objects.create(
        organization=organization,
        provider="openai",
        model="m",
        purpose="chat",
        input_tokens=500,
        output_tokens=500,
    )
    LLMUsageRecord.objects.filter(pk=record.pk).update(
        created_at=record.created_at - timedelta(days=40)
    )
    assert llm_tokens_used_this_month(organization) == 0
    llm_quota_check(organization=organization, amount=100)


def test_usage_totals_and_endpoint(fake, organization, operator, other_organization):
    spec_fields = {"provider": "openai", "model": "m", "purpose": "chat"}
    LLMUsageRecord.objects.create(
        organization=organization,
        input_tokens=1000,
        cached_input_tokens=800,
        output_tokens=300,
        reasoning_tokens=120,
        cost=Decimal("0.0045"),
        **spec_fields,
    )
    LLMUsageRecord.objects.create(
        organization=organization,
        input_tokens=10,
        output_tokens=5,
        cost=Decimal("0.0001"),
        **spec_fields,
    )
    LLMUsageRecord.objects.create(
        organization=other_organization, input_tokens=99, output_tokens=99, **spec_fields
    )
    totals = llm_usage_totals(organization=organization)
    assert (totals.calls, totals.total_tokens, totals.cost) == (2, 1315, Decimal("0.004600"))
    data = operator.get("/api/v1/ai/usage/").json()
    assert data["calls"] == 2
    assert data["input_tokens"] == 1010
    assert data["cached_input_tokens"] == 800
    assert data["output_tokens"] == 305
    assert data["reasoning_tokens"] == 120
    assert data["total_tokens"] == 1315
    assert data["cost"] == "0.004600"
    assert data["quota"] == 5_000_000


def test_usage_is_counted_in_prometheus(fake, organization):
    from prometheus_client import REGISTRY

    def sample(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0

    labels = {"provider": "openai", "model": "gpt-test"}
    before_tokens = sample("cloudpam_llm_tokens_total", kind="input", **labels)
    before_cost = sample("cloudpam_llm_cost_total", **labels)
    make(organization, fake)
    llm_complete(organization=organization, actor=TEST_ACTOR, messages=MESSAGES)
    assert sample("cloudpam_llm_tokens_total", kind="input", **labels) == before_tokens + 12
    assert sample("cloudpam_llm_cost_total", **labels) == pytest.approx(before_cost + 0.00008)
    assert sample("cloudpam_llm_calls_total", outcome="ok", **labels) >= 1


def test_a_spec_from_a_config_carries_its_prices(fake, organization):
    config = make(organization, fake)
    spec = llm_specs_for(organization=organization)[0]
    assert spec == ProviderSpec(
        provider="openai",
        model="gpt-test",
        base_url=f"{fake.url}/v1",
        api_key=CANARY,
        timeout_seconds=5.0,
        input_price=Decimal("2.5"),
        cached_input_price=Decimal("1.25"),
        output_price=Decimal("10"),
        key=str(config.pk),
    )
