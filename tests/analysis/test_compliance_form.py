"""The compliance settings form: typed fields, the engine's schema, errors on their fields."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from apps.tenancy.choices import Role

pytestmark = pytest.mark.django_db

URL = "/analysis/compliance/settings/"
EDITORS = {Role.OWNER, Role.ADMIN}


def signed_in(organization, make_member, role: str) -> Client:
    client = Client()
    client.force_login(make_member(organization, role, email=f"{role}@example.com"))
    return client


def form_data(response) -> dict[str, Any]:
    """Return the POST data that submits the page's form unchanged."""
    data: dict[str, Any] = {}
    for field in response.context["form"]:
        value = field.value()
        checkbox = getattr(field.field.widget, "input_type", "") == "checkbox"
        if checkbox and not isinstance(value, list):
            if value:
                data[field.html_name] = "on"
        elif value is not None:
            data[field.html_name] = value
    return data


def errors_of(response) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context["form"].errors.items()}


def test_the_page_has_typed_fields_and_no_json_box(organization, make_member):
    html = signed_in(organization, make_member, Role.OWNER).get(URL).content.decode()
    assert "JSON" not in html
    assert 'name="over_utilized_threshold"' in html
    assert 'type="number"' in html
    assert 'name="prefix_bounds_bounds_vpc_ipv4_min"' in html
    assert 'value="16"' in html  # the AWS default bound shows as a number
    # Every control has a label.
    for control_id in re.findall(r'<(?:input|select|textarea)[^>]* id="([^"]+)"', html):
        if control_id.startswith("id_") and "csrf" not in control_id:
            assert f'for="{control_id}"' in html or "<legend>" in html, control_id


def test_saving_typed_values_stores_only_what_differs_from_the_defaults(organization, make_member):
    client = signed_in(organization, make_member, Role.OWNER)
    data = form_data(client.get(URL))
    data.update(
        {
            "over_utilized_threshold": "90",
            "over_utilized_severity": "error",
            "required_tags_keys": "owner, team",
            "required_tags_types": ["vpc", "subnet"],
            "special_purpose_categories": ["loopback", "multicast"],
            "prefix_bounds_bounds_vpc_ipv4_min": "20",
            "prefix_bounds_bounds_subnet_ipv6_min": "",
            "prefix_bounds_bounds_subnet_ipv6_max": "",
            "naming_patterns_vpc": "vpc-[a-z0-9-]+",
            "public_space_allowed": "100.64.0.0/10\n192.0.2.0/24",
            "empty_pool_min_age_days": "45",
        }
    )
    data.pop("overlap_roots", None)
    response = client.post(URL, data)
    assert response.status_code == 302, errors_of(response)
    organization.refresh_from_db()
    stored = organization.settings["compliance"]
    assert stored["OVER_UTILIZED"] == {
        "enabled": True,
        "severity": "error",
        "params": {"threshold": 90},
    }
    assert stored["REQUIRED_TAGS"]["params"] == {
        "keys": ["owner", "team"],
        "types": ["vpc", "subnet"],
    }
    assert stored["SPECIAL_PURPOSE"]["params"] == {"categories": ["loopback", "multicast"]}
    assert stored["PREFIX_BOUNDS"]["params"] == {
        "bounds": {"vpc": {"ipv4": [20, 28], "ipv6": [44, 60]}, "subnet": {"ipv4": [16, 29]}}
    }
    assert stored["NAMING"]["params"] == {"patterns": {"vpc": "vpc-[a-z0-9-]+"}}
    assert stored["PUBLIC_SPACE"]["params"] == {"allowed": ["100.64.0.0/10", "192.0.2.0/24"]}
    assert stored["EMPTY_POOL"]["params"] == {"min_age_days": 45}
    assert stored["OVERLAP"]["params"] == {"roots": False}
    assert "params" not in stored["DEPRECATED_IN_USE"]

    # Shown back as typed, and saved again unchanged.
    page = client.get(URL)
    html = page.content.decode()
    assert 'name="over_utilized_threshold" value="90"' in html
    assert "vpc-[a-z0-9-]+" in html
    assert client.post(URL, form_data(page)).status_code == 302
    organization.refresh_from_db()
    assert organization.settings["compliance"] == stored


def test_a_bound_removed_for_a_default_type_is_stored_as_none(organization, make_member):
    client = signed_in(organization, make_member, Role.OWNER)
    data = form_data(client.get(URL))
    for family in ("ipv4", "ipv6"):
        for end in ("min", "max"):
            data[f"prefix_bounds_bounds_subnet_{family}_{end}"] = ""
    assert client.post(URL, data).status_code == 302
    organization.refresh_from_db()
    assert organization.settings["compliance"]["PREFIX_BOUNDS"]["params"] == {
        "bounds": {"subnet": None}
    }


@pytest.mark.parametrize(
    ("field", "value", "shown_on", "message"),
    [
        ("over_utilized_threshold", "0", None, "params.threshold: must be a number between 0"),
        ("over_utilized_threshold", "lots", None, "Enter a number."),
        ("empty_pool_min_age_days", "-1", None, "params.min_age_days: must be a whole number"),
        ("naming_patterns_vpc", "(a", None, "params.patterns: vpc: '(a' is not a regular"),
        ("naming_patterns_any", "(?=x)", None, "params.patterns: *: '(?=x)' is not a regular"),
        ("public_space_allowed", "10.0.0.0/33", None, "params.allowed:"),
        ("prefix_bounds_bounds_vpc_ipv4_min", "30", None, "params.bounds: vpc.ipv4: expected"),
        ("prefix_bounds_bounds_vpc_ipv4_max", "33", None, "Ensure this value is less than"),
        # The engine judges a [min, max] pair; its message sits on the pair's first box.
        (
            "prefix_bounds_bounds_region_ipv6_max",
            "48",
            "prefix_bounds_bounds_region_ipv6_min",
            "params.bounds: region.ipv6: expected",
        ),
        ("overlap_severity", "fatal", None, "Select a valid choice."),
        ("required_tags_types", ["router"], None, "Select a valid choice."),
    ],
)
def test_each_invalid_value_shows_its_error_on_its_field(
    organization, make_member, field, value, shown_on, message
):
    client = signed_in(organization, make_member, Role.ADMIN)
    data = form_data(client.get(URL))
    data[field] = value
    response = client.post(URL, data)
    assert response.status_code == 200
    errors = errors_of(response)
    shown_on = shown_on or field
    assert list(errors) == [shown_on], errors
    assert any(text.startswith(message) for text in errors[shown_on]), errors
    html = response.content.decode()
    # The message is rendered inside the field's own block, after its control.
    block = html[html.index(f'id="id_{shown_on}"') :]
    assert 'class="errorlist"' in block[: block.index('<div class="field')]
    organization.refresh_from_db()
    assert "compliance" not in (organization.settings or {})


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_the_form_and_only_admins_save_it(organization, make_member, role):
    client = signed_in(organization, make_member, role)
    page = client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    data = form_data(page)
    data["over_utilized_threshold"] = "85"
    response = client.post(URL, data)
    organization.refresh_from_db()
    if role in EDITORS:
        assert "Save settings" in html
        assert response.status_code == 302
        assert organization.settings["compliance"]["OVER_UTILIZED"]["params"] == {"threshold": 85}
    else:
        assert "Only administrators can change these settings." in html
        assert response.status_code == 403
        assert "compliance" not in (organization.settings or {})
