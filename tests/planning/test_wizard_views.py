"""The console wizard of SPEC 7.1: steps, live preview, create plan, save template, per role."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.planning.models import OrganizationTemplate, Plan
from apps.planning.template_services import org_template_create
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db

WIZARD = "/plans/wizard/"
PREVIEW = "/plans/wizard/preview/"

FLAT_FORM = {
    "template": "flat",
    "supernet": "10.20.0.0/16",
    "tiers": "office /24 x3",
    "provider": "onprem",
    "headroom": "0",
    "naming": "subnet: office-{index}",
    "status": "planned",
}
REGIONAL_FORM = {
    "template": "regional",
    "supernet": "10.0.0.0/8",
    "regions": "us-east-1, eu-west-1",
    "environments": "prod, staging, dev",
    "vpcs": "1",
    "tiers": "public /24 x2\nprivate 4000 hosts x2",
    "provider": "aws",
    "headroom": "25",
    "status": "planned",
}


@pytest.fixture
def console(organization, make_member):
    def make(role: str) -> Client:
        client = Client()
        client.force_login(make_member(organization, role))
        return client

    return make


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_every_role_sees_the_wizard_with_the_buttons_it_may_use(console, role):
    client = console(role)
    response = client.get(f"{WIZARD}?template=regional")
    assert response.status_code == 200
    html = response.content.decode()
    assert "1. Template" in html
    assert "2. Supernet" in html
    assert "3. Regions and sites" in html
    assert "6. Naming, headroom and IPv6" in html
    assert "51 pools" in html  # the example's live preview
    writer = role in (Role.OWNER, Role.ADMIN, Role.OPERATOR)
    assert ("Create plan" in html) is writer
    assert ("Save as organization template" in html) is writer
    assert client.get("/plans/templates/").status_code == 200


def test_the_steps_follow_the_template(console):
    operator = console(Role.OPERATOR)
    html = operator.get(f"{WIZARD}?template=hybrid").content.decode()
    assert "On-premises sites" in html
    assert "Transit block size" in html
    assert "Business units" not in html
    assert operator.get(f"{WIZARD}?template=mesh").status_code == 404


def test_the_live_preview_shows_counts_tree_and_map(console):
    response = console(Role.VIEWER).post(PREVIEW, FLAT_FORM)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>4 pools</strong>" in html
    assert "10.20.2.0/24  office-3 [subnet]" in html
    assert "[+" + "." * 63 + "]" in html  # three /24s share the first 64th of a /16
    assert not Plan.objects.exists()


def test_the_live_preview_shows_what_does_not_fit(console):
    viewer = console(Role.VIEWER)
    text = viewer.post(PREVIEW, {**REGIONAL_FORM, "supernet": "10.0.0.0/16"}).content.decode()
    assert "params.supernet" in text
    assert "The plan needs a /13 with 25% headroom, the supernet 10.0.0.0/16 is a /16" in text
    bad = viewer.post(PREVIEW, {**REGIONAL_FORM, "naming": "subnet: {zone}"})
    assert "Unknown placeholder {zone}" in bad.content.decode()


def test_an_operator_creates_the_plan_and_lands_on_it(console):
    response = console(Role.OPERATOR).post(WIZARD, {**REGIONAL_FORM, "action": "generate"})
    assert response.status_code == 302
    plan = Plan.objects.get()
    assert plan.source == "template"
    assert plan.operation_count == 1 + 2 + 6 + 6 + 24
    assert plan.source_detail["params"]["regions"] == ["us-east-1", "eu-west-1"]


def test_an_impossible_request_stays_on_the_form_with_the_reason(console):
    response = console(Role.OPERATOR).post(
        WIZARD, {**REGIONAL_FORM, "supernet": "10.0.0.0/16", "action": "generate"}
    )
    assert response.status_code == 400
    assert "is a /16: 8 times too small" in response.content.decode()
    assert not Plan.objects.exists()


def test_saving_and_updating_an_organization_template(console, organization):
    operator = console(Role.OPERATOR)
    response = operator.post(WIZARD, {**FLAT_FORM, "action": "save", "template_name": "Offices"})
    assert response.status_code == 302
    saved = OrganizationTemplate.objects.get()
    assert response["Location"] == f"{WIZARD}?template={saved.key}"
    assert (saved.name, saved.template, saved.naming) == (
        "Offices",
        "flat",
        {"subnet": "office-{index}"},
    )
    assert saved.params["tiers"] == [{"name": "office", "prefix_length": 24, "count": 3}]
    html = operator.get(response["Location"]).content.decode()
    assert 'value="Offices"' not in html  # the name field stays empty for a new save
    assert "Update Offices" in html
    response = operator.post(
        WIZARD, {**FLAT_FORM, "template": saved.key, "tiers": "office /25 x5", "action": "update"}
    )
    assert response.status_code == 302
    saved.refresh_from_db()
    assert saved.params["tiers"] == [{"name": "office", "prefix_length": 25, "count": 5}]
    response = operator.post(WIZARD, {**FLAT_FORM, "template": saved.key, "action": "generate"})
    assert response.status_code == 302
    assert Plan.objects.get().source_detail["organization_template"] == saved.pk


def test_saving_without_a_name_shows_the_error(console):
    response = console(Role.OPERATOR).post(WIZARD, {**FLAT_FORM, "action": "save"})
    assert response.status_code == 400
    assert "This field may not be blank." in response.content.decode()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.AUDITOR])
def test_readers_cannot_create_plans_or_save_templates(console, role, organization):
    client = console(role)
    assert client.post(WIZARD, {**FLAT_FORM, "action": "generate"}).status_code == 403
    assert (
        client.post(WIZARD, {**FLAT_FORM, "action": "save", "template_name": "x"}).status_code
        == 403
    )
    saved = org_template_create(
        organization=organization,
        actor=TEST_ACTOR,
        name="Keep",
        template="flat",
        params={"supernet": "10.0.0.0/16", "tiers": [{"name": "a", "prefix_length": 24}]},
    )
    assert client.post(f"/plans/templates/{saved.key}/delete/").status_code == 403
    assert not Plan.objects.exists()
    assert OrganizationTemplate.objects.filter(pk=saved.pk).exists()


def test_an_operator_deletes_a_saved_template_after_confirming(console, organization):
    saved = org_template_create(
        organization=organization,
        actor=TEST_ACTOR,
        name="Old",
        template="flat",
        params={"supernet": "10.0.0.0/16", "tiers": [{"name": "a", "prefix_length": 24}]},
    )
    operator = console(Role.OPERATOR)
    assert (
        "Delete the template Old?"
        in operator.get(f"/plans/templates/{saved.key}/delete/").content.decode()
    )
    assert operator.post(f"/plans/templates/{saved.key}/delete/").status_code == 302
    assert not OrganizationTemplate.objects.exists()
    assert operator.get("/plans/templates/regional/delete/").status_code == 404


def test_another_organizations_template_is_not_found(console, other_organization):
    other = org_template_create(
        organization=other_organization,
        actor=TEST_ACTOR,
        name="Theirs",
        template="flat",
        params={"supernet": "10.0.0.0/16", "tiers": [{"name": "a", "prefix_length": 24}]},
    )
    operator = console(Role.OPERATOR)
    assert operator.get(f"{WIZARD}?template={other.key}").status_code == 404
    assert operator.post(f"/plans/templates/{other.key}/delete/").status_code == 404
    assert "Theirs" not in operator.get("/plans/templates/").content.decode()
