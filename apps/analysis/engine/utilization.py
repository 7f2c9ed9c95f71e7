"""Utilization of a pool and of its subtree.

Two views of the same plan, both counting every address once however pools nest or
(in imported data) overlap:

* **Pool utilization** (:func:`pool_utilization`): the addresses of the pool covered by its
  live *direct* children, that is what has been handed out from this pool. A /16 VPC with
  three /24 subnets uses 768 of 65,536 addresses (1.17 %).
* **Subtree utilization** (:func:`subtree_utilizations`): the addresses covered by the live
  *leaves* below the pool, where the space finally ends up. A /16 region holding one /20
  VPC with three /24 subnets allocates 4,096 addresses (pool view) but assigns only 768
  (subtree view).

Both may carry **in use** figures: addresses used by resources discovered in the clouds,
given as ``{pool id: address count}`` (empty until discovery reports). Discovery counts a
resource's addresses against the deepest pool that contains them, so a subtree's in-use
figure is the sum over its pools, each capped at its pool's size and the total capped at
the root of the subtree.

>>> from apps.pools.cidr import parse_prefix as p
>>> from apps.analysis.engine.data import PoolData, build_tree
>>> tree = build_tree([
...     PoolData(1, None, p("10.0.0.0/16"), type="region"),
...     PoolData(2, 1, p("10.0.0.0/20"), type="vpc"),
...     PoolData(3, 2, p("10.0.0.0/24"), type="subnet"),
...     PoolData(4, 2, p("10.0.1.0/24"), type="subnet"),
...     PoolData(5, 2, p("10.0.2.0/24"), type="subnet"),
... ])
>>> region = pool_utilization(tree, 1)
>>> region.used, region.total, region.percent
(4096, 65536, 6.25)
>>> subtree = subtree_utilizations(tree, 1, in_use={3: 200, 4: 1000})[1]
>>> subtree.used, subtree.percent, subtree.in_use, subtree.descendants
(768, 1.17, 456, 4)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from apps.analysis.engine.data import PoolTree
from apps.pools.cidr import Prefix
from apps.pools.utilization import Utilization, covered_children, percent, utilization

__all__ = [
    "SubtreeTotals",
    "SubtreeUtilization",
    "Utilization",
    "at_or_above",
    "combine_subtree",
    "percent",
    "pool_utilization",
    "subtree_pass",
    "subtree_totals",
    "subtree_utilization",
    "subtree_utilizations",
]


def at_or_above(used: int, total: int, threshold: Fraction) -> bool:
    """Return whether ``used`` of ``total`` is at or above ``threshold`` percent.

    In integers: it is asked of every pool, and a Fraction per pool costs.

    >>> at_or_above(80, 100, Fraction(80)), at_or_above(79, 100, Fraction(159, 2))
    (True, False)
    """
    return used * 100 * threshold.denominator >= threshold.numerator * total


@dataclass(frozen=True, slots=True)
class SubtreeUtilization:
    """Count the addresses of a pool's subtree assigned to its leaves, each counted once.

    ``used`` is covered by live leaf descendants (0 for a pool without children);
    ``in_use`` sums discovered usage over the subtree, the pool included (None when there
    is none); ``descendants`` counts the live pools below.
    """

    total: int
    used: int
    in_use: int | None
    descendants: int

    @property
    def free(self) -> int:
        """Return the addresses not assigned to any leaf."""
        return self.total - self.used

    @property
    def percent(self) -> float:
        """Return ``used`` as a percentage of ``total`` (two decimals)."""
        return percent(self.used, self.total)


def _in_use_of(in_use: Mapping[int, int], pool_id: int, size: int) -> int | None:
    """Return the discovered usage of a pool, clamped to ``0..size``, or None."""
    value = in_use.get(pool_id)
    if value is None:
        return None
    return min(max(int(value), 0), size)


def pool_utilization(
    tree: PoolTree, pool_id: int, *, in_use: Mapping[int, int] | None = None
) -> Utilization:
    """Return the utilization of ``pool_id`` by its live direct children."""
    cidr = tree.get(pool_id).cidr
    pools = tree.pools
    used, children = covered_children(cidr, (pools[kid].cidr for kid in tree.children_of(pool_id)))
    return utilization(
        total=cidr.size, used=used, children=children, in_use=(in_use or {}).get(pool_id)
    )


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return sorted, disjoint, merged copies of the inclusive ``ranges``."""
    ranges.sort()
    merged: list[tuple[int, int]] = []
    run_first = run_last = -2
    for first, last in ranges:
        if first <= run_last + 1:
            if last > run_last:
                run_last = last
            continue
        if run_last >= 0:
            merged.append((run_first, run_last))
        run_first, run_last = first, last
    if run_last >= 0:
        merged.append((run_first, run_last))
    return merged


def _clip(ranges: Iterable[tuple[int, int]], cidr: Prefix) -> list[tuple[int, int]]:
    """Return ``ranges`` clipped to ``cidr``; children of a valid tree need no clipping."""
    low, high = cidr.first, cidr.last
    return [
        (max(first, low), min(last, high))
        for first, last in ranges
        if last >= low and first <= high
    ]


def subtree_utilization(
    tree: PoolTree, pool_id: int, *, in_use: Mapping[int, int] | None = None
) -> SubtreeUtilization:
    """Return the subtree utilization of ``pool_id`` alone, in one walk of its subtree.

    Equal to ``subtree_utilizations(tree, pool_id)[pool_id]`` without the figures of every
    pool below, which a single pool's analysis does not need.
    """
    in_use = in_use or {}
    pools = tree.pools
    children = tree.children
    cidr = pools[pool_id].cidr
    leaves: list[tuple[int, int]] = []
    descendants = -1
    for member in tree.walk(pool_id):
        descendants += 1
        if member != pool_id and not children.get(member):
            member_cidr = pools[member].cidr
            leaves.append((member_cidr.first, member_cidr.last))
    used = sum(last - first + 1 for first, last in _merge(_clip(leaves, cidr)))
    total_use: int | None = None
    if in_use:
        for member in tree.walk(pool_id):
            value = _in_use_of(in_use, member, pools[member].cidr.size)
            if value is not None:
                total_use = value + (total_use or 0)
        if total_use is not None:
            total_use = min(total_use, cidr.size)
    return SubtreeUtilization(cidr.size, used, total_use, descendants)


@dataclass(frozen=True, slots=True)
class SubtreeTotals:
    """Carry what a parent needs from a child's subtree to sum its own, without the subtree.

    ``covered`` counts the addresses of the child's leaves (the child's size when it is a
    leaf), ``usage`` the discovered usage summed over the subtree, uncapped (None: none),
    ``pools`` the live pools of the subtree, the child included.
    """

    covered: int
    usage: int | None
    pools: int


def subtree_pass(
    tree: PoolTree, pool_id: int | None, in_use: Mapping[int, int]
) -> tuple[dict[int, SubtreeUtilization], dict[int, SubtreeTotals]]:
    """Return the subtree utilizations below ``pool_id`` (the whole tree for None) and the
    :class:`SubtreeTotals` of its top pools (``pool_id``, or the roots), in one pass."""
    pools = tree.pools
    children = tree.children
    leaf_ranges: dict[int, list[tuple[int, int]]] = {}
    counts: dict[int, int] = {}
    usage: dict[int, int | None] = {}
    result: dict[int, SubtreeUtilization] = {}
    for current in tree.post_order(pool_id):
        cidr = pools[current].cidr
        size = cidr.size
        kids = children.get(current, ())
        own_use = _in_use_of(in_use, current, size)
        if not kids:
            leaf_ranges[current] = [(cidr.first, cidr.last)]
            counts[current] = 0
            usage[current] = own_use
            result[current] = SubtreeUtilization(size, 0, own_use, 0)
            continue
        gathered: list[tuple[int, int]] = []
        descendants = 0
        total_use = own_use
        for kid in kids:
            gathered.extend(leaf_ranges.pop(kid))
            descendants += counts.pop(kid) + 1
            kid_use = usage.pop(kid)
            if kid_use is not None:
                total_use = kid_use + (total_use or 0)
        merged = _merge(_clip(gathered, cidr))
        used = sum(last - first + 1 for first, last in merged)
        # A parent's leaves are its children's leaves: the pool itself is not one of them.
        leaf_ranges[current] = merged
        counts[current] = descendants
        # Sums go up uncapped; only the figure reported for each pool is capped at its size.
        usage[current] = total_use
        reported = None if total_use is None else min(total_use, size)
        result[current] = SubtreeUtilization(size, used, reported, descendants)
    totals = {
        top: SubtreeTotals(
            sum(last - first + 1 for first, last in ranges), usage[top], counts[top] + 1
        )
        for top, ranges in leaf_ranges.items()
    }
    return result, totals


def subtree_utilizations(
    tree: PoolTree, pool_id: int | None = None, *, in_use: Mapping[int, int] | None = None
) -> dict[int, SubtreeUtilization]:
    """Return the subtree utilization of ``pool_id`` and of every pool below it.

    ``pool_id`` None covers the whole tree. One post-order pass: each pool merges the leaf
    ranges of its children, so a leaf is touched once per ancestor and contiguous leaves
    collapse into one range as they go up.
    """
    return subtree_pass(tree, pool_id, in_use or {})[0]


def subtree_totals(
    tree: PoolTree, pool_id: int, *, in_use: Mapping[int, int] | None = None
) -> tuple[dict[int, SubtreeUtilization], SubtreeTotals]:
    """Return :func:`subtree_utilizations` of ``pool_id`` and the totals its parent needs."""
    result, totals = subtree_pass(tree, pool_id, in_use or {})
    return result, totals[pool_id]


def combine_subtree(
    cidr: Prefix, own_use: int | None, children: Iterable[SubtreeTotals]
) -> tuple[SubtreeUtilization, SubtreeTotals]:
    """Return a pool's subtree utilization from its live children's totals alone.

    Equal to what :func:`subtree_utilizations` finds walking the whole subtree, since live
    children lie inside their parent and never overlap: the leaves of the children cover
    disjoint addresses. This lets a job sum a pool with millions of descendants from the
    totals of its children, each computed in a chunk of its own. ``own_use`` is the pool's
    own discovered usage, as ``in_use`` maps it.
    """
    size = cidr.size
    own = None if own_use is None else min(max(int(own_use), 0), size)
    used = 0
    descendants = 0
    total_use = own
    any_child = False
    for child in children:
        any_child = True
        used += child.covered
        descendants += child.pools
        if child.usage is not None:
            total_use = child.usage + (total_use or 0)
    if not any_child:
        return SubtreeUtilization(size, 0, own, 0), SubtreeTotals(size, own, 1)
    reported = None if total_use is None else min(total_use, size)
    return (
        SubtreeUtilization(size, used, reported, descendants),
        SubtreeTotals(used, total_use, descendants + 1),
    )
