"""The analysis API of SPEC.md section 6: shapes, errors, permissions, isolation, queries."""

from __future__ import annotations

import pytest

from apps.analysis import services
from apps.analysis.choices import RecommendationStatus
from apps.analysis.models import AnalysisRun, Recommendation
from apps.pools import services as pool_services
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.analysis.conftest import add_history, age
from tests.rls import become

pytestmark = pytest.mark.django_db


def error(response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


def pool_url(pool: Pool, query: str = "") -> str:
    return f"/api/v1/analysis/pools/{pool.pk}/{query}"


# One pool


def test_pool_analysis_shape(owner_client, plan):
    response = owner_client.get(pool_url(plan["busy"]))
    assert response.status_code == 200, response.content
    assert response.json() == {
        "pool": {
            "id": plan["busy"].pk,
            "name": "busy",
            "cidr": "10.0.0.0/24",
            "family": 4,
            "type": "vpc",
            "status": "active",
        },
        "utilization": {
            "total": "256",
            "used": "224",
            "free": "32",
            "percent": 87.5,
            "in_use": None,
        },
        "subtree": {
            "total": "256",
            "used": "224",
            "free": "32",
            "percent": 87.5,
            "descendants": 3,
        },
        "free_blocks": [{"cidr": "10.0.0.224/27", "size": "32"}],
        "free_block_count": 1,
        "total_free": "32",
        "largest_free_block": {"cidr": "10.0.0.224/27", "size": "32", "share": 100.0},
        "fragmentation": 0.0,
        "findings": [
            {
                "rule": "OVER_UTILIZED",
                "severity": "warning",
                "pool": plan["busy"].pk,
                "message": "vpc 'busy' (10.0.0.0/24) is 87.5% allocated, at or above the 80% "
                "threshold.",
                "remediation": "Plan more space: expand the pool into free space next to it, "
                "allocate another block in its parent, or reclaim unused children.",
                "related": [],
            }
        ],
        "runway": {
            "status": "insufficient_history",
            "points": 0,
            "span_days": 0,
            "growth_per_day": None,
            "days_until_exhaustion": None,
            "exhaustion_date": None,
            "latest": None,
            "projections": [],
        },
    }


def test_pool_analysis_ranks_free_blocks_for_a_size_and_limits_them(owner_client, plan):
    region = plan["region"]
    response = owner_client.get(pool_url(region, "?prefix_length=24&limit=2"))
    assert response.status_code == 200
    body = response.json()
    # The two exact /24 blocks first, the lower one first.
    assert body["free_blocks"] == [
        {"cidr": "10.0.1.0/24", "size": "256", "candidate": "10.0.1.0/24"},
        {"cidr": "10.0.9.0/24", "size": "256", "candidate": "10.0.9.0/24"},
    ]
    assert body["free_block_count"] == 10
    plain = owner_client.get(pool_url(region, "?limit=3")).json()
    assert [block["cidr"] for block in plain["free_blocks"]] == [
        "10.0.1.0/24",
        "10.0.2.0/23",
        "10.0.4.0/22",
    ]
    # 10 free blocks for 65,024 free addresses (popcount 7): 100 * (1 - 7/10).
    assert plain["fragmentation"] == 30.0
    assert plain["largest_free_block"] == {"cidr": "10.0.128.0/17", "size": "32768", "share": 50.4}


def test_pool_analysis_of_ipv6_counts_as_strings(owner_client, make_pool):
    v6 = make_pool("2001:db8::/32", name="v6", type="supernet")
    make_pool("2001:db8::/33", parent=v6, name="half")
    body = owner_client.get(pool_url(v6)).json()
    assert body["utilization"] == {
        "total": str(2**96),
        "used": str(2**95),
        "free": str(2**95),
        "percent": 50.0,
        "in_use": None,
    }
    assert body["free_blocks"] == [{"cidr": "2001:db8:8000::/33", "size": str(2**95)}]


def test_pool_analysis_with_history_has_a_runway(owner_client, plan):
    add_history(plan["busy"], [200, 204, 208, 212, 216, 220, 224])
    runway = owner_client.get(pool_url(plan["busy"])).json()["runway"]
    assert (runway["status"], runway["days_until_exhaustion"], runway["points"]) == ("ok", 8, 7)
    assert runway["projections"][0]["used"] == "256"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?prefix_length=16", "10.0.0.0/24 has room for prefix lengths 25 to 32, not 16."),
        ("?prefix_length=x", "prefix_length: A valid integer is required."),
        ("?limit=0", "limit: Ensure this value is greater than or equal to 1."),
        ("?limit=10001", "limit: Ensure this value is less than or equal to 10000."),
    ],
)
def test_pool_analysis_rejects_bad_parameters(owner_client, plan, query, message):
    response = owner_client.get(pool_url(plan["busy"], query))
    assert error(response) == (400, "validation_error", message)


def test_pool_analysis_of_missing_foreign_and_deleted_pools(
    owner_client, plan, other_organization, make_pool
):
    foreign = make_pool("10.0.0.0/8", organization=other_organization)
    for pk in (foreign.pk, 987654):
        response = owner_client.get(f"/api/v1/analysis/pools/{pk}/")
        assert error(response) == (404, "not_found", f"No pool with id {pk} in this organization.")
    pool_services.pool_delete(actor=TEST_ACTOR, pool=plan["idle"])
    response = owner_client.get(pool_url(plan["idle"]))
    assert error(response) == (
        409,
        "conflict",
        'Pool 10.0.8.0/24 "idle" is deleted; restore it to analyse it.',
    )


def test_pool_analysis_queries_are_fixed(
    owner_client, plan, make_pool, django_assert_max_num_queries
):
    for index in range(20):
        make_pool(f"10.0.{16 + index}.0/24", parent=plan["region"], name=f"extra-{index}")
    # The session, the membership, the pool, the plan around it, its snapshots, the
    # discovered usage.
    with django_assert_max_num_queries(7):
        response = owner_client.get(pool_url(plan["region"]))
    assert response.status_code == 200


# Compliance


def test_compliance_lists_and_filters_findings(owner_client, plan, make_pool):
    public = make_pool("8.8.0.0/16", name="public", type="vpc")
    loopback = make_pool("127.0.0.0/16", name="lo", type="vpc")
    response = owner_client.get("/api/v1/analysis/compliance/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["next"] is None
    assert [(f["rule"], f["pool"]) for f in body["results"]] == [
        ("SPECIAL_PURPOSE", loopback.pk),
        ("PUBLIC_SPACE", public.pk),
        ("OVER_UTILIZED", plan["busy"].pk),
    ]
    by_rule = owner_client.get("/api/v1/analysis/compliance/?rule=PUBLIC_SPACE").json()
    assert [f["pool"] for f in by_rule["results"]] == [public.pk]
    by_severity = owner_client.get("/api/v1/analysis/compliance/?severity=error").json()
    assert [f["pool"] for f in by_severity["results"]] == [loopback.pk]
    subtree = owner_client.get(f"/api/v1/analysis/compliance/?pool={plan['region'].pk}").json()
    assert [f["pool"] for f in subtree["results"]] == [plan["busy"].pk]
    page = owner_client.get("/api/v1/analysis/compliance/?limit=1&offset=1").json()
    assert page["count"] == 3
    assert [f["pool"] for f in page["results"]] == [public.pk]


def test_compliance_rejects_bad_filters(owner_client, other_organization, make_pool):
    foreign = make_pool("10.0.0.0/8", organization=other_organization)
    response = owner_client.get("/api/v1/analysis/compliance/?rule=NOPE")
    assert error(response) == (400, "validation_error", 'rule: "NOPE" is not a valid choice.')
    response = owner_client.get(f"/api/v1/analysis/compliance/?pool={foreign.pk}")
    assert error(response) == (
        404,
        "not_found",
        f"No pool with id {foreign.pk} in this organization.",
    )


# Runs


def test_start_a_run_and_read_its_progress(owner_client, plan, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/api/v1/analysis/runs/", {"pools": [plan["region"].pk]}, format="json"
        )
    assert response.status_code == 202
    run = AnalysisRun.objects.get()
    assert response.json() == {"id": run.pk, "status": "queued"}
    detail = owner_client.get(f"/api/v1/analysis/runs/{run.pk}/").json()
    assert detail["status"] == "completed"
    assert detail["progress"] == 100
    assert detail["pools"] == [plan["region"].pk]
    assert detail["all"] is False
    assert detail["summary"]["pools"] == 6
    assert detail["message"] == "Analysed 6 pools."
    listing = owner_client.get("/api/v1/analysis/runs/").json()
    assert [item["id"] for item in listing["results"]] == [run.pk]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Pass either a non-empty list of pools or all=true."),
        ({"all": "true"}, "all: Must be a valid boolean."),
        ({"pools": ["1"]}, "pools.0: A valid integer is required."),
        ({"pools": [0]}, "pools.0: Ensure this value is greater than or equal to 1."),
        ({"pools": 5}, 'pools: Expected a list of items but got type "int".'),
    ],
)
def test_start_a_run_rejects_bad_bodies(owner_client, plan, body, message):
    response = owner_client.post("/api/v1/analysis/runs/", body, format="json")
    assert error(response) == (400, "validation_error", message)


def test_runs_of_another_organization_are_not_found(owner_client, other_organization):
    run = AnalysisRun.objects.create(organization=other_organization, all_pools=True)
    response = owner_client.get(f"/api/v1/analysis/runs/{run.pk}/")
    assert error(response) == (
        404,
        "not_found",
        f"No analysis run with id {run.pk} in this organization.",
    )


# Recommendations


def test_generate_list_apply_and_dismiss(owner_client, organization, plan, make_pool):
    age(plan["idle"], 40)
    make_pool("10.0.1.0/24", parent=plan["region"], name="neighbour", type="vpc")
    response = owner_client.post("/api/v1/recommendations/generate/", {}, format="json")
    assert response.status_code == 200
    assert response.json() == {"created": 3, "updated": 0, "removed": 0, "pending": 3}

    listing = owner_client.get("/api/v1/recommendations/").json()
    assert [item["type"] for item in listing["results"]] == ["capacity", "allocation", "reclaim"]
    allocation = listing["results"][1]
    assert set(allocation) == {
        "id",
        "type",
        "severity",
        "impact",
        "title",
        "rationale",
        "change",
        "applicable",
        "fingerprint",
        "status",
        "pool",
        "dismiss_reason",
        "result",
        "created_at",
        "updated_at",
        "applied_at",
        "dismissed_at",
    }
    assert allocation["change"]["cidr"] == "10.0.9.0/24"
    assert allocation["applicable"] is True
    assert listing["results"][0]["applicable"] is False

    filtered = owner_client.get("/api/v1/recommendations/?type=reclaim").json()
    assert [item["pool"] for item in filtered["results"]] == [plan["idle"].pk]
    by_pool = owner_client.get(f"/api/v1/recommendations/?pool={plan['busy'].pk}").json()
    assert {item["type"] for item in by_pool["results"]} == {"capacity", "allocation"}

    applied = owner_client.post(f"/api/v1/recommendations/{allocation['id']}/apply/")
    assert applied.status_code == 200, applied.content
    assert applied.json()["status"] == "applied"
    created = Pool.objects.get(pk=applied.json()["result"]["pool"])
    assert (created.cidr, created.source) == ("10.0.9.0/24", "recommendation")

    again = owner_client.post(f"/api/v1/recommendations/{allocation['id']}/apply/")
    assert error(again) == (
        409,
        "conflict",
        "This recommendation is applied; only a pending one can be applied or dismissed.",
    )
    review = listing["results"][0]
    response = owner_client.post(f"/api/v1/recommendations/{review['id']}/apply/")
    assert error(response) == (
        409,
        "not_applicable",
        "This recommendation has no automatic change; dismiss it once it is handled.",
    )
    response = owner_client.post(
        f"/api/v1/recommendations/{review['id']}/dismiss/", {}, format="json"
    )
    assert error(response) == (400, "validation_error", "reason: This field is required.")
    response = owner_client.post(
        f"/api/v1/recommendations/{review['id']}/dismiss/", {"reason": "Budgeted"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["dismiss_reason"]) == (
        "dismissed",
        "Budgeted",
    )
    statuses = owner_client.get("/api/v1/recommendations/?status=pending").json()
    assert [item["type"] for item in statuses["results"]] == ["reclaim"]


def test_apply_that_became_impossible_answers_409_and_writes_nothing(
    owner_client, organization, plan, make_pool
):
    make_pool("10.0.1.0/24", parent=plan["region"], name="neighbour", type="vpc")
    services.recommendation_generate(organization=organization)
    allocation = Recommendation.objects.get(type="allocation")
    make_pool("10.0.9.128/25", parent=plan["region"], name="squatter")
    before = Pool.objects.count()
    response = owner_client.post(f"/api/v1/recommendations/{allocation.pk}/apply/")
    assert error(response) == (
        409,
        "overlap",
        '10.0.9.0/24 is no longer free in 10.0.0.0/16 "region"; '
        "generate recommendations again for another block.",
    )
    assert Pool.objects.count() == before
    allocation.refresh_from_db()
    assert allocation.status == RecommendationStatus.PENDING


def test_recommendation_list_queries_are_fixed(
    owner_client, organization, make_pool, django_assert_max_num_queries
):
    for index in range(12):
        vpc = make_pool(f"10.{index}.0.0/24", name=f"vpc-{index}", type="vpc")
        make_pool(f"10.{index}.0.0/25", parent=vpc)
        make_pool(f"10.{index}.0.128/26", parent=vpc)
        make_pool(f"10.{index}.0.192/27", parent=vpc)
    services.recommendation_generate(organization=organization)
    assert Recommendation.objects.count() >= 12
    with django_assert_max_num_queries(5):
        response = owner_client.get("/api/v1/recommendations/?limit=100")
    assert response.status_code == 200
    assert len(response.json()["results"]) >= 12


def test_recommendation_filters_are_strict(owner_client):
    for query, message in [
        ("?type=nope", "type: Select a valid choice. nope is not one of the available choices."),
        ("?pool=1.5", "pool: Enter a whole number."),
        ("?status=", "status: This field may not be blank."),
    ]:
        response = owner_client.get(f"/api/v1/recommendations/{query}")
        assert error(response) == (400, "validation_error", message)


def test_recommendations_of_another_organization_are_not_found(
    owner_client, other_organization, make_pool
):
    pool = make_pool("10.0.0.0/8", organization=other_organization)
    rec = Recommendation.objects.create(
        organization=other_organization,
        type="reclaim",
        severity="info",
        impact=10,
        title="x",
        rationale="y",
        change={"action": "delete", "pool": pool.pk},
        fingerprint="f" * 64,
        pool=pool,
    )
    for url in (
        f"/api/v1/recommendations/{rec.pk}/",
        f"/api/v1/recommendations/{rec.pk}/apply/",
        f"/api/v1/recommendations/{rec.pk}/dismiss/",
    ):
        method = owner_client.get if url.endswith(f"{rec.pk}/") else owner_client.post
        response = method(url, {"reason": "r"}, format="json")
        assert error(response) == (
            404,
            "not_found",
            f"No recommendation with id {rec.pk} in this organization.",
        )
    assert owner_client.get("/api/v1/recommendations/").json()["count"] == 0
    pool.refresh_from_db()
    assert pool.deleted_at is None


# Permissions


@pytest.mark.parametrize("role", [Role.VIEWER, Role.AUDITOR])
def test_readers_read_but_do_not_write(client_for, organization, plan, role):
    client = client_for(organization, role)
    assert client.get(pool_url(plan["busy"])).status_code == 200
    assert client.get("/api/v1/analysis/compliance/").status_code == 200
    assert client.get("/api/v1/recommendations/").status_code == 200
    for url, body in [
        ("/api/v1/analysis/runs/", {"all": True}),
        ("/api/v1/recommendations/generate/", {}),
    ]:
        response = client.post(url, body, format="json")
        assert error(response) == (
            403,
            "permission_denied",
            f"Your role '{role}' does not have the permission 'analysis.change'.",
        )


def test_operators_generate_and_apply(client_for, organization, plan):
    client = client_for(organization, Role.OPERATOR)
    assert client.post("/api/v1/recommendations/generate/", {}, format="json").status_code == 200
    capacity = Recommendation.objects.get(type="capacity")
    response = client.post(f"/api/v1/recommendations/{capacity.pk}/apply/")
    assert response.status_code == 200
    plan["busy"].refresh_from_db()
    assert plan["busy"].cidr == "10.0.0.0/23"


def test_anonymous_requests_are_refused(api_client, plan):
    for url in (pool_url(plan["busy"]), "/api/v1/analysis/compliance/", "/api/v1/recommendations/"):
        assert error(api_client.get(url))[:2] == (401, "not_authenticated")


@pytest.mark.postgres
def test_the_api_works_as_the_application_role(owner_client, organization, plan, app_role):
    """Under row-level security, the request's tenant context lets the analysis through."""
    become(app_role)
    body = owner_client.get(pool_url(plan["busy"])).json()
    assert body["utilization"]["used"] == "224"
    assert owner_client.get("/api/v1/analysis/compliance/").json()["count"] == 1
    generated = owner_client.post("/api/v1/recommendations/generate/", {}, format="json")
    assert generated.json()["created"] >= 1
    capacity = owner_client.get("/api/v1/recommendations/?type=capacity").json()["results"][0]
    applied = owner_client.post(f"/api/v1/recommendations/{capacity['id']}/apply/")
    assert applied.json()["status"] == "applied"


def test_compliance_and_run_lists_use_a_fixed_number_of_queries(
    owner_client, organization, make_pool, django_assert_max_num_queries
):
    for index in range(15):
        make_pool(f"8.{index}.0.0/16", name=f"public-{index}", type="vpc")
        AnalysisRun.objects.create(organization=organization, all_pools=True)
    # Computing the findings: the session, the membership, the pools, the snapshots and
    # the discovered usage.
    with django_assert_max_num_queries(6):
        response = owner_client.get("/api/v1/analysis/compliance/?limit=100")
    assert response.json()["count"] == 15
    # Served from the cache: the pool data is not read again.
    with django_assert_max_num_queries(3):
        owner_client.get("/api/v1/analysis/compliance/?limit=100")
    with django_assert_max_num_queries(5):
        response = owner_client.get("/api/v1/analysis/runs/?limit=100")
    assert response.json()["count"] == 15
