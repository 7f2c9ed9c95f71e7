"""Generate a realistic address plan as plain data, for scale tests and benchmarks.

:func:`generate_plan` returns ``total`` pools of an IPv4 root (``10.0.0.0/8``) and an IPv6
root (``fd00::/8``), six levels deep (supernet, region, environment, VPC, subnet, host
range), with an uneven fan-out drawn from a heavy-tailed law and, in each family, one VPC
whose children are a "hub" of up to 50,000 subnets. The plan is the same for the same
``total`` and ``seed``.

The pools come out in treebeard's path order (every parent before its children), each
with its materialized path, depth and number of children already computed, so a caller
can insert them in bulk and leave the tree as consistent as treebeard's own writes would.

Prefixes are laid out bottom-up: a leaf takes a few addresses (an IPv4 /28 to /32, an IPv6
/64), a container the smallest aligned block that holds its children (largest first,
packed from its first address), plus some spare room. Children therefore lie inside their
parent and siblings never overlap, by construction. No Django import: the plan is data.

>>> plan = list(generate_plan(40, seed=1))
>>> len(plan), plan[0].path, plan[0].depth, str(plan[0].prefix)
(40, '0001', 1, '10.0.0.0/8')
>>> max(pool.depth for pool in plan) <= MAX_DEPTH
True
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from apps.pools.cidr import Prefix, parse_prefix

__all__ = [
    "HUB_CHILDREN",
    "MAX_DEPTH",
    "PlannedPool",
    "generate_plan",
    "path_step",
]

MAX_DEPTH = 6
# The children of the biggest parent of each family, when the plan is large enough.
HUB_CHILDREN = 50_000
# Treebeard's defaults, which the Pool model keeps.
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
STEPLEN = 4
# Share of the plan in IPv4; the rest is IPv6, where space is no constraint.
IPV4_SHARE = 0.15
ROOTS = {4: parse_prefix("10.0.0.0/8"), 6: parse_prefix("fd00::/8")}
TYPES = ("supernet", "region", "environment", "vpc", "subnet", "reserved")
ENVIRONMENTS = ("prod", "staging", "dev", "test", "shared", "dr", "sandbox", "qa")
# Statuses with their weights: most of a plan is in use.
STATUSES = (("active", 80), ("planned", 12), ("reserved", 5), ("deprecated", 3))


@dataclass(frozen=True, slots=True)
class PlannedPool:
    """One pool of a generated plan; ``parent`` is the index of its parent in the plan."""

    index: int
    parent: int | None
    path: str
    depth: int
    numchild: int
    prefix: Prefix
    name: str
    type: str
    status: str


def path_step(number: int) -> str:
    """Return treebeard's path step for the ``number``-th child (1-based)."""
    if not 0 < number < len(ALPHABET) ** STEPLEN:
        raise ValueError(f"step {number} does not fit {STEPLEN} characters")
    digits = []
    while number:
        number, digit = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits)).rjust(STEPLEN, "0")


class _Shape:
    """The nodes of the plan as parallel lists (a million objects would cost far more)."""

    def __init__(self) -> None:
        self.family: list[int] = []
        self.depth: list[int] = []
        self.kids: list[list[int]] = []
        self.bits: list[int] = []

    def add(self, family: int, depth: int, parent: int | None) -> int:
        node = len(self.depth)
        self.family.append(family)
        self.depth.append(depth)
        self.kids.append([])
        self.bits.append(0)
        if parent is not None:
            self.kids[parent].append(node)
        return node


def _split(rng: random.Random, budget: int, parts: int) -> list[int]:
    """Return ``parts`` positive sizes adding up to ``budget``, unevenly (heavy-tailed)."""
    weights = [rng.paretovariate(1.1) for _ in range(parts)]
    scale = (budget - parts) / sum(weights)
    sizes = [1 + int(weight * scale) for weight in weights]
    short = budget - sum(sizes)
    for index in sorted(range(parts), key=lambda i: -weights[i])[:short]:
        sizes[index] += 1
    return sizes


def _fan_out(rng: random.Random, budget: int, depth: int) -> int:
    """Return how many children a node with ``budget`` pools in its subtree gets."""
    below = budget - 1
    if depth == MAX_DEPTH - 1:
        return below
    levels = MAX_DEPTH - depth
    typical = below ** (1 / levels) * rng.lognormvariate(0, 0.6)
    return max(1, min(below, round(typical)))


def _grow(rng: random.Random, shape: _Shape, node: int, budget: int) -> None:
    """Give ``node`` a subtree of ``budget`` pools (itself included), iteratively."""
    stack = [(node, budget)]
    while stack:
        current, size = stack.pop()
        depth = shape.depth[current]
        if size <= 1 or depth >= MAX_DEPTH:
            continue
        parts = _fan_out(rng, size, depth)
        stack.extend(
            (shape.add(shape.family[current], depth + 1, current), part)
            for part in _split(rng, size - 1, parts)
        )


def _hub(shape: _Shape, root: int, children: int) -> None:
    """Hang a region, environment and VPC with ``children`` subnets below ``root``."""
    parent = root
    for depth in (2, 3, 4):
        parent = shape.add(shape.family[root], depth, parent)
    for _ in range(children):
        shape.add(shape.family[root], 5, parent)


def _leaf_bits(rng: random.Random, family: int, depth: int, *, hub: bool) -> int:
    if family == 6:
        return 64 if depth >= 5 else 80
    return 2 if hub else rng.choice((0, 2, 3, 4))


def _lay_out(rng: random.Random, shape: _Shape, root: int, room: int, *, spare: bool) -> bool:
    """Size every block of the subtree of ``root``; return whether it fits in ``room`` bits."""
    order = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(shape.kids[node])
    for node in reversed(order):
        kids = shape.kids[node]
        family = shape.family[node]
        if not kids:
            shape.bits[node] = _leaf_bits(rng, family, shape.depth[node], hub=False)
            continue
        if len(kids) > 1_000 and all(not shape.kids[kid] for kid in kids):
            for kid in kids:
                shape.bits[kid] = _leaf_bits(rng, family, shape.depth[kid], hub=True)
        need = sum(1 << shape.bits[kid] for kid in kids)
        # Strictly larger than its largest child, even an only child (SPEC 2, rule 1).
        bits = max(math.ceil(math.log2(need)), 1 + max(shape.bits[kid] for kid in kids))
        if spare:
            bits += rng.choice((0, 1, 1, 2)) if family == 4 else rng.choice((2, 4, 8))
        shape.bits[node] = bits
    return shape.bits[root] <= room


def _place(shape: _Shape, root: int, prefix: Prefix, out: dict[int, Prefix]) -> None:
    """Give each node of the subtree of ``root`` its block, children packed largest first."""
    out[root] = prefix
    stack = [root]
    width = 32 if prefix.family == 4 else 128
    while stack:
        node = stack.pop()
        block = out[node]
        cursor = block.first
        for kid in sorted(shape.kids[node], key=lambda k: -shape.bits[k]):
            out[kid] = Prefix(block.family, cursor, width - shape.bits[kid])
            cursor += 1 << shape.bits[kid]
        stack.extend(shape.kids[node])


def generate_plan(
    total: int, *, seed: int = 0, first_root_step: int = 1, hub_children: int = HUB_CHILDREN
) -> Iterator[PlannedPool]:
    """Yield a plan of ``total`` pools in path order (see the module's docstring).

    ``first_root_step`` numbers the first root's path (treebeard's roots are numbered
    across every organization). The hubs get ``hub_children`` subnets, or a twentieth of
    the plan when that is less. Raise ValueError for fewer than 2 pools.
    """
    if total < 2:
        raise ValueError("a plan has at least 2 pools (one root per family)")
    # A plan for tests and benchmarks, reproducible from its seed: no secret is drawn.
    rng = random.Random(seed)  # noqa: S311
    shape = _Shape()
    budgets = {4: max(1, round(total * IPV4_SHARE))}
    budgets[6] = total - budgets[4]
    hub = min(hub_children, total // 20)
    roots = []
    for family in (4, 6):
        root = shape.add(family, 1, None)
        roots.append(root)
        budget = budgets[family]
        if hub >= 2 and budget > hub + 4:
            _hub(shape, root, hub)
            budget -= hub + 3
        rest = budget - 1
        if rest:
            parts = max(1, min(rest, round(rest ** (1 / (MAX_DEPTH - 1)) * 2)))
            for part in _split(rng, rest, parts):
                _grow(rng, shape, shape.add(family, 2, root), part)
    prefixes: dict[int, Prefix] = {}
    for root in roots:
        block = ROOTS[shape.family[root]]
        room = (32 if block.family == 4 else 128) - block.length
        if not _lay_out(rng, shape, root, room, spare=True) and not _lay_out(
            rng, shape, root, room, spare=False
        ):
            raise ValueError(f"{total} pools do not fit {block}")
        _place(shape, root, block, prefixes)
    yield from _emit(rng, shape, roots, prefixes, first_root_step)


def _emit(
    rng: random.Random,
    shape: _Shape,
    roots: list[int],
    prefixes: dict[int, Prefix],
    first_root_step: int,
) -> Iterator[PlannedPool]:
    """Yield the pools in pre-order, children in address order, with paths and names."""
    statuses = [status for status, _ in STATUSES]
    weights = [weight for _, weight in STATUSES]
    index = 0
    # (node, path, parent index, ordinal among siblings)
    stack = [
        (root, path_step(first_root_step + number), None, number + 1)
        for number, root in reversed(list(enumerate(roots)))
    ]
    while stack:
        node, path, parent, ordinal = stack.pop()
        depth = shape.depth[node]
        kind = TYPES[depth - 1]
        prefix = prefixes.pop(node)
        kids = sorted(shape.kids[node], key=lambda k: prefixes[k].first)
        if depth == 1:
            name = f"ipv{prefix.family}-supernet"
        elif depth == 3:
            name = f"{ENVIRONMENTS[(ordinal - 1) % len(ENVIRONMENTS)]}-{ordinal}"
        else:
            name = f"{kind}-{ordinal}"
        yield PlannedPool(
            index=index,
            parent=parent,
            path=path,
            depth=depth,
            numchild=len(kids),
            prefix=prefix,
            name=name,
            type=kind,
            status="active" if kids else rng.choices(statuses, weights)[0],
        )
        me = index
        index += 1
        stack.extend(
            (kid, path + path_step(number), me, number)
            for number, kid in reversed(list(enumerate(kids, start=1)))
        )
