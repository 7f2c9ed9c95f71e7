"""The admin of saved wizard templates: writes through the template services, per role."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.planning.models import OrganizationTemplate
from apps.planning.template_services import org_template_create
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db

LIST = "/admin/planning/organizationtemplate/"
PARAMS = {"supernet": "10.20.0.0/16", "tiers": [{"name": "s", "prefix_length": 24}]}


@pytest.fixture
def staff(organization, make_member):
    def make(role: str) -> Client:
        member = make_member(organization, role)
        member.is_staff = True
        member.save(update_fields=["is_staff"])
        client = Client()
        client.force_login(member)
        return client

    return make


def form(organization, **overrides):
    data = {
        "organization": organization.pk,
        "name": "Offices",
        "template": "flat",
        "description": "",
        "params": json.dumps(PARAMS),
        "naming": json.dumps({"subnet": "office-{index}"}),
    }
    data.update(overrides)
    return data


def test_an_operator_adds_a_template_checked_by_the_generator(staff, organization):
    client = staff(Role.OPERATOR)
    response = client.post(f"{LIST}add/", form(organization))
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = OrganizationTemplate.objects.get()
    assert (saved.name, saved.naming, saved.version) == ("Offices", {"subnet": "office-{index}"}, 1)
    assert saved.params["tiers"] == [{"name": "s", "prefix_length": 24, "count": 1}]
    assert AuditEvent.objects.filter(action="create", object_type="organizationtemplate").exists()


def test_bad_parameters_are_form_errors_and_nothing_is_saved(staff, organization):
    client = staff(Role.OPERATOR)
    response = client.post(
        f"{LIST}add/", form(organization, params=json.dumps({**PARAMS, "supernet": "10.0.0.1/16"}))
    )
    assert response.status_code == 200
    assert "params.supernet: 10.0.0.1/16 has host bits set; did you mean 10.0.0.0/16?" in (
        response.content.decode()
    )
    assert not OrganizationTemplate.objects.exists()


def test_changing_and_deleting_go_through_the_services(staff, organization):
    saved = org_template_create(
        organization=organization, actor=TEST_ACTOR, name="Old", template="flat", params=PARAMS
    )
    client = staff(Role.ADMIN)
    # A saved template's parameters are shown formatted, not edited as JSON.
    page = client.get(f"{LIST}{saved.pk}/change/").content.decode()
    assert "&quot;supernet&quot;: &quot;10.20.0.0/16&quot;" in page
    assert 'name="params"' not in page
    response = client.post(f"{LIST}{saved.pk}/change/", {"name": "New", "description": "d"})
    assert response.status_code == 302
    saved.refresh_from_db()
    assert (saved.name, saved.description, saved.params["supernet"]) == ("New", "d", "10.20.0.0/16")
    response = client.post(f"{LIST}{saved.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not OrganizationTemplate.objects.exists()
    assert AuditEvent.objects.filter(action="delete", object_type="organizationtemplate").exists()


def test_a_viewer_may_only_look(staff, organization):
    saved = org_template_create(
        organization=organization, actor=TEST_ACTOR, name="Look", template="flat", params=PARAMS
    )
    client = staff(Role.VIEWER)
    assert client.get(LIST).status_code == 200
    assert client.post(f"{LIST}add/", form(organization)).status_code == 403
    assert client.post(f"{LIST}{saved.pk}/delete/", {"post": "yes"}).status_code == 403
    assert OrganizationTemplate.objects.count() == 1
