"""The GCP collector against a fake Compute Engine API, through the real SDK clients.

No database, no Django: the provider builds google-cloud-compute clients for the fake's
endpoint (``CLOUDPAM_GCP_ENDPOINT_URL``), so the production code path is the one tested.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.cloud.providers import ProviderConfig, gcp
from apps.discovery.collectors import AccountRef, RetryPolicy
from apps.discovery.collectors import gcp as collector
from apps.discovery.collectors.pacing import FakeClock, TokenBucket
from tests.fakes.gcp import FakeCompute

PROJECT = "acme-net"
P = f"projects/{PROJECT}"
REGIONS = ("europe-west1", "us-central1", "asia-east1")


def net(name: str) -> str:
    return f"{P}/global/networks/{name}"


def subnet(region: str, name: str, cidr: str, network: str = "prod") -> tuple[str, ...]:
    resource_id = f"{P}/regions/{region}/subnetworks/{name}"
    return ("subnetwork", resource_id, cidr, region, net(network), net(network))


def address(
    name: str, cidr: str, region: str = "global", parent: str = "", network: str = ""
) -> tuple[str, ...]:
    scope = f"regions/{region}" if region != "global" else "global"
    return ("address", f"{P}/{scope}/addresses/{name}", cidr, region, parent, network)


EU_WEB = f"{P}/regions/europe-west1/subnetworks/web"
EU_EDGE = f"{P}/regions/europe-west1/subnetworks/edge"
US_DB = f"{P}/regions/us-central1/subnetworks/db"

# The estate below, as records: (type, resource id, CIDR, region, parent, network).
EXPECTED = {
    ("network", net("legacy"), "10.240.0.0/16", "global", "", net("legacy")),
    address("global-lb", "34.120.0.1/32"),
    address("global-v6", "2600:1901:0:abcd::/128"),
    address("peering", "10.100.0.0/16", parent=net("prod"), network=net("prod")),
    address("psc", "10.200.0.5/32", parent=net("prod"), network=net("prod")),
    subnet("europe-west1", "auto", "10.132.0.0/20", network="auto"),
    subnet("europe-west1", "web", "10.0.0.0/24"),
    subnet("europe-west1", "web", "10.4.0.0/14"),
    subnet("europe-west1", "web", "10.8.0.0/20"),
    subnet("europe-west1", "web", "fd20:0:0:1::/64"),
    subnet("europe-west1", "edge", "10.0.1.0/24"),
    subnet("europe-west1", "edge", "2600:1900:4010:1::/64"),
    address("web-vm", "10.0.0.5/32", "europe-west1", parent=EU_WEB),
    address("lb-ip", "34.76.10.20/32", "europe-west1"),
    address("v6-ext", "2600:1900:4010:1:0:5::/96", "europe-west1", parent=EU_EDGE),
    subnet("us-central1", "auto", "10.128.0.0/20", network="auto"),
    subnet("us-central1", "db", "10.1.0.0/24"),
    subnet("us-central1", "batch", "10.1.1.0/24"),
    subnet("us-central1", "batch", "10.12.0.0/16"),
    address("nat-1", "35.192.0.1/32", "us-central1"),
    address("nat-2", "35.192.0.2/32", "us-central1"),
    address("db-primary", "10.1.0.10/32", "us-central1", parent=US_DB),
    subnet("asia-east1", "auto", "10.140.0.0/20", network="auto"),
    address("spare", "34.80.0.9/32", "asia-east1"),
}


def in_region(region: str) -> set[tuple[str, ...]]:
    return {row for row in EXPECTED if row[3] == region}


@pytest.fixture
def fake() -> Iterator[FakeCompute]:
    """Serve the estate of EXPECTED: three regions, every list two pages or more."""
    fake = FakeCompute(PROJECT, REGIONS)
    prod = fake.add_network("prod")
    fake.add_network("legacy", mode="legacy", ipv4_range="10.240.0.0/16")
    auto = fake.add_network("auto", mode="auto")
    for region, cidr in zip(
        REGIONS, ("10.132.0.0/20", "10.128.0.0/20", "10.140.0.0/20"), strict=True
    ):
        fake.add_subnetwork(region, "auto", auto, cidr)
    web = fake.add_subnetwork(
        "europe-west1",
        "web",
        prod,
        "10.0.0.0/24",
        secondary={"pods": "10.4.0.0/14", "services": "10.8.0.0/20"},
        ipv6_internal="fd20:0:0:1::/64",
    )
    edge = fake.add_subnetwork(
        "europe-west1", "edge", prod, "10.0.1.0/24", ipv6_external="2600:1900:4010:1::/64"
    )
    fake.add_address(
        "web-vm", "10.0.0.5", region="europe-west1", address_type="INTERNAL",
        subnetwork=web, status="IN_USE", purpose="GCE_ENDPOINT",
    )  # fmt: skip
    fake.add_address("lb-ip", "34.76.10.20", region="europe-west1", labels={"team": "edge"})
    fake.add_address(
        "v6-ext", "2600:1900:4010:1:0:5::", region="europe-west1", subnetwork=edge,
        prefix_length=96,
    )  # fmt: skip
    db = fake.add_subnetwork("us-central1", "db", prod, "10.1.0.0/24")
    fake.add_subnetwork(
        "us-central1", "batch", prod, "10.1.1.0/24", secondary={"jobs": "10.12.0.0/16"}
    )
    fake.add_address("nat-1", "35.192.0.1", region="us-central1", status="IN_USE")
    fake.add_address("nat-2", "35.192.0.2", region="us-central1", status="IN_USE")
    fake.add_address(
        "db-primary", "10.1.0.10", region="us-central1", address_type="INTERNAL", subnetwork=db
    )
    fake.add_address("spare", "34.80.0.9", region="asia-east1")
    fake.add_address("global-lb", "34.120.0.1")
    fake.add_address("global-v6", "2600:1901:0:abcd::")
    fake.add_address(
        "peering", "10.100.0.0", address_type="INTERNAL", network=prod, prefix_length=16,
        purpose="VPC_PEERING",
    )  # fmt: skip
    fake.add_address(
        "psc", "10.200.0.5", address_type="INTERNAL", network=prod,
        purpose="PRIVATE_SERVICE_CONNECT",
    )  # fmt: skip
    with fake:
        yield fake


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "PAGE_SIZE", 2)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def collect(fake: FakeCompute, sleeps: list[float], regions: tuple[str, ...] = ()):
    config = ProviderConfig("gcp", PROJECT, "service_account_key", endpoint_url=fake.url)
    policy = RetryPolicy(sleep=sleeps.append, random=lambda: 0.0)
    collection = collector.collect(
        gcp.client_factory(config), AccountRef("gcp", PROJECT), regions, policy=policy
    )
    records = list(collection)
    rows = [
        (r.resource_type, r.resource_id, r.cidr, r.region, r.parent_resource_id, r.network_id)
        for r in records
    ]
    assert len(rows) == len(set(rows)), "a record came out twice"
    return collection, records, set(rows)


def outcomes(collection) -> list[tuple[str, bool, str | None]]:
    return [(o.region, o.ok, o.error_code) for o in collection.outcomes]


def test_the_estate_is_collected_exactly_following_every_page(
    fake: FakeCompute, sleeps: list[float]
) -> None:
    collection, records, rows = collect(fake, sleeps)

    assert rows == EXPECTED
    assert outcomes(collection) == [("global", True, None)] + [(r, True, None) for r in REGIONS]
    assert [o.records for o in collection.outcomes] == [
        len(in_region(r)) for r in ("global", *REGIONS)
    ]
    # Two items a page: europe-west1's three subnetworks took a second page.
    subnet_pages = [
        q.query.get("pageToken", "")
        for q in fake.requests
        if q.path.endswith("europe-west1/subnetworks")
    ]
    assert subnet_pages == ["", "2"]
    assert sleeps == []
    by_key = {(r.resource_id, r.cidr): r for r in records}
    web = by_key[(f"{P}/regions/europe-west1/subnetworks/web", "10.4.0.0/14")]
    assert (web.provider, web.name, web.account_external_id) == ("gcp", "web", PROJECT)
    assert web.attributes["range"] == "pods"
    lb = by_key[(f"{P}/regions/europe-west1/addresses/lb-ip", "34.76.10.20/32")]
    assert (lb.tags, lb.state, lb.attributes["address_type"]) == (
        {"team": "edge"},
        "RESERVED",
        "EXTERNAL",
    )


def test_a_region_answering_500_fails_alone_after_five_tries(
    fake: FakeCompute, sleeps: list[float]
) -> None:
    fake.fail("/regions/us-central1/", 500, times=None)

    collection, _records, rows = collect(fake, sleeps)

    assert rows == EXPECTED - in_region("us-central1")
    assert outcomes(collection) == [
        ("global", True, None),
        ("europe-west1", True, None),
        ("us-central1", False, "provider_error"),
        ("asia-east1", True, None),
    ]
    assert collection.failed_regions == ("us-central1",)
    assert sum("/regions/us-central1/" in q.path for q in fake.requests) == 5
    assert len(sleeps) == 4


def test_a_region_failing_midway_keeps_its_first_records_but_is_not_complete(
    fake: FakeCompute, sleeps: list[float]
) -> None:
    fake.fail("/regions/europe-west1/addresses", 503, times=None)

    collection, _records, rows = collect(fake, sleeps)

    europe_subnets = {r for r in in_region("europe-west1") if r[0] == "subnetwork"}
    assert rows == (EXPECTED - in_region("europe-west1")) | europe_subnets
    assert "europe-west1" not in collection.complete_regions
    assert collection.outcomes[1].records == len(europe_subnets)


def test_a_429_with_retry_after_is_retried_and_the_collection_completes(
    fake: FakeCompute, sleeps: list[float]
) -> None:
    fake.fail("/regions/asia-east1/subnetworks", 429, retry_after=3)

    collection, _records, rows = collect(fake, sleeps)

    assert rows == EXPECTED
    assert collection.failed_regions == ()
    assert sleeps == [3.0]
    assert sum(q.path.endswith("asia-east1/subnetworks") for q in fake.requests) == 2


def test_access_denied_is_not_retried(fake: FakeCompute, sleeps: list[float]) -> None:
    fake.fail("/regions/europe-west1/subnetworks", 403, times=None)

    collection, _records, _rows = collect(fake, sleeps)

    assert ("europe-west1", False, "access_denied") in outcomes(collection)
    assert sum(q.path.endswith("europe-west1/subnetworks") for q in fake.requests) == 1
    assert sleeps == []


def test_named_regions_skip_the_region_listing(fake: FakeCompute, sleeps: list[float]) -> None:
    collection, _records, rows = collect(fake, sleeps, regions=("global", "asia-east1"))

    assert rows == in_region("global") | in_region("asia-east1")
    assert outcomes(collection) == [("global", True, None), ("asia-east1", True, None)]
    assert not any(q.path.endswith(f"{P}/regions") for q in fake.requests)


def test_regions_that_cannot_be_listed_are_one_failed_unit(
    fake: FakeCompute, sleeps: list[float]
) -> None:
    fake.fail(f"/{P}/regions?", 500, times=None)

    collection, _records, rows = collect(fake, sleeps)

    assert rows == in_region("global")
    assert outcomes(collection) == [("global", True, None), ("*", False, "provider_error")]


def test_every_page_waits_for_the_token_bucket(fake: FakeCompute) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, capacity=1, clock=clock.now, sleep=clock.sleep)
    config = ProviderConfig("gcp", PROJECT, "service_account_key", endpoint_url=fake.url)
    policy = RetryPolicy(sleep=clock.sleep, bucket=bucket)

    collection = collector.collect(
        gcp.client_factory(config), AccountRef("gcp", PROJECT), policy=policy
    )

    assert len(list(collection)) == len(EXPECTED)
    # One call a second after the first: the bucket saw every page.
    assert clock.slept == len(fake.requests) - 1


def test_the_account_setting_paces_the_calls() -> None:
    policy = collector.default_policy(
        AccountRef("gcp", PROJECT, settings={"requests_per_second": 4})
    )
    assert policy.bucket is not None
    assert policy.bucket.rate == 4
    assert collector.default_policy(AccountRef("gcp", PROJECT)).bucket.rate == 10


def test_the_fakes_aggregated_list_agrees_with_its_regional_lists(fake: FakeCompute) -> None:
    """The aggregated wire format (``items`` keyed by ``regions/<r>``) as the SDK reads it."""
    config = ProviderConfig("gcp", PROJECT, "default_chain", endpoint_url=fake.url)
    client = gcp.client_factory(config)("subnetworks")
    pages = client.aggregated_list(request={"project": PROJECT, "max_results": 2})
    found = [(scope, s.name) for scope, scoped in pages for s in scoped.subnetworks]
    assert sorted(found) == sorted(
        (f"regions/{region}", subnet["name"])
        for region in REGIONS
        for subnet in fake.subnetworks[region]
    )
    assert len(found) == 7
