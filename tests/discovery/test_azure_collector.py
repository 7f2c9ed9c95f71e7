"""The Azure collector against a fake Resource Manager, through the real SDK clients.

No database, no Django: the provider builds the management clients for the fake's endpoint
(``CLOUDPAM_AZURE_ENDPOINT_URL``), so the production code path is the one tested.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from apps.cloud.providers import ProviderConfig, azure
from apps.discovery.collectors import AccountRef, RetryPolicy
from apps.discovery.collectors import azure as collector
from apps.discovery.collectors.pacing import FakeClock, TokenBucket
from tests.fakes.azure import FakeArm

SUB = "5f1c7f53-0000-4000-8000-00000000a2e1"
LOCATIONS = ("eastus", "northeurope", "westeurope")


def arm(group: str, kind: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourcegroups/{group}/providers/microsoft.network/{kind}/{name}"


HUB = arm("net-rg", "virtualnetworks", "hub")
SPOKE = arm("app-rg", "virtualnetworks", "spoke")
DR = arm("dr-rg", "virtualnetworks", "dr")
VM1 = arm("net-rg", "networkinterfaces", "vm1-nic")
VM2 = arm("net-rg", "networkinterfaces", "vm2-nic")
API = arm("app-rg", "networkinterfaces", "api-nic")
PIP_VM1 = arm("net-rg", "publicipaddresses", "pip-vm1")
PIP_SPARE = arm("app-rg", "publicipaddresses", "pip-spare")
PIP_V6 = arm("dr-rg", "publicipaddresses", "pip-v6")
EGRESS = arm("app-rg", "publicipprefixes", "egress")

# The estate below, as records: (type, resource id, CIDR, location, parent, network).
EXPECTED = {
    ("vnet", HUB, "10.1.0.0/16", "westeurope", "", HUB),
    ("vnet", HUB, "fd00:db8:1::/48", "westeurope", "", HUB),
    ("subnet", f"{HUB}/subnets/app", "10.1.1.0/24", "westeurope", HUB, HUB),
    ("subnet", f"{HUB}/subnets/dual", "10.1.2.0/24", "westeurope", HUB, HUB),
    ("subnet", f"{HUB}/subnets/dual", "fd00:db8:1:2::/64", "westeurope", HUB, HUB),
    ("subnet", f"{HUB}/subnets/gatewaysubnet", "10.1.255.0/27", "westeurope", HUB, HUB),
    ("nic", VM1, "10.1.1.4/32", "westeurope", f"{HUB}/subnets/app", HUB),
    ("nic", VM1, "10.1.1.5/32", "westeurope", f"{HUB}/subnets/app", HUB),
    ("nic", VM2, "10.1.2.4/32", "westeurope", f"{HUB}/subnets/dual", HUB),
    ("nic", VM2, "fd00:db8:1:2::4/128", "westeurope", f"{HUB}/subnets/dual", HUB),
    ("public_ip", PIP_VM1, "20.50.0.10/32", "westeurope", VM1, ""),
    ("vnet", SPOKE, "10.2.0.0/16", "eastus", "", SPOKE),
    ("vnet", SPOKE, "10.3.0.0/16", "eastus", "", SPOKE),
    ("subnet", f"{SPOKE}/subnets/s1", "10.2.0.0/24", "eastus", SPOKE, SPOKE),
    ("subnet", f"{SPOKE}/subnets/s2", "10.3.0.0/24", "eastus", SPOKE, SPOKE),
    ("nic", API, "10.2.0.4/32", "eastus", f"{SPOKE}/subnets/s1", SPOKE),
    ("public_ip", PIP_SPARE, "40.80.0.1/32", "eastus", "", ""),
    ("public_ip", EGRESS, "40.90.0.0/30", "eastus", "", ""),
    ("vnet", DR, "10.9.0.0/16", "northeurope", "", DR),
    ("subnet", f"{DR}/subnets/default", "10.9.0.0/24", "northeurope", DR, DR),
    ("public_ip", PIP_V6, "2603:1020:5:1::11/128", "northeurope", "", ""),
}  # fmt: skip


def in_location(location: str) -> set[tuple[str, ...]]:
    return {row for row in EXPECTED if row[3] == location}


@pytest.fixture
def fake() -> Iterator[FakeArm]:
    """Serve the estate of EXPECTED: three locations, westeurope over three pages."""
    fake = FakeArm(SUB)
    hub = fake.add_vnet(
        "net-rg",
        "hub",
        "westeurope",
        ["10.1.0.0/16", "fd00:db8:1::/48"],
        {
            "app": ["10.1.1.0/24"],
            "dual": ["10.1.2.0/24", "fd00:db8:1:2::/64"],
            "GatewaySubnet": ["10.1.255.0/27"],
        },
        tags={"env": "prod"},
    )
    app, dual = (subnet["id"] for subnet in hub["properties"]["subnets"][:2])
    vm1 = fake.add_nic("net-rg", "vm1-nic", "westeurope", [(app, "10.1.1.4"), (app, "10.1.1.5")])
    fake.add_nic("net-rg", "vm2-nic", "westeurope", [(dual, "10.1.2.4"), (dual, "fd00:db8:1:2::4")])
    first_config = vm1["properties"]["ipConfigurations"][0]["id"]
    fake.add_public_ip("net-rg", "pip-vm1", "westeurope", "20.50.0.10", attached_to=first_config)
    fake.add_public_ip("net-rg", "pip-pending", "westeurope", None, allocation="Dynamic")
    spoke = fake.add_vnet(
        "app-rg", "spoke", "eastus", ["10.2.0.0/16", "10.3.0.0/16"],
        {"s1": ["10.2.0.0/24"], "s2": ["10.3.0.0/24"]},
    )  # fmt: skip
    fake.add_nic(
        "app-rg", "api-nic", "eastus", [(spoke["properties"]["subnets"][0]["id"], "10.2.0.4")]
    )
    fake.add_public_ip("app-rg", "pip-spare", "eastus", "40.80.0.1")
    fake.add_public_ip_prefix("app-rg", "egress", "eastus", "40.90.0.0/30")
    fake.add_vnet("dr-rg", "dr", "northeurope", ["10.9.0.0/16"], {"default": ["10.9.0.0/24"]})
    fake.add_public_ip("dr-rg", "pip-v6", "northeurope", "2603:1020:5:1::11")
    with fake:
        yield fake


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "PAGE_SIZE", 2)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def collect(fake: FakeArm, sleeps: list[float], regions: tuple[str, ...] = ()):
    config = ProviderConfig("azure", SUB, "client_secret", endpoint_url=fake.url)
    policy = RetryPolicy(sleep=sleeps.append, random=lambda: 0.0)
    collection = collector.collect(
        azure.client_factory(config), AccountRef("azure", SUB), regions, policy=policy
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


def graph_queries(fake: FakeArm, location: str) -> list[dict]:
    bodies = [json.loads(q.body) for q in fake.requests if q.method == "POST"]
    return [body for body in bodies if f"'{location}'" in body["query"]]


def test_the_estate_is_collected_exactly_following_every_page(
    fake: FakeArm, sleeps: list[float]
) -> None:
    collection, records, rows = collect(fake, sleeps)

    assert rows == EXPECTED
    assert outcomes(collection) == [(location, True, None) for location in LOCATIONS]
    assert [o.records for o in collection.outcomes] == [len(in_location(n)) for n in LOCATIONS]
    # Five resources two a page: westeurope took three pages.
    tokens = [body["options"].get("$skipToken") for body in graph_queries(fake, "westeurope")]
    assert tokens == [None, "2", "4"]
    assert sleeps == []
    by_key = {(r.resource_id, r.cidr): r for r in records}
    hub = by_key[(HUB, "10.1.0.0/16")]
    assert (hub.provider, hub.name, hub.state, hub.tags) == (
        "azure", "hub", "Succeeded", {"env": "prod"}
    )  # fmt: skip
    assert (hub.account_external_id, hub.attributes["resource_group"]) == (SUB, "net-rg")
    second = by_key[(VM1, "10.1.1.5/32")]
    assert (second.attributes["ip_configuration"], second.attributes["primary"]) == (
        "ipconfig2", False
    )  # fmt: skip
    prefix = by_key[(EGRESS, "40.90.0.0/30")]
    assert (prefix.attributes["kind"], prefix.attributes["sku"]) == ("prefix", "Standard")


def test_a_location_answering_500_fails_alone_after_five_tries(
    fake: FakeArm, sleeps: list[float]
) -> None:
    fake.fail("'eastus'", 500, times=None)

    collection, _records, rows = collect(fake, sleeps)

    assert rows == EXPECTED - in_location("eastus")
    assert outcomes(collection) == [
        ("eastus", False, "provider_error"),
        ("northeurope", True, None),
        ("westeurope", True, None),
    ]
    assert len(graph_queries(fake, "eastus")) == 5
    assert len(sleeps) == 4


def test_a_429_with_retry_after_is_retried_and_the_collection_completes(
    fake: FakeArm, sleeps: list[float]
) -> None:
    fake.fail("'westeurope'", 429, retry_after=2)

    collection, _records, rows = collect(fake, sleeps)

    assert rows == EXPECTED
    assert collection.failed_regions == ()
    assert sleeps == [2.0]
    assert len(graph_queries(fake, "westeurope")) == 4


def test_access_denied_is_not_retried(fake: FakeArm, sleeps: list[float]) -> None:
    fake.fail("'northeurope'", 403, times=None)

    collection, _records, rows = collect(fake, sleeps)

    assert rows == EXPECTED - in_location("northeurope")
    assert ("northeurope", False, "access_denied") in outcomes(collection)
    assert len(graph_queries(fake, "northeurope")) == 1


def test_a_truncated_answer_leaves_the_location_incomplete(
    fake: FakeArm, sleeps: list[float]
) -> None:
    fake.truncate = True

    collection, _records, _rows = collect(fake, sleeps, regions=("westeurope",))

    assert outcomes(collection) == [("westeurope", False, "provider_error")]
    assert collection.outcomes[0].records > 0


def test_named_locations_skip_the_location_query(fake: FakeArm, sleeps: list[float]) -> None:
    collection, _records, rows = collect(fake, sleeps, regions=("northeurope",))

    assert rows == in_location("northeurope")
    assert outcomes(collection) == [("northeurope", True, None)]
    assert len(fake.requests) == 1


def test_locations_that_cannot_be_listed_are_one_failed_unit(
    fake: FakeArm, sleeps: list[float]
) -> None:
    fake.fail("distinct location", 503, times=None)

    collection, _records, rows = collect(fake, sleeps)

    assert rows == set()
    assert outcomes(collection) == [("*", False, "provider_error")]


def test_every_page_waits_for_the_token_bucket(fake: FakeArm) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, capacity=1, clock=clock.now, sleep=clock.sleep)
    config = ProviderConfig("azure", SUB, "client_secret", endpoint_url=fake.url)
    policy = RetryPolicy(sleep=clock.sleep, bucket=bucket)

    collection = collector.collect(
        azure.client_factory(config), AccountRef("azure", SUB), policy=policy
    )

    assert len(list(collection)) == len(EXPECTED)
    # One call a second after the first: the bucket saw every page.
    assert clock.slept == len(fake.requests) - 1
    assert (
        collector.default_policy(
            AccountRef("azure", SUB, settings={"requests_per_second": 3})
        ).bucket.rate
        == 3
    )


def test_a_location_name_cannot_change_the_query(fake: FakeArm, sleeps: list[float]) -> None:
    collection, _records, rows = collect(fake, sleeps, regions=("eastus' or location =~ 'x",))

    assert rows == set()
    assert outcomes(collection) == [("eastus' or location =~ 'x", False, "provider_error")]
    assert fake.requests == []
