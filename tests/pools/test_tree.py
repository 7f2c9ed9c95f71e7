"""The console's address-plan tree: ARIA markup, free-space columns, paging, expand-all,
search that opens the tree at a pool, and queries pinned per level."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.pools import selectors
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from tests.pools.bulk import bulk_children

pytestmark = pytest.mark.django_db

ITEM = re.compile(r'<li class="tree-node[^"]*" role="treeitem"[^>]*>')


@pytest.fixture
def console(organization, make_member) -> Client:
    client = Client()
    client.force_login(make_member(organization, Role.VIEWER, email="tree@example.com"))
    return client


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def items(html: str) -> dict[int, str]:
    """Return the opening tag of every pool row by pool id."""
    return {int(re.search(r'data-pool="(\d+)"', tag).group(1)): tag for tag in ITEM.findall(html)}


def shown(html: str) -> list[str]:
    return re.findall(r'class="mono tree-cidr"[^>]*>([^<]+)<', html)


def test_tree_is_an_aria_tree_with_one_script_and_no_inline_handlers(console, root, make_pool):
    east = make_pool("10.0.0.0/16", parent=root, name="east")
    make_pool("10.0.0.0/24", parent=east, name="web")
    west = make_pool("10.1.0.0/16", parent=root, name="west")
    html = html_of(console.get("/pools/"))
    assert '<ul class="pool-tree" role="tree" aria-label="Address plan"' in html
    assert 'aria-describedby="tree-keys"' in html
    rows = items(html)
    assert list(rows) == [root.pk, east.pk, west.pk]
    assert (
        'aria-level="1" aria-posinset="1" aria-setsize="1" tabindex="-1" aria-expanded="true"'
        in (rows[root.pk])
    )
    # "east" has children not loaded yet: closed, its group hidden until opened.
    assert 'aria-level="2" aria-posinset="1" aria-setsize="2"' in rows[east.pk]
    assert 'aria-expanded="false"' in rows[east.pk]
    assert (
        f'role="group" id="tree-group-{east.pk}" data-url="/pools/{east.pk}/tree-children/" hidden'
        in html
    )
    # A leaf carries no aria-expanded.
    assert "aria-expanded" not in rows[west.pk]
    # Links and buttons inside rows leave the tree one tab stop.
    assert re.findall(r'<a class="mono tree-cidr" tabindex="-1"', html)
    assert 'src="/static/js/pool_tree.js"' in html
    assert not re.search(r"\son[a-z]+=", html)
    assert "<script>" not in html


def test_rows_show_free_space_and_the_largest_free_block(console, root, make_pool):
    make_pool("10.0.0.0/9", parent=root, name="half")
    quarter = make_pool("10.128.0.0/10", parent=root, name="quarter")
    make_pool("10.128.0.0/11", parent=quarter, name="full-a")
    make_pool("10.160.0.0/11", parent=quarter, name="full-b")
    html = html_of(console.get("/pools/"))
    row = re.search(rf'data-pool="{root.pk}".*?</div>', html, re.S).group(0)
    assert "4,194,304 addresses free" in row
    assert ">10.192.0.0/10</span>" in row
    quarter_row = re.search(rf'data-pool="{quarter.pk}".*?</div>', html, re.S).group(0)
    assert "0 addresses free" in quarter_row
    assert '<span class="tree-col muted tree-largest mono">none</span>' in quarter_row
    half_row = re.search(r">10\.0\.0\.0/9<.*?</div>", html, re.S).group(0)
    assert "whole pool" in half_row


def test_largest_free_block_reads_at_most_the_budget(root, organization):
    children = bulk_children(root, 300, 24)
    bulk_children(children[0], 3, 28, name="g")
    nodes = selectors.pool_tree(organization=organization, depth=1, limit=10).nodes
    with CaptureQueriesContext(connection) as queries:
        selectors.tree_free_space(nodes, budget=2)
    # The root's 300 children and the first child's 3 pass the budget; leaves need none.
    assert len(queries) == 0
    (corp,) = nodes
    assert (corp.free_known, corp.children[0].free_known) == (False, False)
    assert corp.children[1].free_known
    assert corp.children[1].largest_free == corp.children[1].pool.prefix
    with CaptureQueriesContext(connection) as queries:
        selectors.tree_free_space(nodes, budget=400)
    assert len(queries) == 1
    assert str(corp.largest_free) == "10.128.0.0/9"
    assert str(corp.children[0].largest_free) == "10.0.0.128/25"


def test_a_row_past_the_budget_links_to_its_pool_page(console, root, monkeypatch):
    monkeypatch.setattr("apps.pools.selectors.FREE_SCAN_BUDGET", 10)
    bulk_children(root, 20, 24)
    html = html_of(console.get("/pools/"))
    row = re.search(rf'data-pool="{root.pk}".*?</div>', html, re.S).group(0)
    assert f'href="/pools/{root.pk}/" title="Too many children to scan in the tree' in row


def test_more_and_earlier_rows_page_a_level(console, root, monkeypatch):
    monkeypatch.setattr("apps.pools.views.TREE_BATCH", 3)
    children = bulk_children(root, 8, 24)
    first = html_of(console.get(f"/pools/{root.pk}/tree-children/"))
    assert shown(first) == ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]
    assert ">5 more</button>" in first
    assert "earlier" not in first
    middle = html_of(console.get(f"/pools/{root.pk}/tree-children/?offset=3"))
    assert shown(middle) == ["10.0.3.0/24", "10.0.4.0/24", "10.0.5.0/24"]
    assert f"/pools/{root.pk}/tree-children/?offset=6" in middle
    # The page after a "more" row never repeats an "earlier" row: those are on screen.
    assert "earlier" not in middle
    assert 'aria-posinset="4" aria-setsize="8"' in items(middle)[children[3].pk]
    before = html_of(console.get(f"/pools/{root.pk}/tree-children/?before=5"))
    assert shown(before) == ["10.0.2.0/24", "10.0.3.0/24", "10.0.4.0/24"]
    assert f'hx-get="/pools/{root.pk}/tree-children/?before=2"' in before
    assert ">2 earlier</button>" in before
    assert " more</button>" not in before
    start = html_of(console.get(f"/pools/{root.pk}/tree-children/?before=2"))
    assert shown(start) == ["10.0.0.0/24", "10.0.1.0/24"]
    assert "earlier" not in start


def test_expand_all_opens_the_subtree_breadth_first_up_to_the_bound(console, root, monkeypatch):
    monkeypatch.setattr("apps.pools.views.EXPAND_MAX", 5)
    regions = bulk_children(root, 3, 16)
    for region in regions:
        bulk_children(region, 3, 24, name=f"{region.name}-")
    html = html_of(console.get(f"/pools/{root.pk}/tree-children/?expand=all"))
    rows = items(html)
    # Breadth first: the three regions, then two children of the first.
    assert len(rows) == 5
    assert shown(html) == [
        "10.0.0.0/16",
        "10.0.0.0/24",
        "10.0.1.0/24",
        "10.1.0.0/16",
        "10.2.0.0/16",
    ]
    assert 'aria-expanded="true"' in rows[regions[0].pk]
    assert 'aria-expanded="false"' in rows[regions[1].pk]
    assert ">1 more</button>" in html
    assert "7 pools below 10.0.0.0/8 not shown" in html
    assert html.count("not shown") == 1
    everything = html_of(console.get(f"/pools/{regions[2].pk}/tree-children/?expand=all"))
    assert len(items(everything)) == 3
    assert "not shown" not in everything


def test_search_opens_the_tree_at_the_pool_each_level_paged_around_it(
    console, organization, root, make_pool, monkeypatch
):
    monkeypatch.setattr("apps.pools.views.TREE_BATCH", 2)
    make_pool("192.168.0.0/16", name="lab")
    make_pool("172.16.0.0/12", name="dmz")
    regions = bulk_children(root, 5, 16)
    target = bulk_children(regions[3], 7, 24, name="web-")[4]
    Pool.objects.filter(pk=target.pk).update(name="payments")
    html = html_of(console.get("/pools/", {"q": "payments"}))
    rows = items(html)
    assert 'aria-current="location"' in rows[target.pk]
    assert "tree-focus" in rows[target.pk]
    # Roots: the page of two that holds 10.0.0.0/8 (the first); its children: the page
    # of "c2", "c3" (offset 2); their children: "web-4", "web-5" (offset 4).
    assert shown(html) == [
        "10.0.0.0/8",
        "10.2.0.0/16",
        "10.3.0.0/16",
        "10.3.4.0/24",
        "10.3.5.0/24",
        "172.16.0.0/12",
    ]
    assert 'aria-expanded="true"' in rows[root.pk]
    assert 'aria-expanded="true"' in rows[regions[3].pk]
    assert 'aria-expanded="true"' not in rows[regions[2].pk]
    assert f'hx-get="/pools/{root.pk}/tree-children/?before=2"' in html
    assert f'hx-get="/pools/{regions[3].pk}/tree-children/?before=4"' in html
    assert f'hx-get="/pools/{regions[3].pk}/tree-children/?offset=6"' in html
    assert ">1 more</button>" in html  # the last region, after the page shown
    assert 'aria-posinset="5" aria-setsize="7"' in rows[target.pk]
    assert ">1 more roots</a>" in html
    # An address opens the tree at the deepest pool holding it; ?focus= names one.
    assert (
        'aria-current="location"'
        in items(html_of(console.get("/pools/", {"q": "10.3.4.9"})))[target.pk]
    )
    assert (
        'aria-current="location"'
        in items(html_of(console.get("/pools/", {"focus": str(regions[1].pk)})))[regions[1].pk]
    )
    # A name matching several pools lists them, each a link into the tree.
    listed = html_of(console.get("/pools/", {"q": "c"}))
    assert 'aria-current="location"' not in listed
    assert f'href="/pools/?focus={regions[0].pk}#tree-pool-{regions[0].pk}"' in listed


def test_focus_ignores_what_is_not_a_live_pool_of_the_organization(console, root, other_pool):
    for value in ("x", "999999", str(other_pool.pk)):
        html = html_of(console.get("/pools/", {"focus": value}))
        assert 'aria-current="location"' not in html
        assert str(root.cidr) in html


@pytest.fixture
def other_pool(make_pool, other_organization):
    return make_pool("10.0.0.0/8", organization=other_organization, name="theirs")


def count_queries(client: Client, url: str) -> int:
    client.get(url)  # warm the session and membership caches
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_queries_are_pinned_per_level_whatever_the_page_size(console, root, monkeypatch):
    regions = bulk_children(root, 40, 16)
    for region in regions[:30]:
        bulk_children(region, 4, 24, name=f"{region.name}-")
    target = Pool.objects.get(name="c25-3")
    cases = {
        "children": f"/pools/{root.pk}/tree-children/",
        "roots": "/pools/",
        "focus": f"/pools/?focus={target.pk}",
        "expand": f"/pools/{root.pk}/tree-children/?expand=all",
    }
    counts = {}
    for batch in (2, 50):
        monkeypatch.setattr("apps.pools.views.TREE_BATCH", batch)
        counts[batch] = {name: count_queries(console, url) for name, url in cases.items()}
    assert counts[2] == counts[50]
    # Session, user and membership, then the pool; its children's page and their
    # utilization (and the pool's own); one read of address ranges for the free columns.
    assert counts[2]["children"] == 3 + 1 + 3 + 1
    # Expanded: a page and its utilization per level (two here), and the subtree count.
    assert counts[2]["expand"] == 3 + 1 + 1 + 2 * 2 + 1 + 1
    # Roots: their count, their page, its utilization, then a level of children.
    assert counts[2]["roots"] == 3 + 3 + 2 + 1
    # Opened at a pool two levels below a root: the pool, its ancestors, the ranks on the
    # path, the roots' count, page and utilization, then a page and its utilization per
    # level, and the free columns.
    assert counts[2]["focus"] == 3 + 1 + 1 + 1 + 3 + 2 * 2 + 1
