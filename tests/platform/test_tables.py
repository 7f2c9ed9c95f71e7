"""The console's one table: sorting, page sizes, the column chooser and the CSV export."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client
from django.utils import timezone

from apps.pools.models import Pool
from apps.tenancy.choices import Role
from apps.tenancy.models import TablePreference
from cloudpam.tables import DEFAULT_PAGE_SIZE
from tests.cloud.conftest import aws_account  # noqa: F401
from tests.discovery import factories as discovery
from tests.pools.factories import PoolFactory

pytestmark = pytest.mark.django_db

PREFERENCE = "/tables/pools.pools/preference/"


@pytest.fixture
def owner(organization, make_member):
    return make_member(organization, Role.OWNER, email="tables-owner@example.com")


@pytest.fixture
def console(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def pools(organization):
    root = PoolFactory(organization=organization, cidr="10.0.0.0/8", name="corp")
    return [
        root,
        PoolFactory(parent=root, cidr="10.1.0.0/16", name="bravo"),
        PoolFactory(parent=root, cidr="10.2.0.0/16", name="alpha"),
        PoolFactory(parent=root, cidr="10.3.0.0/16", name="charlie"),
    ]


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def names(html: str) -> list[str]:
    return re.findall(r'<a href="/pools/\d+/">[^<]+</a></td>\s*<td>([a-z]+)', html)


def headers(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", text).strip()
        for text in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', html, re.S)
    ]


def test_a_column_header_sorts_both_ways_and_says_so(console, pools):
    assert names(html_of(console.get("/pools/list/?sort=name"))) == [
        "alpha",
        "bravo",
        "charlie",
        "corp",
    ]
    html = html_of(console.get("/pools/list/?sort=-name"))
    assert names(html) == ["corp", "charlie", "bravo", "alpha"]
    # The header is a link that flips the order, and announces the current one.
    assert re.search(
        r'aria-sort="descending">\s*<a class="sort sort-descending" href="\?sort=name"', html
    )
    assert re.search(r'aria-sort="none">\s*<a class="sort sort-none" href="\?sort=cidr"', html)
    # Filters are kept in the sort links.
    html = html_of(console.get("/pools/list/?q=a&sort=name"))
    assert 'href="?q=a&amp;sort=-name"' in html


@pytest.mark.parametrize("sort", ["description", "-utilization", "name;drop", "__class__", "-"])
def test_an_ordering_outside_the_columns_is_ignored_with_a_message(console, pools, sort):
    html = html_of(console.get("/pools/list/", {"sort": sort}))
    assert "This list cannot be sorted that way" in html
    assert names(html) == ["corp", "bravo", "alpha", "charlie"]  # address order, the default


@pytest.mark.parametrize(
    ("value", "shown", "warned"),
    [
        ("25", 25, False),
        ("250", 250, False),
        ("1000", 50, True),
        ("0", 50, True),
        ("-25", 50, True),
        ("abc", 50, True),
        ("\uff12\uff15", 50, True),
    ],
)
def test_the_page_size_is_one_of_the_offered_sizes(console, pools, value, shown, warned):
    html = html_of(console.get("/pools/list/", {"per_page": value}))
    assert re.search(rf'<strong aria-current="true">{shown}</strong>', html)
    assert ("A page holds 25, 50, 100, 250 rows" in html) is warned


def test_pages_hold_the_chosen_size(console, organization):
    root = PoolFactory(organization=organization, cidr="10.0.0.0/8")
    for index in range(30):
        PoolFactory(parent=root, cidr=f"10.{index}.0.0/16")
    html = html_of(console.get("/pools/list/?per_page=25"))
    assert "Page 1 of 2 (31 pools)" in html
    assert html.count('name="pk"') == 25
    second = html_of(console.get("/pools/list/?per_page=25&page=2"))
    assert second.count('name="pk"') == 6
    assert 'href="?per_page=25&amp;page=1"' in second


def test_the_column_chooser_is_remembered_per_user(
    console, pools, organization, make_member, owner
):
    response = console.post(
        PREFERENCE,
        {"columns": ["name", "tags", "description"], "per_page": "25", "next": "/pools/list/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/pools/list/"
    preference = TablePreference.objects.get(user=owner, table="pools.pools")
    # The required CIDR column is always kept, in the table's order.
    assert preference.columns == ["cidr", "name", "description", "tags"]
    assert preference.page_size == 25
    html = html_of(console.get("/pools/list/"))
    assert headers(html)[1:] == ["CIDR", "Name", "Description", "Tags"]
    assert '<strong aria-current="true">25</strong>' in html
    # Another user, and another table of the same user, keep their defaults.
    other = Client()
    other.force_login(make_member(organization, Role.VIEWER, email="other@example.com"))
    assert headers(html_of(other.get("/pools/list/"))) == [
        "CIDR",
        "Name",
        "Type",
        "Status",
        "Utilization",
        "Children",
    ]
    Pool.objects.filter(pk=pools[3].pk).update(deleted_at=timezone.now())
    assert "Type" in headers(html_of(console.get("/pools/list/?deleted=only")))
    # Reset goes back to the defaults.
    console.post(PREFERENCE, {"reset": "1", "next": "/pools/list/"})
    assert headers(html_of(console.get("/pools/list/")))[3] == "Type"


def test_a_bad_column_choice_saves_nothing(console, owner, pools):
    for data in (
        {"columns": ["name", "secret"]},
        {"columns": ["name"], "per_page": "1000"},
        {"columns": ["name"], "per_page": "x"},
    ):
        response = console.post(PREFERENCE, {**data, "next": "/pools/list/"}, follow=True)
        assert response.status_code == 200
        assert "This table has no column" in response.content.decode() or (
            "A page holds" in response.content.decode()
        )
    assert not TablePreference.objects.filter(user=owner).exists()


def test_the_preference_endpoint_refuses_unknown_tables_foreign_redirects_and_no_csrf(owner, pools):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(PREFERENCE, {"columns": ["name"]}).status_code == 403
    client = Client()
    client.force_login(owner)
    assert client.post("/tables/nope/preference/", {"columns": ["name"]}).status_code == 404
    assert client.get(PREFERENCE).status_code == 405
    response = client.post(PREFERENCE, {"columns": ["name"], "next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert Client().post(PREFERENCE, {"columns": ["name"]})["Location"].startswith("/login/")


def test_column_choices_without_a_preference_row_cost_the_defaults(console, pools, owner):
    TablePreference.objects.create(user=owner, table="pools.pools", columns=["gone"], page_size=7)
    html = html_of(console.get("/pools/list/"))
    assert headers(html)[3] == "Type"
    assert f'<strong aria-current="true">{DEFAULT_PAGE_SIZE}</strong>' in html


def test_the_export_streams_the_filtered_rows_in_the_visible_columns_injection_safe(
    console,
    organization,
    aws_account,  # noqa: F811
):
    discovery.resource(aws_account, "10.0.0.0/16", resource_id="vpc-1", name="=HYPERLINK(1)")
    discovery.resource(aws_account, "10.1.0.0/16", resource_id="vpc-2", name="@SUM(A1)")
    discovery.resource(aws_account, "192.168.0.0/16", resource_id="vpc-3", name="plain")
    response = console.get("/discovery/resources/?within=10.0.0.0/8&sort=-cidr&export=csv")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.match(
        r'attachment; filename="discovery-resources-acme-\d{8}T\d{6}Z\.csv"',
        response["Content-Disposition"],
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["CIDR", "Type", "Name", "Account", "Region", "State", "Pool", "Last seen"]
    assert [row[:3] for row in rows[1:]] == [
        ["10.1.0.0/16", "vpc", "'@SUM(A1)"],
        ["10.0.0.0/16", "vpc", "'=HYPERLINK(1)"],
    ]


def test_the_pool_export_is_the_planning_export_of_the_filters_shown(console, pools):
    html = html_of(console.get("/pools/list/?q=alpha&family=&sort=name"))
    link = re.search(r'<a class="button" href="([^"]+)" download>Export CSV</a>', html).group(1)
    assert link.replace("&amp;", "&") == "/api/v1/pools/export/?q=alpha&format=csv"
    response = console.get(link.replace("&amp;", "&"))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[:2] for row in rows[1:]] == [["alpha", "10.2.0.0/16"]]


def test_an_export_in_another_format_is_refused_with_a_message(console, pools):
    html = html_of(console.get("/plans/?export=xlsx"))
    assert "This list exports as csv." in html
