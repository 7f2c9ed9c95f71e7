"""The allocation helpers give the engine's answers, and the picture is to scale."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.pools import allocation
from apps.pools import cidr as engine
from apps.pools.diagram import MIN_WIDTH, address_map
from apps.pools.selectors import ChildSpan


@st.composite
def parent_and_children(draw):
    """A small IPv4 or IPv6 parent and disjoint children inside it."""
    family = draw(st.sampled_from([4, 6]))
    bits = 32 if family == 4 else 128
    length = draw(st.integers(min_value=bits - 10, max_value=bits - 1))
    base = draw(st.integers(min_value=0, max_value=(1 << length) - 1)) << (bits - length)
    parent = engine.Prefix(family, base, length)
    children: list[engine.Prefix] = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        child_length = draw(st.integers(min_value=length + 1, max_value=bits))
        offset = draw(st.integers(min_value=0, max_value=(1 << (child_length - length)) - 1))
        child = engine.Prefix(family, base + (offset << (bits - child_length)), child_length)
        if not any(child.overlaps(other) for other in children):
            children.append(child)
    wanted = draw(st.integers(min_value=length + 1, max_value=bits))
    return parent, children, wanted


@settings(max_examples=400, deadline=None)
@given(parent_and_children())
def test_helpers_agree_with_the_engine(case):
    parent, children, wanted = case
    ranges = sorted((child.first, child.last) for child in children)
    free = allocation.gaps(parent, ranges)
    assert allocation.first_fit_in(parent, free, wanted) == engine.first_fit(
        parent, children, wanted
    )
    assert allocation.best_fit_in(parent, free, wanted) == engine.best_fit(parent, children, wanted)
    assert allocation.largest_in(parent, free) == engine.largest_free_block(parent, children)
    assert allocation.free_blocks_in(parent, free) == engine.free_blocks(parent, children)
    for limit in (1, 3):
        assert allocation.blocks_of_length_in(
            parent, free, wanted, limit
        ) == engine.free_blocks_of_length(parent, children, wanted, limit)


def test_helpers_import_no_django():
    import ast
    from pathlib import Path

    import apps.pools.allocation as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [name for name in imported if name and name.startswith("django")]


class _Pool:
    """The attributes of a pool that the picture reads."""

    def __init__(self, cidr: str) -> None:
        self.prefix = engine.parse_prefix(cidr)
        self.family = self.prefix.family
        self.size = self.prefix.size


def span(pk: int, cidr: str, reserved: bool = False) -> ChildSpan:
    prefix = engine.parse_prefix(cidr)
    return ChildSpan(pk, cidr, f"p{pk}", prefix.first, prefix.last, reserved)


def test_picture_is_linear_with_a_minimum_width():
    pool = _Pool("10.0.0.0/16")
    segments = address_map(pool, [span(1, "10.0.128.0/17", reserved=True), span(2, "10.0.0.0/32")])
    assert [(s.kind, s.x, s.width) for s in segments] == [
        ("used", 0.0, MIN_WIDTH),
        ("free", 1 / 65.536, 500 - 1 / 65.536),
        ("reserved", 500.0, 500.0),
    ]
    assert segments[1].label == "10.0.0.1 \u2013 10.0.127.255 (32,767 addresses)"
    assert segments[0].pool_id == 2


def test_picture_of_ipv6_and_many_children_merges_runs(monkeypatch):
    monkeypatch.setattr("apps.pools.diagram.MAX_SEGMENTS", 2)
    pool = _Pool("2001:db8::/32")
    children = [span(n, f"2001:db8:{n:x}::/48") for n in range(4)]
    segments = address_map(pool, children)
    assert [(s.kind, s.pool_id) for s in segments] == [("used", None), ("free", None)]
    assert segments[0].label == (
        "2001:db8:: \u2013 2001:db8:3:ffff:ffff:ffff:ffff:ffff "
        "(4,835,703,278,458,516,698,824,704 addresses)"
    )
    # 4 /48s are 1/16384 of the /32: far below a pixel, drawn at the minimum width.
    assert segments[0].width == MIN_WIDTH
    assert segments[1].x == pytest.approx(4000 / 65536)
