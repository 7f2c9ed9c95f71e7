"""First fit and best fit over free ranges, for allocation under a row lock.

The CIDR engine's ``first_fit`` and ``best_fit`` take Prefix objects. An allocation reads
its parent's children while holding the parent's lock, and building a Prefix per child
(with its validation) was the largest cost of that critical section. Here the children
arrive as the database returns them, ``(first, last)`` integers sorted by first address,
and the engine's ``free_ranges`` and ``range_to_prefixes`` do the arithmetic; the answers
are the engine's (a property test compares them). No Django import, like the engine.
"""

from __future__ import annotations

from collections.abc import Iterable

from apps.pools.cidr import Prefix, free_ranges, range_to_prefixes

_BITS = {4: 32, 6: 128}


def gaps(parent: Prefix, sorted_children: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return the free inclusive ranges of ``parent`` given its children's sorted ranges."""
    return free_ranges(parent.first, parent.last, sorted_children)


def first_fit_in(parent: Prefix, free: list[tuple[int, int]], prefix_length: int) -> Prefix | None:
    """Return the lowest aligned block of ``prefix_length`` inside the ``free`` ranges."""
    shift = _BITS[parent.family] - prefix_length
    size = 1 << shift
    for first, last in free:
        start = ((first + size - 1) >> shift) << shift
        if start + size - 1 <= last:
            return Prefix(parent.family, start, prefix_length)
    return None


def best_fit_in(parent: Prefix, free: list[tuple[int, int]], prefix_length: int) -> Prefix | None:
    """Return the first block of ``prefix_length`` in the smallest free block that holds it.

    Free blocks are the maximal blocks of the ``free`` ranges; among equals the lowest
    address wins, as in the engine's ``best_fit``.
    """
    best: Prefix | None = None
    for first, last in free:
        for block in range_to_prefixes(parent.family, first, last):
            if block.length <= prefix_length and (best is None or block.length > best.length):
                best = block
                if block.length == prefix_length:
                    return Prefix(parent.family, best.first, prefix_length)
    return None if best is None else Prefix(parent.family, best.first, prefix_length)


def free_blocks_in(parent: Prefix, free: list[tuple[int, int]]) -> list[Prefix]:
    """Return the maximal free blocks of the ``free`` ranges, in address order."""
    return [
        block for first, last in free for block in range_to_prefixes(parent.family, first, last)
    ]


def blocks_of_length_in(
    parent: Prefix, free: list[tuple[int, int]], prefix_length: int, limit: int
) -> list[Prefix]:
    """Return the first ``limit`` aligned blocks of ``prefix_length`` in the ``free`` ranges."""
    shift = _BITS[parent.family] - prefix_length
    size = 1 << shift
    found: list[Prefix] = []
    for first, last in free:
        start = ((first + size - 1) >> shift) << shift
        while start + size - 1 <= last and len(found) < limit:
            found.append(Prefix(parent.family, start, prefix_length))
            start += size
        if len(found) >= limit:
            break
    return found


def largest_in(parent: Prefix, free: list[tuple[int, int]]) -> Prefix | None:
    """Return the largest maximal free block, the lowest address among equals."""
    largest: Prefix | None = None
    for first, last in free:
        for block in range_to_prefixes(parent.family, first, last):
            if largest is None or block.length < largest.length:
                largest = block
    return largest
