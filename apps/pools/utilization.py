"""How much of a pool its children use: the one utilization type and computation.

Pure Python (no Django): the pool selectors feed it grouped child counts from SQL, the
analysis engine feeds it the child blocks of its in-memory tree. Both get the same
:class:`Utilization`, so the API, the console and the analysis agree to the address.

A pool's *used* space is the addresses covered by its live direct children, each address
counted once. Live siblings written through the pool services never overlap, so the sum of
the children's sizes is exact and can come from a ``COUNT`` grouped by prefix length
(:func:`count_children`). Imported or legacy data may hold overlapping siblings; the
analysis engine counts their union (:func:`covered_children`). Either way the result is
capped at the pool's size.

>>> from apps.pools.cidr import parse_prefix as p
>>> used, children = count_children(32, [(24, 3), (20, 1)])
>>> utilization(total=65536, used=used, children=children).as_dict()
{'total': '65536', 'used': '4864', 'free': '60672', 'percent': 7.42}
>>> covered_children(p("10.0.0.0/16"), [p("10.0.0.0/20"), p("10.0.0.0/24")])
(4096, 2)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from apps.pools.cidr import Prefix, covered_size

__all__ = ["Utilization", "count_children", "covered_children", "percent", "utilization"]


def percent(part: int, total: int, digits: int = 2) -> float:
    """Return ``part`` as a percentage of ``total``, rounded to ``digits`` decimals.

    Integer true division is exact to the last bit of the float, so IPv6-sized counts keep
    their precision. A zero total gives 0.0.
    """
    if total <= 0:
        return 0.0
    return round(part * 100 / total, digits)


@dataclass(frozen=True, slots=True)
class Utilization:
    """The addresses of a pool: total, used by live children, free, and in use.

    ``children`` counts the live direct children; ``in_use`` is what discovery found in the
    clouds, None when it has reported nothing for the pool.
    """

    total: int
    used: int
    children: int = 0
    in_use: int | None = None

    @property
    def free(self) -> int:
        """Return the addresses no live child covers."""
        return self.total - self.used

    @property
    def percent(self) -> float:
        """Return ``used`` as a percentage of ``total`` (two decimals)."""
        return percent(self.used, self.total)

    @property
    def in_use_percent(self) -> float | None:
        """Return ``in_use`` as a percentage of ``total``, None without discovery data."""
        return None if self.in_use is None else percent(self.in_use, self.total)

    @property
    def effective_used(self) -> int:
        """Return the larger of ``used`` and ``in_use``: the pressure on the pool's space."""
        return max(self.used, self.in_use or 0)

    def as_dict(self) -> dict[str, Any]:
        """Return the API form: address counts as strings (IPv6 counts overflow JSON numbers)."""
        return {
            "total": str(self.total),
            "used": str(self.used),
            "free": str(self.free),
            "percent": self.percent,
        }


def utilization(
    *, total: int, used: int, children: int = 0, in_use: int | None = None
) -> Utilization:
    """Return a pool's utilization, with ``used`` and ``in_use`` clamped to ``0..total``.

    Clamping keeps a broken input (a child enclosing its parent, discovery reporting more
    addresses than the block has) from showing more than 100 %.
    """
    return Utilization(
        total=total,
        used=min(max(used, 0), total),
        children=children,
        in_use=None if in_use is None else min(max(int(in_use), 0), total),
    )


def count_children(bits: int, lengths: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """Return ``(used addresses, children)`` from ``(prefix length, count)`` pairs.

    Exact for non-overlapping children, which is what the pool services guarantee.
    """
    used = 0
    children = 0
    for length, count in lengths:
        used += count << (bits - length)
        children += count
    return used, children


def covered_children(cidr: Prefix, children: Iterable[Prefix]) -> tuple[int, int]:
    """Return ``(used addresses, children)`` counting overlapping children once.

    Only the children that overlap ``cidr`` count: aligned blocks either nest or are
    disjoint, so this drops nothing a well-formed plan holds.
    """
    inside = [child for child in children if cidr.overlaps(child)]
    return min(covered_size(inside), cidr.size), len(inside)
