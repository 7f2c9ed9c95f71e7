"""The console's dashboard: where the organization stands, at a glance, per role."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.analysis import services as analysis_services
from apps.pools import services as pool_services
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.pools.factories import PoolFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(organization):
    corp = PoolFactory(organization=organization, cidr="10.0.0.0/8", name="corp")
    pool_services.pool_allocate(actor=TEST_ACTOR, parent=corp, prefix_length=9, name="half")
    PoolFactory(organization=organization, cidr="2001:db8::/32", name="v6")
    return corp


def signed_in(organization, make_member, role) -> Client:
    client = Client()
    client.force_login(make_member(organization, role, email=f"{role}@example.com"))
    return client


def panel_titles(html: str) -> list[str]:
    return re.findall(r'<h2 id="panel-\d+">([^<]+)</h2>', html)


@pytest.mark.parametrize(
    ("role", "titles"),
    [
        (
            Role.OWNER,
            [
                "Utilization by address space",
                "Nearest exhaustion",
                "Compliance findings",
                "Pending recommendations",
                "Latest changes",
                "Pools by family",
            ],
        ),
        (
            Role.AUDITOR,
            [
                "Utilization by address space",
                "Nearest exhaustion",
                "Compliance findings",
                "Pending recommendations",
                "Latest changes",
                "Pools by family",
            ],
        ),
        (
            Role.VIEWER,
            [
                "Utilization by address space",
                "Nearest exhaustion",
                "Compliance findings",
                "Pending recommendations",
                "Pools by family",
            ],
        ),
    ],
)
def test_dashboard_panels_per_role(organization, make_member, plan, role, titles):
    response = signed_in(organization, make_member, role).get("/")
    assert response.status_code == 200
    assert panel_titles(response.content.decode()) == titles


def test_dashboard_chart_and_counts(organization, make_member, plan):
    analysis_services.recommendation_generate(organization=organization)
    html = signed_in(organization, make_member, Role.OWNER).get("/").content.decode()
    assert 'aria-label="50.0% used"' in html
    assert "50.0% · 8,388,608 addresses free" in html
    assert "2^96 addresses (65,536 /48s) free" in html
    family = re.search(r"Pools by family.*?</table>", html, re.S).group(0)
    rows = re.findall(r'<a href="[^"]+">(IPv\d)</a></th><td class="num">(\d+)</td>', family)
    assert rows == [("IPv4", "2"), ("IPv6", "1")]
    assert "Allocate" in html  # the latest change: the allocation of "half"


def test_dashboard_query_count_does_not_grow_with_the_plan(
    organization, make_member, plan, django_assert_max_num_queries
):
    client = signed_in(organization, make_member, Role.OWNER)
    client.get("/")
    with CaptureQueriesContext(connection) as small:
        client.get("/")
    # Counted now: each request resets the connection's query log the context reads.
    small_count = len(small)
    assert small_count <= 30
    for n in range(30):
        PoolFactory(organization=organization, cidr=f"172.{16 + n}.0.0/16", name=f"s{n}")
    # The new pools invalidated the cached analysis: the first view recomputes it.
    client.get("/")
    with django_assert_max_num_queries(small_count):
        client.get("/")
