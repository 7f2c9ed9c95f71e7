"""Console pages of the address plan: the tree, the pool page and the forms."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.pools import services
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.pools.bulk import bulk_children
from tests.pools.tree_check import tree_problems

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(organization, make_member) -> Client:
    client = Client()
    client.force_login(make_member(organization, Role.OWNER, email="console@example.com"))
    return client


@pytest.fixture
def viewer_console(organization, make_member) -> Client:
    client = Client()
    client.force_login(make_member(organization, Role.VIEWER, email="viewer@example.com"))
    return client


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_tree_shows_roots_children_and_lazy_nodes(console, root, make_pool):
    region = make_pool("10.0.0.0/12", parent=root, name="us-east")
    make_pool("10.0.0.0/16", parent=region, name="vpc")
    make_pool("2001:db8::/32", name="v6")
    html = page(console.get("/pools/"))
    assert "10.0.0.0/8" in html
    assert "us-east" in html
    assert "2001:db8::/32" in html
    # The region's children are not rendered: they load when the node opens.
    assert "10.0.0.0/16" not in html
    assert f'data-url="/pools/{region.pk}/tree-children/" hidden' in html
    assert 'aria-label="6.25% used"' in html
    partial = page(console.get(f"/pools/{region.pk}/tree-children/"))
    assert "10.0.0.0/16" in partial
    assert "<html" not in partial


def test_tree_children_come_in_batches(console, root, monkeypatch):
    monkeypatch.setattr("apps.pools.views.TREE_BATCH", 2)
    for n in range(3):
        services.pool_allocate(actor=TEST_ACTOR, parent=root, prefix_length=16, name=f"c{n}")
    first = page(console.get(f"/pools/{root.pk}/tree-children/"))
    assert re.findall(r">(10\.\d+\.0\.0/16)<", first) == ["10.0.0.0/16", "10.1.0.0/16"]
    assert f"/pools/{root.pk}/tree-children/?offset=2" in first
    assert ">1 more</button>" in first
    rest = page(console.get(f"/pools/{root.pk}/tree-children/?offset=2"))
    assert re.findall(r">(10\.\d+\.0\.0/16)<", rest) == ["10.2.0.0/16"]
    assert " more</button>" not in rest


def test_tree_of_12000_children_pages_with_n_more_links_for_every_role(
    organization, make_member, root
):
    bulk_children(root, 12_000, 24)
    assert tree_problems() == ([], [], [], [], [])
    for role in Role:
        client = Client()
        client.force_login(make_member(organization, role, email=f"{role}@example.com"))
        html = page(client.get("/pools/"))
        assert len(re.findall(r'class="tree-node"', html)) == 201
        assert f"/pools/{root.pk}/tree-children/?offset=200" in html
        assert ">11800 more</button>" in html
        assert f'href="/pools/list/?parent={root.pk}"' in html
        tail = page(client.get(f"/pools/{root.pk}/tree-children/?offset=11900"))
        assert len(re.findall(r'class="tree-node"', tail)) == 100
        assert "10.46.223.0/24" in tail
        assert " more</button>" not in tail


def test_tree_pages_the_roots(console, organization, monkeypatch):
    monkeypatch.setattr("apps.pools.views.TREE_BATCH", 2)
    for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"):
        services.pool_create(actor=TEST_ACTOR, organization=organization, cidr=cidr, name=cidr)
    first = page(console.get("/pools/"))
    assert "172.16.0.0/12" in first
    assert "192.168.0.0/16" not in first
    assert ">1 more roots</a>" in first
    second = page(console.get("/pools/?offset=2"))
    assert "192.168.0.0/16" in second
    assert "172.16.0.0/12" not in second
    assert "more roots" not in second


def test_empty_tree_invites_a_first_pool(console, viewer_console):
    assert "Create the first root pool" in page(console.get("/pools/"))
    assert "Create the first root pool" not in page(viewer_console.get("/pools/"))


@pytest.mark.parametrize(
    ("query", "found", "missing"),
    [
        ("vpc", ["10.1.0.0/16", 'aria-current="location"'], ["Exact match"]),
        ("10.1.2.3", ["Pools containing 10.1.2.3/32", "10.1.0.0/16", "10.0.0.0/8"], []),
        ("10.1.0.0/16", ["Exact match", "10.1.0.0/16"], []),
        ("2001:db8::1", ["Pools containing 2001:db8::1/128", "No pool matches"], []),
    ],
)
def test_search_by_name_prefix_or_address(console, root, make_pool, query, found, missing):
    make_pool("10.1.0.0/16", parent=root, name="prod vpc")
    html = page(console.get("/pools/", {"q": query}))
    for text in found:
        assert text in html
    for text in missing:
        assert text not in html


def test_search_reports_a_bad_prefix(console, root):
    html = page(console.get("/pools/", {"q": "10.0.0.1/8"}))
    assert "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?" in html


def test_pool_page_shows_picture_free_blocks_children_and_preview(console, root, make_pool):
    vpc = make_pool("10.0.0.0/16", parent=root, name="vpc")
    make_pool("10.0.0.0/17", parent=vpc, name="big", status="reserved")
    make_pool("10.0.128.0/24", parent=vpc, name="web")
    html = page(console.get(f"/pools/{vpc.pk}/"))
    rects = re.findall(r'<rect class="seg-(\w+)" x="([\d.]+)" y="0" width="([\d.]+)"', html)
    assert rects == [
        ("reserved", "0.0000", "500.0000"),
        ("used", "500.0000", "3.9062"),
        ("free", "503.9062", "496.0938"),
    ]
    assert "blocks under 0.1% of the pool are widened" in html
    assert "10.0.129.0/24" in html  # the first free block
    assert "Will take" in html
    assert "10.0.129.0/24" in html
    assert "web" in html
    assert "big" in html
    assert 'href="/pools/' in html
    crumbs = re.search(r'<nav class="breadcrumbs".*?</nav>', html, re.S).group(0)
    assert "10.0.0.0/8" in crumbs
    assert "10.0.0.0/16" in crumbs


def test_allocate_preview_partial(console, root, make_pool):
    vpc = make_pool("10.0.0.0/23", parent=root)
    make_pool("10.0.0.0/24", parent=vpc)
    url = f"/pools/{vpc.pk}/allocate/preview/"
    html = page(console.get(url, {"prefix_length": "25", "strategy": "first_fit"}))
    assert "10.0.1.0/25" in html
    assert 'name="expected" value="10.0.1.0/25"' in html
    html = page(console.get(url, {"prefix_length": "24"}))
    assert "10.0.1.0/24" in html
    html = page(console.get(url, {"prefix_length": "23"}))
    assert "10.0.0.0/23 has room for prefix lengths 24 to 32, not 23." in html
    html = page(console.get(url, {"prefix_length": "x"}))
    assert "A valid integer is required." in html
    services.pool_allocate(actor=TEST_ACTOR, parent=vpc, prefix_length=24, name="b")
    html = page(console.get(url, {"prefix_length": "24"}))
    assert 'data-preview-error="no_space"' in html
    assert "No free /24 in 10.0.0.0/23; it has no free space." in html


def test_allocate_through_the_form(console, root, make_pool):
    vpc = make_pool("10.0.0.0/22", parent=root, name="vpc")
    form = {
        "prefix_length": "24",
        "name": "web",
        "strategy": "first_fit",
        "type": "subnet",
        "status": "active",
        "description": "",
        "tags": "team=web\n",
        "expected": "10.0.0.0/24",
    }
    response = console.post(f"/pools/{vpc.pk}/allocate/", form, follow=True)
    html = page(response)
    assert "Allocated 10.0.0.0/24 \u201cweb\u201d." in html
    child = Pool.objects.get(parent=vpc)
    assert (child.cidr, child.type, child.tags) == ("10.0.0.0/24", "subnet", {"team": "web"})
    # The preview shown before was 10.0.0.0/24; someone took it: the message says so.
    response = console.post(f"/pools/{vpc.pk}/allocate/", form, follow=True)
    assert "Allocated 10.0.1.0/24 \u201cweb\u201d (10.0.0.0/24, shown before, was taken" in page(
        response
    )
    response = console.post(f"/pools/{vpc.pk}/allocate/", {**form, "prefix_length": "21"})
    assert response.status_code == 400
    assert "10.0.0.0/22 has room for prefix lengths 23 to 32, not 21." in response.content.decode()
    assert (
        console.post(f"/pools/{vpc.pk}/allocate/", {**form, "prefix_length": "23"}).status_code
        == 302
    )
    response = console.post(f"/pools/{vpc.pk}/allocate/", {**form, "prefix_length": "23"})
    assert response.status_code == 400
    assert "No free /23 in 10.0.0.0/22; it has no free space." in response.content.decode()
    assert Pool.objects.filter(parent=vpc).count() == 3


def test_create_child_and_root_with_the_api_errors(console, organization, root):
    response = console.get(f"/pools/new/?parent={root.pk}")
    # The parent picker shows the pool as it writes it: id, CIDR and name.
    assert f'value="#{root.pk} 10.0.0.0/8 corp"' in page(response)
    data = {"name": "vpc", "cidr": "10.1.0.0/16", "parent": str(root.pk), "type": "vpc"}
    data |= {"status": "active", "description": "", "tags": ""}
    response = console.post("/pools/new/", data)
    assert response.status_code == 302
    vpc = Pool.objects.get(name="vpc")
    assert response["Location"] == f"/pools/{vpc.pk}/"
    errors = {
        "10.1.0.0/24": "10.1.0.0/24 overlaps 10.1.0.0/16",
        "11.0.0.0/16": "11.0.0.0/16 is not inside its parent 10.0.0.0/8",
        "10.0.0.1/16": "10.0.0.1/16 has host bits set; did you mean 10.0.0.0/16?",
        "garbage": "&#x27;garbage&#x27; is not a valid IPv4 or IPv6 prefix",
    }
    for cidr, message in errors.items():
        response = console.post("/pools/new/", {**data, "cidr": cidr, "name": "x"})
        assert response.status_code == 400
        assert message in response.content.decode(), cidr
    response = console.post("/pools/new/", {**data, "parent": "10.0.0.0/8", "cidr": "10.2.0.0/16"})
    assert response.status_code == 302
    response = console.post("/pools/new/", {**data, "parent": "999999", "cidr": "10.3.0.0/16"})
    assert "No live pool &#x27;999999&#x27; in this organization." in response.content.decode()
    response = console.post("/pools/new/", {**data, "parent": "", "cidr": "192.168.0.0/16"})
    assert response.status_code == 302
    response = console.post("/pools/new/", {**data, "tags": "novalue"})
    assert "Line 1: write a tag as key=value." in response.content.decode()
    assert Pool.objects.count() == 4


def test_edit_move_delete_restore(console, organization, root, make_pool):
    vpc = make_pool("10.0.0.0/16", parent=root, name="vpc")
    make_pool("10.0.200.0/24", parent=vpc, name="kid")
    edit = page(console.get(f"/pools/{vpc.pk}/edit/"))
    assert 'value="10.0.0.0/16"' in edit
    data = {"name": "vpc2", "cidr": "10.0.0.0/17", "type": "vpc", "status": "active"}
    data |= {"description": "", "tags": ""}
    response = console.post(f"/pools/{vpc.pk}/edit/", data)
    assert "would leave the child 10.0.200.0/24" in response.content.decode()
    response = console.post(f"/pools/{vpc.pk}/edit/", {**data, "cidr": "10.0.0.0/15"})
    assert response.status_code == 302
    vpc.refresh_from_db()
    assert (vpc.name, vpc.cidr) == ("vpc2", "10.0.0.0/15")

    assert "New parent" in page(console.get(f"/pools/{vpc.pk}/move/"))
    response = console.post(f"/pools/{vpc.pk}/move/", {"parent": ""})
    assert response.status_code == 400
    assert "among the root pools" in response.content.decode()

    assert "Delete 10.0.0.0/15" in page(console.get(f"/pools/{vpc.pk}/delete/"))
    response = console.post(f"/pools/{vpc.pk}/delete/", {})
    assert response.status_code == 409
    assert "has 1 live child; delete them first or delete recursively." in response.content.decode()
    response = console.post(f"/pools/{vpc.pk}/delete/", {"recursive": "on"}, follow=True)
    assert "Deleted 10.0.0.0/15 (2 pools); it can be restored." in page(response)
    deleted_page = page(console.get(f"/pools/{vpc.pk}/"))
    assert "Restore" in deleted_page
    assert "deleted" in deleted_page
    response = console.post(f"/pools/{vpc.pk}/restore/", follow=True)
    assert "Restored 10.0.0.0/15" in page(response)
    assert Pool.objects.live().count() == 3


def test_restore_error_is_shown(console, root, make_pool):
    old = make_pool("10.0.0.0/16", parent=root)
    services.pool_delete(actor=TEST_ACTOR, pool=old)
    make_pool("10.0.0.0/24", parent=root, name="newcomer")
    response = console.post(f"/pools/{old.pk}/restore/", follow=True)
    assert "10.0.0.0/16 overlaps 10.0.0.0/24" in page(response)


def test_list_filters_and_paginates(console, root, make_pool):
    make_pool("10.1.0.0/16", parent=root, type="vpc")
    make_pool("2001:db8::/32", name="v6")
    html = page(console.get("/pools/list/", {"family": "6"}))
    assert "2001:db8::/32" in html
    assert "10.1.0.0/16" not in html
    html = page(console.get("/pools/list/", {"type": "vpc", "family": ""}))
    assert "10.1.0.0/16" in html
    assert "2001:db8::/32" not in html
    html = page(console.get("/pools/list/", {"within": "10.0.0.1/8"}))
    assert "did you mean 10.0.0.0/8" in html


def test_viewer_sees_pages_but_cannot_change(viewer_console, root):
    html = page(viewer_console.get(f"/pools/{root.pk}/"))
    assert "Edit" not in html
    assert "Allocate</button>" not in html
    assert "Will take" in html
    for url in (
        "/pools/new/",
        f"/pools/{root.pk}/edit/",
        f"/pools/{root.pk}/delete/",
        f"/pools/{root.pk}/allocate/",
    ):
        assert viewer_console.post(url, {"name": "x"}).status_code == 403
    assert Pool.objects.count() == 1


def test_other_organization_pool_is_404_and_login_required(console, other_organization, client):
    foreign = services.pool_create(
        actor=TEST_ACTOR, organization=other_organization, name="f", cidr="10.0.0.0/8"
    )
    for url in (
        f"/pools/{foreign.pk}/",
        f"/pools/{foreign.pk}/tree-children/",
        f"/pools/{foreign.pk}/edit/",
        f"/pools/{foreign.pk}/allocate/preview/?prefix_length=16",
    ):
        assert console.get(url).status_code == 404
    assert console.post(f"/pools/{foreign.pk}/restore/").status_code == 404
    assert client.get("/pools/").status_code == 302


def test_navigation_links_the_address_plan(console):
    assert 'href="/pools/"' in page(console.get("/"))


def test_dashboard_tiles(console, root, make_pool):
    make_pool("2001:db8::/32", name="v6")
    services.pool_allocate(actor=TEST_ACTOR, parent=root, prefix_length=16, name="a")
    html = page(console.get("/"))
    tiles = re.findall(
        r'<span class="tile-value">(\d+)</span><span class="tile-label">([^<]+)<', html
    )
    # Other apps add their own tiles after these.
    assert tiles[:3] == [("3", "Pools"), ("2", "Address spaces"), ("1", "IPv6 pools")]


def test_tiny_utilization_reads_below_a_tenth_of_a_percent(console, make_pool):
    space = make_pool("2001:db8::/32", name="v6")
    services.pool_allocate(actor=TEST_ACTOR, parent=space, prefix_length=64, name="one")
    html = page(console.get(f"/pools/{space.pk}/"))
    assert '<span class="util-pct">&lt;0.1%</span>' in html
    assert "<span>2001:db8::</span><span>2001:db8:ffff:ffff:ffff:ffff:ffff:ffff</span>" in html


def test_deleted_pools_list(console, root, make_pool):
    gone = make_pool("10.9.0.0/16", parent=root, name="gone")
    services.pool_delete(actor=TEST_ACTOR, pool=gone)
    html = page(console.get("/pools/list/", {"deleted": "only"}))
    assert "10.9.0.0/16" in html
    assert "10.0.0.0/8</a>" not in html
    assert "<h1>Deleted pools</h1>" in html
    assert "10.9.0.0/16" not in page(console.get("/pools/list/"))
