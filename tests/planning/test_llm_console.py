"""The AI provider settings page and admin: admins only, key write-only, services used."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.planning.llm_models import LLMProviderConfig, LLMUsageRecord
from apps.planning.llm_selectors import llm_specs_for
from apps.planning.llm_services import llm_provider_create
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.fakes.llm import FakeLLM, Script

pytestmark = pytest.mark.django_db

PAGE = "/ai/providers/"
CHANGELIST = "/admin/planning/llmproviderconfig/"
CANARY = "sk-console-canary-9876"
ALL_ROLES = [Role.OWNER, Role.ADMIN, Role.OPERATOR, Role.VIEWER, Role.AUDITOR]
MANAGERS = {Role.OWNER, Role.ADMIN}


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def sign_in(organization, make_member):
    def make(role: str, *, staff: bool = False) -> Client:
        member = make_member(organization, role, email=f"{role}-llm@example.com")
        if staff:
            member.is_staff = True
            member.save()
        client = Client()
        client.force_login(member)
        return client

    return make


@pytest.fixture
def config(organization, fake) -> LLMProviderConfig:
    return llm_provider_create(
        organization=organization,
        actor=TEST_ACTOR,
        name="Primary",
        provider="openai",
        model="gpt-test",
        base_url=f"{fake.url}/v1",
        api_key=CANARY,
        timeout_seconds=2,
    )


def form_data(**overrides):
    data = {
        "name": "Claude",
        "provider": "anthropic",
        "model": "claude-test",
        "base_url": "",
        "api_version": "",
        "api_key": "sk-ant-new-key-wxyz",
        "priority": "5",
        "enabled": "on",
        "timeout_seconds": "30",
        "max_output_tokens": "4096",
        "input_price": "3",
        "cached_input_price": "0.3",
        "output_price": "15",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_admins_open_the_settings_page(sign_in, config, role):
    client = sign_in(role)
    response = client.get(PAGE)
    if role in MANAGERS:
        assert response.status_code == 200
        page = response.content.decode()
        assert "Primary" in page
        assert "set, ends" in page
        assert CANARY not in page
    else:
        assert response.status_code == 403
        post = client.post(f"{PAGE}{config.pk}/test/")
        assert post.status_code == 403
        assert client.post(f"{PAGE}new/", form_data()).status_code == 403


def test_adding_through_the_console_runs_the_service(sign_in, organization):
    client = sign_in(Role.ADMIN)
    form = client.get(f"{PAGE}new/").content.decode()
    assert 'type="password"' in form
    response = client.post(f"{PAGE}new/", form_data())
    assert response.status_code == 302
    config = LLMProviderConfig.objects.get(name="Claude")
    assert (config.provider, config.api_key_hint, config.priority) == ("anthropic", "wxyz", 5)
    assert str(config.cached_input_price) == "0.300000"
    assert AuditEvent.objects.filter(action="create", object_type="llmproviderconfig").exists()


def test_the_edit_form_never_shows_the_key_and_keeps_it_when_empty(sign_in, config, organization):
    client = sign_in(Role.OWNER)
    page = client.get(f"{PAGE}{config.pk}/edit/").content.decode()
    assert CANARY not in page
    data = form_data(name="Primary", provider="openai", model="gpt-5", api_key="")
    data["base_url"] = config.base_url
    assert client.post(f"{PAGE}{config.pk}/edit/", data).status_code == 302
    config.refresh_from_db()
    assert config.model == "gpt-5"
    assert llm_specs_for(organization=organization)[0].api_key == CANARY
    data["clear_api_key"] = "on"
    client.post(f"{PAGE}{config.pk}/edit/", data)
    config.refresh_from_db()
    assert config.api_key_set is False


def test_a_bad_form_is_a_400_with_the_error_on_the_field(sign_in):
    client = sign_in(Role.ADMIN)
    response = client.post(
        f"{PAGE}new/", form_data(provider="azure_openai", base_url="https://x.example")
    )
    assert response.status_code == 400
    assert "Azure OpenAI needs an API version." in response.content.decode()
    assert not LLMProviderConfig.objects.exists()


def test_the_test_button_answers_an_htmx_partial(sign_in, config, fake):
    client = sign_in(Role.ADMIN)
    response = client.post(f"{PAGE}{config.pk}/test/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "OK</span> in" in response.content.decode()
    fake.script(Script(status=429, retry_after=1))
    response = client.post(f"{PAGE}{config.pk}/test/", HTTP_HX_REQUEST="true")
    assert "rate_limited" in response.content.decode()
    assert LLMUsageRecord.objects.count() == 1


def test_delete_and_another_organizations_provider(sign_in, config, other_organization, fake):
    other = llm_provider_create(
        organization=other_organization,
        actor=TEST_ACTOR,
        name="Theirs",
        provider="openai",
        model="m",
        base_url=f"{fake.url}/v1",
    )
    client = sign_in(Role.ADMIN)
    assert client.get(f"{PAGE}{other.pk}/edit/").status_code == 404
    assert client.post(f"{PAGE}{other.pk}/test/").status_code == 404
    assert client.post(f"{PAGE}{other.pk}/delete/").status_code == 404
    assert "Theirs" not in client.get(PAGE).content.decode()
    assert client.post(f"{PAGE}{config.pk}/delete/").status_code == 302
    assert not LLMProviderConfig.objects.filter(pk=config.pk).exists()
    assert fake.requests == []


# Admin


@pytest.mark.parametrize("role", ALL_ROLES)
def test_the_admin_is_for_admins_and_never_shows_the_key(sign_in, config, role):
    client = sign_in(role, staff=True)
    changelist = client.get(CHANGELIST)
    change = client.get(f"{CHANGELIST}{config.pk}/change/")
    if role in MANAGERS:
        assert changelist.status_code == 200
        assert "Primary" in changelist.content.decode()
        assert change.status_code == 200
        assert CANARY not in change.content.decode()
        assert "api_key_encrypted" not in change.content.decode()
    else:
        assert changelist.status_code == 403
        assert change.status_code in {302, 403}


def test_the_admin_saves_through_the_services(sign_in, config, organization):
    client = sign_in(Role.ADMIN, staff=True)
    data = form_data(name="Primary", provider="openai", model="gpt-admin", api_key="")
    data["base_url"] = config.base_url
    response = client.post(f"{CHANGELIST}{config.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    config.refresh_from_db()
    assert config.model == "gpt-admin"
    assert config.api_key_hint == CANARY[-4:]
    data["api_key"] = "sk-admin-key-5555"
    client.post(f"{CHANGELIST}{config.pk}/change/", data)
    config.refresh_from_db()
    assert config.api_key_hint == "5555"
    assert AuditEvent.objects.filter(action="update", object_type="llmproviderconfig").count() == 2


def test_the_usage_ledger_is_read_only_in_the_admin(sign_in, organization):
    LLMUsageRecord.objects.create(
        organization=organization, provider="openai", model="m", purpose="chat", input_tokens=3
    )
    client = sign_in(Role.ADMIN, staff=True)
    assert client.get("/admin/planning/llmusagerecord/").status_code == 200
    assert client.get("/admin/planning/llmusagerecord/add/").status_code == 403
    operator = sign_in(Role.OPERATOR, staff=True)
    assert operator.get("/admin/planning/llmusagerecord/").status_code == 403
