"""Dashboard tiles of the address plan."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.pools.models import Pool
from apps.pools.selectors import FamilyCounts, pool_family_counts, pool_utilization_map

# Address spaces the utilization chart draws; more are a link to the tree.
CHART_SPACES = 20
# Geometry of the chart (SVG user units): one bar per space.
CHART_BAR = 18
CHART_GAP = 8


def _family_counts(request: Any) -> FamilyCounts:
    """Return the organization's pool counts, read once per request for tiles and panels.

    Counting the live pools reads an index entry per pool, the dashboard's dearest query
    at scale: the tiles and the "by family" panel share one reading.
    """
    counts = getattr(request, "_pool_family_counts", None)
    if counts is None:
        counts = pool_family_counts(organization=request.organization)
        request._pool_family_counts = counts
    return counts


def dashboard_widgets(request: Any) -> list[dict[str, Any]]:
    """Return the pool tiles of the dashboard: live pools, root address spaces, IPv6 pools."""
    organization = getattr(request, "organization", None)
    if organization is None:
        return []
    counts = _family_counts(request)
    tree = reverse("pools:pool-tree")
    return [
        {"label": "Pools", "value": counts.total, "url": tree},
        {"label": "Address spaces", "value": sum(counts.roots.values()), "url": tree},
        {
            "label": "IPv6 pools",
            "value": counts.pools[6],
            "url": reverse("pools:pool-list") + "?family=6",
        },
    ]


def dashboard_panels(request: Any) -> list[dict[str, Any]]:
    """Return the utilization chart of the address spaces and the counts by family."""
    organization = getattr(request, "organization", None)
    if organization is None:
        return []
    live = Pool.objects.for_organization(organization).live()
    counts = _family_counts(request)
    roots = list(live.roots_in_address_order()[: CHART_SPACES + 1])
    more = len(roots) > CHART_SPACES
    roots = roots[:CHART_SPACES]
    utilization = pool_utilization_map(roots)
    bars = []
    for index, root in enumerate(roots):
        used = utilization[root.pk]
        level = "err" if used.percent >= 90 else "warn" if used.percent >= 75 else ""
        bars.append(
            {
                "pool": root,
                "utilization": used,
                "y": index * (CHART_BAR + CHART_GAP),
                "width": min(max(used.percent, 0.0), 100.0),
                "level": level,
            }
        )
    list_url = reverse("pools:pool-list")
    return [
        {
            "order": 10,
            "title": "Utilization by address space",
            "template": "pools/dashboard_utilization.html",
            "bars": bars,
            "more": more,
            "bar_height": CHART_BAR,
            "chart_height": max(len(bars) * (CHART_BAR + CHART_GAP) - CHART_GAP, CHART_BAR),
            "tree_url": reverse("pools:pool-tree"),
        },
        {
            "order": 60,
            "title": "Pools by family",
            "template": "pools/dashboard_families.html",
            "rows": [
                {
                    "label": label,
                    "pools": counts.pools[family],
                    "roots": counts.roots[family],
                    "url": f"{list_url}?family={family}",
                }
                for family, label in ((4, "IPv4"), (6, "IPv6"))
            ],
        },
    ]
