"""The plan API: create, read, validate, apply, discard, roll back, compare, export."""

from __future__ import annotations

import json

import pytest
import yaml

from apps.planning.models import Plan
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from tests.planning.conftest import create

pytestmark = pytest.mark.django_db

URL = "/api/v1/plans/"


@pytest.fixture
def operator(organization, client_for):
    return client_for(organization, Role.OPERATOR)


@pytest.fixture
def root(make_pool):
    return make_pool("10.0.0.0/16", name="corp", type="supernet")


def test_create_validates_and_previews(operator, root) -> None:
    response = operator.post(
        URL,
        {"title": "Two subnets", "operations": [create("a", "10.0.1.0/24", root.pk)]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["source"], body["operation_count"]) == ("valid", "ai", 1)
    assert body["preview"]["counts"] == {"added": 1, "changed": 0, "removed": 0}
    assert body["created_by"]["email"] == operator.user.email
    assert not Pool.objects.filter(cidr="10.0.1.0/24").exists()


def test_create_refuses_bad_bodies_with_the_error_schema(operator) -> None:
    response = operator.post(URL, {"title": "x", "operations": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["fields"] == {
        "operations": ['Expected a list of items but got type "str".']
    }
    assert not Plan.objects.exists()


def test_an_invalid_plan_is_stored_with_errors_per_operation(operator, root) -> None:
    response = operator.post(
        URL,
        {"title": "bad", "operations": [create("a", "10.0.1.1/24", root.pk)]},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "invalid"
    (error,) = body["validation"]["errors"]
    assert (error["index"], error["ref"], error["code"], error["field"]) == (
        0,
        "a",
        "validation_error",
        "cidr",
    )


def test_list_filters_by_source_status_and_author(operator, owner_client, make_plan) -> None:
    make_plan([], source="template", title="t")
    make_plan([], source="import", title="i")
    response = operator.get(URL, {"source": "import"})
    assert [plan["title"] for plan in response.json()["results"]] == ["i"]
    assert operator.get(URL, {"status": "applied"}).json()["count"] == 0
    assert operator.get(URL, {"created_by": operator.user.pk}).json()["count"] == 0
    bad = operator.get(URL, {"status": ""})
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {"status": ["This field may not be blank."]}


def test_apply_then_rollback_through_the_api(operator, root, make_plan) -> None:
    plan = make_plan([create("a", "10.0.1.0/24", root.pk)])
    response = operator.post(f"{URL}{plan.pk}/apply/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "applied"
    assert response.json()["applied_by"]["email"] == operator.user.email
    (pk,) = response.json()["created_pool_ids"]
    assert Pool.objects.get(pk=pk).cidr == "10.0.1.0/24"
    again = operator.post(f"{URL}{plan.pk}/apply/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    response = operator.post(f"{URL}{plan.pk}/rollback/")
    assert response.status_code == 200
    assert response.json()["status"] == "rolled_back"
    assert Pool.objects.get(pk=pk).deleted_at is not None


def test_apply_of_a_plan_no_longer_valid_is_409_naming_the_operations(
    operator, root, make_pool, make_plan
) -> None:
    plan = make_plan([create("a", "10.0.1.0/24", root.pk)])
    make_pool("10.0.0.0/23", parent=root, name="meanwhile")
    response = operator.post(f"{URL}{plan.pk}/apply/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert list(error["fields"]) == ["a"]
    assert error["fields"]["a"][0].startswith("overlap: 10.0.1.0/24 overlaps 10.0.0.0/23")
    assert not Pool.objects.filter(cidr="10.0.1.0/24").exists()


def test_rollback_blocked_names_the_blocker(operator, root, make_pool, make_plan) -> None:
    plan = make_plan([create("a", "10.0.16.0/20", root.pk)])
    operator.post(f"{URL}{plan.pk}/apply/")
    plan.refresh_from_db()
    vpc = Pool.objects.get(pk=plan.created_pool_ids[0])
    later = make_pool("10.0.16.0/24", parent=vpc, name="later")
    response = operator.post(f"{URL}{plan.pk}/rollback/")
    assert response.status_code == 409
    assert response.json()["error"]["fields"]["blockers"] == [
        f'10.0.16.0/24 "later" (pool {later.pk}) was added under 10.0.16.0/20 "a" '
        f"(pool {vpc.pk}) after the plan was applied."
    ]


def test_viewers_read_but_cannot_change_or_apply(organization, client_for, make_plan) -> None:
    viewer = client_for(organization, Role.VIEWER)
    plan = make_plan([])
    assert viewer.get(f"{URL}{plan.pk}/").status_code == 200
    for action in ("validate", "apply", "discard", "rollback"):
        response = viewer.post(f"{URL}{plan.pk}/{action}/")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_another_organizations_plan_is_404(operator, other_organization, make_plan) -> None:
    plan = make_plan([], organization=other_organization)
    response = operator.get(f"{URL}{plan.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert operator.get(f"{URL}compare/", {"a": plan.pk, "b": "current"}).status_code == 404


def test_compare_two_plans_and_current(operator, root, make_plan) -> None:
    small = make_plan([create("a", "10.0.1.0/24", root.pk)])
    big = make_plan([create("a", "10.0.128.0/17", root.pk), create("b", "10.0.64.0/18", root.pk)])
    operator.post(f"{URL}{small.pk}/validate/")
    operator.post(f"{URL}{big.pk}/validate/")
    body = operator.get(f"{URL}compare/", {"a": small.pk, "b": big.pk}).json()
    assert (body["a"]["addresses_added"], body["b"]["addresses_added"]) == ("256", "49152")
    assert body["b"]["risk_level"] == "medium"
    assert body["b"]["findings"] == {"TAKES_HALF_FREE": 1}
    (line,) = body["parents"]
    assert line["cidr"] == "10.0.0.0/16"
    assert (line["a"]["after_percent"], line["b"]["after_percent"]) == (0.39, 75.0)
    current = operator.get(f"{URL}compare/", {"a": small.pk, "b": "current"}).json()
    assert current["parents"][0]["b"] == {
        "after_percent": 0.0,
        "free_after": "65536",
        "largest_free_after": None,
    }
    bad = operator.get(f"{URL}compare/", {"a": small.pk, "b": "latest"})
    assert bad.status_code == 400


def test_export_json_yaml_and_csv(operator, root, make_plan) -> None:
    operations = [create("a", "10.0.1.0/24", root.pk, description="=cmd()")]
    plan = make_plan(operations, title="Export me")
    as_json = operator.get(f"{URL}{plan.pk}/export/", {"format": "json"})
    assert json.loads(as_json.content) == {
        "title": "Export me",
        "source": "ai",
        "operations": operations,
    }
    as_yaml = operator.get(f"{URL}{plan.pk}/export/", {"format": "yaml"})
    assert yaml.safe_load(as_yaml.content)["operations"] == operations
    as_csv = operator.get(f"{URL}{plan.pk}/export/", {"format": "csv"})
    lines = as_csv.content.decode().splitlines()
    assert lines[0].startswith("op,ref,name,cidr")
    assert "'=cmd()" in lines[1]
    assert operator.get(f"{URL}{plan.pk}/export/", {"format": "pdf"}).status_code == 400
