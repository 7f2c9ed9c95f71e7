"""What every collector yields and how a collection reports its regions.

Pure Python, no Django: the Celery worker and the standalone agent run the same collectors.

A collector turns one cloud account into a stream of :class:`DiscoveredRecord`, one per
CIDR (a VPC with two CIDR blocks gives two records). Regions are collected one after the
other and independently: a region that fails ends with a failed :class:`RegionOutcome`
and the collection moves on, so the sync engine never marks anything missing from a region
it could not read completely.

>>> def regions():
...     yield "eu-west-1", iter([record("vpc-1", "10.0.0.0/16", region="eu-west-1")])
...     yield "us-east-1", failing(ProviderError("provider_error", "500 from the API"))
>>> collection = Collection(regions())
>>> [r.resource_id for r in collection]
['vpc-1']
>>> [(o.region, o.ok, o.records, o.error_code) for o in collection.outcomes]
[('eu-west-1', True, 1, None), ('us-east-1', False, 0, 'provider_error')]
>>> collection.complete_regions
('eu-west-1',)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from apps.cloud.providers.errors import ProviderError

__all__ = [
    "AccountRef",
    "Collection",
    "Collector",
    "DiscoveredRecord",
    "ProviderError",
    "RegionOutcome",
    "failing",
    "record",
]

PROVIDERS = ("aws", "gcp", "azure")


@dataclass(frozen=True, slots=True)
class AccountRef:
    """The account a collection runs for: what a collector needs besides its clients.

    ``settings`` holds per-account knobs such as ``requests_per_second``.
    """

    provider: str
    external_id: str
    name: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DiscoveredRecord:
    """One CIDR in use in a cloud, as a collector found it.

    ``cidr`` is canonical (host bits cleared, IPv6 compressed); an address is a /32 or a
    /128. ``state`` is the provider's own word (``available``, ``in-use``, ``Succeeded``).
    """

    provider: str
    resource_type: str
    resource_id: str
    cidr: str
    name: str = ""
    region: str = ""
    network_id: str = ""
    parent_resource_id: str = ""
    account_external_id: str = ""
    state: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """Return what identifies the record within its account: resource id and CIDR."""
        return (self.resource_id, self.cidr)

    def as_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready data (the agent's wire format)."""
        return {
            "provider": self.provider,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "cidr": self.cidr,
            "name": self.name,
            "region": self.region,
            "network_id": self.network_id,
            "parent_resource_id": self.parent_resource_id,
            "account_external_id": self.account_external_id,
            "state": self.state,
            "tags": dict(self.tags),
            "attributes": dict(self.attributes),
        }


def canonical_cidr(value: str) -> str:
    """Return ``value`` as a canonical network (an address becomes a /32 or /128).

    Raises ValueError for anything that is not an address or a network.
    """
    return str(ipaddress.ip_network(value.strip(), strict=False))


def record(resource_id: str, cidr: str, **fields: Any) -> DiscoveredRecord:
    """Return a record with a canonical CIDR; ``fields`` default to empty (doctests, fakes)."""
    fields.setdefault("provider", "aws")
    fields.setdefault("resource_type", "vpc")
    return DiscoveredRecord(resource_id=resource_id, cidr=canonical_cidr(cidr), **fields)


@dataclass(frozen=True, slots=True)
class RegionOutcome:
    """How the collection of one region ended."""

    region: str
    ok: bool
    records: int
    error_code: str | None = None
    error_message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the outcome as JSON-ready data (a sync run's per-region outcome)."""
        return {
            "region": self.region,
            "ok": self.ok,
            "records": self.records,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


RegionStreams = Iterable[tuple[str, Iterator[DiscoveredRecord]]]


class Collection(Iterator[DiscoveredRecord]):
    """The records of one collection, streamed, with the outcome of each region so far.

    Iterate it for the records; read :attr:`outcomes` once iteration has ended (or as it
    goes: a region's outcome is there as soon as its last record was yielded). A
    :class:`ProviderError` (or any other exception) raised while a region streams ends that
    region only.
    """

    def __init__(self, regions: RegionStreams) -> None:
        self.outcomes: list[RegionOutcome] = []
        self._records = self._walk(regions)

    def __iter__(self) -> Collection:
        return self

    def __next__(self) -> DiscoveredRecord:
        return next(self._records)

    @property
    def complete_regions(self) -> tuple[str, ...]:
        """Return the regions read to the end: only these may mark resources missing."""
        return tuple(outcome.region for outcome in self.outcomes if outcome.ok)

    @property
    def failed_regions(self) -> tuple[str, ...]:
        """Return the regions that failed."""
        return tuple(outcome.region for outcome in self.outcomes if not outcome.ok)

    def _walk(self, regions: RegionStreams) -> Iterator[DiscoveredRecord]:
        for region, stream in regions:
            count = 0
            try:
                for found in stream:
                    count += 1
                    yield found
            except ProviderError as error:
                self.outcomes.append(RegionOutcome(region, False, count, error.code, error.message))
            except Exception as error:
                self.outcomes.append(
                    RegionOutcome(region, False, count, "provider_error", type(error).__name__)
                )
            else:
                self.outcomes.append(RegionOutcome(region, True, count))


def failing(error: Exception) -> Iterator[DiscoveredRecord]:
    """Return a stream that raises ``error`` when read (a region that fails at once)."""
    raise error
    yield  # pragma: no cover - makes this a generator


class Collector(Protocol):
    """What every provider's collector module offers.

    ``client_factory`` builds SDK clients for the account (from ``apps.cloud.providers`` in
    the worker, from local credentials in the agent); ``regions`` empty means every region
    the account can see.
    """

    def __call__(
        self,
        client_factory: Callable[..., Any],
        account_ref: AccountRef,
        regions: Iterable[str] = (),
    ) -> Collection: ...
