"""The two-lane, to-scale picture of a pool: pure layout, no database."""

from __future__ import annotations

import doctest
import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.discovery import netmap
from apps.discovery.netmap import MIN_UNITS, SCALE, Block, lane_layout, span, two_lanes
from apps.pools.cidr import Prefix, parse_prefix

ROOT = Path(__file__).resolve().parents[2]


def block(text: str, kind: str = "used", ref: int | str | None = None) -> Block:
    first, last = span(text)
    return Block(first, last, kind, text, ref)


def test_worked_examples_in_docstrings() -> None:
    assert doctest.testmod(netmap).failed == 0


def test_the_module_imports_no_django() -> None:
    code = (
        "import sys, apps.discovery.netmap\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_planned_children_are_laid_out_to_scale() -> None:
    pool = parse_prefix("10.0.0.0/16")
    picture = two_lanes(
        pool,
        planned=[
            block("10.0.0.0/17", ref=1),
            block("10.0.128.0/24", "reserved", ref=2),
            block("10.0.192.0/18", ref=3),
        ],
        discovered=[],
    )
    assert [(b.start, b.end, b.kind, b.ref, b.count) for b in picture.planned] == [
        (0, 500_000, "used", 1, 1),
        (500_000, 503_907, "reserved", 2, 1),
        (750_000, 1_000_000, "used", 3, 1),
    ]
    assert (picture.first_address, picture.last_address) == ("10.0.0.0", "10.0.255.255")
    assert picture.planned_blocks == 3
    assert picture.discovered == []
    assert picture.planned[1].x == 500.0
    assert picture.planned[1].width == pytest.approx(3.907)


def test_a_tiny_block_gets_the_minimum_width_and_stays_inside_the_bar() -> None:
    pool = parse_prefix("10.0.0.0/8")
    bars = list(
        lane_layout(pool, [block("10.0.0.7/32"), block("10.255.255.255/32")], lane="planned")
    )
    assert [(b.start, b.end) for b in bars] == [(0, MIN_UNITS), (SCALE - MIN_UNITS, SCALE)]


def test_ipv6_is_integer_exact() -> None:
    pool = parse_prefix("2001:db8::/32")
    bars = list(lane_layout(pool, [block("2001:db8:8000::/33")], lane="planned"))
    assert [(b.start, b.end) for b in bars] == [(500_000, 1_000_000)]
    huge = parse_prefix("::/0")
    bars = list(lane_layout(huge, [block("8000::/1")], lane="planned"))
    assert [(b.start, b.end) for b in bars] == [(500_000, 1_000_000)]


def test_parts_outside_the_pool_are_cut_and_blocks_outside_skipped() -> None:
    pool = parse_prefix("10.0.0.0/24")
    bars = list(
        lane_layout(
            pool,
            [block("9.0.0.0/8"), block("10.0.0.0/16", "managed"), block("11.0.0.0/8")],
            lane="discovered",
        )
    )
    assert [(b.start, b.end, b.first, b.last, b.kind) for b in bars] == [
        (0, SCALE, *span("10.0.0.0/16"), "managed")
    ]


def test_blocks_out_of_order_are_refused() -> None:
    pool = parse_prefix("10.0.0.0/16")
    with pytest.raises(ValueError, match="address order"):
        list(lane_layout(pool, [block("10.0.1.0/24"), block("10.0.0.0/24")], lane="planned"))
    with pytest.raises(ValueError, match="larger blocks first"):
        list(lane_layout(pool, [block("10.0.0.0/24"), block("10.0.0.0/16")], lane="planned"))


def test_nested_resources_are_drawn_one_level_deeper() -> None:
    pool = parse_prefix("10.0.0.0/8")
    blocks = [
        block("10.0.0.0/16", "managed", "vpc"),
        block("10.0.0.0/20", "unmanaged", "subnet-a"),
        block("10.0.0.5/32", "unmanaged", "eni"),
        block("10.0.128.0/20", "overlapping", "subnet-b"),
        block("10.128.0.0/16", "outside", "vpc-2"),
    ]
    bars = two_lanes(pool, planned=[], discovered=blocks).discovered
    assert [(b.ref, b.depth, b.start, b.end) for b in bars] == [
        ("vpc", 0, 0, 3907),
        ("vpc-2", 0, 500_000, 503_907),
        ("subnet-a", 1, 0, MIN_UNITS),
        ("subnet-b", 1, 1953, 1953 + MIN_UNITS),
        ("eni", 2, 0, MIN_UNITS),
    ]


def test_widened_neighbours_are_merged_with_their_count_and_kinds() -> None:
    pool = parse_prefix("10.0.0.0/8")
    blocks = [
        block("10.0.0.0/24", "managed", 1),
        block("10.0.1.0/24", "overlapping", 2),
        block("10.0.2.0/24", "managed", 3),
        block("10.128.0.0/9", "unmanaged", 4),
    ]
    bars = list(lane_layout(pool, blocks, lane="discovered"))
    merged, alone = bars
    assert (merged.count, merged.kind, merged.ref) == (3, "overlapping", None)
    assert merged.kinds == (("overlapping", 1), ("managed", 2))
    assert merged.label == "3 blocks from 10.0.0.0 to 10.0.2.255 (1 overlapping, 2 managed)"
    # The third /24 starts 30 units in and is drawn MIN_UNITS wide from there.
    assert (merged.start, merged.end) == (0, 30 + MIN_UNITS)
    assert (alone.count, alone.ref, alone.label) == (1, 4, "10.128.0.0/9")


def test_a_hundred_thousand_blocks_become_a_bounded_number_of_bars() -> None:
    pool = parse_prefix("10.0.0.0/8")
    base = pool.first
    # Every 167th address of the /8, as /32s: 100,000 blocks spread over the whole pool.
    blocks = (Block(base + n * 167, base + n * 167, "unmanaged", "", n) for n in range(100_000))
    bars = list(lane_layout(pool, blocks, lane="discovered", nested=True))
    assert len(bars) <= SCALE // MIN_UNITS
    assert sum(bar.count for bar in bars) == 100_000
    assert all(b.end <= a.start or a.end <= b.start for a, b in itertools.pairwise(bars))


def _small_prefix(offset: int, length: int) -> Prefix:
    host = 32 - length
    return Prefix(4, (10 << 24) + (offset >> host << host), length)


small_blocks = st.lists(
    st.builds(_small_prefix, st.integers(0, 255), st.integers(24, 32)), max_size=60
)


@settings(max_examples=200, deadline=None)
@given(prefixes=small_blocks, min_units=st.sampled_from([1, 1000, 50_000]))
def test_every_block_lands_in_exactly_one_bar_and_bars_of_a_depth_never_overlap(
    prefixes: list[Prefix], min_units: int
) -> None:
    pool = parse_prefix("10.0.0.0/24")
    ordered = sorted(set(prefixes), key=lambda p: (p.first, -p.last))
    blocks = [Block(p.first, p.last, "unmanaged", str(p), str(p)) for p in ordered]
    original = netmap.MIN_UNITS
    netmap.MIN_UNITS = min_units
    try:
        bars = list(lane_layout(pool, blocks, lane="discovered", nested=True))
    finally:
        netmap.MIN_UNITS = original
    assert sum(bar.count for bar in bars) == len(blocks)
    by_depth: dict[int, list[netmap.Bar]] = {}
    for bar in bars:
        assert 0 <= bar.start < bar.end <= SCALE
        assert bar.end - bar.start >= min(min_units, SCALE)
        by_depth.setdefault(bar.depth, []).append(bar)
    for row in by_depth.values():
        row.sort(key=lambda bar: bar.start)
        for left, right in itertools.pairwise(row):
            assert left.end <= right.start
    for b in blocks:
        # Brute force: the block lies within the addresses of some bar, drawn to scale.
        assert any(bar.first <= b.first and b.last <= bar.last for bar in bars)
        start = (b.first - pool.first) * SCALE // pool.size
        assert any(bar.start <= start < bar.end for bar in bars)


def test_a_dense_stretch_is_split_into_bars_of_at_most_one_percent() -> None:
    pool = parse_prefix("10.0.0.0/16")
    blocks = [
        Block(pool.first + n * 20, pool.first + n * 20, "unmanaged", "", n) for n in range(3000)
    ]
    bars = list(lane_layout(pool, blocks, lane="discovered"))
    assert sum(bar.count for bar in bars) == 3000
    assert all(bar.end - bar.start <= (netmap.MERGE_UNITS + 1) * MIN_UNITS for bar in bars)
    assert all(a.end == b.start for a, b in itertools.pairwise(bars[:-1]))
    # 3,000 addresses over 91.6% of the lane, cut past each 1%: 91 bars of 33 blocks (the
    # last of 30).
    assert [bar.count for bar in bars] == [33] * 90 + [30]
