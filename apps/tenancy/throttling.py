"""
API rate limits: per token or user, and per organization.

DRF throttle classes over fixed one-minute windows counted in the shared cache
(Redis when configured). All the limits a request counts against are counted
together, in one Redis round trip (one script that runs INCR and EXPIRE NX
per counter), on the first throttle's check; django-ratelimit would spend two
round trips per counter on the request hot path.

- ``PrincipalRateThrottle``: a token's own ``rate_limit_per_minute``, else the
  organization's ``rate_limit_per_minute`` setting, per token or per user
  (sessions). Over it: 429 ``rate_limited``.
- ``OrganizationRateThrottle``: the organization's quota
  ``max_api_calls_per_minute`` over all its callers. Over it: 429
  ``quota_exceeded``, since the organization as a whole used up its quota.

The organization throttle also counts the calls of each UTC day in the cache
(``api_calls_today``), in the same round trip, in a key that expires after two
days: the usage page shows it beside the current minute's count. It is a figure
for people, not a ledger: a cache that is cleared forgets it.

Each answers with ``Retry-After`` when it refuses; ``RateLimitHeadersMiddleware``
adds ``X-RateLimit-Limit/Remaining/Reset`` (seconds until the window resets)
of the tightest limit to every throttled response.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

from apps.tenancy.models import ApiToken
from cloudpam.exceptions import ApplicationError, QuotaExceeded, RateLimited

logger = logging.getLogger("apps.tenancy.throttling")

STATE_ATTRIBUTE = "_cloudpam_rate_limits"
COUNTS_ATTRIBUTE = "_cloudpam_rate_counts"
WINDOW_SECONDS = 60
# A window's counter outlives it a little, so a late increment never restarts at 1.
EXPIRY_FUDGE_SECONDS = 5
DAY_COUNT_TIMEOUT = 2 * 86_400


def _minute_key(key: str, window: int) -> str:
    return f"ratelimit:{key}:{window}"


def _day_key(organization_id: int, day: str) -> str:
    return f"api-calls:{organization_id}:{day}"


def count_requests(
    keys: list[str], *, day_keys: tuple[str, ...] = (), now: float | None = None
) -> tuple[list[int], int] | None:
    """Add one request to each counter of the current window; return the counts and seconds left.

    None when the cache cannot be reached: the limits then fail open
    (``RATELIMIT_FAIL_OPEN``), since refusing every call would be the worse outage.
    """
    now = time.time() if now is None else now
    window = int(now) - int(now) % WINDOW_SECONDS
    time_left = window + WINDOW_SECONDS - int(now)
    cache = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
    counters = [(_minute_key(key, window), WINDOW_SECONDS + EXPIRY_FUDGE_SECONDS) for key in keys]
    counters += [(key, DAY_COUNT_TIMEOUT) for key in day_keys]
    try:
        client = _redis_client(cache)
        if client is not None:
            counts = [
                int(value)
                for value in _count_script(client)(
                    keys=[cache.make_key(raw) for raw, _ in counters],
                    args=[timeout for _, timeout in counters],
                    client=client,
                )
            ]
        else:
            counts = []
            for raw, timeout in counters:
                cache.add(raw, 0, timeout)
                counts.append(int(cache.incr(raw)))
        counts = counts[: len(keys)]
    except Exception:
        if not getattr(settings, "RATELIMIT_FAIL_OPEN", True):
            raise
        logger.warning("rate limit counters unavailable; failing open", exc_info=True)
        return None
    return counts, time_left


# INCR each key, and give it its expiry when it has none (EXPIRE NX): one command for all
# the counters of a request, where a pipeline of INCR and EXPIRE per counter costs the
# client a dozen commands to pack and parse.
_COUNT_LUA = """
local counts = {}
for index, key in ipairs(KEYS) do
    counts[index] = redis.call('INCR', key)
    if redis.call('TTL', key) == -1 then
        redis.call('EXPIRE', key, ARGV[index])
    end
end
return counts
"""
_count_scripts: dict[int, Any] = {}


def _count_script(client: Any) -> Any:
    """Return the counting script registered with ``client`` (EVALSHA, loaded on first use)."""
    script = _count_scripts.get(id(client))
    if script is None:
        script = _count_scripts[id(client)] = client.register_script(_COUNT_LUA)
    return script


def _redis_client(cache: Any) -> Any:
    """Return the raw Redis client behind a django-redis cache, or None for other caches."""
    client = getattr(cache, "client", None)
    get_client = getattr(client, "get_client", None)
    if get_client is None:
        return None
    return get_client(write=True)


def rate_limit_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    """Return the ``X-RateLimit-*`` headers of one limit."""
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }


class _MinuteThrottle(BaseThrottle):
    """Count a request against one key and refuse it over the per-minute limit."""

    group = "cloudpam.api"

    def subject(self, request: Any) -> tuple[str, int] | None:
        """Return ``(key, limit per minute)``, or None to not count the request."""
        raise NotImplementedError

    def refusal(
        self, request: Any, limit: int, retry_after: int, headers: dict[str, str]
    ) -> ApplicationError:
        """Return the error that answers a request over the limit."""
        raise NotImplementedError

    def allow_request(self, request: Any, view: Any) -> bool:
        subject = self.subject(request)
        if subject is None:
            return True
        key, limit = subject
        usage = self._usage(request, view, key)
        if usage is None:
            return True
        count, time_left = usage
        reset = max(time_left, 0)
        remaining = max(limit - count, 0)
        state = getattr(request._request, STATE_ATTRIBUTE, [])
        state.append({"limit": limit, "remaining": remaining, "reset": reset})
        setattr(request._request, STATE_ATTRIBUTE, state)
        if count > limit:
            retry_after = max(reset, 1)
            headers = {"Retry-After": str(retry_after), **rate_limit_headers(limit, 0, reset)}
            raise self.refusal(request, limit, retry_after, headers)
        return True

    def counter(self, key: str) -> str:
        return f"{self.group}:{key}"

    def _usage(self, request: Any, view: Any, key: str) -> tuple[int, int] | None:
        """Return (count, seconds left) of ``key``, counting every limit of the view at once."""
        django_request = request._request
        counted = getattr(django_request, COUNTS_ATTRIBUTE, None)
        if counted is None:
            counters = [self.counter(key)]
            for throttle in view.get_throttles():
                if isinstance(throttle, _MinuteThrottle) and type(throttle) is not type(self):
                    other = throttle.subject(request)
                    if other is not None:
                        counters.append(throttle.counter(other[0]))
            organization = getattr(request, "organization", None)
            day_keys = ()
            if organization is not None and any(
                isinstance(throttle, OrganizationRateThrottle)
                for throttle in [self, *view.get_throttles()]
            ):
                day_keys = (_day_key(organization.pk, _today()),)
            result = count_requests(counters, day_keys=day_keys)
            counted = (
                {}
                if result is None
                else {
                    name: (count, result[1])
                    for name, count in zip(counters, result[0], strict=True)
                }
            )
            setattr(django_request, COUNTS_ATTRIBUTE, counted)
        return counted.get(self.counter(key))


class PrincipalRateThrottle(_MinuteThrottle):
    """Limit each token, or each signed-in user, to its requests a minute."""

    group = "cloudpam.api.principal"

    def subject(self, request: Any) -> tuple[str, int] | None:
        organization = getattr(request, "organization", None)
        default = organization.setting("rate_limit_per_minute") if organization else None
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None:
            limit = token.rate_limit_per_minute or default
            return (f"token:{token.pk}", limit) if limit else None
        user = request.user
        if default is None or not (user and user.is_authenticated):
            return None
        return f"user:{user.pk}", default

    def refusal(
        self, request: Any, limit: int, retry_after: int, headers: dict[str, str]
    ) -> ApplicationError:
        who = "this token" if isinstance(request.auth, ApiToken) else "your user"
        return RateLimited(
            f"Rate limit of {who} ({limit} requests a minute) reached; retry in {retry_after} s.",
            headers=headers,
        )


def _today() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())


def api_calls_today(*, organization: Any) -> int:
    """Return the organization's API calls since midnight UTC, as far as the cache knows."""
    cache = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
    return int(cache.get(_day_key(organization.pk, _today())) or 0)


def api_calls_this_minute(*, request: Any, organization: Any) -> int:
    """Return the organization's API calls in the current one-minute window of its quota."""
    now = int(time.time())
    window = now - now % WINDOW_SECONDS
    cache = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
    key = f"{OrganizationRateThrottle.group}:organization:{organization.pk}"
    return int(cache.get(_minute_key(key, window)) or 0)


class OrganizationRateThrottle(_MinuteThrottle):
    """Limit all callers of one organization together to its API-calls quota."""

    group = "cloudpam.api.organization"

    def subject(self, request: Any) -> tuple[str, int] | None:
        organization = getattr(request, "organization", None)
        if organization is None:
            return None
        return f"organization:{organization.pk}", organization.effective_quotas[
            "max_api_calls_per_minute"
        ]

    def refusal(
        self, request: Any, limit: int, retry_after: int, headers: dict[str, str]
    ) -> ApplicationError:
        return QuotaExceeded(
            f"Quota max_api_calls_per_minute ({limit}) reached; retry in {retry_after} s.",
            headers=headers,
        )
