"""
Organization quotas: limits per organization and the usage they are checked against.

Limits live in ``Organization.quotas`` over ``DEFAULT_QUOTAS``. Usage belongs
to the app that owns the counted rows, so each app registers a counter in its
``AppConfig.ready()``::

    register_quota_usage("max_pools", lambda organization: Pool.objects.for_organization(
        organization).filter(deleted_at__isnull=True).count())

and calls ``quota_check`` inside the service that creates, under the same
lock that serializes the creation::

    quota_check(organization=pool.organization, name="max_pools")

``max_api_calls_per_minute`` has no counter here: the organization throttle
of the API enforces it (``apps.tenancy.throttling``), and the usage page reads
the current minute's count from the throttle's own counter.

An app may add a line of detail to a quota on the usage page (the LLM cost of
the month beside its tokens)::

    register_quota_detail("max_llm_tokens_per_month", lambda organization: "US$ 1.20 this month")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apps.tenancy.models import DEFAULT_QUOTAS, Organization
from cloudpam.exceptions import QuotaExceeded

QUOTA_LABELS: dict[str, str] = {
    "max_pools": "Pools",
    "max_cloud_accounts": "Cloud accounts",
    "max_sync_runs_per_day": "Sync runs per day",
    "max_api_calls_per_minute": "API calls per minute",
    "max_llm_tokens_per_month": "LLM tokens per month",
}

_usage_counters: dict[str, Callable[[Organization], int]] = {}
_details: dict[str, Callable[[Organization], str]] = {}


def register_quota_usage(name: str, counter: Callable[[Organization], int]) -> None:
    """Register the function that counts an organization's current use of quota ``name``."""
    if name not in DEFAULT_QUOTAS:
        raise ValueError(f"Unknown quota '{name}'; add it to DEFAULT_QUOTAS first.")
    _usage_counters[name] = counter


def register_quota_detail(name: str, detail: Callable[[Organization], str]) -> None:
    """Register a function returning one line the usage page shows under quota ``name``."""
    if name not in DEFAULT_QUOTAS:
        raise ValueError(f"Unknown quota '{name}'; add it to DEFAULT_QUOTAS first.")
    _details[name] = detail


def quota_details(*, organization: Organization) -> dict[str, str]:
    """Return the registered detail line of each quota that has one."""
    return {name: detail(organization) for name, detail in _details.items()}


def quota_limit(*, organization: Organization, name: str) -> int:
    """Return the organization's limit for quota ``name``."""
    if name not in DEFAULT_QUOTAS:
        raise ValueError(f"Unknown quota '{name}'.")
    return int(organization.effective_quotas[name])


def quota_usage(*, organization: Organization) -> dict[str, dict[str, Any]]:
    """Return ``{name: {"label", "limit", "used"}}``; ``used`` is None where nothing counts it."""
    return {
        name: {
            "label": QUOTA_LABELS.get(name, name),
            "limit": quota_limit(organization=organization, name=name),
            "used": _usage_counters[name](organization) if name in _usage_counters else None,
        }
        for name in DEFAULT_QUOTAS
    }


def quota_check(
    *, organization: Organization, name: str, amount: int = 1, used: int | None = None
) -> None:
    """Raise ``QuotaExceeded`` when ``amount`` more would go over quota ``name``.

    ``used`` is the current use; without it the registered counter is asked.
    """
    limit = quota_limit(organization=organization, name=name)
    if used is None:
        if name not in _usage_counters:
            raise ValueError(f"No usage counter is registered for quota '{name}'.")
        used = _usage_counters[name](organization)
    if used + amount > limit:
        raise QuotaExceeded(f"Quota {name} ({limit}) reached.")
