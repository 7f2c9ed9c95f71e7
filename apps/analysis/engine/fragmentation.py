"""Fragmentation: how scattered the free space of a pool is, on a 0-100 scale.

Definition (SPEC.md section 6)::

    score = 100 * (1 - ideal / actual), rounded to one decimal (halves up)

where ``actual`` is the number of maximal free CIDR blocks of the pool and
``ideal = popcount(free addresses)``: a free space of F addresses needs at least one
aligned block per set bit of F, and exactly that many when the children are packed at one
end of the pool. The score is 0 when nothing is free or the free space is as compact as
alignment allows, and grows towards 100 as the free space splits into more blocks than
its size requires. ``largest_free_block`` and its share of the free space (percent, one
decimal) tell how large a request can still be served in one piece.

Worked examples on a /24 (256 addresses):

======================================  ===================  ======  =====  =====
children                                free blocks          actual  ideal  score
======================================  ===================  ======  =====  =====
none                                    .0/24                1       1      0.0
.0/25                                   .128/25              1       1      0.0
.64/26                                  .0/26, .128/25       2       2      0.0
.0/26, .128/26                          .64/26, .192/26      2       1      50.0
.0/32, .255/32                          14 blocks, .1 to     14      7      50.0
                                        .254 (254 addresses)
.0/26, .64/27, .128/27, .192/26         .96/27, .160/27      2       1      50.0
.0/24                                   none                 0       0      0.0
======================================  ===================  ======  =====  =====

The third row keeps 192 free addresses in two blocks, and 192 = 128 + 64 cannot be held in
fewer: no fragmentation. The fourth holds 128 free addresses in two /26 blocks where one
/25 would do: half of the blocks are surplus, a score of 50.

>>> from apps.pools.cidr import free_blocks, parse_prefix as p
>>> f = fragmentation_of(free_blocks(p("10.0.0.0/24"), [p("10.0.0.0/26"), p("10.0.0.128/26")]))
>>> f.score, f.actual, f.ideal, str(f.largest_free_block), f.largest_share
(50.0, 2, 1, '10.0.0.64/26', 50.0)
>>> fragmentation_of(free_blocks(p("10.0.0.0/24"), [p("10.0.0.64/26")])).score
0.0
>>> fragmentation_of([]).score
0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from apps.pools.cidr import Prefix

__all__ = ["Fragmentation", "fragmentation_from", "fragmentation_of", "round_half_up"]


def round_half_up(numerator: int, denominator: int) -> float:
    """Return ``numerator / denominator`` rounded half up to one decimal, computed exactly.

    Floats would round 12.25 and 12.35 differently depending on their binary value; the
    integer form rounds every half the same way, whatever the size of the operands.

    >>> round_half_up(1, 8), round_half_up(2, 3), round_half_up(1, 16)
    (0.1, 0.7, 0.1)
    """
    tenths = (20 * numerator + denominator) // (2 * denominator)
    return tenths / 10


@dataclass(frozen=True, slots=True)
class Fragmentation:
    """Report the fragmentation score of a pool and the inputs it was computed from.

    ``largest_share`` is the percentage of the free addresses held by the largest free
    block (0.0 when nothing is free).
    """

    score: float
    actual: int
    ideal: int
    total_free: int
    largest_free_block: Prefix | None
    largest_share: float


def fragmentation_of(free_blocks: Sequence[Prefix]) -> Fragmentation:
    """Return the fragmentation of a pool given its maximal free blocks.

    ``free_blocks`` must be the maximal blocks of one pool, as ``cidr.free_blocks`` returns
    them; the score is meaningless for an arbitrary list of blocks.
    """
    if not free_blocks:
        return fragmentation_from(0, 0, None)
    total = 0
    largest = free_blocks[0]
    for block in free_blocks:
        total += block.size
        if block.length < largest.length:
            largest = block
    return fragmentation_from(len(free_blocks), total, largest)


def fragmentation_from(count: int, total_free: int, largest: Prefix | None) -> Fragmentation:
    """Return the fragmentation from the counts of a gap analysis (see ``fragmentation_of``).

    ``count`` is the number of maximal free blocks, ``total_free`` their addresses and
    ``largest`` the largest of them.
    """
    actual = count
    total = total_free
    if not actual or largest is None:
        return Fragmentation(0.0, 0, 0, 0, None, 0.0)
    ideal = total.bit_count()
    score = round_half_up(100 * (actual - ideal), actual)
    return Fragmentation(
        score=score,
        actual=actual,
        ideal=ideal,
        total_free=total,
        largest_free_block=largest,
        largest_share=round_half_up(100 * largest.size, total),
    )
