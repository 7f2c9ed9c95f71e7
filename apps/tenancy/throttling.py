"""
API rate limits: per token or user, and per organization.

DRF throttle classes over django-ratelimit's counters (fixed one-minute
windows, atomic increments in the shared cache: Redis when configured).

- ``PrincipalRateThrottle``: a token's own ``rate_limit_per_minute``, else the
  organization's ``rate_limit_per_minute`` setting, per token or per user
  (sessions). Over it: 429 ``rate_limited``.
- ``OrganizationRateThrottle``: the organization's quota
  ``max_api_calls_per_minute`` over all its callers. Over it: 429
  ``quota_exceeded``, since the organization as a whole used up its quota.

The organization throttle also counts the calls of each UTC day in the cache
(``api_calls_today``), one increment of a key that expires after two days:
the usage page shows it beside the current minute's count. It is a figure
for people, not a ledger: a cache that is cleared forgets it.

Each answers with ``Retry-After`` when it refuses; ``RateLimitHeadersMiddleware``
adds ``X-RateLimit-Limit/Remaining/Reset`` (seconds until the window resets)
of the tightest limit to every throttled response.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from django_ratelimit.core import get_usage
from rest_framework.throttling import BaseThrottle

from apps.tenancy.models import ApiToken
from cloudpam.exceptions import ApplicationError, QuotaExceeded, RateLimited

STATE_ATTRIBUTE = "_cloudpam_rate_limits"
WINDOW_SECONDS = 60
DAY_COUNT_TIMEOUT = 2 * 86_400


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
        usage = get_usage(
            request._request,
            group=self.group,
            key=lambda _group, _request: key,
            rate=(limit, WINDOW_SECONDS),
            increment=True,
        )
        if usage is None:
            return True
        reset = max(int(usage["time_left"]), 0)
        remaining = max(limit - int(usage["count"]), 0)
        state = getattr(request._request, STATE_ATTRIBUTE, [])
        state.append({"limit": limit, "remaining": remaining, "reset": reset})
        setattr(request._request, STATE_ATTRIBUTE, state)
        if usage["should_limit"]:
            retry_after = max(reset, 1)
            headers = {"Retry-After": str(retry_after), **rate_limit_headers(limit, 0, reset)}
            raise self.refusal(request, limit, retry_after, headers)
        return True


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


def _day_key(organization_id: int, day: date) -> str:
    return f"cloudpam:api-calls:{organization_id}:{day.isoformat()}"


def api_calls_record(organization_id: int) -> None:
    """Count one API call of the organization for today (UTC)."""
    key = _day_key(organization_id, timezone.now().date())
    if not cache.add(key, 1, DAY_COUNT_TIMEOUT):
        try:
            cache.incr(key)
        except ValueError:  # expired between the two calls
            cache.add(key, 1, DAY_COUNT_TIMEOUT)


def api_calls_today(*, organization: Any) -> int:
    """Return the organization's API calls since midnight UTC, as far as the cache knows."""
    return int(cache.get(_day_key(organization.pk, timezone.now().date()), 0))


def api_calls_this_minute(*, request: Any, organization: Any) -> int:
    """Return the organization's API calls in the current one-minute window of its quota."""
    limit = organization.effective_quotas["max_api_calls_per_minute"]
    usage = get_usage(
        request,
        group=OrganizationRateThrottle.group,
        key=lambda _group, _request: f"organization:{organization.pk}",
        rate=(limit, WINDOW_SECONDS),
        increment=False,
    )
    return int(usage["count"]) if usage is not None else 0


class OrganizationRateThrottle(_MinuteThrottle):
    """Limit all callers of one organization together to its API-calls quota."""

    group = "cloudpam.api.organization"

    def allow_request(self, request: Any, view: Any) -> bool:
        organization = getattr(request, "organization", None)
        if organization is not None:
            api_calls_record(organization.pk)
        return super().allow_request(request, view)

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
