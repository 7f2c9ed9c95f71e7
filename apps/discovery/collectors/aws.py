"""The AWS collector: VPCs, subnets, Elastic IPs and network interfaces, one record per CIDR.

Pure Python, no Django. Per region, in this order:

* ``vpc``: every associated IPv4 and IPv6 CIDR block of the VPC;
* ``subnet``: the IPv4 block and every associated IPv6 block (``network_id`` and
  ``parent_resource_id`` are the VPC);
* ``eip``: the public address of each Elastic IP as a /32 (``parent_resource_id`` is the
  network interface it is associated with);
* ``eni``: each private IPv4 (/32) and IPv6 (/128) address and delegated prefix of a
  network interface (``parent_resource_id`` is the subnet, ``network_id`` the VPC).

>>> vpc = {
...     "VpcId": "vpc-1", "State": "available", "IsDefault": False,
...     "Tags": [{"Key": "Name", "Value": "prod"}],
...     "CidrBlockAssociationSet": [
...         {"AssociationId": "a-1", "CidrBlock": "10.0.0.0/16",
...          "CidrBlockState": {"State": "associated"}},
...         {"AssociationId": "a-2", "CidrBlock": "10.9.0.0/16",
...          "CidrBlockState": {"State": "disassociated"}},
...     ],
...     "Ipv6CidrBlockAssociationSet": [
...         {"AssociationId": "a-3", "Ipv6CidrBlock": "2600:1F18:0:0::/56",
...          "Ipv6CidrBlockState": {"State": "associated"}},
...     ],
... }
>>> [(r.cidr, r.name, r.network_id) for r in vpc_records(vpc, "eu-west-1", "111122223333")]
[('10.0.0.0/16', 'prod', 'vpc-1'), ('2600:1f18::/56', 'prod', 'vpc-1')]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from apps.cloud.providers.aws import failure
from apps.discovery.collectors.base import (
    AccountRef,
    Collection,
    DiscoveredRecord,
    canonical_cidr,
)
from apps.discovery.collectors.pacing import RetryPolicy, TokenBucket

__all__ = [
    "PAGE_SIZE",
    "collect",
    "eip_records",
    "eni_records",
    "subnet_records",
    "vpc_records",
]

# The largest page EC2 serves; an account setting ``page_size`` (5 to 1000) lowers it.
PAGE_SIZE = 1000
HOME_REGION = "us-east-1"
# Association states of a CIDR that no longer (or never did) hold the block. Anything else
# counts as in use: ``associating`` already reserves the range, and moto reports a subnet's
# IPv6 state as the text of a dict rather than the word.
GONE = frozenset({"disassociating", "disassociated", "failing", "failed"})

# The collector retries through RetryPolicy, which honours Retry-After, counts the tries
# the SPEC allows and takes a token from the account's bucket before each one. botocore's
# own retries (adaptive mode in the provider's default config) would multiply those tries
# and bypass the bucket, so the collector's clients make exactly one attempt per call
# (``total_max_attempts``: botocore's ``max_attempts`` counts the retries after the first).
SINGLE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})


def collect(
    client_factory: Callable[..., Any],
    account_ref: AccountRef,
    regions: Iterable[str] = (),
    *,
    policy: RetryPolicy | None = None,
) -> Collection:
    """Return the collection of the account's regions, each read lazily and independently.

    ``client_factory(service, region, config=...)`` builds boto3 clients (see
    ``apps.cloud.providers.aws.client_factory``). With no ``regions``, the enabled regions
    (opted in or needing no opt-in) are listed first, from ``settings["home_region"]``;
    a failure there raises :class:`ProviderError` since no region can be known.
    ``policy`` defaults to five tries behind a token bucket of
    ``settings["requests_per_second"]`` (default 10).
    """
    settings = account_ref.settings
    if policy is None:
        rate = float(settings.get("requests_per_second", 10))
        policy = RetryPolicy(bucket=TokenBucket(rate=rate))
    page_size = int(settings.get("page_size", PAGE_SIZE))

    def ec2(region: str) -> Any:
        return client_factory("ec2", region, config=SINGLE_ATTEMPT)

    names = tuple(regions) or enabled_regions(
        ec2(settings.get("home_region") or HOME_REGION), policy
    )
    return Collection(
        (region, _region(ec2, region, account_ref.external_id, policy, page_size))
        for region in names
    )


def enabled_regions(client: Any, policy: RetryPolicy) -> tuple[str, ...]:
    """Return the regions the account may use, sorted."""
    answer = _call(
        policy,
        client.describe_regions,
        Filters=[{"Name": "opt-in-status", "Values": ["opt-in-not-required", "opted-in"]}],
    )
    return tuple(sorted(region["RegionName"] for region in answer["Regions"]))


def _region(
    ec2: Callable[[str], Any],
    region: str,
    account_id: str,
    policy: RetryPolicy,
    page_size: int,
) -> Iterator[DiscoveredRecord]:
    client = ec2(region)
    for vpc in _pages(policy, client.describe_vpcs, "Vpcs", page_size):
        yield from vpc_records(vpc, region, account_id)
    for subnet in _pages(policy, client.describe_subnets, "Subnets", page_size):
        yield from subnet_records(subnet, region, account_id)
    # DescribeAddresses has no pagination: one answer holds every Elastic IP of the region.
    for address in _call(policy, client.describe_addresses)["Addresses"]:
        yield from eip_records(address, region, account_id)
    interfaces = client.describe_network_interfaces
    for interface in _pages(policy, interfaces, "NetworkInterfaces", page_size):
        yield from eni_records(interface, region, account_id)


def _pages(
    policy: RetryPolicy, operation: Callable[..., Any], key: str, page_size: int
) -> Iterator[dict[str, Any]]:
    """Yield every item of a paginated EC2 list, page by page, to the last page.

    A hand-written loop rather than a botocore paginator: a failed page is retried with
    its own NextToken, where a paginator stops for good at its first exception.
    """
    token = ""
    while True:
        params: dict[str, Any] = {"MaxResults": page_size}
        if token:
            params["NextToken"] = token
        page = _call(policy, operation, **params)
        yield from page.get(key, ())
        token = page.get("NextToken") or ""
        if not token:
            return


def _call(policy: RetryPolicy, operation: Callable[..., Any], **params: Any) -> Any:
    def attempt() -> Any:
        try:
            return operation(**params)
        except (ClientError, BotoCoreError) as error:
            raise failure(error) from error

    return policy.call(attempt)


def vpc_records(vpc: Mapping[str, Any], region: str, account_id: str) -> Iterator[DiscoveredRecord]:
    """Yield a ``vpc`` record for each associated IPv4 and IPv6 CIDR block of ``vpc``."""
    tags = _tags(vpc.get("Tags"))
    common = {
        "resource_type": "vpc",
        "resource_id": vpc["VpcId"],
        "network_id": vpc["VpcId"],
        "region": region,
        "account_id": account_id,
        "state": vpc.get("State", ""),
        "tags": tags,
    }
    for block in vpc.get("CidrBlockAssociationSet", ()):
        if _associated(block, "CidrBlockState"):
            yield _record(
                common,
                block["CidrBlock"],
                association_id=block.get("AssociationId"),
                is_default=vpc.get("IsDefault", False),
            )
    for block in vpc.get("Ipv6CidrBlockAssociationSet", ()):
        if block.get("Ipv6CidrBlock") and _associated(block, "Ipv6CidrBlockState"):
            yield _record(
                common,
                block["Ipv6CidrBlock"],
                association_id=block.get("AssociationId"),
                is_default=vpc.get("IsDefault", False),
                ipv6_pool=block.get("Ipv6Pool"),
                network_border_group=block.get("NetworkBorderGroup"),
            )


def subnet_records(
    subnet: Mapping[str, Any], region: str, account_id: str
) -> Iterator[DiscoveredRecord]:
    """Yield a ``subnet`` record for the IPv4 block and each associated IPv6 block."""
    common = {
        "resource_type": "subnet",
        "resource_id": subnet["SubnetId"],
        "network_id": subnet.get("VpcId", ""),
        "parent_resource_id": subnet.get("VpcId", ""),
        "region": region,
        "account_id": account_id,
        "state": subnet.get("State", ""),
        "tags": _tags(subnet.get("Tags")),
    }
    zone = {
        "availability_zone": subnet.get("AvailabilityZone"),
        "availability_zone_id": subnet.get("AvailabilityZoneId"),
    }
    if subnet.get("CidrBlock"):
        yield _record(common, subnet["CidrBlock"], **zone)
    for block in subnet.get("Ipv6CidrBlockAssociationSet", ()):
        if block.get("Ipv6CidrBlock") and _associated(block, "Ipv6CidrBlockState"):
            yield _record(
                common, block["Ipv6CidrBlock"], association_id=block.get("AssociationId"), **zone
            )


def eip_records(
    address: Mapping[str, Any], region: str, account_id: str
) -> Iterator[DiscoveredRecord]:
    """Yield an ``eip`` record for the public address of an Elastic IP.

    Its private address, when associated, is the interface's and comes as an ``eni``
    record; it is kept here as an attribute.
    """
    if not address.get("PublicIp"):
        return
    common = {
        "resource_type": "eip",
        "resource_id": address.get("AllocationId") or address["PublicIp"],
        "parent_resource_id": address.get("NetworkInterfaceId") or "",
        "region": region,
        "account_id": account_id,
        "state": "associated" if address.get("AssociationId") else "unassociated",
        "tags": _tags(address.get("Tags")),
    }
    yield _record(
        common,
        address["PublicIp"],
        association_id=address.get("AssociationId"),
        private_ip=address.get("PrivateIpAddress"),
        instance_id=address.get("InstanceId"),
        domain=address.get("Domain"),
        network_border_group=address.get("NetworkBorderGroup"),
        public_ipv4_pool=address.get("PublicIpv4Pool"),
    )


def eni_records(
    interface: Mapping[str, Any], region: str, account_id: str
) -> Iterator[DiscoveredRecord]:
    """Yield an ``eni`` record for each private address and delegated prefix."""
    attachment = interface.get("Attachment") or {}
    common = {
        "resource_type": "eni",
        "resource_id": interface["NetworkInterfaceId"],
        "network_id": interface.get("VpcId", ""),
        "parent_resource_id": interface.get("SubnetId", ""),
        "region": region,
        "account_id": account_id,
        "state": interface.get("Status", ""),
        # Interfaces carry their tags in TagSet, where other EC2 resources use Tags.
        "tags": _tags(interface.get("TagSet")),
    }
    about = {
        "interface_type": interface.get("InterfaceType"),
        "description": interface.get("Description"),
        "instance_id": attachment.get("InstanceId"),
        "availability_zone": interface.get("AvailabilityZone"),
    }
    for private in interface.get("PrivateIpAddresses", ()):
        yield _record(
            common,
            private["PrivateIpAddress"],
            primary=private.get("Primary", False),
            public_ip=(private.get("Association") or {}).get("PublicIp"),
            **about,
        )
    for private in interface.get("Ipv6Addresses", ()):
        yield _record(
            common, private["Ipv6Address"], primary=private.get("IsPrimaryIpv6", False), **about
        )
    for prefix in interface.get("Ipv4Prefixes", ()):
        yield _record(common, prefix["Ipv4Prefix"], delegated_prefix=True, **about)
    for prefix in interface.get("Ipv6Prefixes", ()):
        yield _record(common, prefix["Ipv6Prefix"], delegated_prefix=True, **about)


def _record(common: Mapping[str, Any], cidr: str, **attributes: Any) -> DiscoveredRecord:
    tags = common["tags"]
    return DiscoveredRecord(
        provider="aws",
        resource_type=common["resource_type"],
        resource_id=common["resource_id"],
        cidr=canonical_cidr(cidr),
        name=tags.get("Name", ""),
        region=common["region"],
        network_id=common.get("network_id", ""),
        parent_resource_id=common.get("parent_resource_id", ""),
        account_external_id=common["account_id"],
        state=common["state"],
        tags=tags,
        attributes={key: value for key, value in attributes.items() if value not in (None, "")},
    )


def _tags(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in tags or ()}


def _associated(block: Mapping[str, Any], key: str) -> bool:
    state = block.get(key) or {}
    word = state.get("State", "") if isinstance(state, Mapping) else str(state)
    return word not in GONE
