"""Template helpers of the discovery pages: state badges and the two-lane picture."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from apps.discovery.netmap import MAX_DEPTH, Picture

register = template.Library()

# The picture's geometry in viewBox units: two lanes of LANE high, GAP apart.
LANE = 40
GAP = 14
# Each nesting level of the discovered lane is inset this much from top and bottom.
INSET = 5

MARK_CLASSES = {
    "managed": "info",
    "unmanaged": "warning",
    "outside": "error",
    "overlapping": "error",
    "orphaned": "error",
    "missing": "warning",
    "gone": "",
    "ignored": "",
    "unreconciled": "",
}


@register.filter
def mark_class(mark: str) -> str:
    """Return the badge class of a resource or pool mark."""
    return MARK_CLASSES.get(str(mark), "")


@register.inclusion_tag("discovery/_picture.html")
def network_picture(picture: Picture) -> dict[str, Any]:
    """Render the two lanes of ``picture`` as one inline SVG with a title per bar."""
    bars = []
    for bar in picture.planned:
        href = reverse("discovery:network-pool", args=[bar.ref]) if bar.ref else None
        bars.append(_bar(bar, y=0, height=LANE, href=href))
    for bar in picture.discovered:
        inset = min(bar.depth, MAX_DEPTH) * INSET
        href = reverse("discovery:resource-detail", args=[bar.ref]) if bar.ref else None
        bars.append(_bar(bar, y=LANE + GAP + inset, height=LANE - 2 * inset, href=href))
    return {
        "picture": picture,
        "bars": bars,
        "lane": LANE,
        "second": LANE + GAP,
        "height": 2 * LANE + GAP,
    }


def _bar(bar: Any, *, y: int, height: int, href: str | None) -> dict[str, Any]:
    return {
        "lane": bar.lane,
        "kind": bar.kind,
        "x": f"{bar.x:.3f}",
        "width": f"{bar.width:.3f}",
        "y": y,
        "height": height,
        "label": bar.label,
        "count": bar.count,
        "href": href,
    }
