"""The template API of SPEC 7.1: list, saved templates, preview and generate."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.planning.models import OrganizationTemplate, Plan
from apps.planning.template_services import org_template_create
from apps.pools.services import pool_create
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db

LIST = "/api/v1/plans/templates/"
FLAT = {"supernet": "10.20.0.0/16", "tiers": [{"name": "net", "prefix_length": 24, "count": 4}]}


@pytest.fixture
def operator(organization, client_for):
    return client_for(organization, Role.OPERATOR)


@pytest.fixture
def viewer(organization, client_for):
    return client_for(organization, Role.VIEWER)


def error_of(response):
    return response.json()["error"]


def saved(organization, name="Branch offices", **params):
    return org_template_create(
        organization=organization,
        actor=TEST_ACTOR,
        name=name,
        template="flat",
        params={**FLAT, **params},
        naming={"subnet": "office-{index}"},
    )


def test_the_list_shows_the_built_ins_then_the_saved_templates(viewer, organization):
    saved(organization)
    body = viewer.get(LIST).json()
    assert body["count"] == 6
    keys = [entry["key"] for entry in body["results"]]
    assert keys[:5] == ["regional", "hierarchical", "flat", "cloud_native", "hybrid"]
    entry = body["results"][5]
    assert entry["key"].startswith("org-")
    assert (entry["name"], entry["template"], entry["builtin"], entry["version"]) == (
        "Branch offices",
        "flat",
        False,
        1,
    )
    assert entry["naming"] == {"subnet": "office-{index}"}
    regional = body["results"][0]
    assert regional["levels"] == ["region", "environment", "vpc", "subnet"]
    assert regional["params"]["regions"] == ["us-east-1", "eu-west-1"]
    assert regional["id"] is None


def test_an_operator_saves_changes_and_deletes_a_template(operator, organization):
    response = operator.post(
        LIST,
        {"name": "Offices", "template": "flat", "params": FLAT, "naming": {"subnet": "o-{index}"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    key = response.json()["key"]
    template = OrganizationTemplate.objects.get(pk=response.json()["id"])
    assert template.params["supernet"] == "10.20.0.0/16"
    assert template.params["tiers"] == [{"name": "net", "prefix_length": 24, "count": 4}]
    assert AuditEvent.objects.filter(action="create", object_type="organizationtemplate").exists()

    response = operator.patch(f"{LIST}{key}/", {"name": "Shops"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Shops"
    assert AuditEvent.objects.filter(action="update", object_type="organizationtemplate").exists()

    assert operator.delete(f"{LIST}{key}/").status_code == 204
    assert not OrganizationTemplate.objects.filter(pk=template.pk).exists()
    assert AuditEvent.objects.filter(action="delete", object_type="organizationtemplate").exists()


def test_bad_parameters_answer_400_naming_the_field(operator):
    response = operator.post(
        LIST,
        {
            "name": "Bad",
            "template": "regional",
            "params": {
                "supernet": "10.0.0.1/8",
                "regions": ["a"],
                "environments": ["p"],
                "tiers": [{"name": "t", "prefix_length": 24}],
            },
            "naming": {"subnet": "{zone}"},
        },
        format="json",
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert error["fields"] == {
        "params.supernet": ["10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"],
        "params.naming.subnet": [
            "Unknown placeholder {zone}; the placeholders are {region}, {env}, {tier}, {unit}, "
            "{site}, {provider}, {account}, {index}."
        ],
    }
    assert not OrganizationTemplate.objects.exists()


def test_a_duplicate_name_is_a_conflict(operator, organization):
    saved(organization, name="Offices")
    response = operator.post(
        LIST, {"name": "Offices", "template": "flat", "params": FLAT}, format="json"
    )
    assert response.status_code == 409
    assert error_of(response)["fields"] == {"name": ["A template named 'Offices' already exists."]}


def test_a_built_in_template_cannot_be_changed(operator):
    response = operator.patch(f"{LIST}regional/", {"name": "x"}, format="json")
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "A built-in template cannot be changed; save your own from it."
    )
    assert operator.get(f"{LIST}mesh/").status_code == 404
    assert error_of(operator.get(f"{LIST}org-999999/"))["code"] == "not_found"


def test_another_organizations_template_is_not_found(operator, other_organization):
    other = saved(other_organization)
    for response in (
        operator.get(f"{LIST}{other.key}/"),
        operator.post(f"{LIST}{other.key}/generate/", {}, format="json"),
        operator.delete(f"{LIST}{other.key}/"),
    ):
        assert response.status_code == 404
    assert OrganizationTemplate.objects.filter(pk=other.pk).exists()


def test_the_preview_writes_nothing(viewer):
    response = viewer.post(
        f"{LIST}flat/preview/",
        {"params": {**FLAT, "tiers": [{"name": "s", "prefix_length": 24, "count": 2}]}},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["counts"] == {"supernet": 1, "subnet": 2}
    assert body["tree"] == (
        "10.20.0.0/16  Flat 10.20.0.0/16 [supernet]\n"
        "├── 10.20.0.0/24  s-1 [subnet]\n"
        "└── 10.20.1.0/24  s-2 [subnet]"
    )
    assert body["used_percent"] == "0.78"
    assert not Plan.objects.exists()


def test_generate_stores_a_template_plan(operator, organization):
    template = saved(organization)
    response = operator.post(
        f"{LIST}{template.key}/generate/", {"params": {"headroom": 50}}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    plan = Plan.objects.get(pk=body["id"])
    assert plan.source == "template"
    assert plan.title == "Branch offices: 10.20.0.0/16"
    assert plan.status == body["status"] == "valid"
    assert body["preview"]["counts"] == {"added": 5, "changed": 0, "removed": 0}
    assert body["operation_count"] == len(body["operations"]) == 5
    assert [op["name"] for op in plan.operations] == [
        "Flat 10.20.0.0/16",
        "office-1",
        "office-2",
        "office-3",
        "office-4",
    ]
    assert plan.source_detail["organization_template"] == template.pk
    assert plan.source_detail["params"]["headroom"] == 50
    assert plan.source_detail["template_version"] == 1


def test_generate_takes_the_first_free_block_of_a_pool(operator, organization):
    pool = pool_create(organization=organization, actor=TEST_ACTOR, name="corp", cidr="10.0.0.0/8")
    pool_create(
        organization=organization, actor=TEST_ACTOR, name="used", cidr="10.0.0.0/16", parent=pool
    )
    response = operator.post(
        f"{LIST}flat/generate/",
        {
            "params": {
                **FLAT,
                "supernet": None,
                "supernet_pool": pool.pk,
                "supernet_prefix_length": 16,
            }
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    plan = Plan.objects.get(pk=response.json()["id"])
    assert (plan.operations[0]["cidr"], plan.operations[0]["parent"]) == ("10.1.0.0/16", pool.pk)


def test_a_pool_without_room_names_its_largest_free_block(operator, organization):
    pool = pool_create(
        organization=organization, actor=TEST_ACTOR, name="small", cidr="10.0.0.0/16"
    )
    response = operator.post(
        f"{LIST}flat/generate/",
        {"params": {"supernet_pool": pool.pk, "supernet_prefix_length": 15}},
        format="json",
    )
    assert response.status_code == 400
    assert error_of(response)["fields"] == {
        "params.supernet_prefix_length": [
            "10.0.0.0/16 has room for prefix lengths 17 to 32, not 15."
        ]
    }


def test_an_impossible_plan_names_what_does_not_fit(operator):
    response = operator.post(
        f"{LIST}regional/generate/", {"params": {"supernet": "10.0.0.0/16"}}, format="json"
    )
    assert response.status_code == 400
    assert error_of(response)["fields"] == {
        "params.supernet": [
            "The plan needs a /13 with 25% headroom, the supernet 10.0.0.0/16 is a /16: 8 times "
            "too small (its largest block, the region us-east-1, is a /15)."
        ]
    }
    assert not Plan.objects.exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.AUDITOR])
def test_readers_cannot_save_or_generate(role, organization, client_for):
    client = client_for(organization, role)
    assert client.get(LIST).status_code == 200
    response = client.post(LIST, {"name": "x", "template": "flat", "params": FLAT}, format="json")
    assert response.status_code == 403
    assert "templates.manage" in error_of(response)["message"]
    response = client.post(f"{LIST}flat/generate/", {}, format="json")
    assert response.status_code == 403
    assert "plans.change" in error_of(response)["message"]
