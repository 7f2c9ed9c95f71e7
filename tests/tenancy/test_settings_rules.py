"""Organization settings: their schema, the minimums that prevent self-lockout, the guards."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from rest_framework.test import APIClient

from apps.pools import services as pool_services
from apps.tenancy.models import Organization
from apps.tenancy.org_settings import (
    register_setting_guard,
    register_setting_validator,
    validate_quotas,
    validate_settings,
)
from apps.tenancy.services import organization_create, organization_settings_update
from cloudpam.exceptions import Conflict, PermissionDenied, ValidationError
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db

SETTINGS = "/api/v1/organizations/acme/settings/"


def error_of(response, status):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    return response.json()["error"]


# ---------------------------------------------------------------- minimums


@pytest.mark.parametrize(
    ("name", "too_low", "lowest"),
    [("rate_limit_per_minute", 59, 60), ("audit_retention_days", 29, 30)],
)
def test_settings_that_could_lock_out_have_minimums(
    organization, owner_client, name, too_low, lowest
):
    for value in (0, 1, too_low):
        response = owner_client.patch(SETTINGS, {"settings": {name: value}}, format="json")
        assert set(error_of(response, 400)["fields"]) == {f"settings.{name}"}
    with pytest.raises(ValidationError, match=name):
        validate_settings({name: too_low}, {})
    organization.refresh_from_db()
    assert organization.settings == {}
    response = owner_client.patch(SETTINGS, {"settings": {name: lowest}}, format="json")
    assert response.status_code == 200
    assert response.json()["settings"][name] == lowest


def test_the_api_quota_has_a_minimum(organization, owner_client):
    for value in (0, 1, 59):
        response = owner_client.patch(
            SETTINGS, {"quotas": {"max_api_calls_per_minute": value}}, format="json"
        )
        assert set(error_of(response, 400)["fields"]) == {"quotas.max_api_calls_per_minute"}
    with pytest.raises(ValidationError, match="max_api_calls_per_minute"):
        validate_quotas({"max_api_calls_per_minute": 0})
    # Other quotas may still be 0: that switches a feature off, it locks nobody out.
    validate_quotas({"max_llm_tokens_per_month": 0, "max_api_calls_per_minute": 60})


def test_the_console_enforces_the_minimums(organization, make_member):
    client = Client()
    client.force_login(make_member(organization, "owner"))
    form = {
        "action": "settings",
        "plans_private_space": "on",
        "audit_retention_days": "1",
        "rate_limit_per_minute": "1",
        "token_default_lifetime_days": "90",
        "token_max_lifetime_days": "365",
        "compliance": "{}",
    }
    assert client.post("/organization/settings/", form).status_code == 400
    quotas = {
        "action": "quotas",
        "max_pools": "5",
        "max_cloud_accounts": "1",
        "max_sync_runs_per_day": "2",
        "max_api_calls_per_minute": "0",
        "max_llm_tokens_per_month": "0",
    }
    assert client.post("/organization/settings/", quotas).status_code == 400
    organization.refresh_from_db()
    assert organization.settings == {}
    assert organization.quotas == {}


def test_owners_always_reach_the_settings_endpoint(organization, client_for, token_client):
    # Limits stored before the minimums existed, or written around the services.
    organization.settings = {"rate_limit_per_minute": 1}
    organization.quotas = {"max_api_calls_per_minute": 1}
    organization.save()
    owner, admin = client_for(organization, "owner"), token_client(organization, "admin")

    assert owner.get("/api/v1/me/").status_code == 200
    assert error_of(owner.get("/api/v1/me/"), 429)["code"] in {"rate_limited", "quota_exceeded"}
    for _ in range(3):
        assert owner.get(SETTINGS).status_code == 200
    assert error_of(admin.get(SETTINGS), 429)["code"] in {"rate_limited", "quota_exceeded"}

    response = owner.patch(
        SETTINGS,
        {"settings": {"rate_limit_per_minute": 6000}, "quotas": {"max_api_calls_per_minute": 600}},
        format="json",
    )
    assert response.status_code == 200
    organization.refresh_from_db()
    assert organization.setting("rate_limit_per_minute") == 6000
    assert organization.effective_quotas["max_api_calls_per_minute"] == 600


# ---------------------------------------------------------------- schema of compliance


@pytest.mark.parametrize(
    ("compliance", "field", "message"),
    [
        ({"NAMING": {"enabled": "yes"}}, "NAMING", "enabled: must be true or false"),
        ({"OVERLAP": {"severity": "fatal"}}, "OVERLAP", "severity: must be one of"),
        (
            {"OVER_UTILIZED": {"params": {"threshold": "high"}}},
            "OVER_UTILIZED",
            "params.threshold: must be a number between 0 and 100",
        ),
        (
            {"REQUIRED_TAGS": {"params": {"keys": "owner"}}},
            "REQUIRED_TAGS",
            "params.keys: must be a list of non-empty strings",
        ),
        ({"NO_SUCH_RULE": {}}, "NO_SUCH_RULE", "unknown rule"),
        (
            {"NAMING": {"params": {"patterns": {"vpc": "(a)\\1"}}}},
            "NAMING",
            "is not a regular expression RE2 accepts",
        ),
    ],
)
def test_invalid_compliance_settings_are_400_naming_the_field(
    organization, owner_client, compliance, field, message
):
    response = owner_client.patch(SETTINGS, {"settings": {"compliance": compliance}}, format="json")
    error = error_of(response, 400)
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == [f"settings.compliance.{field}"]
    assert message in error["fields"][f"settings.compliance.{field}"][0]
    assert error["message"].startswith(f"compliance.{field}: ")
    organization.refresh_from_db()
    assert organization.settings == {}


def test_valid_compliance_settings_are_stored(organization, owner_client):
    compliance = {
        "NAMING": {"severity": "warning", "params": {"patterns": {"vpc": "vpc-[a-z]+"}}},
        "OVER_UTILIZED": {"enabled": False},
    }
    response = owner_client.patch(SETTINGS, {"settings": {"compliance": compliance}}, format="json")
    assert response.status_code == 200, response.content
    organization.refresh_from_db()
    assert organization.settings == {"compliance": compliance}


def test_the_organization_form_has_no_json_box_for_object_settings(organization, make_member):
    """``compliance`` is edited on its own typed form; a posted JSON value is not read here."""
    client = Client()
    client.force_login(make_member(organization, "owner"))
    html = client.get("/organization/settings/").content.decode()
    assert "<textarea" not in html
    assert 'name="compliance"' not in html
    assert 'href="/analysis/compliance/settings/"' in html
    form = {
        "action": "settings",
        "plans_private_space": "on",
        "audit_retention_days": "365",
        "rate_limit_per_minute": "6000",
        "token_default_lifetime_days": "90",
        "token_max_lifetime_days": "365",
        "compliance": '{"NAMING": {"enabled": "yes"}}',
    }
    assert client.post("/organization/settings/", form).status_code == 302
    organization.refresh_from_db()
    assert "compliance" not in organization.settings
    assert organization.settings["audit_retention_days"] == 365


def test_tenancy_imports_no_app_that_registers_into_it():
    tenancy = Path(__file__).resolve().parents[2] / "apps" / "tenancy"
    for source in tenancy.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        for app in ("apps.analysis", "apps.pools"):
            assert app not in text, f"{source} imports {app}"


def test_registering_needs_a_known_setting():
    with pytest.raises(ValueError, match="Unknown setting"):
        register_setting_validator("no_such_setting", lambda value: {})
    with pytest.raises(ValueError, match="Unknown setting"):
        register_setting_guard("no_such_setting", lambda **kwargs: None)


# ---------------------------------------------------------------- allow_overlapping_roots


def _overlapping_roots(organization):  # type: ignore[no-untyped-def]
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    first = pool_services.pool_create(
        organization=organization, name="dc-east", cidr="10.0.0.0/16", actor=TEST_ACTOR
    )
    second = pool_services.pool_create(
        organization=organization, name="dc-west", cidr="10.0.128.0/17", actor=TEST_ACTOR
    )
    pool_services.pool_create(
        organization=organization, name="lab", cidr="192.168.0.0/16", actor=TEST_ACTOR
    )
    return first, second


def test_overlapping_roots_keep_the_setting_on(organization, owner_client):
    _, second = _overlapping_roots(organization)
    response = owner_client.patch(
        SETTINGS, {"settings": {"allow_overlapping_roots": False}}, format="json"
    )
    error = error_of(response, 409)
    assert error["code"] == "conflict"
    assert list(error["fields"]) == ["settings.allow_overlapping_roots"]
    assert '10.0.0.0/16 "dc-east"' in error["message"]
    assert '10.0.128.0/17 "dc-west"' in error["message"]
    assert "192.168.0.0/16" not in error["message"]
    organization.refresh_from_db()
    assert organization.setting("allow_overlapping_roots") is True

    # Setting it on again (no change) or changing other settings is not refused.
    organization_settings_update(
        organization=organization,
        settings={"allow_overlapping_roots": True, "audit_retention_days": 90},
    )

    pool_services.pool_delete(pool=second, actor=TEST_ACTOR)
    response = owner_client.patch(
        SETTINGS, {"settings": {"allow_overlapping_roots": False}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["settings"]["allow_overlapping_roots"] is False


def test_the_guard_runs_in_the_service_for_every_caller(organization):
    _overlapping_roots(organization)
    with pytest.raises(Conflict, match="Overlapping root pools exist"):
        organization_settings_update(
            organization=organization, settings={"allow_overlapping_roots": False}
        )


# ---------------------------------------------------------------- who may create organizations


@pytest.fixture
def staff_only(settings):  # type: ignore[no-untyped-def]
    settings.CLOUDPAM_ORGANIZATION_CREATORS = "staff"


def test_staff_only_instances_refuse_others_in_the_api(staff_only, user):
    client = APIClient()
    client.force_login(user)
    response = client.post("/api/v1/organizations/", {"name": "Shadow IT"}, format="json")
    error = error_of(response, 403)
    assert error["code"] == "permission_denied"
    assert error["message"].startswith("Only staff users may create organizations")
    assert not Organization.objects.filter(name="Shadow IT").exists()

    user.is_staff = True
    user.save()
    response = client.post("/api/v1/organizations/", {"name": "Shadow IT"}, format="json")
    assert response.status_code == 201
    assert response.json()["role"] == "owner"


def test_staff_only_instances_refuse_others_in_the_console(staff_only, user):
    client = Client()
    client.force_login(user)
    page = client.get("/organization/new/")
    assert b"Only staff users may create organizations" in page.content
    assert b'type="submit" class="primary">Create' not in page.content
    response = client.post("/organization/new/", {"name": "Shadow IT"})
    assert response.status_code == 403
    assert not Organization.objects.filter(name="Shadow IT").exists()
    tabs = client.get("/organization/settings/").content
    assert b'href="/organization/new/"' not in tabs

    user.is_staff = True
    user.save()
    assert b'href="/organization/new/"' in client.get("/organization/settings/").content


def test_the_service_enforces_the_setting_for_every_caller(staff_only, user, settings):
    with pytest.raises(PermissionDenied):
        organization_create(name="Shadow IT", creator=user)
    settings.CLOUDPAM_ORGANIZATION_CREATORS = "anyone"
    assert organization_create(name="Shadow IT", creator=user).name == "Shadow IT"


def test_the_setting_accepts_only_its_two_values(monkeypatch):
    from cloudpam.settings.base import _organization_creators

    monkeypatch.setenv("CLOUDPAM_ORGANIZATION_CREATORS", "everybody")
    with pytest.raises(ImproperlyConfigured, match="one of anyone, staff"):
        _organization_creators("staff")
    monkeypatch.delenv("CLOUDPAM_ORGANIZATION_CREATORS")
    assert _organization_creators("staff") == "staff"
