"""The to-scale picture of a pool's space: planned children and discovered CIDRs in two lanes.

Positions are linear in addresses and computed with integers only, so an IPv6 /32 costs what
an IPv4 /24 does: a block's ``start`` and ``end`` are its offsets in the pool as parts of
``SCALE`` (``(first - base) * SCALE // size``), never floating-point shares of ``2**96``.

A block narrower than ``MIN_UNITS`` (a tenth of a percent of the bar) is drawn that wide, so
it stays visible; the page says so. Widened blocks would then overlap their neighbours, so a
block that starts before the drawn end of the previous bar of its lane and depth joins that
bar instead: the bar then stands for several blocks, reports their count and kinds in its
title, and takes the most telling kind (``KIND_ORDER``). A bar grows so up to
``MERGE_UNITS`` minimum widths; past that the next block starts a bar of its own and the
previous bar's widened tail is cut where it begins, so a dense stretch still shows where its
blocks lie. As no two bars of one depth overlap and each is at least ``MIN_UNITS`` wide, a
lane has at most ``SCALE // MIN_UNITS`` bars per depth, whatever the number of blocks:
100,000 addresses of one subnet become at most a thousand bars, not 100,000 elements.
Blocks are consumed as a stream in address order, so memory holds the bars, not the blocks.

In the discovered lane resources nest (a network, its subnets, their addresses): a block's
``depth`` is the number of earlier blocks of the lane that contain it, found with a stack
sweep, and the page draws deeper bars thinner, inside their container. Depths beyond
``MAX_DEPTH`` are drawn at ``MAX_DEPTH``.

This module imports nothing from Django; a test keeps it that way.

>>> from apps.pools.cidr import parse_prefix
>>> pool = parse_prefix("10.0.0.0/16")
>>> planned = [Block(*span("10.0.0.0/17"), kind="used", label="a", ref=1)]
>>> found = [Block(*span("10.0.0.0/24"), kind="unmanaged", label="subnet-1", ref="r1")]
>>> picture = two_lanes(pool, planned=planned, discovered=found)
>>> [(bar.start, bar.end) for bar in picture.planned]
[(0, 500000)]
>>> [(bar.start, bar.end, bar.kind) for bar in picture.discovered]
[(0, 3907, 'unmanaged')]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from apps.pools import cidr

__all__ = [
    "KIND_ORDER",
    "MAX_DEPTH",
    "MERGE_UNITS",
    "MIN_UNITS",
    "SCALE",
    "Bar",
    "Block",
    "Picture",
    "lane_layout",
    "span",
    "two_lanes",
]

# Offsets are parts per million of the pool: fine enough for a bar of a few thousand pixels.
SCALE = 1_000_000
# The narrowest drawn bar: a tenth of a percent of the pool.
MIN_UNITS = SCALE // 1000
# A bar merging neighbours spans at most this many minimum widths (1% of the pool).
MERGE_UNITS = 10
# Nesting levels of the discovered lane that get their own height.
MAX_DEPTH = 3

# When a bar stands for blocks of several kinds it shows the first of these it holds: the
# kind an operator should look at first.
KIND_ORDER: tuple[str, ...] = (
    "overlapping",
    "outside",
    "orphaned",
    "unmanaged",
    "missing",
    "reserved",
    "managed",
    "used",
    "ignored",
)


@dataclass(frozen=True, slots=True)
class Block:
    """One thing to draw: a planned child or a discovered CIDR, as an inclusive range."""

    first: int
    last: int
    kind: str
    label: str
    ref: int | str | None = None


@dataclass(frozen=True, slots=True)
class Bar:
    """A drawn bar of a lane: one block, or several that would overlap once widened.

    ``start`` and ``end`` are offsets in the pool in parts of ``SCALE`` (``end`` exclusive,
    at least ``MIN_UNITS`` after ``start``); ``first``/``last`` are the addresses covered;
    ``kinds`` counts the blocks per kind; ``ref`` names the block when ``count`` is 1.
    """

    lane: str
    kind: str
    start: int
    end: int
    depth: int
    first: int
    last: int
    count: int
    label: str
    kinds: tuple[tuple[str, int], ...] = ()
    ref: int | str | None = None

    @property
    def x(self) -> float:
        """Return the left edge on a bar ``1000`` wide, for an SVG ``viewBox``."""
        return self.start * 1000 / SCALE

    @property
    def width(self) -> float:
        """Return the drawn width on a bar ``1000`` wide."""
        return (self.end - self.start) * 1000 / SCALE


@dataclass(frozen=True, slots=True)
class Picture:
    """Both lanes of a pool's picture, and the addresses at its two ends."""

    first_address: str
    last_address: str
    planned: list[Bar] = field(default_factory=list)
    discovered: list[Bar] = field(default_factory=list)
    planned_blocks: int = 0
    discovered_blocks: int = 0


def span(text: str) -> tuple[int, int]:
    """Return the inclusive ``(first, last)`` range of a CIDR's text.

    >>> span("10.0.0.0/30")
    (167772160, 167772163)
    """
    prefix = cidr.parse_prefix(text)
    return prefix.first, prefix.last


def _rank(kind: str) -> int:
    try:
        return KIND_ORDER.index(kind)
    except ValueError:
        return len(KIND_ORDER)


class _Open:
    """A bar being built: the blocks merged so far at one depth."""

    __slots__ = ("count", "end", "first", "kinds", "label", "last", "ref", "start")

    def __init__(self, block: Block, start: int, end: int) -> None:
        self.start = start
        self.end = end
        self.first = block.first
        self.last = block.last
        self.count = 1
        self.kinds: dict[str, int] = {block.kind: 1}
        self.label = block.label
        self.ref = block.ref


def _close(lane: str, depth: int, bar: _Open, family: int) -> Bar:
    kinds = tuple(sorted(bar.kinds.items(), key=lambda item: (_rank(item[0]), item[0])))
    if bar.count == 1:
        label, ref = bar.label, bar.ref
    else:
        low = cidr.address_to_str(family, bar.first)
        high = cidr.address_to_str(family, bar.last)
        detail = ", ".join(f"{count:,} {kind}" for kind, count in kinds)
        label, ref = f"{bar.count:,} blocks from {low} to {high} ({detail})", None
    return Bar(
        lane=lane,
        kind=kinds[0][0],
        start=bar.start,
        end=bar.end,
        depth=depth,
        first=bar.first,
        last=bar.last,
        count=bar.count,
        label=label,
        kinds=kinds,
        ref=ref,
    )


def lane_layout(
    pool: cidr.Prefix, blocks: Iterable[Block], *, lane: str, nested: bool = False
) -> Iterator[Bar]:
    """Yield the bars of one lane of ``pool``'s picture.

    ``blocks`` come in address order: by first address, larger blocks first among equal
    starts (a ValueError says when not). Parts of a block outside the pool are cut off; a
    block wholly outside is skipped. With ``nested`` a block inside an earlier one is drawn
    one level deeper; without it every block is at depth 0. Bars come out in the order they
    are finished, which is address order within each depth.
    """
    base, size, family = pool.first, pool.size, pool.family
    top = pool.last
    min_units, merge_span = MIN_UNITS, MERGE_UNITS * MIN_UNITS
    open_bars: dict[int, _Open] = {}
    # The last addresses of the blocks that contain the current one (the nesting stack).
    containers: list[int] = []
    previous_first, previous_last = -1, 0
    for block in blocks:
        first, last = block.first, block.last
        if first < previous_first or (first == previous_first and last > previous_last):
            raise ValueError("blocks must come in address order, larger blocks first")
        previous_first, previous_last = first, last
        if last < base or first > top:
            continue
        depth = 0
        if nested:
            while containers and containers[-1] < first:
                containers.pop()
            depth = len(containers)
            if depth > MAX_DEPTH:
                depth = MAX_DEPTH
            containers.append(last)
        if first < base:
            first = base
        if last > top:
            last = top
        start = (first - base) * SCALE // size
        # Round the end up so that a block is never drawn narrower than it is.
        end = -((last + 1 - base) * SCALE // -size)
        if end < start + min_units:
            end = start + min_units
            if end > SCALE:
                end, start = SCALE, SCALE - min_units
        current = open_bars.get(depth)
        if current is not None:
            if start < current.end:
                if start - current.start < merge_span:
                    # Joins the bar (inlined: this is the loop of dense estates).
                    if end > current.end:
                        current.end = end
                    if block.last > current.last:
                        current.last = block.last
                    current.count += 1
                    kinds = current.kinds
                    kinds[block.kind] = kinds.get(block.kind, 0) + 1
                    continue
                # A bar spans at most MERGE_UNITS minimum widths: past that its widened
                # tail gives way, so a dense stretch shows as several bars with counts.
                current.end = start
            yield _close(lane, depth, current, family)
        open_bars[depth] = _Open(block, start, end)
    for depth in sorted(open_bars):
        yield _close(lane, depth, open_bars[depth], family)


def _counted(blocks: Iterable[Block], tally: list[int]) -> Iterator[Block]:
    for block in blocks:
        tally[0] += 1
        yield block


def two_lanes(
    pool: cidr.Prefix, *, planned: Iterable[Block], discovered: Iterable[Block]
) -> Picture:
    """Return the picture of ``pool``: its planned children above, discovered CIDRs below.

    Both iterables are consumed once, in address order (see ``lane_layout``).
    """
    planned_count, discovered_count = [0], [0]
    planned_bars = sorted(
        lane_layout(pool, _counted(planned, planned_count), lane="planned"),
        key=lambda bar: (bar.depth, bar.start),
    )
    discovered_bars = sorted(
        lane_layout(pool, _counted(discovered, discovered_count), lane="discovered", nested=True),
        key=lambda bar: (bar.depth, bar.start),
    )
    return Picture(
        first_address=cidr.address_to_str(pool.family, pool.first),
        last_address=cidr.address_to_str(pool.family, pool.last),
        planned=planned_bars,
        discovered=discovered_bars,
        planned_blocks=planned_count[0],
        discovered_blocks=discovered_count[0],
    )
