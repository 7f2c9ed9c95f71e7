"""The drift API: list, filters, summary, apply and ignore, with their errors."""

from __future__ import annotations

from typing import Any

import pytest

from apps.discovery.models import DriftFinding
from apps.discovery.reconciliation import resources_reconcile
from apps.pools.models import Pool
from apps.pools.services import pool_create
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.discovery import factories
from tests.discovery.test_reconciliation import make_account

pytestmark = pytest.mark.django_db

LIST = "/api/v1/discovery/drift/"


@pytest.fixture
def estate(organization: Any) -> dict[str, Any]:
    account = make_account(organization)
    root = pool_create(organization=organization, name="corp", cidr="10.0.0.0/8", actor=TEST_ACTOR)
    vpc = pool_create(
        organization=organization, name="prod", cidr="10.1.0.0/16", parent=root, actor=TEST_ACTOR
    )
    other = pool_create(
        organization=organization, name="stage", cidr="10.2.0.0/16", parent=root, actor=TEST_ACTOR
    )
    subnet = factories.resource(
        account, "10.1.5.0/24", "subnet-5", resource_type="subnet", network_id="vpc-1", name="web"
    )
    stage = factories.resource(account, "10.2.5.0/24", "subnet-6", network_id="vpc-2")
    outside = factories.resource(account, "192.168.0.0/16", "vpc-9", network_id="vpc-9")
    resources_reconcile(organization=organization, actor=TEST_ACTOR)
    return {
        "account": account,
        "root": root,
        "vpc": vpc,
        "other": other,
        "subnet": subnet,
        "stage": stage,
        "outside": outside,
    }


def finding(**filters: Any) -> DriftFinding:
    return DriftFinding.objects.get(**filters)


def test_list_most_severe_first_with_the_rows(owner_client, estate, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        response = owner_client.get(LIST)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [row["kind"] for row in body["results"]] == ["outside", "unmanaged", "unmanaged"]
    row = next(row for row in body["results"] if row["resource"]["id"] == estate["subnet"].pk)
    assert row["severity"] == "info"
    assert row["status"] == "open"
    assert row["account"] == estate["account"].pk
    assert row["pool"] == {"id": estate["vpc"].pk, "cidr": "10.1.0.0/16", "name": "prod"}
    assert row["resource"] == {
        "id": estate["subnet"].pk,
        "cidr": "10.1.5.0/24",
        "resource_type": "subnet",
        "resource_id": "subnet-5",
        "name": "web",
        "state": "present",
    }
    assert row["suggestion"]["action"] == "import_as_pool"
    assert row["message"] == (
        "subnet subnet-5 'web' (10.1.5.0/24) is in the cloud but not planned: "
        f"it lies in pool {estate['vpc'].pk}."
    )


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("kind=outside", 1),
        ("kind=unmanaged", 2),
        ("severity=warning", 1),
        ("status=open", 3),
        ("status=ignored", 0),
    ],
)
def test_filters(owner_client, estate, query: str, count: int) -> None:
    response = owner_client.get(f"{LIST}?{query}")
    assert response.status_code == 200
    assert response.json()["count"] == count


def test_filter_by_account_and_pool_subtree(owner_client, estate) -> None:
    assert owner_client.get(f"{LIST}?account={estate['account'].pk}").json()["count"] == 3
    assert owner_client.get(f"{LIST}?account=999999").json()["count"] == 0
    by_vpc = owner_client.get(f"{LIST}?pool={estate['vpc'].pk}").json()
    assert [row["resource"]["id"] for row in by_vpc["results"]] == [estate["subnet"].pk]
    assert owner_client.get(f"{LIST}?pool={estate['root'].pk}").json()["count"] == 2
    assert owner_client.get(f"{LIST}?pool=999999").json()["count"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [("kind=bogus", "kind"), ("kind=", "kind"), ("pool=1.5", "pool"), ("account=x", "account")],
)
def test_bad_filters_are_400(owner_client, estate, query: str, field: str) -> None:
    response = owner_client.get(f"{LIST}?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    assert field in body["error"]["fields"]


def test_summary(owner_client, estate) -> None:
    response = owner_client.get(f"{LIST}summary/")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert body["by_kind"]["unmanaged"] == 2
    assert body["by_kind"]["outside"] == 1
    assert body["by_severity"] == {"error": 0, "warning": 1, "info": 2}
    assert body["accounts"] == [
        {
            "account": estate["account"].pk,
            "name": "prod",
            "provider": "aws",
            "total": 3,
            "by_kind": body["by_kind"],
        }
    ]


def test_apply_imports_the_pool(organization, client_for, estate) -> None:
    client = client_for(organization, Role.OPERATOR)
    target = finding(resource=estate["subnet"])
    response = client.post(f"{LIST}{target.pk}/apply/")
    assert response.status_code == 200, response.json()
    body = response.json()
    pool = Pool.objects.get(cidr="10.1.5.0/24")
    assert body["status"] == "applied"
    assert body["applied_by"] == client.user.email
    assert body["result"] == {"action": "import_as_pool", "pool": pool.pk}
    assert pool.parent_id == estate["vpc"].pk


def test_apply_when_no_longer_possible_is_409(owner_client, organization, estate) -> None:
    target = finding(resource=estate["subnet"])
    pool_create(
        organization=organization,
        name="taken",
        cidr="10.1.5.0/25",
        parent=estate["vpc"],
        actor=TEST_ACTOR,
    )
    pools = Pool.objects.count()
    response = owner_client.post(f"{LIST}{target.pk}/apply/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert error["message"].startswith("The suggestion no longer applies: the plan refuses it")
    assert Pool.objects.count() == pools
    assert finding(pk=target.pk).status == "open"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.AUDITOR])
def test_readers_may_not_apply_or_ignore(organization, client_for, estate, role: str) -> None:
    client = client_for(organization, role)
    target = finding(resource=estate["subnet"])
    assert client.get(f"{LIST}{target.pk}/").status_code == 200
    for action, body in (("apply", None), ("ignore", {"reason": "x"})):
        response = client.post(f"{LIST}{target.pk}/{action}/", body, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert finding(pk=target.pk).status == "open"


def test_ignore_needs_a_reason(owner_client, estate) -> None:
    target = finding(resource=estate["subnet"])
    response = owner_client.post(f"{LIST}{target.pk}/ignore/", {"reason": ""}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["reason"] == ["This field may not be blank."]
    response = owner_client.post(f"{LIST}{target.pk}/ignore/", {"reason": 5}, format="json")
    assert response.status_code == 400
    response = owner_client.post(f"{LIST}{target.pk}/ignore/", {"reason": "lab"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["ignored_reason"]) == ("ignored", "lab")
    again = owner_client.post(f"{LIST}{target.pk}/ignore/", {"reason": "lab"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


def test_another_organizations_finding_is_404(other_organization, client_for, estate) -> None:
    client = client_for(other_organization, Role.OWNER)
    target = finding(resource=estate["subnet"])
    for response in (
        client.get(f"{LIST}{target.pk}/"),
        client.post(f"{LIST}{target.pk}/apply/"),
        client.post(f"{LIST}{target.pk}/ignore/", {"reason": "x"}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert client.get(LIST).json()["count"] == 0
    assert client.get(f"{LIST}summary/").json()["total"] == 0
