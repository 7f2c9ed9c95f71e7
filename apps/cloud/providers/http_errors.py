"""HTTP statuses and ``Retry-After`` headers in the provider-neutral error vocabulary.

Shared by the GCP and Azure providers, whose SDKs both surface the HTTP status of a failed
call. Pure Python, no Django.

>>> code_for_status(401), code_for_status(403), code_for_status(429), code_for_status(503)
('invalid_credentials', 'access_denied', 'throttled', 'provider_error')
>>> retry_after("7"), retry_after(None), retry_after("soon")
(7.0, None, None)
>>> retry_after("Sat, 05 Dec 2026 12:00:30 GMT", now=datetime(2026, 12, 5, 12, 0, tzinfo=UTC))
30.0
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["code_for_status", "retry_after"]

_CODES = {
    400: "provider_error",
    401: "invalid_credentials",
    403: "access_denied",
    404: "not_found",
    408: "timeout",
    429: "throttled",
}


def code_for_status(status: int | None) -> str:
    """Return the error code for an HTTP status (anything unknown is the provider's fault)."""
    return _CODES.get(status or 0, "provider_error")


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return a ``Retry-After`` header (seconds or an HTTP date) as seconds, or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
