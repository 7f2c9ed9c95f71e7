"""The GCP collector: networks, subnetworks and addresses of one project.

Pure Python, no Django. Each region is its own unit, read with per-region list calls
(``subnetworks.list`` and ``addresses.list``) rather than the aggregated lists, so a
region whose backend fails fails alone; global resources (legacy networks, global
addresses) form the unit ``global``. Every page is one call through the account's
:class:`RetryPolicy` and token bucket, and the compute SDK's own retries are off so the
two never multiply.

What becomes a record (one per CIDR):

* ``network``: only a legacy network's ``IPv4Range``; custom and auto mode networks hold
  no range of their own, their subnetworks do;
* ``subnetwork``: the primary range, every secondary range, the internal IPv6 range and
  the external IPv6 prefix;
* ``address``: regional and global, internal and external; an address is a /32 or /128,
  a reserved range (``prefixLength`` set: peering, Private Service Connect, external IPv6)
  is the range.

>>> from google.cloud.compute_v1 import Subnetwork, SubnetworkSecondaryRange
>>> pods = SubnetworkSecondaryRange(range_name="pods", ip_cidr_range="10.4.0.0/14")
>>> subnet = Subnetwork(
...     name="web", ip_cidr_range="10.0.0.0/24", region="https://x/compute/v1/projects/p/regions/r",
...     self_link="https://x/compute/v1/projects/p/regions/r/subnetworks/web",
...     network="https://x/compute/v1/projects/p/global/networks/prod",
...     secondary_ip_ranges=[pods],
...     ipv6_cidr_range="fd20:1:2:3::/64", internal_ipv6_prefix="fd20:1:2:3::/64")
>>> [(r.resource_id, r.cidr, r.attributes["range"]) for r in subnetwork_records(subnet, "p")]
... # doctest: +NORMALIZE_WHITESPACE
[('projects/p/regions/r/subnetworks/web', '10.0.0.0/24', 'primary'),
 ('projects/p/regions/r/subnetworks/web', '10.4.0.0/14', 'pods'),
 ('projects/p/regions/r/subnetworks/web', 'fd20:1:2:3::/64', 'ipv6_internal')]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from apps.cloud.providers.gcp import call
from apps.discovery.collectors.base import (
    AccountRef,
    Collection,
    DiscoveredRecord,
    canonical_cidr,
    failing,
)
from apps.discovery.collectors.pacing import RetryPolicy, TokenBucket

__all__ = ["ALL_REGIONS", "GLOBAL", "PAGE_SIZE", "collect", "subnetwork_records"]

GLOBAL = "global"
# The unit reported when the project's regions could not even be listed.
ALL_REGIONS = "*"
# The most the compute API returns in one page.
PAGE_SIZE = 500
# Seconds one page may take before the call counts as a timeout (and is retried).
CALL_TIMEOUT = 60.0


def default_policy(account_ref: AccountRef) -> RetryPolicy:
    """Return the account's retry policy, paced by its ``requests_per_second`` (default 10)."""
    rate = float(account_ref.settings.get("requests_per_second") or 10)
    return RetryPolicy(bucket=TokenBucket(rate=rate))


def collect(
    client_factory: Callable[[str], Any],
    account_ref: AccountRef,
    regions: Iterable[str] = (),
    *,
    policy: RetryPolicy | None = None,
) -> Collection:
    """Return the collection of the project ``account_ref.external_id``.

    ``regions`` empty means every region of the project (``regions.list``); the global unit
    is always collected.
    """
    policy = policy or default_policy(account_ref)
    reader = _Reader(client_factory, policy, account_ref.external_id)
    # The global unit is always read; naming it among the regions must not read it twice.
    wanted = tuple(region for region in regions if region != GLOBAL)

    def units() -> Iterator[tuple[str, Iterator[DiscoveredRecord]]]:
        yield GLOBAL, reader.global_records()
        names: Iterable[str] = wanted
        if not names:
            try:
                names = reader.region_names()
            except Exception as error:  # reported as a failed unit, never lost
                yield ALL_REGIONS, failing(error)
                return
        for region in names:
            yield region, reader.region_records(region)

    return Collection(units())


def _path(url: str) -> str:
    """Return a compute URL as its relative resource name (``projects/p/regions/r/...``)."""
    start = url.find("projects/")
    return url[start:] if start >= 0 else url


def _last(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def subnetwork_records(subnet: Any, project: str) -> Iterator[DiscoveredRecord]:
    """Yield one record per range of a subnetwork, each CIDR once."""
    ranges = [(subnet.ip_cidr_range, "primary")]
    ranges += [(r.ip_cidr_range, r.range_name) for r in subnet.secondary_ip_ranges]
    # An internal IPv6 subnetwork reports its /64 both as ipv6CidrRange and as
    # internalIpv6Prefix: one CIDR, one record.
    ranges += [
        (subnet.ipv6_cidr_range, "ipv6_internal"),
        (subnet.internal_ipv6_prefix, "ipv6_internal"),
        (subnet.external_ipv6_prefix, "ipv6_external"),
    ]
    resource_id = _path(subnet.self_link)
    seen: set[str] = set()
    for value, kind in ranges:
        if not value:
            continue
        cidr = canonical_cidr(value)
        if cidr in seen:
            continue
        seen.add(cidr)
        yield DiscoveredRecord(
            provider="gcp",
            resource_type="subnetwork",
            resource_id=resource_id,
            cidr=cidr,
            name=subnet.name,
            region=_last(subnet.region),
            network_id=_path(subnet.network),
            parent_resource_id=_path(subnet.network),
            account_external_id=project,
            state=subnet.state,
            attributes={
                "id": str(subnet.id),
                "range": kind,
                "purpose": subnet.purpose,
                "stack_type": subnet.stack_type,
            },
        )


def _address_record(address: Any, project: str, region: str) -> DiscoveredRecord | None:
    if not address.address:
        return None
    value = address.address
    if address.prefix_length:
        value = f"{value}/{address.prefix_length}"
    return DiscoveredRecord(
        provider="gcp",
        resource_type="address",
        resource_id=_path(address.self_link),
        cidr=canonical_cidr(value),
        name=address.name,
        region=region,
        network_id=_path(address.network),
        parent_resource_id=_path(address.subnetwork or address.network),
        account_external_id=project,
        state=address.status,
        tags=dict(address.labels),
        attributes={
            "id": str(address.id),
            "address_type": address.address_type,
            "purpose": address.purpose,
            "ip_version": address.ip_version,
            "users": list(address.users),
        },
    )


def _network_record(network: Any, project: str) -> DiscoveredRecord | None:
    if not network.I_pv4_range:
        return None
    return DiscoveredRecord(
        provider="gcp",
        resource_type="network",
        resource_id=_path(network.self_link),
        cidr=canonical_cidr(network.I_pv4_range),
        name=network.name,
        region=GLOBAL,
        network_id=_path(network.self_link),
        account_external_id=project,
        attributes={"id": str(network.id), "mode": "legacy"},
    )


class _Reader:
    """Read one project's lists page by page, each page one paced and retried call."""

    def __init__(self, clients: Callable[[str], Any], policy: RetryPolicy, project: str) -> None:
        self.clients = clients
        self.policy = policy
        self.project = project

    def _items(self, kind: str, **scope: str) -> Iterator[Any]:
        client = self.clients(kind)
        token = ""
        while True:
            request = {"project": self.project, "max_results": PAGE_SIZE, "page_token": token}
            request.update(scope)
            # One page per call: the pager would fetch the next pages outside the policy.
            page = self.policy.call(
                lambda request=request: call(
                    lambda: client.list(request=request, retry=None, timeout=CALL_TIMEOUT)
                )
            )
            yield from page.items
            token = page.next_page_token
            # Let the page go before the next one arrives: memory holds one page, not two.
            del page
            if not token:
                return

    def region_names(self) -> list[str]:
        return [region.name for region in self._items("regions")]

    def global_records(self) -> Iterator[DiscoveredRecord]:
        for network in self._items("networks"):
            found = _network_record(network, self.project)
            if found is not None:
                yield found
        for address in self._items("global_addresses"):
            found = _address_record(address, self.project, GLOBAL)
            if found is not None:
                yield found

    def region_records(self, region: str) -> Iterator[DiscoveredRecord]:
        for subnet in self._items("subnetworks", region=region):
            yield from subnetwork_records(subnet, self.project)
        for address in self._items("addresses", region=region):
            found = _address_record(address, self.project, region)
            if found is not None:
                yield found
