"""
API rate limits: per token or user, and per organization.

DRF throttle classes over fixed one-minute windows counted in the shared cache
(Redis when configured). All the limits a request counts against are counted
together, in one Redis round trip (a pipeline of INCR and EXPIRE NX per
counter), on the first throttle's check; django-ratelimit would spend two
round trips per counter on the request hot path.

- ``PrincipalRateThrottle``: a token's own ``rate_limit_per_minute``, else the
  organization's ``rate_limit_per_minute`` setting, per token or per user
  (sessions). Over it: 429 ``rate_limited``.
- ``OrganizationRateThrottle``: the organization's quota
  ``max_api_calls_per_minute`` over all its callers. Over it: 429
  ``quota_exceeded``, since the organization as a whole used up its quota.

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


def count_requests(keys: list[str], *, now: float | None = None) -> tuple[list[int], int] | None:
    """Add one request to each counter of the current window; return the counts and seconds left.

    None when the cache cannot be reached: the limits then fail open
    (``RATELIMIT_FAIL_OPEN``), since refusing every call would be the worse outage.
    """
    now = time.time() if now is None else now
    window = int(now) - int(now) % WINDOW_SECONDS
    time_left = window + WINDOW_SECONDS - int(now)
    cache = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
    names = [cache.make_key(f"ratelimit:{key}:{window}") for key in keys]
    timeout = WINDOW_SECONDS + EXPIRY_FUDGE_SECONDS
    try:
        client = _redis_client(cache)
        if client is not None:
            pipeline = client.pipeline(transaction=False)
            for name in names:
                pipeline.incr(name)
                pipeline.expire(name, timeout, nx=True)
            counts = [int(value) for value in pipeline.execute()[0::2]]
        else:
            counts = []
            for key in keys:
                raw = f"ratelimit:{key}:{window}"
                cache.add(raw, 0, timeout)
                counts.append(int(cache.incr(raw)))
    except Exception:
        if not getattr(settings, "RATELIMIT_FAIL_OPEN", True):
            raise
        logger.warning("rate limit counters unavailable; failing open", exc_info=True)
        return None
    return counts, time_left


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
            result = count_requests(counters)
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
