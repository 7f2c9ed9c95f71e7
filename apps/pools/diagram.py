"""The to-scale picture of a pool's address space on the pool page.

Positions are linear in addresses: a block's width is its share of the pool. A log scale
would make small blocks visible but would no longer be to scale, so instead a block
narrower than ``MIN_WIDTH`` (a tenth of a percent of the bar) is drawn ``MIN_WIDTH``
wide; the page says so. Past ``MAX_SEGMENTS`` children, adjacent children of the same kind
are merged into one segment, which keeps the picture exact and the page light.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.pools import cidr as engine
from apps.pools.models import Pool
from apps.pools.selectors import ChildSpan

WIDTH = 1000.0
MIN_WIDTH = 1.0
MAX_SEGMENTS = 2000


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of addresses drawn on the bar: ``used``, ``reserved`` or ``free``."""

    kind: str
    first: int
    last: int
    x: float
    width: float
    label: str
    pool_id: int | None = None


def _range_label(family: int, first: int, last: int) -> str:
    low = engine.address_to_str(family, first)
    high = engine.address_to_str(family, last)
    return f"{low} \u2013 {high} ({last - first + 1:,} addresses)"


def address_map(pool: Pool, children: list[ChildSpan]) -> list[Segment]:
    """Return the segments of the bar for ``pool`` and its live ``children``, in order."""
    base, size, family = pool.prefix.first, pool.size, pool.family
    # (kind, first, last, label, pool id) runs in address order.
    runs: list[tuple[str, int, int, str, int | None]] = []
    merge = len(children) > MAX_SEGMENTS
    for child in sorted(children, key=lambda span: span.first):
        kind = "reserved" if child.reserved else "used"
        if merge and runs and runs[-1][0] == kind and runs[-1][2] + 1 == child.first:
            runs[-1] = (kind, runs[-1][1], child.last, "", None)
            continue
        runs.append((kind, child.first, child.last, f"{child.cidr} {child.name}", child.pk))

    segments: list[Segment] = []

    def add(kind: str, first: int, last: int, label: str, pool_id: int | None) -> None:
        width = max((last - first + 1) * WIDTH / size, MIN_WIDTH)
        x = min((first - base) * WIDTH / size, WIDTH - width)
        segments.append(Segment(kind, first, last, x, width, label, pool_id))

    next_free = base
    for kind, first, last, label, pool_id in runs:
        if first > next_free:
            add("free", next_free, first - 1, _range_label(family, next_free, first - 1), None)
        add(kind, first, last, label or _range_label(family, first, last), pool_id)
        next_free = last + 1
    end = base + size - 1
    if next_free <= end:
        add("free", next_free, end, _range_label(family, next_free, end), None)
    return segments
