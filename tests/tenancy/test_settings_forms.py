"""The organization's settings and quota forms, and its usage page, as every role."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client

from apps.cloud import services as cloud_services
from apps.discovery.choices import SyncStatus
from apps.discovery.models import SyncRun
from apps.planning.llm_models import LLMUsageRecord
from apps.pools.services import pool_create
from apps.tenancy.choices import Role
from apps.tenancy.models import Membership
from apps.tenancy.services import api_token_create
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db

URL = "/organization/settings/"
USAGE_URL = "/organization/usage/"
EDITORS = {Role.OWNER, Role.ADMIN}
SETTINGS = {
    "action": "settings",
    "plans_private_space": "on",
    "audit_retention_days": "400",
    "rate_limit_per_minute": "6000",
    "token_default_lifetime_days": "90",
    "token_max_lifetime_days": "365",
}
QUOTAS = {
    "action": "quotas",
    "max_pools": "10",
    "max_cloud_accounts": "4",
    "max_sync_runs_per_day": "8",
    "max_api_calls_per_minute": "600",
    "max_llm_tokens_per_month": "1000",
}


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def signed_in(organization, make_member, role: str) -> Client:
    client = Client()
    client.force_login(make_member(organization, role, email=f"{role}@example.com"))
    return client


def field_errors(response, form: str) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context[form].errors.items()}


@pytest.mark.parametrize("role", list(Role))
def test_settings_save_for_editors_only_and_read_as_yes_no_for_others(
    organization, make_member, role
):
    client = signed_in(organization, make_member, role)
    html = client.get(URL).content.decode()
    assert "<textarea" not in html
    response = client.post(URL, SETTINGS)
    organization.refresh_from_db()
    if role in EDITORS:
        assert 'name="audit_retention_days"' in html
        assert 'type="number"' in html
        assert response.status_code == 302
        assert organization.settings["audit_retention_days"] == 400
        assert organization.settings["allow_overlapping_roots"] is False
    else:
        assert 'name="audit_retention_days"' not in html
        assert re.search(r"Allow overlapping root pools.*?</th><td class=\"mono\">no</td>", html)
        assert response.status_code == 403
        assert organization.settings == {}


@pytest.mark.parametrize("role", list(Role))
def test_quotas_save_for_admins_only_and_read_only_for_others(organization, make_member, role):
    client = signed_in(organization, make_member, role)
    html = client.get(URL).content.decode()
    response = client.post(URL, QUOTAS)
    organization.refresh_from_db()
    if role in EDITORS:
        assert 'name="max_pools"' in html
        assert response.status_code == 302
        assert organization.effective_quotas["max_llm_tokens_per_month"] == 1000
    else:
        assert 'name="max_pools"' not in html
        assert "Only administrators change quotas." in html
        assert "5,000,000" in html  # the LLM token quota, read-only and grouped
        assert response.status_code == 403
        assert organization.quotas == {}


@pytest.mark.parametrize(
    ("form", "field", "value", "message"),
    [
        ("settings_form", "audit_retention_days", "10", "greater than or equal to 30"),
        ("settings_form", "audit_retention_days", "many", "Enter a whole number."),
        ("settings_form", "rate_limit_per_minute", "5", "greater than or equal to 60"),
        ("settings_form", "token_max_lifetime_days", "0", "greater than or equal to 1"),
        # Checked by the settings service, shown on the field it names.
        (
            "settings_form",
            "token_default_lifetime_days",
            "400",
            "The default token lifetime cannot exceed the longest token lifetime (365 days).",
        ),
        ("quota_form", "max_api_calls_per_minute", "10", "greater than or equal to 60"),
        ("quota_form", "max_pools", "-1", "greater than or equal to 0"),
        ("quota_form", "max_cloud_accounts", "1.5", "Enter a whole number."),
    ],
)
@pytest.mark.parametrize("role", sorted(EDITORS))
def test_each_invalid_value_is_shown_on_its_field(
    organization, make_member, role, form, field, value, message
):
    client = signed_in(organization, make_member, role)
    data = {**(SETTINGS if form == "settings_form" else QUOTAS), field: value}
    response = client.post(URL, data)
    assert response.status_code == 400
    errors = field_errors(response, form)
    assert list(errors) == [field], errors
    assert any(message in text for text in errors[field]), errors
    html = response.content.decode()
    block = html[html.index(f'id="id_{field}"') :]
    assert message.split(" (")[0] in block[: block.index('<div class="field')]
    organization.refresh_from_db()
    assert organization.settings == {}
    assert organization.quotas == {}


def test_the_overlapping_roots_guard_is_shown_on_its_checkbox(organization, make_member):
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    pool_create(actor=TEST_ACTOR, organization=organization, name="a", cidr="10.0.0.0/8")
    pool_create(actor=TEST_ACTOR, organization=organization, name="b", cidr="10.1.0.0/16")
    response = signed_in(organization, make_member, Role.OWNER).post(URL, SETTINGS)
    assert response.status_code == 400
    errors = field_errors(response, "settings_form")
    assert list(errors) == ["allow_overlapping_roots"]
    organization.refresh_from_db()
    assert organization.settings == {"allow_overlapping_roots": True}


def _usage_rows(html: str) -> dict[str, tuple[str, str, str]]:
    rows = {}
    for name, used, limit, share in re.findall(
        r'<tr id="quota-(\w+)">.*?<td class="num">([^<]*)</td>\s*<td class="num">([^<]*)</td>'
        r"\s*<td>(.*?)</td>",
        html,
        re.S,
    ):
        percent = re.search(r"([\d.]+)% of the quota used", share)
        rows[name] = (used, limit, percent.group(1) if percent else share)
    return rows


def test_the_usage_page_shows_each_figure_against_its_quota(organization, make_member):
    organization.quotas = {
        "max_pools": 8,
        "max_cloud_accounts": 4,
        "max_sync_runs_per_day": 10,
        "max_api_calls_per_minute": 100,
        "max_llm_tokens_per_month": 2000,
    }
    organization.save()
    for index in range(2):
        pool_create(
            actor=TEST_ACTOR, organization=organization, name=f"p{index}", cidr=f"10.{index}.0.0/16"
        )
    account = cloud_services.account_create(
        actor=TEST_ACTOR,
        organization=organization,
        name="Production",
        provider="aws",
        external_id="111122223333",
        auth_method="access_keys",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
    )
    for _ in range(3):
        SyncRun.objects.create(
            organization=organization, account=account, status=SyncStatus.COMPLETED
        )
    LLMUsageRecord.objects.create(
        organization=organization,
        provider="openai",
        model="m",
        purpose="chat",
        input_tokens=1200,
        output_tokens=300,
        cost=Decimal("0.75"),
    )
    # Five API calls with a token of the organization: counted now and today.
    client = signed_in(organization, make_member, Role.VIEWER)
    owner = make_member(organization, Role.OWNER, email="api@example.com")
    membership = Membership.objects.get(organization=organization, user=owner)
    _token, value = api_token_create(membership=membership, name="usage", scopes=["read"])
    api = Client(HTTP_AUTHORIZATION=f"Bearer {value}")
    for _ in range(5):
        assert api.get("/api/v1/pools/").status_code == 200

    response = client.get(USAGE_URL)
    assert response.status_code == 200
    html = response.content.decode()
    rows = _usage_rows(html)
    assert rows["max_pools"] == ("2", "8", "25.0")
    assert rows["max_cloud_accounts"] == ("1", "4", "25.0")
    assert rows["max_sync_runs_per_day"] == ("3", "10", "30.0")
    assert rows["max_api_calls_per_minute"] == ("5", "100", "5.0")
    assert rows["max_llm_tokens_per_month"] == ("1,500", "2,000", "75.0")
    assert "5 calls today (UTC)" in html
    assert "1 call this month, cost 0.75" in html
    assert 'class="bar warn"' in html  # 75 % of the LLM tokens
    assert "Change the quotas" not in html  # a viewer reads, does not change


def test_the_usage_page_caps_bars_and_handles_zero_quotas(organization, make_member):
    for index in range(2):
        pool_create(
            actor=TEST_ACTOR, organization=organization, name=f"p{index}", cidr=f"10.{index}.0.0/16"
        )
    # Lowered below what is already used (the quota then refuses new pools).
    organization.quotas = {"max_pools": 1, "max_llm_tokens_per_month": 0}
    organization.save()
    html = signed_in(organization, make_member, Role.ADMIN).get(USAGE_URL).content.decode()
    rows = _usage_rows(html)
    assert rows["max_pools"] == ("2", "1", "100.0")
    assert rows["max_llm_tokens_per_month"] == ("0", "0", "0.0")
    assert "Change the quotas" in html


def test_the_usage_page_shows_only_the_active_organization(
    organization, other_organization, make_member
):
    pool_create(actor=TEST_ACTOR, organization=other_organization, name="x", cidr="10.0.0.0/8")
    html = signed_in(organization, make_member, Role.OWNER).get(USAGE_URL).content.decode()
    assert _usage_rows(html)["max_pools"][0] == "0"


def test_the_usage_page_needs_a_signed_in_member(client):
    response = client.get(USAGE_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
