"""The analysis cache: results keyed by organization, a version counter and what was asked.

Every key of an organization embeds its current *version*, a counter kept in the cache
itself. Bumping the counter (any pool of the organization saved or deleted, new snapshots,
new settings) makes every older entry unreachable at once; the entries then age out with
their TTL (``ANALYSIS_CACHE_TTL`` seconds, one hour by default). The counter starts at the
current time in microseconds, so a counter evicted from the cache comes back higher than
any value it had before and cannot revive stale entries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache

DEFAULT_TTL = 60 * 60
T = TypeVar("T")


def ttl() -> int:
    """Return how long analysis results stay cached, in seconds."""
    return int(getattr(settings, "ANALYSIS_CACHE_TTL", DEFAULT_TTL))


def _version_key(organization_id: int) -> str:
    return f"analysis:version:{organization_id}"


def organization_version(organization_id: int) -> int:
    """Return the cache version of an organization's analysis results."""
    key = _version_key(organization_id)
    version = cache.get(key)
    if version is None:
        cache.add(key, time.time_ns() // 1000, timeout=None)
        version = cache.get(key, 0)
    return int(version)


def bump_organization_version(organization_id: int) -> None:
    """Make every cached analysis result of an organization stale."""
    key = _version_key(organization_id)
    try:
        cache.incr(key)
    except ValueError:
        cache.add(key, time.time_ns() // 1000, timeout=None)


def cached(organization_id: int, name: str, build: Callable[[], T]) -> T:
    """Return the cached result ``name`` of an organization, building it when missing."""
    key = f"analysis:{organization_id}:{organization_version(organization_id)}:{name}"
    value: Any = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, ttl())
    return value  # type: ignore[no-any-return]
