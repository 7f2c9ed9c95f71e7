"""Gap analysis: the free blocks of a pool and how well each suits a requested size.

The free blocks of a pool are the maximal CIDR blocks inside it that no live child covers
(:func:`apps.pools.cidr.free_blocks`), in address order.

Ranking for a requested prefix length ``n`` (:func:`rank_free_blocks`):

1. Blocks smaller than a /n cannot hold the request and are left out.
2. Exact-size blocks (a /n) come first: taking one splits nothing.
3. Then the other blocks from the smallest to the largest, so that large blocks stay whole
   for large requests (the best-fit rule of ``POST /pools/{id}/allocate/``).
4. Among blocks of equal size, the lowest address first.

The first ranked block's ``candidate`` is therefore exactly what ``cidr.best_fit`` allocates.

>>> from apps.pools.cidr import parse_prefix as p
>>> gaps = gap_analysis(p("10.0.0.0/24"), [p("10.0.0.0/26"), p("10.0.0.128/27")])
>>> [str(block) for block in gaps.free_blocks]
['10.0.0.64/26', '10.0.0.160/27', '10.0.0.192/26']
>>> gaps.count, gaps.total_free, str(gaps.largest_free_block)
(3, 160, '10.0.0.64/26')
>>> [(str(r.block), str(r.candidate), r.exact) for r in rank_free_blocks(gaps.free_blocks, 27)]
[('10.0.0.160/27', '10.0.0.160/27', True), ('10.0.0.64/26', '10.0.0.64/27', False), \
('10.0.0.192/26', '10.0.0.192/27', False)]
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from apps.pools.cidr import Prefix, free_ranges, range_to_prefixes, validate_prefix_length

__all__ = [
    "GapAnalysis",
    "RankedBlock",
    "best_free_block",
    "gap_analysis",
    "largest_of",
    "rank_free_blocks",
]


@dataclass(frozen=True, slots=True)
class GapAnalysis:
    """Describe the free space of one pool.

    ``ranges`` are the free inclusive ``(first, last)`` address ranges in address order;
    the free blocks are their CIDR decompositions, produced on demand (a pool with 100,000
    scattered children has some 300,000 of them, and most callers need only the counts).
    ``count`` is the number of free blocks, ``total_free`` their addresses, and
    ``largest_free_block`` the largest one, the lowest address among equals (None when the
    pool is full).
    """

    family: int
    ranges: tuple[tuple[int, int], ...]
    count: int
    total_free: int
    largest_free_block: Prefix | None

    @property
    def free_blocks(self) -> tuple[Prefix, ...]:
        """Return every free block in address order."""
        return tuple(self.iter_blocks())

    def iter_blocks(self) -> Iterator[Prefix]:
        """Yield the free blocks in address order."""
        family = self.family
        for first, last in self.ranges:
            yield from range_to_prefixes(family, first, last)

    def blocks(self, limit: int | None = None) -> list[Prefix]:
        """Return the first ``limit`` free blocks in address order (all of them for None)."""
        result: list[Prefix] = []
        if limit is not None and limit <= 0:
            return result
        for block in self.iter_blocks():
            result.append(block)
            if limit is not None and len(result) >= limit:
                break
        return result

    def is_free(self, prefix: Prefix) -> bool:
        """Return True if every address of ``prefix`` is free in the pool."""
        if prefix.family != self.family or not self.ranges:
            return False
        index = bisect_right(self.ranges, (prefix.first, 1 << 129)) - 1
        if index < 0:
            return False
        first, last = self.ranges[index]
        return first <= prefix.first and prefix.last <= last


@dataclass(frozen=True, slots=True)
class RankedBlock:
    """Pair a free block with the aligned block of the requested size it would give."""

    block: Prefix
    candidate: Prefix
    exact: bool


def largest_of(blocks: Iterable[Prefix]) -> Prefix | None:
    """Return the largest block (shortest prefix), the first in iteration order among equals."""
    best: Prefix | None = None
    for block in blocks:
        if best is None or block.length < best.length:
            best = block
    return best


def gap_analysis(pool: Prefix, children: Iterable[Prefix]) -> GapAnalysis:
    """Return the free space of ``pool`` given the prefixes of its live children.

    Children may come in any order, nest or overlap; those of the other family are ignored
    and those reaching outside the pool are clipped, as ``cidr.free_blocks`` does.
    """
    family = pool.family
    if isinstance(children, (list, tuple)) and not children:
        # A leaf, most pools of a plan: free as a whole, the one block it is.
        last = pool.last
        return GapAnalysis(family, ((pool.first, last),), 1, last - pool.first + 1, pool)
    bits = pool.bits
    child_ranges = sorted((child.first, child.last) for child in children if child.family == family)
    ranges = free_ranges(pool.first, pool.last, child_ranges)
    whole = 1 << bits
    count = total = 0
    largest_first, largest_size = -1, 0
    # The decomposition of cidr.range_to_prefixes, counted instead of materialized.
    for first, last in ranges:
        total += last - first + 1
        while first <= last:
            size = first & -first or whole
            fit = 1 << ((last - first + 1).bit_length() - 1)
            if fit < size:
                size = fit
            count += 1
            if size > largest_size:
                largest_first, largest_size = first, size
            first += size
    largest = (
        # Aligned by the decomposition above: built without checking it again.
        Prefix.trusted(family, largest_first, bits + 1 - largest_size.bit_length())
        if largest_size
        else None
    )
    return GapAnalysis(
        family=family,
        ranges=tuple(ranges),
        count=count,
        total_free=total,
        largest_free_block=largest,
    )


def rank_free_blocks(blocks: Sequence[Prefix], prefix_length: int) -> tuple[RankedBlock, ...]:
    """Return the free blocks that can hold a /``prefix_length``, best suited first.

    See the module docstring for the ranking. ``blocks`` must be of one family; the
    prefix length is validated for it (CidrError when out of range).
    """
    if not blocks:
        return ()
    family = blocks[0].family
    validate_prefix_length(family, prefix_length)
    fitting = [block for block in blocks if block.length <= prefix_length]
    fitting.sort(key=lambda block: (-block.length, block.first))
    return tuple(
        RankedBlock(
            block=block,
            candidate=Prefix(family, block.first, prefix_length),
            exact=block.length == prefix_length,
        )
        for block in fitting
    )


def best_free_block(blocks: Iterable[Prefix], prefix_length: int) -> RankedBlock | None:
    """Return the first block :func:`rank_free_blocks` would rank, in one streaming pass.

    ``blocks`` must come in address order (as ``GapAnalysis.iter_blocks`` yields them); the
    prefix length is not validated here.
    """
    best: Prefix | None = None
    for block in blocks:
        length = block.length
        if length <= prefix_length and (best is None or length > best.length):
            best = block
            if length == prefix_length:
                # An exact fit cannot be beaten, and blocks come in address order.
                break
    if best is None:
        return None
    return RankedBlock(
        block=best,
        candidate=Prefix(best.family, best.first, prefix_length),
        exact=best.length == prefix_length,
    )
