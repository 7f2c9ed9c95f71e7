"""The drift tiles of the console's dashboard."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse

from apps.discovery.choices import DriftKind
from apps.discovery.selectors import drift_summary
from apps.tenancy.permissions import check_permission


def drift_page_url() -> str:
    """Return the console's drift page, or the drift API before the page exists."""
    try:
        return reverse("discovery:drift")
    except NoReverseMatch:
        return reverse("api:drift-list")


def dashboard_widgets(request: Any) -> list[dict[str, Any]]:
    """Return the open drift of the active organization: in all, overlaps, orphaned pools.

    One query (the summary's counts); readers of discovery only.
    """
    organization = getattr(request, "organization", None)
    if organization is None or check_permission(request, "discovery.view"):
        return []
    summary = drift_summary(organization=organization)
    url = drift_page_url()
    by_kind = summary["by_kind"]
    return [
        {"label": "drift findings", "value": summary["total"], "url": url},
        {
            "label": "overlapping resources",
            "value": by_kind[DriftKind.OVERLAP] + by_kind[DriftKind.DUPLICATE],
            "url": f"{url}?kind={DriftKind.OVERLAP}",
        },
        {
            "label": "orphaned pools",
            "value": by_kind[DriftKind.ORPHANED_POOL],
            "url": f"{url}?kind={DriftKind.ORPHANED_POOL}",
        },
    ]
