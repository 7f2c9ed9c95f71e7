"""The AWS collector against moto's server: exact estates, paging, failing regions, retries."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from apps.cloud.providers import ProviderConfig
from apps.cloud.providers.aws import client_factory
from apps.discovery.collectors import AccountRef, ProviderError, RetryPolicy
from apps.discovery.collectors.aws import collect, eip_records, eni_records, subnet_records
from apps.discovery.collectors.pacing import FakeClock
from tests.discovery.aws_fake import ACCOUNT, FakeAws, build_estate, expected

REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2")
# Five items a page (EC2's smallest) so every list of the estate takes two pages or more.
PAGE = {"page_size": 5}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAws]:
    with FakeAws() as fake:
        yield fake


@pytest.fixture(scope="module")
def estate(server: FakeAws) -> dict[str, set]:
    """Build the estate once: the tests only read it (faults and the log are per test)."""
    server.reset()
    # Six VPCs of two subnets with an interface of two addresses each make every paged list
    # two pages of five or more: 6 VPCs, 12 subnets, 12 interfaces.
    return {
        region: build_estate(
            server.client("ec2", region), region, vpcs=6, subnets=2, interfaces=1, eips=3
        )
        for region in REGIONS
    }


@pytest.fixture
def aws(server: FakeAws, estate: dict[str, set], monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    server.faults.clear()
    server.seen.clear()
    return server


def account_config(aws: FakeAws) -> ProviderConfig:
    return ProviderConfig(
        provider="aws",
        external_id=ACCOUNT,
        auth_method="access_keys",
        options={"access_key_id": "AKIAEXAMPLE"},
        secrets={"secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
        endpoint_url=aws.url,
    )


def account(**settings: object) -> AccountRef:
    return AccountRef("aws", ACCOUNT, "prod", {**PAGE, **settings})


def instant(clock: FakeClock) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, random=lambda: 1.0)


def test_an_estate_of_several_regions_is_collected_exactly(
    aws: FakeAws, estate: dict[str, set]
) -> None:
    collection = collect(client_factory(account_config(aws)), account(), REGIONS)
    records = list(collection)

    assert {expected(found) for found in records} == set().union(*estate.values())
    assert len(records) == sum(len(want) for want in estate.values())
    assert [(o.region, o.ok, o.records) for o in collection.outcomes] == [
        (region, True, len(estate[region])) for region in REGIONS
    ]
    assert {found.account_external_id for found in records} == {ACCOUNT}
    for region in REGIONS:
        for action in ("DescribeVpcs", "DescribeSubnets", "DescribeNetworkInterfaces"):
            tokens = [seen.params.get("NextToken") for seen in aws.requests(action, region)]
            assert tokens[:2] == [None, "5"], (action, region)


def test_records_carry_tags_state_and_attributes(aws: FakeAws, estate: dict[str, set]) -> None:
    records = list(collect(client_factory(account_config(aws)), account(), ["eu-west-1"]))

    vpc = next(r for r in records if r.resource_type == "vpc" and ":" in r.cidr)
    assert vpc.tags == {"Name": "eu-west-1-vpc-0", "app": "cloudpam"}
    assert vpc.state == "available"
    assert vpc.attributes["ipv6_pool"] == "Amazon"
    eni = next(r for r in records if r.resource_type == "eni" and r.cidr.endswith(".4/32"))
    assert eni.attributes["primary"] is True
    assert eni.state == "available"
    eips = sorted(
        (r.state, bool(r.parent_resource_id)) for r in records if r.resource_type == "eip"
    )
    assert eips == [("associated", True), ("associated", True), ("unassociated", False)]


def test_one_region_answering_500_fails_that_region_only(
    aws: FakeAws, estate: dict[str, set]
) -> None:
    aws.fail(region="us-east-1", service="ec2", status=500, code="InternalError")
    clock = FakeClock()

    collection = collect(
        client_factory(account_config(aws)), account(), REGIONS, policy=instant(clock)
    )
    records = list(collection)

    assert {expected(found) for found in records} == estate["eu-west-1"] | estate["ap-southeast-2"]
    assert [(o.region, o.ok, o.error_code) for o in collection.outcomes] == [
        ("eu-west-1", True, None),
        ("us-east-1", False, "provider_error"),
        ("ap-southeast-2", True, None),
    ]
    assert collection.outcomes[1].error_message == (
        "We encountered an internal error. Please try again."
    )
    # Five tries in all, none of them botocore's own: the collector's clients try once.
    assert len(aws.requests("DescribeVpcs", "us-east-1")) == 5
    assert clock.slept == pytest.approx(0.5 + 1 + 2 + 4)


@pytest.mark.parametrize(
    ("status", "code", "headers"),
    [
        (429, "TooManyRequests", {"Retry-After": "7"}),
        (400, "Throttling", {"Retry-After": "7"}),
        (503, "RequestLimitExceeded", {"Retry-After": "7"}),
    ],
)
def test_throttling_is_retried_after_retry_after_and_succeeds(
    aws: FakeAws, estate: dict[str, set], status: int, code: str, headers: dict[str, str]
) -> None:
    fault = aws.fail(
        region="eu-west-1",
        action="DescribeSubnets",
        status=status,
        code=code,
        headers=headers,
        times=2,
    )
    clock = FakeClock()

    collection = collect(
        client_factory(account_config(aws)), account(), ["eu-west-1"], policy=instant(clock)
    )

    assert {expected(found) for found in collection} == estate["eu-west-1"]
    assert collection.complete_regions == ("eu-west-1",)
    assert fault.used == 2
    assert clock.slept == 14.0
    assert len(aws.requests("DescribeSubnets", "eu-west-1")) == 5  # three pages, two retries


def test_a_failed_page_is_retried_from_its_own_token(aws: FakeAws, estate: dict[str, set]) -> None:
    aws.fail(
        region="eu-west-1",
        action="DescribeNetworkInterfaces",
        when=lambda params: params.get("NextToken") == "5",
        times=1,
    )

    collection = collect(
        client_factory(account_config(aws)), account(), ["eu-west-1"], policy=instant(FakeClock())
    )

    assert {expected(found) for found in collection} == estate["eu-west-1"]
    tokens = [s.params.get("NextToken") for s in aws.requests("DescribeNetworkInterfaces")]
    assert tokens == [None, "5", "5", "10"]


def test_throttled_to_the_end_fails_the_region_as_throttled(
    aws: FakeAws, estate: dict[str, set]
) -> None:
    aws.fail(region="eu-west-1", action="DescribeAddresses", status=429, code="Throttling")

    collection = collect(
        client_factory(account_config(aws)), account(), ["eu-west-1"], policy=instant(FakeClock())
    )
    records = list(collection)

    assert {r.resource_type for r in records} == {"vpc", "subnet"}  # what came before
    assert collection.outcomes[0].error_code == "throttled"
    assert collection.failed_regions == ("eu-west-1",)
    assert len(aws.requests("DescribeAddresses")) == 5


def test_access_denied_is_not_retried(aws: FakeAws) -> None:
    aws.fail(status=403, code="UnauthorizedOperation", message="You are not authorized.")

    collection = collect(
        client_factory(account_config(aws)), account(), ["eu-west-1"], policy=instant(FakeClock())
    )

    assert list(collection) == []
    assert [(o.ok, o.error_code, o.error_message) for o in collection.outcomes] == [
        (False, "access_denied", "You are not authorized.")
    ]
    assert len(aws.requests("DescribeVpcs")) == 1


def test_no_regions_means_every_enabled_region(aws: FakeAws, estate: dict[str, set]) -> None:
    # moto ignores the opt-in filter and lists every region; AWS, for an account that opted
    # in to none, answers with the regions needing no opt-in, as here.
    enabled = (*REGIONS, "eu-central-1")
    items = "".join(
        f"<item><regionName>{name}</regionName><optInStatus>opt-in-not-required</optInStatus>"
        f"<regionEndpoint>ec2.{name}.amazonaws.com</regionEndpoint></item>"
        for name in enabled
    )
    aws.fail(
        action="DescribeRegions",
        status=200,
        answer=(
            '<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            f"<requestId>r</requestId><regionInfo>{items}</regionInfo></DescribeRegionsResponse>"
        ).encode(),
    )

    collection = collect(client_factory(account_config(aws)), account(requests_per_second=1000))
    records = list(collection)

    assert [o.region for o in collection.outcomes] == sorted(enabled)
    assert collection.failed_regions == ()
    assert {expected(r) for r in records if r.region in REGIONS} == set().union(*estate.values())
    # Untouched by the estate, eu-central-1 holds the default VPC moto makes on first sight.
    assert {(r.resource_type, r.cidr) for r in records if r.region == "eu-central-1"} >= {
        ("vpc", "172.31.0.0/16")
    }
    (listing,) = aws.requests("DescribeRegions")
    assert (listing.service, listing.region) == ("ec2", "us-east-1")
    assert listing.params["Filter.1.Name"] == "opt-in-status"
    assert {listing.params["Filter.1.Value.1"], listing.params["Filter.1.Value.2"]} == {
        "opt-in-not-required",
        "opted-in",
    }


def test_regions_unknown_when_their_listing_fails(aws: FakeAws) -> None:
    aws.fail(action="DescribeRegions", status=403, code="UnauthorizedOperation", message="No.")

    with pytest.raises(ProviderError) as caught:
        collect(client_factory(account_config(aws)), account(), ())

    assert (caught.value.code, caught.value.message) == ("access_denied", "No.")


def test_the_token_bucket_bounds_the_call_rate(aws: FakeAws) -> None:
    collection = collect(
        client_factory(account_config(aws)), account(requests_per_second=2), ["eu-central-1"]
    )

    started = time.monotonic()
    list(collection)

    # Four calls for a region of one page each (moto's default VPC only); at two a second
    # with a burst of two, the last two wait half a second each.
    assert len(aws.seen) == 4
    assert time.monotonic() - started >= 0.95


def test_interface_prefixes_and_ipv6_become_records() -> None:
    interface = {
        "NetworkInterfaceId": "eni-1",
        "VpcId": "vpc-1",
        "SubnetId": "subnet-1",
        "Status": "in-use",
        "Attachment": {"InstanceId": "i-1"},
        "TagSet": [{"Key": "Name", "Value": "web"}],
        "PrivateIpAddresses": [
            {
                "PrivateIpAddress": "10.0.0.5",
                "Primary": True,
                "Association": {"PublicIp": "203.0.113.9"},
            },
        ],
        "Ipv6Addresses": [{"Ipv6Address": "2600:1f18::5", "IsPrimaryIpv6": True}],
        "Ipv4Prefixes": [{"Ipv4Prefix": "10.0.0.16/28"}],
        "Ipv6Prefixes": [{"Ipv6Prefix": "2600:1f18:0:0:1::/80"}],
    }

    records = list(eni_records(interface, "eu-west-1", ACCOUNT))

    assert [(r.cidr, r.name, r.network_id, r.parent_resource_id) for r in records] == [
        ("10.0.0.5/32", "web", "vpc-1", "subnet-1"),
        ("2600:1f18::5/128", "web", "vpc-1", "subnet-1"),
        ("10.0.0.16/28", "web", "vpc-1", "subnet-1"),
        ("2600:1f18:0:0:1::/80", "web", "vpc-1", "subnet-1"),
    ]
    assert records[0].attributes == {
        "primary": True,
        "public_ip": "203.0.113.9",
        "instance_id": "i-1",
    }
    assert records[2].attributes["delegated_prefix"] is True


def test_only_associated_subnet_ipv6_blocks_count_in_either_state_shape() -> None:
    subnet = {
        "SubnetId": "subnet-1",
        "VpcId": "vpc-1",
        "State": "available",
        "CidrBlock": "10.0.1.0/24",
        "Ipv6CidrBlockAssociationSet": [
            # AWS's shape, then moto's (the dict as text), then a block being removed.
            {"Ipv6CidrBlock": "2600:1f18::/64", "Ipv6CidrBlockState": {"State": "associated"}},
            {
                "Ipv6CidrBlock": "2600:1f18:0:1::/64",
                "Ipv6CidrBlockState": {"State": "{'State': 'associated'}"},
            },
            {
                "Ipv6CidrBlock": "2600:1f18:0:2::/64",
                "Ipv6CidrBlockState": {"State": "disassociating"},
            },
        ],
    }

    cidrs = [r.cidr for r in subnet_records(subnet, "eu-west-1", ACCOUNT)]

    assert cidrs == ["10.0.1.0/24", "2600:1f18::/64", "2600:1f18:0:1::/64"]


def test_an_address_without_a_public_ip_gives_no_record() -> None:
    assert list(eip_records({"AllocationId": "eipalloc-1"}, "eu-west-1", ACCOUNT)) == []
