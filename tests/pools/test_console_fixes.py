"""The console as a new user finds it: filters, labels, the allocate form and the tree."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.pools.models import Pool
from apps.tenancy.choices import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(organization, make_member) -> Client:
    client = Client()
    client.force_login(make_member(organization, Role.OWNER, email="console@example.com"))
    return client


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def selected_value(html: str, name: str) -> str:
    """Return the value a browser would send for the select ``name`` left untouched."""
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, name
    options = re.findall(r'<option value="([^"]*)"( selected)?', select.group(1))
    chosen = [value for value, selected in options if selected]
    return chosen[0] if chosen else options[0][0]


@pytest.mark.parametrize("url", ["/pools/list/", "/pools/list/?deleted=only"])
def test_every_filter_defaults_to_any_so_ipv6_pools_are_listed(console, make_pool, url):
    v4 = make_pool("10.0.0.0/8", name="corp")
    v6 = make_pool("2001:db8::/32", name="v6")
    if "deleted" in url:
        Pool.objects.filter(pk__in=[v4.pk, v6.pk]).update(deleted_at="2026-01-01T00:00:00Z")
    html = page(console.get(url))
    for name in ("family", "type", "status", "source"):
        assert selected_value(html, name) == "", name
    assert "2001:db8::/32" in html
    assert "10.0.0.0/8" in html
    # Submitting the untouched form lists both families too.
    form = {"family": "", "type": "", "status": "", "source": ""}
    if "deleted" in url:
        form["deleted"] = "only"
    html = page(console.get("/pools/list/", form))
    assert "2001:db8::/32" in html
    assert "10.0.0.0/8" in html


def test_filter_labels_read_as_words(console):
    html = page(console.get("/pools/list/"))
    assert "[invalid name]" not in html
    labels = re.findall(r'<label for="id_(\w+)">([^<]+)</label>', html)
    assert dict(labels) == {
        "type": "Type",
        "status": "Status",
        "source": "Source",
        "family": "Family",
        "q": "Search",
        "contains": "Contains",
        "within": "Within",
        "tag": "Tag",
        "include_deleted": "Include deleted",
    }


def test_include_deleted_is_a_choice_and_ordering_shows_labels(console, make_pool):
    make_pool("10.0.0.0/8", name="corp")
    html = page(console.get("/pools/list/"))
    assert '<input type="text" name="include_deleted"' not in html
    assert re.findall(
        r'<option value="(\w*)"[^>]*>(\w+)</option>',
        re.search(r'<select name="include_deleted".*?</select>', html, re.S).group(0),
    ) == [("", "Any"), ("true", "Yes"), ("false", "No")]
    # Ordering is the table's sortable headers, named by their labels.
    assert re.search(r'<th scope="col" aria-sort="ascending">\s*<a[^>]*>CIDR</a>', html)
    assert ">-updated_at<" not in html
    assert ">prefix_length<" not in html


def test_the_api_still_refuses_a_blank_family(owner_client):
    response = owner_client.get("/api/v1/pools/", {"family": ""})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"family": ["This field may not be blank."]}


ALLOCATE = {
    "prefix_length": "24",
    "name": "web",
    "strategy": "best_fit",
    "type": "subnet",
    "status": "reserved",
    "description": "",
    "tags": "",
}


def test_a_refused_allocation_shows_one_error(console, make_pool):
    root = make_pool("10.0.0.0/8", name="corp")
    vpc = make_pool("10.0.0.0/23", parent=root, name="vpc")
    make_pool("10.0.0.0/24", parent=vpc, name="a", type="subnet")
    make_pool("10.0.1.0/24", parent=vpc, name="b", type="subnet")
    response = console.post(f"/pools/{vpc.pk}/allocate/", ALLOCATE)
    html = response.content.decode()
    assert response.status_code == 400
    assert "A valid integer is required." not in html
    assert "prefix_length:" not in html
    assert html.count("No free /24 in 10.0.0.0/23; it has no free space.") == 1
    response = console.post(f"/pools/{vpc.pk}/allocate/", {**ALLOCATE, "prefix_length": "23"})
    html = response.content.decode()
    assert "A valid integer is required." not in html
    assert html.count("10.0.0.0/23 has room for prefix lengths 24 to 32, not 23.") == 1


def test_a_bad_length_shows_the_form_error_only(console, make_pool):
    root = make_pool("10.0.0.0/8", name="corp")
    response = console.post(f"/pools/{root.pk}/allocate/", {**ALLOCATE, "prefix_length": "x"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Enter a whole number." in html
    assert "A valid integer is required." not in html


def test_the_allocate_form_remembers_the_last_choices(console, make_pool):
    root = make_pool("10.0.0.0/8", name="corp")
    response = console.post(f"/pools/{root.pk}/allocate/", ALLOCATE, follow=True)
    html = page(response)
    assert "Allocated 10.0.0.0/24" in html
    assert selected_value(html, "type") == "subnet"
    assert selected_value(html, "status") == "reserved"
    assert selected_value(html, "strategy") == "best_fit"
    assert 'name="prefix_length" value="24"' in html


def test_tree_rows_name_a_reserved_pool_once(console, make_pool):
    make_pool("10.0.0.0/8", name="corp", type="reserved", status="reserved")
    html = page(console.get("/pools/"))
    text = re.sub(r"<[^>]+>", " ", html)
    assert re.search(r"Reserved\s+Reserved", text) is None
    assert "Reserved" in text


def test_tree_rows_have_aligned_columns(console, make_pool):
    make_pool("10.0.0.0/8", name="corp")
    html = page(console.get("/pools/"))
    for column in ("tree-main", "tree-type", "tree-status", "tree-util", "tree-count", "tree-free"):
        assert f"tree-col {column}" in html or f"tree-col muted {column}" in html, column
    assert "16,777,216 addresses free" in html


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/vnd.microsoft.icon"
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"
