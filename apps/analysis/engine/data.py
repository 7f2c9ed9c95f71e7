"""Input data of the analysis engine: pools as plain values and the tree built from them.

The engine never sees a Django model. Callers turn pool rows into :class:`PoolData` values
(one query), hand a flat list to :func:`build_tree`, and every analysis reads the resulting
:class:`PoolTree`. Deleted pools are left out of the tree: the analysis is about the live
address plan, exactly as the pool invariants are.

>>> from apps.pools.cidr import parse_prefix
>>> tree = build_tree([
...     PoolData(1, None, parse_prefix("10.0.0.0/16"), name="prod", type="vpc"),
...     PoolData(2, 1, parse_prefix("10.0.1.0/24"), name="b", type="subnet"),
...     PoolData(3, 1, parse_prefix("10.0.0.0/24"), name="a", type="subnet"),
...     PoolData(4, 1, parse_prefix("10.0.2.0/24"), name="gone", deleted=True),
... ])
>>> tree.roots
(1,)
>>> tree.children_of(1)  # live children only, in address order
(3, 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from apps.pools.cidr import Prefix

__all__ = [
    "CONTAINER_TYPES",
    "POOL_STATUSES",
    "POOL_TYPES",
    "SEVERITIES",
    "PoolData",
    "PoolTree",
    "Severity",
    "Snapshot",
    "TreeError",
    "build_tree",
    "severity_rank",
]

Severity = Literal["error", "warning", "info"]
# Most severe first; the order is used to sort findings and recommendations.
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

# The pool vocabulary of SPEC.md section 2, repeated here because the engine may not import
# the Django choices; a test checks that both lists agree once the pool model exists.
POOL_TYPES: tuple[str, ...] = (
    "supernet",
    "region",
    "environment",
    "vpc",
    "subnet",
    "reserved",
    "custom",
)
POOL_STATUSES: tuple[str, ...] = ("planned", "active", "reserved", "deprecated")
# Pools meant to be divided into children rather than used directly by resources.
CONTAINER_TYPES: tuple[str, ...] = ("supernet", "region", "environment", "vpc")


def severity_rank(severity: str) -> int:
    """Return 0 for ``error``, 1 for ``warning``, 2 for ``info`` (unknown values sort last)."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return len(SEVERITIES)


class TreeError(ValueError):
    """Report pool data that does not form a tree (duplicate ids, a parent cycle)."""


@dataclass(frozen=True, slots=True)
class PoolData:
    """Describe one pool as the engine sees it.

    ``tags`` maps string keys to string values. ``created_at`` is only needed by rules that
    look at age (``EMPTY_POOL``); leave it None when unknown and those rules skip the pool.
    """

    id: int
    parent_id: int | None
    cidr: Prefix
    name: str = ""
    type: str = "custom"
    status: str = "active"
    tags: Mapping[str, str] = field(default_factory=dict)
    deleted: bool = False
    created_at: datetime | None = None

    @property
    def family(self) -> int:
        """Return 4 or 6."""
        return self.cidr.family

    def label(self) -> str:
        """Return ``'name' (cidr)`` for messages, or just the cidr for a nameless pool."""
        return f"'{self.name}' ({self.cidr})" if self.name else str(self.cidr)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Record how many addresses of a pool were used on one day."""

    day: date
    used: int


def _address_order(pool: PoolData) -> tuple[Prefix, int]:
    """Return the sort key that puts pools in address order, then id order."""
    return (pool.cidr, pool.id)


@dataclass(frozen=True, slots=True)
class PoolTree:
    """Hold the live pools of a plan and their parent/child links.

    Build it with :func:`build_tree`. ``children`` maps a pool id (``None`` for the roots)
    to the ids of its live children in address order. ``orphans`` lists the live pools whose
    parent is deleted or missing; they are treated as roots so that nothing live is lost.
    """

    pools: Mapping[int, PoolData]
    children: Mapping[int | None, tuple[int, ...]]
    orphans: tuple[int, ...] = ()

    @property
    def roots(self) -> tuple[int, ...]:
        """Return the ids of the root pools in address order."""
        return self.children.get(None, ())

    def __len__(self) -> int:
        """Return the number of live pools."""
        return len(self.pools)

    def __contains__(self, pool_id: object) -> bool:
        """Return True if ``pool_id`` is a live pool of the tree."""
        return pool_id in self.pools

    def get(self, pool_id: int) -> PoolData:
        """Return the pool ``pool_id``; raise KeyError when it is not a live pool."""
        return self.pools[pool_id]

    def children_of(self, pool_id: int | None) -> tuple[int, ...]:
        """Return the ids of the live children of ``pool_id`` (roots for None)."""
        return self.children.get(pool_id, ())

    def parent_of(self, pool_id: int) -> PoolData | None:
        """Return the live parent of ``pool_id``, or None for a root or an orphan."""
        parent_id = self.pools[pool_id].parent_id
        return self.pools.get(parent_id) if parent_id is not None else None

    def effective_parent_id(self, pool_id: int) -> int | None:
        """Return the id of the live parent of ``pool_id``, None for roots and orphans."""
        parent = self.parent_of(pool_id)
        return parent.id if parent is not None else None

    def siblings_of(self, pool_id: int) -> tuple[int, ...]:
        """Return the ids of the pools that share the parent of ``pool_id``, itself included."""
        return self.children_of(self.effective_parent_id(pool_id))

    def ancestors(self, pool_id: int) -> Iterator[PoolData]:
        """Yield the live ancestors of ``pool_id``, nearest first."""
        parent = self.parent_of(pool_id)
        while parent is not None:
            yield parent
            parent = self.parent_of(parent.id)

    def walk(self, pool_id: int | None = None) -> Iterator[int]:
        """Yield the ids of the subtree of ``pool_id`` in pre-order (the whole tree for None).

        The walk uses an explicit stack, so a deep tree cannot exhaust the recursion limit.
        """
        stack: list[int] = [pool_id] if pool_id is not None else list(reversed(self.roots))
        children = self.children
        while stack:
            current = stack.pop()
            yield current
            stack.extend(reversed(children.get(current, ())))

    def post_order(self, pool_id: int | None = None) -> list[int]:
        """Return the ids of the subtree of ``pool_id`` with every child before its parent."""
        order = list(self.walk(pool_id))
        order.reverse()
        return order


def build_tree(pools: Iterable[PoolData]) -> PoolTree:
    """Return the tree of the live pools among ``pools``.

    Deleted pools are dropped; a live pool whose parent is not live becomes an orphan root.
    Raise TreeError when two pools share an id or when parent links form a cycle, which no
    database row can do but hand-made data can.
    """
    live: dict[int, PoolData] = {}
    for pool in pools:
        if pool.id in live:
            raise TreeError(f"pool id {pool.id} appears twice")
        if not pool.deleted:
            live[pool.id] = pool
    grouped: dict[int | None, list[PoolData]] = {}
    orphans: list[int] = []
    for pool in live.values():
        parent_id = pool.parent_id
        if parent_id is not None and parent_id not in live:
            orphans.append(pool.id)
            parent_id = None
        grouped.setdefault(parent_id, []).append(pool)
    children = {
        parent_id: tuple(pool.id for pool in sorted(members, key=_address_order))
        for parent_id, members in grouped.items()
    }
    tree = PoolTree(pools=live, children=children, orphans=tuple(sorted(orphans)))
    reached = sum(1 for _ in tree.walk())
    if reached != len(live):
        seen = set(tree.walk())
        cycle = sorted(pool_id for pool_id in live if pool_id not in seen)
        raise TreeError(f"pools {cycle} have parent links that form a cycle")
    return tree
