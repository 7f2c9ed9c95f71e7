"""List pages count up to a cap, then estimate; paging by ``next`` still reaches every row.

The cap is lowered to 3 here so a handful of pools stands in for a million.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from apps.pools.models import Pool
from apps.tenancy.choices import Role
from cloudpam import pagination
from tests.pools.bulk import bulk_children

pytestmark = pytest.mark.django_db

LIST = "/api/v1/pools/"


@pytest.fixture
def eight(root: Pool) -> list[Pool]:
    return bulk_children(root, 8, 16)


@pytest.fixture
def low_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pagination, "COUNT_CAP", 3)


def test_a_count_under_the_cap_is_exact(owner_client, root, eight) -> None:
    body = owner_client.get(f"{LIST}?limit=2").json()
    assert (body["count"], body["count_exact"]) == (9, True)
    assert body["next"].endswith("limit=2&offset=2")


def test_past_the_cap_the_count_is_an_estimate_and_next_pages_to_the_end(
    owner_client, root, eight, low_cap
) -> None:
    body = owner_client.get(f"{LIST}?limit=2").json()
    if connection.vendor == "postgresql":
        # The planner's estimate, never below the 4 rows the cap saw.
        assert body["count_exact"] is False
        assert body["count"] >= 4
    else:
        assert (body["count"], body["count_exact"]) == (9, True)
    seen = [row["cidr"] for row in body["results"]]
    while body["next"]:
        body = owner_client.get(body["next"]).json()
        seen += [row["cidr"] for row in body["results"]]
    # The last page knows where the list ends: its count is exact.
    assert (body["count"], body["count_exact"]) == (9, True)
    assert seen == ["10.0.0.0/8"] + [f"10.{n}.0.0/16" for n in range(8)]


def test_a_page_past_the_end_is_empty_with_the_count(owner_client, root, eight) -> None:
    body = owner_client.get(f"{LIST}?offset=50").json()
    assert body["results"] == []
    assert body["next"] is None
    assert (body["count"], body["count_exact"]) == (9, True)


def test_past_the_end_and_the_cap_the_count_is_at_most_the_offset(
    owner_client, root, eight, low_cap
) -> None:
    body = owner_client.get(f"{LIST}?offset=12&limit=5").json()
    assert body["results"] == []
    assert body["next"] is None
    assert body["count"] <= 12


def test_an_empty_list_counts_nothing(owner_client, django_assert_max_num_queries) -> None:
    owner_client.get(LIST)
    with django_assert_max_num_queries(4) as captured:
        body = owner_client.get(LIST).json()
    assert (body["count"], body["count_exact"], body["results"]) == (0, True, [])
    assert not any("COUNT(" in query["sql"] for query in captured.captured_queries)


def test_the_console_list_says_about_past_the_cap(
    organization, make_member, root, eight, low_cap
) -> None:
    client = Client()
    client.force_login(make_member(organization, Role.OWNER, email="console@example.com"))
    html = client.get("/pools/list/?per_page=25").content.decode()
    if connection.vendor == "postgresql":
        assert "Page 1 of about" in html
    else:
        assert "(9 pools)" in html


def test_the_count_label() -> None:
    assert pagination.Count(1234, True, 1234).label == "1,234"
    assert pagination.Count(987_000, False, 10_001).label == "about 987,000"
    assert pagination.Count(10_001, False, 10_001).label == "10,000+"


def test_the_planner_estimate_is_postgresql_only(organization, eight) -> None:
    estimate = pagination.planner_estimate(Pool.objects.filter(organization=organization))
    if connection.vendor == "postgresql":
        assert isinstance(estimate, int)
        assert estimate >= 0
    else:
        assert estimate is None
