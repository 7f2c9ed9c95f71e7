"""The Azure collector: VNets, subnets, NIC IP configurations and public IPs of a subscription.

Pure Python, no Django. Each location is its own unit. The network API
(azure-mgmt-network) only lists these resources per subscription or per resource group,
never per location, so one location's failure would leave every location incomplete.
Azure Resource Graph answers the same resources, with the same ``properties`` as the
network API, for a query filtered by location: each location is read with its own paged
query (``$top``/``$skipToken``), so one failing location fails alone. The locations come
from one more query (``distinct location``) when the account names none.

Every page is one call through the account's :class:`RetryPolicy` and token bucket; the
SDK's own retries are off (see ``apps.cloud.providers.azure``).

What becomes a record (one per CIDR), with ARM ids lower-cased because ARM compares them
without case and its APIs do not agree on the case of the same id:

* ``vnet``: every ``addressSpace.addressPrefixes`` entry, IPv4 and IPv6;
* ``subnet``: ``addressPrefix`` or every ``addressPrefixes`` entry, parent the VNet;
* ``nic``: each IP configuration's private address as a /32 or /128, parent its subnet;
* ``public_ip``: a public IP address's ``ipAddress`` (none while a dynamic one is
  unallocated) and a public IP prefix's ``ipPrefix`` (``attributes["kind"] == "prefix"``).

>>> hub = "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/hub"
>>> row = {"id": hub,
...        "name": "hub", "type": "microsoft.network/virtualnetworks", "location": "westeurope",
...        "tags": {"env": "prod"}, "properties": {"provisioningState": "Succeeded",
...        "addressSpace": {"addressPrefixes": ["10.1.0.0/16", "fd00:1::/48"]},
...        "subnets": [{"id": hub + "/subnets/app", "name": "app",
...                     "properties": {"addressPrefix": "10.1.2.0/24"}}]}}
>>> [(r.resource_type, r.cidr, r.parent_resource_id[-3:]) for r in records_of(row, "s")]
[('vnet', '10.1.0.0/16', ''), ('vnet', 'fd00:1::/48', ''), ('subnet', '10.1.2.0/24', 'hub')]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from apps.cloud.providers.azure import call
from apps.discovery.collectors.base import (
    AccountRef,
    Collection,
    DiscoveredRecord,
    ProviderError,
    canonical_cidr,
    failing,
)
from apps.discovery.collectors.pacing import RetryPolicy, TokenBucket

__all__ = ["ALL_LOCATIONS", "PAGE_SIZE", "collect", "location_query", "records_of"]

# The unit reported when the subscription's locations could not even be listed.
ALL_LOCATIONS = "*"
# The most Resource Graph returns in one page.
PAGE_SIZE = 1000
# Seconds to connect and to read one page before the call counts as a timeout.
CALL_TIMEOUT = 60.0

VNET = "microsoft.network/virtualnetworks"
NIC = "microsoft.network/networkinterfaces"
PUBLIC_IP = "microsoft.network/publicipaddresses"
PUBLIC_IP_PREFIX = "microsoft.network/publicipprefixes"
_TYPES = ", ".join(f"'{name}'" for name in (VNET, NIC, PUBLIC_IP, PUBLIC_IP_PREFIX))
LOCATIONS_QUERY = (
    f"Resources | where type in~ ({_TYPES}) | distinct location | order by location asc"
)
# A location name is lower-case letters and digits; anything else could change the query.
_LOCATION = re.compile(r"^[a-z0-9]+$")


def default_policy(account_ref: AccountRef) -> RetryPolicy:
    """Return the account's retry policy, paced by its ``requests_per_second`` (default 10)."""
    rate = float(account_ref.settings.get("requests_per_second") or 10)
    return RetryPolicy(bucket=TokenBucket(rate=rate))


def location_query(location: str) -> str:
    """Return the Resource Graph query for the network resources of one location.

    >>> location_query("West Europe")
    Traceback (most recent call last):
    ...
    ValueError: Not an Azure location name: 'West Europe'
    """
    if not _LOCATION.match(location):
        raise ValueError(f"Not an Azure location name: {location!r}")
    return (
        f"Resources | where type in~ ({_TYPES}) and location =~ '{location}'"
        " | project id, name, type, location, tags, sku, properties | order by id asc"
    )


def collect(
    client_factory: Callable[[str], Any],
    account_ref: AccountRef,
    regions: Iterable[str] = (),
    *,
    policy: RetryPolicy | None = None,
) -> Collection:
    """Return the collection of the subscription ``account_ref.external_id``.

    ``regions`` are location names (``westeurope``); empty means every location holding one
    of the collected resource types.
    """
    policy = policy or default_policy(account_ref)
    reader = _Reader(client_factory, policy, account_ref.external_id)
    wanted = tuple(regions)

    def units() -> Iterator[tuple[str, Iterator[DiscoveredRecord]]]:
        names: Iterable[str] = wanted
        if not names:
            try:
                names = [row["location"] for row in reader.rows(LOCATIONS_QUERY)]
            except Exception as error:  # reported as a failed unit, never lost
                yield ALL_LOCATIONS, failing(error)
                return
        for location in names:
            yield location, reader.location_records(location)

    return Collection(units())


def _arm_id(value: str | None) -> str:
    return (value or "").lower()


def _parent(value: str | None, child: str) -> str:
    """Return the id of the resource holding ``value`` (``.../<child>/<name>`` cut off)."""
    value = _arm_id(value)
    cut = value.rfind(f"/{child}/")
    return value[:cut] if cut >= 0 else ""


def _resource_group(arm_id: str) -> str:
    parts = arm_id.split("/")
    return parts[4] if len(parts) > 4 and parts[3] == "resourcegroups" else ""


def records_of(row: Mapping[str, Any], subscription: str) -> Iterator[DiscoveredRecord]:
    """Yield the records of one Resource Graph row (one ARM resource)."""
    kind = row["type"].lower()
    resource_id = _arm_id(row["id"])
    props = row.get("properties") or {}
    common = {
        "provider": "azure",
        "region": row.get("location") or "",
        "account_external_id": subscription,
        "tags": dict(row.get("tags") or {}),
    }
    group = _resource_group(resource_id)
    if kind == VNET:
        for prefix in (props.get("addressSpace") or {}).get("addressPrefixes") or ():
            yield DiscoveredRecord(
                resource_type="vnet",
                resource_id=resource_id,
                cidr=canonical_cidr(prefix),
                name=row["name"],
                network_id=resource_id,
                state=props.get("provisioningState", ""),
                attributes={"resource_group": group},
                **common,
            )
        for subnet in props.get("subnets") or ():
            sub = subnet.get("properties") or {}
            prefixes = sub.get("addressPrefixes") or [sub.get("addressPrefix")]
            for prefix in filter(None, prefixes):
                yield DiscoveredRecord(
                    resource_type="subnet",
                    resource_id=_arm_id(subnet["id"]),
                    cidr=canonical_cidr(prefix),
                    name=subnet.get("name", ""),
                    network_id=resource_id,
                    parent_resource_id=resource_id,
                    state=sub.get("provisioningState", ""),
                    attributes={"resource_group": group},
                    **{**common, "tags": {}},
                )
    elif kind == NIC:
        for config in props.get("ipConfigurations") or ():
            conf = config.get("properties") or {}
            address = conf.get("privateIPAddress")
            if not address:
                continue
            subnet_id = _arm_id((conf.get("subnet") or {}).get("id"))
            yield DiscoveredRecord(
                resource_type="nic",
                resource_id=resource_id,
                cidr=canonical_cidr(address),
                name=row["name"],
                network_id=_parent(subnet_id, "subnets"),
                parent_resource_id=subnet_id,
                state=conf.get("provisioningState", ""),
                attributes={
                    "resource_group": group,
                    "ip_configuration": config.get("name", ""),
                    "primary": bool(conf.get("primary")),
                    "allocation": conf.get("privateIPAllocationMethod", ""),
                    "public_ip_id": _arm_id((conf.get("publicIPAddress") or {}).get("id")),
                },
                **common,
            )
    elif kind in (PUBLIC_IP, PUBLIC_IP_PREFIX):
        prefix = kind == PUBLIC_IP_PREFIX
        value = props.get("ipPrefix" if prefix else "ipAddress")
        if not value:
            return
        configuration = _arm_id((props.get("ipConfiguration") or {}).get("id"))
        yield DiscoveredRecord(
            resource_type="public_ip",
            resource_id=resource_id,
            cidr=canonical_cidr(value),
            name=row["name"],
            # The NIC or load balancer the address is attached to, if any.
            parent_resource_id=configuration.rsplit("/", 2)[0] if configuration else "",
            state=props.get("provisioningState", ""),
            attributes={
                "resource_group": group,
                "kind": "prefix" if prefix else "address",
                "allocation": props.get("publicIPAllocationMethod", ""),
                "sku": (row.get("sku") or {}).get("name", ""),
                "public_ip_prefix_id": _arm_id((props.get("publicIPPrefix") or {}).get("id")),
            },
            **common,
        )


class _Reader:
    """Run Resource Graph queries page by page, each page one paced and retried call."""

    def __init__(self, clients: Callable[[str], Any], policy: RetryPolicy, subscription: str):
        self.clients = clients
        self.policy = policy
        self.subscription = subscription

    def rows(self, query: str) -> Iterator[Mapping[str, Any]]:
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

        graph = self.clients("resource_graph")
        token: str | None = None
        while True:
            request = QueryRequest(
                subscriptions=[self.subscription],
                query=query,
                options=QueryRequestOptions(
                    top=PAGE_SIZE, skip_token=token, result_format="objectArray"
                ),
            )
            page = self.policy.call(
                lambda request=request: call(
                    lambda: graph.resources(
                        request, connection_timeout=CALL_TIMEOUT, read_timeout=CALL_TIMEOUT
                    )
                )
            )
            yield from page.data or ()
            token = page.skip_token
            truncated = str(page.result_truncated).lower() == "true"
            # Let the page go before the next one arrives: memory holds one page, not two.
            del page
            if not token:
                if truncated:
                    # Resource Graph cut the answer short without a way to page on: the
                    # location was not read completely.
                    raise ProviderError("provider_error", "Resource Graph truncated the result")
                return

    def location_records(self, location: str) -> Iterator[DiscoveredRecord]:
        for row in self.rows(location_query(location)):
            yield from records_of(row, self.subscription)
