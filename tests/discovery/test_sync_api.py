"""The resources and sync runs API: filters, ordering, pagination, fixed query counts,
cancel, 409 and the quota through POST /accounts/{id}/sync/, and /ip/{address}/."""

from __future__ import annotations

import pytest

from apps.cloud.services import account_create
from apps.discovery.models import SyncRun
from apps.pools import services as pool_services
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.discovery import factories

pytestmark = pytest.mark.django_db

RESOURCES = "/api/v1/discovery/resources/"
RUNS = "/api/v1/discovery/runs/"


def error_of(response):
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


@pytest.fixture
def account(organization):
    return account_create(
        organization=organization,
        actor=TEST_ACTOR,
        name="prod",
        provider="gcp",
        external_id="acme-net",
        auth_method="default_chain",
    )


@pytest.fixture
def viewer(organization, client_for):
    return client_for(organization, Role.VIEWER)


@pytest.fixture
def operator(organization, client_for):
    return client_for(organization, Role.OPERATOR)


@pytest.fixture
def estate(account):
    rows = [
        factories.resource(account, "10.0.0.0/16", "vpc-a", name="hub"),
        factories.resource(account, "10.0.1.0/24", "subnet-a", resource_type="subnet"),
        factories.resource(
            account, "10.0.1.5/32", "addr-a", resource_type="address", region="us-central1"
        ),
        factories.resource(account, "172.16.0.0/12", "vpc-b", state="missing"),
        factories.resource(account, "2001:db8::/48", "vpc-c", state="gone"),
    ]
    return {row.resource_id: row for row in rows}


def ids(client, query=""):
    response = client.get(f"{RESOURCES}?{query}")
    assert response.status_code == 200, response.content
    return [row["resource_id"] for row in response.json()["results"]]


def test_resources_filter_and_order(viewer, estate, account, organization):
    assert ids(viewer) == ["vpc-a", "subnet-a", "addr-a", "vpc-b", "vpc-c"]
    assert ids(viewer, "state=missing") == ["vpc-b"]
    assert ids(viewer, "resource_type=subnet") == ["subnet-a"]
    assert ids(viewer, "region=us-central1") == ["addr-a"]
    assert ids(viewer, "provider=aws") == []
    assert ids(viewer, f"account={account.pk}") == ["vpc-a", "subnet-a", "addr-a", "vpc-b", "vpc-c"]
    assert ids(viewer, "cidr=10.0.1.0/24") == ["subnet-a"]
    assert ids(viewer, "contains=10.0.1.5") == ["vpc-a", "subnet-a", "addr-a"]
    assert ids(viewer, "within=10.0.0.0/16") == ["vpc-a", "subnet-a", "addr-a"]
    assert ids(viewer, "q=hub") == ["vpc-a"]
    assert ids(viewer, "q=172.16") == ["vpc-b"]
    assert ids(viewer, "ordering=-cidr")[0] == "vpc-c"
    root = pool_services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="ten", cidr="10.0.0.0/8"
    )
    estate["subnet-a"].pool = root
    estate["subnet-a"].save()
    assert ids(viewer, f"pool={root.pk}") == ["subnet-a"]
    assert ids(viewer, "limit=2&offset=1") == ["subnet-a", "addr-a"]
    detail = viewer.get(f"{RESOURCES}{estate['vpc-a'].pk}/").json()
    assert (detail["cidr"], detail["state"], detail["account"]) == (
        "10.0.0.0/16",
        "present",
        account.pk,
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("state=", "state"),
        ("state=deleted", "state"),
        ("cidr=10.0.0.1/16", "cidr"),
        ("contains=nope", "contains"),
        ("account=x", "account"),
        ("pool=0", "pool"),
        ("ordering=secret", "ordering"),
    ],
)
def test_bad_resource_filters_are_400(viewer, query, field):
    response = viewer.get(f"{RESOURCES}?{query}")
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert field in body["fields"]


def test_resource_list_has_a_fixed_number_of_queries(
    viewer, account, django_assert_max_num_queries
):
    for index in range(3):
        factories.resource(account, f"10.{index}.0.0/16", f"vpc-{index}")
    with django_assert_max_num_queries(12) as few:
        assert viewer.get(RESOURCES).json()["count"] == 3
    for index in range(3, 30):
        factories.resource(account, f"10.{index}.0.0/16", f"vpc-{index}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert viewer.get(RESOURCES).json()["count"] == 30


def test_runs_list_filter_and_read(viewer, account, django_assert_max_num_queries):
    done = factories.sync_run(account, counts={"seen": 1})
    failed = factories.sync_run(account, status="failed", trigger="schedule")
    with django_assert_max_num_queries(12) as few:
        body = viewer.get(RUNS).json()
    assert [run["id"] for run in body["results"]] == [failed.pk, done.pk]
    for _ in range(10):
        factories.sync_run(account)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert viewer.get(RUNS).json()["count"] == 12
    assert [r["id"] for r in viewer.get(f"{RUNS}?status=failed").json()["results"]] == [failed.pk]
    assert viewer.get(f"{RUNS}?trigger=schedule").json()["count"] == 1
    assert viewer.get(f"{RUNS}?account={account.pk}").json()["count"] == 12
    run = viewer.get(f"{RUNS}{done.pk}/").json()
    assert (run["status"], run["progress_percent"], run["counts"]) == (
        "completed",
        100,
        {"seen": 1},
    )
    assert run["account_name"] == "prod"
    assert viewer.get(f"{RUNS}?status=done").status_code == 400


def test_cancel_needs_discovery_change_and_a_finished_run_is_409(viewer, operator, account):
    queued = factories.sync_run(account, status="queued", finished_at=None)
    assert viewer.post(f"{RUNS}{queued.pk}/cancel/").status_code == 403
    response = operator.post(f"{RUNS}{queued.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert error_of(operator.post(f"{RUNS}{queued.pk}/cancel/")) == (
        409,
        "conflict",
        f"Sync run {queued.pk} is already cancelled.",
    )


def test_post_sync_is_202_then_409_naming_the_run_then_429(operator, account, organization):
    url = f"/api/v1/accounts/{account.pk}/sync/"
    first = operator.post(url)
    assert first.status_code == 202
    run = first.json()
    assert (run["status"], run["trigger"], run["account"]) == ("queued", "manual", account.pk)
    assert error_of(operator.post(url)) == (
        409,
        "conflict",
        f"Sync run {run['id']} of this account is queued; wait for it to finish.",
    )
    SyncRun.objects.filter(pk=run["id"]).update(status="completed")
    organization.quotas = {"max_sync_runs_per_day": 1}
    organization.save()
    assert error_of(operator.post(url)) == (
        429,
        "quota_exceeded",
        "Quota max_sync_runs_per_day (1) reached.",
    )


def test_ip_lookup_lists_the_resources_using_the_address(
    viewer, estate, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12) as few:
        body = viewer.get("/api/v1/ip/10.0.1.5/").json()
    assert [row["resource_id"] for row in body["resources"]] == ["addr-a", "subnet-a", "vpc-a"]
    for index in range(5):
        factories.resource(estate["vpc-a"].account, "10.0.0.0/8", f"big-{index}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = viewer.get("/api/v1/ip/10.0.1.5/").json()
    assert len(body["resources"]) == 8
    # Gone resources no longer use the address.
    assert viewer.get("/api/v1/ip/2001:db8::1/").json()["resources"] == []
