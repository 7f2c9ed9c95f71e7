"""Template helpers of the pool pages."""

from __future__ import annotations

from typing import Any

from django import template

from apps.pools.cidr import format_address_count
from apps.pools.utilization import Utilization

register = template.Library()


@register.inclusion_tag("pools/pool_utilization_bar.html")
def utilization_bar(utilization: Utilization | None) -> dict[str, Any]:
    """Render a utilization bar with its percentage, coloured from 75 % and 90 %."""
    percent = utilization.percent if utilization is not None else 0.0
    used = utilization.used if utilization is not None else 0
    level = "err" if percent >= 90 else "warn" if percent >= 75 else ""
    # Two decimals round a few /64s in a /32 to 0.00; say "<0.1%" rather than "0.0%".
    label = "<0.1%" if used and percent < 0.1 else f"{percent:.1f}%"
    return {"utilization": utilization, "percent": percent, "level": level, "label": label}


@register.filter
def addresses(value: int | str) -> str:
    """Return ``value`` addresses in the console's one format (``format_address_count``)."""
    return format_address_count(int(value))
