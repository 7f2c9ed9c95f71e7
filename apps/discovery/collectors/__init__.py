"""Collectors: cloud accounts in, :class:`DiscoveredRecord` streams out.

Pure Python with no Django import, shared by the Celery worker and the standalone agent.
``base`` holds the record and the per-region collection, ``pacing`` the token bucket and
retries; one module per provider (``aws``, ``gcp``, ``azure``) offers ``collect``.
"""

from apps.discovery.collectors.base import (
    AccountRef,
    Collection,
    Collector,
    DiscoveredRecord,
    ProviderError,
    RegionOutcome,
    canonical_cidr,
    record,
)
from apps.discovery.collectors.pacing import RetryPolicy, TokenBucket

__all__ = [
    "AccountRef",
    "Collection",
    "Collector",
    "DiscoveredRecord",
    "ProviderError",
    "RegionOutcome",
    "RetryPolicy",
    "TokenBucket",
    "canonical_cidr",
    "record",
]
