"""Console pages of the discovered estate: network view, resources, sync runs, drift."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.cloud import services as cloud_services
from apps.pools import services as pool_services
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.discovery import factories

pytestmark = pytest.mark.django_db

ROLES = [role.value for role in Role]
WRITERS = {Role.OWNER, Role.ADMIN, Role.OPERATOR}


@pytest.fixture
def console(organization, make_member):  # type: ignore[no-untyped-def]
    def make(role: str = Role.OPERATOR) -> Client:
        client = Client()
        client.force_login(make_member(organization, role))
        return client

    return make


def make_account(organization, name: str = "Production", external_id: str = "111122223333"):  # type: ignore[no-untyped-def]
    return cloud_services.account_create(
        actor=TEST_ACTOR,
        organization=organization,
        name=name,
        provider="aws",
        external_id=external_id,
        auth_method="default_chain",
    )


def make_pool(organization, cidr: str, parent: Pool | None = None, name: str = "") -> Pool:  # type: ignore[no-untyped-def]
    return pool_services.pool_create(
        actor=TEST_ACTOR,
        organization=organization,
        name=name or cidr,
        cidr=cidr,
        parent=parent,
    )


@pytest.fixture
def estate(organization):  # type: ignore[no-untyped-def]
    """A plan (10.0.0.0/8 > 10.1.0.0/16) and an account's resources placed in it."""
    account = make_account(organization)
    root = make_pool(organization, "10.0.0.0/8", name="corp")
    vpc = make_pool(organization, "10.1.0.0/16", parent=root, name="prod vpc")
    managed = factories.resource(
        account,
        "10.1.0.0/16",
        "vpc-prod",
        name="prod",
        pool=vpc,
        management_state="managed",
        overlap_status="nonoverlapping",
    )
    Pool.objects.filter(pk=vpc.pk).update(cloud_resource=managed, cloud_account=account)
    subnet = factories.resource(
        account,
        "10.1.2.0/24",
        "subnet-web",
        resource_type="subnet",
        name="web",
        pool=vpc,
        management_state="unmanaged",
        overlap_status="nonoverlapping",
    )
    outside = factories.resource(
        account,
        "192.168.0.0/24",
        "vpc-lab",
        name="lab",
        management_state="outside",
        overlap_status="nonoverlapping",
    )
    overlapping = factories.resource(
        account,
        "10.1.255.0/24",
        "subnet-edge",
        resource_type="subnet",
        name="edge",
        pool=vpc,
        management_state="unmanaged",
        overlap_status="overlapping",
    )
    gone = factories.resource(
        account,
        "10.1.9.0/24",
        "subnet-old",
        resource_type="subnet",
        name="old",
        pool=vpc,
        management_state="unmanaged",
        state="gone",
    )
    return {
        "account": account,
        "root": root,
        "vpc": vpc,
        "managed": managed,
        "subnet": subnet,
        "outside": outside,
        "overlapping": overlapping,
        "gone": gone,
    }


def ok(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# Every role reads every page; another organization's objects are 404s.


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_every_page(console, estate, role):  # type: ignore[no-untyped-def]
    client = console(role)
    run = factories.sync_run(estate["account"], counts={"seen": 4, "new": 4})
    pages = [
        "/discovery/",
        "/discovery/network/",
        f"/discovery/network/pools/{estate['vpc'].pk}/",
        f"/discovery/network/pools/{estate['root'].pk}/children/",
        "/discovery/network/pools/0/children/",
        "/discovery/resources/",
        f"/discovery/resources/{estate['subnet'].pk}/",
        "/discovery/runs/",
        f"/discovery/runs/{run.pk}/",
        "/discovery/drift/",
        f"/discovery/accounts/{estate['account'].pk}/runs/",
    ]
    for url in pages:
        html = ok(client.get(url))
        assert not re.search(r"\son[a-z]+=", html), url
    account_page = ok(client.get(f"/accounts/{estate['account'].pk}/"))
    assert ("Sync now</button>" in account_page) == (role in WRITERS)


@pytest.mark.parametrize(
    "url",
    [
        "/discovery/network/pools/{pool}/",
        "/discovery/network/pools/{pool}/children/",
        "/discovery/resources/{resource}/",
        "/discovery/runs/{run}/",
    ],
)
def test_another_organizations_objects_are_404(console, other_organization, url):  # type: ignore[no-untyped-def]
    account = make_account(other_organization, name="Theirs")
    pool = make_pool(other_organization, "10.0.0.0/8")
    resource = factories.resource(account, "10.0.0.0/16", "vpc-theirs")
    run = factories.sync_run(account)
    target = url.format(pool=pool.pk, resource=resource.pk, run=run.pk)
    assert console(Role.OWNER).get(target).status_code == 404


def test_pages_need_a_sign_in(client, estate):  # type: ignore[no-untyped-def]
    for url in ("/discovery/", "/discovery/network/", "/discovery/resources/", "/discovery/runs/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


# The network view.


def test_the_network_view_places_resources_under_their_pool_and_marks_them(console, estate):  # type: ignore[no-untyped-def]
    client = console(Role.VIEWER)
    html = ok(client.get("/discovery/network/"))
    assert 'aria-current="page">Discovery' in html
    assert f'data-pool="{estate["root"].pk}"' in html
    assert f'hx-get="/discovery/network/pools/{estate["root"].pk}/children/"' in html
    # Outside any pool, at the top level.
    assert f'data-resource="{estate["outside"].pk}" data-mark="outside"' in html
    # The root's level: the vpc pool, linked, with its three visible resources.
    level = ok(client.get(f"/discovery/network/pools/{estate['root'].pk}/children/"))
    assert "<html" not in level
    assert f'data-pool="{estate["vpc"].pk}"' in level
    assert "linked</span>" in level
    assert "3 resources" in level
    vpc_level = ok(client.get(f"/discovery/network/pools/{estate['vpc'].pk}/children/"))
    marks = dict(re.findall(r'data-resource="(\d+)" data-mark="(\w+)"', vpc_level))
    assert marks == {
        str(estate["managed"].pk): "managed",
        str(estate["subnet"].pk): "unmanaged",
        str(estate["overlapping"].pk): "overlapping",
    }


def test_an_orphaned_pool_is_marked(console, estate):  # type: ignore[no-untyped-def]
    from django.utils import timezone

    Pool.objects.filter(pk=estate["vpc"].pk).update(orphaned_at=timezone.now())
    level = ok(console().get(f"/discovery/network/pools/{estate['root'].pk}/children/"))
    assert 'data-mark="orphaned"' in level


def test_a_level_is_paged_never_rendered_whole(console, organization, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("apps.discovery.views.TREE_BATCH", 2)
    account = make_account(organization)
    root = make_pool(organization, "10.0.0.0/8")
    for n in range(3):
        make_pool(organization, f"10.{n}.0.0/16", parent=root)
        factories.resource(account, f"10.200.{n}.0/24", f"subnet-{n}", pool=root)
    client = console()
    first = ok(client.get(f"/discovery/network/pools/{root.pk}/children/"))
    assert first.count("data-pool=") == 2
    assert first.count("data-resource=") == 2
    assert f"/discovery/network/pools/{root.pk}/children/?part=pools&amp;offset=2" in first
    assert f"/discovery/network/pools/{root.pk}/children/?part=resources&amp;offset=2" in first
    more = ok(client.get(f"/discovery/network/pools/{root.pk}/children/?part=pools&offset=2"))
    assert more.count("data-pool=") == 1
    assert "data-resource=" not in more
    assert "Show more" not in more
    rest = ok(client.get(f"/discovery/network/pools/{root.pk}/children/?part=resources&offset=2"))
    assert re.findall(r">(10\.200\.\d\.0/24)<", rest) == ["10.200.2.0/24"]
    # A bad offset is the first batch, not an error.
    assert (
        ok(client.get(f"/discovery/network/pools/{root.pk}/children/?offset=x")).count("data-pool=")
        == 2
    )


def test_the_pool_page_draws_both_lanes_to_scale(console, estate):  # type: ignore[no-untyped-def]
    html = ok(console().get(f"/discovery/network/pools/{estate['root'].pk}/"))
    planned = re.findall(
        r'<rect class="bar-planned mark-(\w+)[^"]*" data-lane="planned" '
        r'x="([\d.]+)" y="0" width="([\d.]+)"',
        html,
    )
    assert planned == [("used", "3.906", "3.907")]
    discovered = re.findall(
        r'<rect class="bar-discovered mark-(\w+)[^"]*" data-lane="discovered" '
        r'x="([\d.]+)" y="(\d+)" width="([\d.]+)"',
        html,
    )
    # The vpc (managed) at depth 0, its two visible subnets one level deeper (inset), widened
    # to a tenth of a percent; the gone subnet and the lab (outside the pool) are not drawn.
    assert discovered == [
        ("managed", "3.906", "54", "3.907"),
        ("unmanaged", "3.936", "59", "1.000"),
        ("overlapping", "7.797", "59", "1.000"),
    ]
    assert "2 planned" not in html
    assert "1 planned child" in html
    assert "3 discovered CIDRs" in html
    assert "10.1.2.0/24" in html
    crumbs = re.search(r'<nav class="breadcrumbs".*?</nav>', html, re.S).group(0)
    assert "Network" in crumbs
    assert "10.0.0.0/8" in crumbs


# Resources.


def test_the_resources_browser_filters_and_shows_badges(console, estate):  # type: ignore[no-untyped-def]
    client = console(Role.VIEWER)
    html = ok(client.get("/discovery/resources/"))
    assert html.count("data-resource=") == 5
    assert 'data-state="gone"' in html
    assert 'data-overlap="overlapping"' in html
    assert 'data-management="outside"' in html

    def found(query: dict) -> list[str]:
        page = ok(client.get("/discovery/resources/", query))
        return re.findall(r'<td class="mono"><a href="/discovery/resources/\d+/">([^<]+)</a>', page)

    assert found({"management_state": "outside"}) == ["192.168.0.0/24"]
    assert found({"overlap_status": "overlapping"}) == ["10.1.255.0/24"]
    assert found({"state": "gone"}) == ["10.1.9.0/24"]
    assert found({"contains": "10.1.2.7"}) == ["10.1.0.0/16", "10.1.2.0/24"]
    assert found({"within": "10.1.0.0/17"}) == ["10.1.2.0/24", "10.1.9.0/24"]
    assert found({"cidr": "10.1.0.0/16"}) == ["10.1.0.0/16"]
    assert found({"q": "edge"}) == ["10.1.255.0/24"]
    assert found({"resource_type": "vpc", "region": "eu-west-1"}) == [
        "10.1.0.0/16",
        "192.168.0.0/24",
    ]
    assert found({"pool": estate["root"].pk, "state": "present"}) == [
        "10.1.0.0/16",
        "10.1.2.0/24",
        "10.1.255.0/24",
    ]
    assert found({"account": estate["account"].pk, "provider": "aws"})[0] == "10.1.0.0/16"


@pytest.mark.parametrize(
    "query",
    [
        {"contains": "10.0.0.999"},
        {"within": "10.0.0.1/8"},
        {"cidr": "x" * 500},
        {"pool": "abc"},
        {"pool": str(2**70)},
        {"account": "abc"},
        {"state": "nope"},
        {"ordering": "password"},
        {"page": "-3"},
        {"q": "%\x00"},
    ],
)
def test_bad_filter_input_is_a_form_error_never_a_500(console, estate, query):  # type: ignore[no-untyped-def]
    response = console().get("/discovery/resources/", query)
    assert response.status_code == 200
    html = response.content.decode()
    if "page" not in query and "q" not in query:
        assert 'class="form-errors"' in html
        assert "No resource matches these filters." in html


def test_a_host_bits_prefix_names_the_canonical_one(console, estate):  # type: ignore[no-untyped-def]
    html = ok(console().get("/discovery/resources/", {"within": "10.0.0.1/8"}))
    assert "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?" in html


def test_another_organizations_account_filters_nothing_in(console, estate, other_organization):  # type: ignore[no-untyped-def]
    theirs = make_account(other_organization, name="Theirs")
    factories.resource(theirs, "10.9.0.0/16", "vpc-theirs")
    html = ok(console().get("/discovery/resources/", {"account": theirs.pk}))
    assert "vpc-theirs" not in html
    assert "No resource matches these filters." in html


def test_the_resource_page_shows_reconciliation_pool_and_runs(console, estate):  # type: ignore[no-untyped-def]
    run = factories.sync_run(estate["account"])
    estate["managed"].last_seen_run = run
    estate["managed"].save()
    html = ok(console(Role.AUDITOR).get(f"/discovery/resources/{estate['managed'].pk}/"))
    assert "vpc-prod" in html
    assert 'data-mark="managed"' in html
    assert f'href="/pools/{estate["vpc"].pk}/"' in html  # the linked pool
    assert f'href="/discovery/network/pools/{estate["root"].pk}/"' in html  # its ancestors
    assert (
        f'href="/discovery/runs/{run.pk}/">#{run.pk}</a> <span class="badge info">last seen' in html
    )
    assert console().get("/discovery/resources/999999/").status_code == 404


# Sync runs.


def test_the_run_page_polls_while_active_and_stops_when_finished(console, estate):  # type: ignore[no-untyped-def]
    run = factories.sync_run(
        estate["account"],
        status="running",
        progress_percent=40,
        progress_message="Collecting eu-west-1",
        finished_at=None,
        regions=[
            {"region": "eu-west-1", "status": "complete", "records": 12},
            {
                "region": "us-east-1",
                "status": "failed",
                "records": 0,
                "error_code": "provider_error",
                "message": "HTTP 500",
            },
        ],
        counts={"seen": 12, "new": 3, "changed": 1, "unchanged": 8, "missing": 0, "gone": 0},
    )
    client = console(Role.VIEWER)
    html = ok(client.get(f"/discovery/runs/{run.pk}/"))
    assert f'hx-get="/discovery/runs/{run.pk}/" hx-trigger="every 2s"' in html
    assert 'aria-label="40.00% done"' in html
    assert "Collecting eu-west-1" in html
    assert 'data-count="new">3<' in html
    assert "provider_error</span> HTTP 500" in html
    partial = ok(client.get(f"/discovery/runs/{run.pk}/", HTTP_HX_REQUEST="true"))
    assert "<html" not in partial
    assert partial.lstrip().startswith('<div id="run-progress"') or 'id="run-progress"' in partial

    run.status = "completed"
    run.progress_percent = 100
    run.save()
    done = ok(client.get(f"/discovery/runs/{run.pk}/", HTTP_HX_REQUEST="true"))
    assert "hx-trigger" not in done
    assert 'data-status="completed" data-percent="100"' in done


def test_the_run_list_filters_by_status(console, estate):  # type: ignore[no-untyped-def]
    factories.sync_run(estate["account"], status="failed", error="worker lost")
    factories.sync_run(estate["account"], status="completed")
    client = console(Role.VIEWER)
    assert ok(client.get("/discovery/runs/")).count("data-run=") == 2
    failed = ok(client.get("/discovery/runs/", {"status": "failed"}))
    assert failed.count("data-run=") == 1
    assert 'data-status="failed"' in failed
    assert 'class="form-errors"' in ok(client.get("/discovery/runs/", {"status": "bogus"}))


def test_empty_states(console, organization):  # type: ignore[no-untyped-def]
    client = console(Role.VIEWER)
    assert "No discovered resource yet." in ok(client.get("/discovery/resources/"))
    assert "No sync run yet." in ok(client.get("/discovery/runs/"))
    assert "Nothing to show yet" in ok(client.get("/discovery/network/"))
    assert "No drift" in ok(client.get("/discovery/drift/"))


def test_pages_keep_a_fixed_number_of_queries(console, estate, django_assert_max_num_queries):  # type: ignore[no-untyped-def]
    client = console(Role.VIEWER)
    account = estate["account"]
    for n in range(30):
        factories.resource(account, f"10.1.100.{n}/32", f"eni-{n}", resource_type="eni")
    urls = [
        "/discovery/network/",
        f"/discovery/network/pools/{estate['vpc'].pk}/children/",
        f"/discovery/network/pools/{estate['root'].pk}/",
        "/discovery/resources/",
        "/discovery/runs/",
    ]
    for url in urls:
        with django_assert_max_num_queries(20):
            ok(client.get(url))


def test_a_large_estate_is_drawn_with_a_bounded_number_of_bars(console, organization):  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from apps.discovery.models import DiscoveredResource
    from apps.pools import cidr

    account = make_account(organization)
    pool = make_pool(organization, "10.0.0.0/16")
    now = timezone.now()
    rows = []
    for n in range(3000):
        row = DiscoveredResource(
            organization=organization,
            account=account,
            provider="aws",
            resource_type="eni",
            resource_id=f"eni-{n}",
            fingerprint="0" * 64,
            first_seen_at=now,
            last_seen_at=now,
            pool=pool,
            management_state="unmanaged",
        )
        row.set_prefix(cidr.Prefix(4, (10 << 24) + n * 20, 32))
        rows.append(row)
    DiscoveredResource.objects.bulk_create(rows)
    client = console()
    html = ok(client.get(f"/discovery/network/pools/{pool.pk}/"))
    bars = re.findall(r'<rect class="bar-discovered mark-unmanaged aggregated"', html)
    # 3,000 addresses 20 apart in a /16: bars of at most 1% of the lane, ~33 blocks each.
    assert 90 <= len(bars) <= 100
    assert "3000 discovered CIDRs" in html
    assert re.search(r"<title>\d+ blocks from 10\.0\.0\.0 to ", html)
    # The tree level shows the first batch and offers the rest.
    level = ok(client.get(f"/discovery/network/pools/{pool.pk}/children/"))
    assert level.count("data-resource=") == 100
    assert "Show more resources (3000 in all)" in level


def test_the_account_page_lists_its_runs_and_resources(console, estate, other_organization):  # type: ignore[no-untyped-def]
    account = estate["account"]
    run = factories.sync_run(account, counts={"seen": 5, "new": 5})
    client = console(Role.VIEWER)
    page = ok(client.get(f"/accounts/{account.pk}/"))
    assert f'hx-get="/discovery/accounts/{account.pk}/runs/" hx-trigger="load"' in page
    assert "Sync now" not in page
    html = ok(client.get(f"/discovery/accounts/{account.pk}/runs/", HTTP_HX_REQUEST="true"))
    assert "<html" not in html
    assert f'<a href="/discovery/runs/{run.pk}/">#{run.pk}</a>' in html
    assert re.findall(r'data-resources="(\w+)">(\d+)<', html) == [
        ("present", "4"),
        ("missing", "0"),
        ("gone", "1"),
    ]
    assert f'href="/discovery/resources/?account={account.pk}"' in html
    theirs = make_account(other_organization, name="Theirs")
    assert client.get(f"/discovery/accounts/{theirs.pk}/runs/").status_code == 404


def test_the_pool_page_links_its_network_view(console, estate):  # type: ignore[no-untyped-def]
    html = ok(console(Role.VIEWER).get(f"/pools/{estate['vpc'].pk}/"))
    assert f'href="/discovery/network/pools/{estate["vpc"].pk}/">Network view</a>' in html


def test_a_missing_resource_is_marked_missing_in_the_tree(console, estate):  # type: ignore[no-untyped-def]
    estate["subnet"].state = "missing"
    estate["subnet"].save()
    level = ok(console().get(f"/discovery/network/pools/{estate['vpc'].pk}/children/"))
    assert f'data-resource="{estate["subnet"].pk}" data-mark="missing"' in level
