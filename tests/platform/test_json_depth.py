"""JSON nested too deeply is a 400 (API) or a form error (console, admin), never a 500."""

from __future__ import annotations

import io
import json

import pytest
from django.test import Client
from rest_framework.exceptions import ParseError

from apps.pools.models import Pool
from cloudpam.api.parsers import JSONParser
from cloudpam.forms import JSONField
from cloudpam.jsonlimits import MAX_JSON_DEPTH, JSONTooDeepError, json_depth_exceeds, load_json

pytestmark = pytest.mark.django_db


def nested(depth: int) -> str:
    """Return a JSON object ``depth`` levels deep: ``{"a": {"a": ... {}}}``."""
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


def assert_too_deep(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    assert f"deeper than {MAX_JSON_DEPTH} levels" in body["error"]["message"]
    assert body["request_id"]


def test_depth_is_counted_in_levels_of_objects_and_arrays():
    assert not json_depth_exceeds(1, limit=0)
    assert not json_depth_exceeds({"a": [1]}, limit=2)
    assert json_depth_exceeds({"a": [[]]}, limit=2)
    assert not json_depth_exceeds(json.loads(nested(MAX_JSON_DEPTH)))
    # Measured without recursion, so even a depth Python cannot serialize is measured.
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert json_depth_exceeds(deep)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_load_json_refuses_deep_documents(depth):
    with pytest.raises(JSONTooDeepError):
        load_json(nested(depth))


def test_the_parser_accepts_the_limit_and_refuses_one_more():
    parser = JSONParser()
    at_limit = parser.parse(io.BytesIO(nested(MAX_JSON_DEPTH).encode()))
    assert not json_depth_exceeds(at_limit)
    for depth in (MAX_JSON_DEPTH + 1, 5_000):
        with pytest.raises(ParseError, match="deeper than 64 levels"):
            parser.parse(io.BytesIO(nested(depth).encode()))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 50_000])
def test_deep_tags_in_the_api_are_400(owner_client, organization, depth):
    body = '{"name": "deep", "cidr": "10.0.0.0/8", "tags": ' + nested(depth) + "}"
    response = owner_client.post("/api/v1/pools/", data=body, content_type="application/json")
    assert_too_deep(response)
    assert not Pool.objects.filter(organization=organization).exists()


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000])
def test_deep_settings_in_the_api_are_400(owner_client, organization, depth):
    body = '{"settings": {"compliance": ' + nested(depth) + "}}"
    response = owner_client.patch(
        "/api/v1/organizations/acme/settings/", data=body, content_type="application/json"
    )
    assert_too_deep(response)
    organization.refresh_from_db()
    assert organization.settings == {}


def test_the_form_field_refuses_deep_documents_and_shows_them_back():
    field = JSONField()
    assert field.clean('{"a": [1, 2]}') == {"a": [1, 2]}
    for depth in (MAX_JSON_DEPTH + 1, 5_000):
        with pytest.raises(Exception, match="deeper than 64 levels") as error:
            field.clean(nested(depth))
        assert error.type.__name__ == "ValidationError"
    # Rendering the bound form again must not parse the document recursively.
    assert field.bound_data(nested(5_000), None) == nested(5_000)


def _browser(member) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(member)
    return client


def test_the_console_settings_forms_parse_no_json(organization, user):
    """The settings forms are typed field by field: a deep document posted is never parsed."""
    form = {
        "action": "settings",
        "plans_private_space": "on",
        "audit_retention_days": "365",
        "rate_limit_per_minute": "6000",
        "token_default_lifetime_days": "90",
        "token_max_lifetime_days": "365",
        "compliance": nested(5_000),
    }
    response = _browser(user).post("/organization/settings/", form)
    assert response.status_code == 302
    organization.refresh_from_db()
    assert "compliance" not in organization.settings

    response = _browser(user).post(
        "/analysis/compliance/settings/",
        {"naming_enabled": "on", "naming_severity": "info", "naming_params": nested(5_000)},
    )
    assert response.status_code == 302
    organization.refresh_from_db()
    assert organization.settings["compliance"]["NAMING"] == {"enabled": True, "severity": "info"}


def test_the_admin_takes_typed_settings_never_json(admin_client, organization):
    from tests.tenancy.test_admin import _organization_form

    # The change form has a field per setting: a JSON document posted beside them is ignored.
    response = admin_client.post(
        f"/admin/tenancy/organization/{organization.pk}/change/",
        _organization_form(organization, settings=nested(5_000), quotas="{}"),
    )
    assert response.status_code == 302
    organization.refresh_from_db()
    assert organization.settings == {}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"name": "a\\u0000b", "cidr": "10.0.0.0/16"}', "NUL character"),
        ('{"name": "a", "cidr": "10.0.0.0/16", "tags": {"k\\u0000": "v"}}', "NUL character"),
        ('{"name": "\\ud811", "cidr": "10.0.0.0/16"}', "unpaired surrogate"),
    ],
)
def test_text_no_database_can_hold_is_400_where_the_api_parses_it(
    owner_client, organization, body, reason
):
    response = owner_client.post("/api/v1/pools/", data=body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert reason in response.json()["error"]["message"]
    assert not Pool.objects.exists()


def test_a_plan_whose_operations_hold_a_nul_is_refused_before_it_is_stored(owner_client):
    body = '{"title": "t", "source": "template", "operations": [{"k\\u0000": false}]}'
    response = owner_client.post("/api/v1/plans/", data=body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "NUL character" in response.json()["error"]["message"]
