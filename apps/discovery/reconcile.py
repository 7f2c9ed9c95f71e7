"""Reconciliation of the discovered estate against the pool plan: a pure engine.

Callers hand in the organization's live pools and its discovered resources as frozen
values (:class:`PoolItem`, :class:`ResourceItem`) and get back, for every resource that is
not gone, its narrowest containing pool, its management state and its overlap status, and
for every pool the resource it is linked to and whether it is orphaned
(:func:`reconcile`). Nothing here imports Django; a test walks the imports.

Rules (SPEC.md section 5, "Reconciliation"), and the decisions taken where it is silent:

* **Routing domains.** Pools of one organization share one routing domain, except roots
  created while overlapping roots were allowed, which are each their own (the caller
  gives every pool its domain: the root's id, or ``DEFAULT_DOMAIN``). A resource belongs
  to the domain of its narrowest containing pool, or to ``DEFAULT_DOMAIN`` when no pool
  contains it; containment, links and overlaps are only looked for within one domain.
* **Narrowest pool.** The deepest live pool whose block contains the resource's block (an
  equal block counts); among equal blocks of different domains the lowest id wins.
* **Links.** A pool whose block equals a present (or merely missing) resource's block of
  its domain links to it: the resource it is already linked to when that one still
  qualifies, else the lowest id. Ignored and gone resources are never linked.
* **Management state.** ``ignored`` when a user ignored the resource; ``managed`` when a
  pool with exactly its block is linked to it; ``unmanaged`` when a pool contains it;
  ``outside`` otherwise.
* **Overlap.** Two CIDR blocks either nest or are disjoint, so "partially overlapping a
  pool boundary" can only mean that the plan and the cloud cut the space differently: an
  unplanned resource (no pool with exactly its block) that strictly contains a pool of its
  domain spans planned blocks it does not own. Against resources: a resource strictly
  containing, or strictly contained in, a resource of *another network* of the same
  domain overlaps it (a subnet inside its own VPC does not). Resources without a network
  id (public addresses) take no part in resource overlaps. Identical blocks in two
  networks of one domain are **duplicates**, reported as such and not as overlaps.
* **Orphaned pools.** A pool that was linked (to a resource, or to an account whose
  resource row is gone) and that no qualifying resource links to any more is orphaned;
  the link to the gone resource is kept so that the pool still says what it was.

Every step is a sort and a sweep, ``O((P + R) log(P + R))``: items are sorted by
``(first address, prefix length)`` as one packed integer, containment comes from a stack,
"strictly inside" from a binary search, and "another network inside" from a precomputed
next-different-network index. No prefix is ever expanded.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from apps.analysis.engine import ComplianceSettings, Finding, PoolData, build_tree
from apps.analysis.engine import evaluate_compliance as _evaluate_compliance
from apps.pools.cidr import Prefix

__all__ = [
    "DEFAULT_DOMAIN",
    "MANAGEMENT_STATES",
    "OVERLAPS_SHOWN",
    "Overlap",
    "PoolItem",
    "PoolOutcome",
    "Reconciliation",
    "ResourceFacts",
    "ResourceItem",
    "ResourceOutcome",
    "pool_type_of",
    "reconcile",
    "resource_compliance",
]

DEFAULT_DOMAIN = 0
MANAGEMENT_STATES = ("managed", "unmanaged", "outside", "ignored")
# A resource can overlap thousands of things; its row names the first few.
OVERLAPS_SHOWN = 10

_LENGTH_BITS = 8

# The analysis rules that make sense for a single resource. OVERLAP is reconciliation's
# own business (and across networks, not siblings); EMPTY_POOL, OVER_UTILIZED and
# DEPRECATED_IN_USE are about what a pool holds, which a resource does not plan.
RESOURCE_RULES = ("PUBLIC_SPACE", "SPECIAL_PURPOSE", "PREFIX_BOUNDS", "NAMING", "REQUIRED_TAGS")
# The pool type a resource is checked as.
_POOL_TYPE_OF_RESOURCE = {
    "vpc": "vpc",
    "vnet": "vpc",
    "network": "vpc",
    "subnet": "subnet",
    "subnetwork": "subnet",
}


@dataclass(frozen=True, slots=True)
class PoolItem:
    """A live pool as reconciliation sees it.

    ``domain`` is its routing domain (``DEFAULT_DOMAIN`` or a separate root's id);
    ``linked_resource`` the id of the resource ``cloud_resource`` points at; ``was_linked``
    is True when discovery linked it once (``cloud_account`` set) even if that resource's
    row is gone since.
    """

    id: int
    cidr: Prefix
    parent_id: int | None = None
    domain: Hashable = DEFAULT_DOMAIN
    source: str = "manual"
    linked_resource: int | None = None
    was_linked: bool = False


@dataclass(frozen=True, slots=True)
class ResourceItem:
    """A discovered resource as reconciliation sees it.

    ``state`` is ``present``, ``missing`` or ``gone``; gone resources get no outcome and are
    never linked. ``domain`` forces a routing domain; None derives it from the pools.
    """

    id: int
    cidr: Prefix
    network_id: str = ""
    state: str = "present"
    ignored: bool = False
    domain: Hashable | None = None


@dataclass(frozen=True, slots=True)
class Overlap:
    """The other side of an overlap or duplicate: ``kind`` is ``pool`` or ``resource``."""

    kind: str
    id: int
    cidr: Prefix


@dataclass(frozen=True, slots=True)
class ResourceOutcome:
    """What reconciliation decided for one resource.

    ``overlaps_with`` names up to ``OVERLAPS_SHOWN`` pools and resources it overlaps, pools
    first; ``duplicates`` the resources of other networks with exactly its block.
    ``exact_pool`` is the pool with exactly its block, linked to it or not.
    """

    resource: int
    pool: int | None
    domain: Hashable
    management_state: str
    overlapping: bool
    overlaps_with: tuple[Overlap, ...] = ()
    duplicates: tuple[Overlap, ...] = ()
    exact_pool: int | None = None

    @property
    def overlap_status(self) -> str:
        """Return ``overlapping`` or ``nonoverlapping``, the stored spelling."""
        return "overlapping" if self.overlapping else "nonoverlapping"


@dataclass(frozen=True, slots=True)
class PoolOutcome:
    """What reconciliation decided for one pool: its link and whether it is orphaned."""

    pool: int
    linked_resource: int | None
    orphaned: bool


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The outcome for every resource that is not gone and for every pool, by id."""

    resources: Mapping[int, ResourceOutcome]
    pools: Mapping[int, PoolOutcome]


def _key(prefix: Prefix) -> int:
    """Return the packed sort key: first address, then length (larger blocks first)."""
    return (prefix.first << _LENGTH_BITS) | prefix.length


def _ident(prefix: Prefix) -> int:
    """Return one int naming the block, family included: a cheap dictionary key.

    Hashing a Prefix (a dataclass) runs Python code; an int hashes in C.
    """
    return (prefix.family << 140) | (prefix.first << _LENGTH_BITS) | prefix.length


def _narrowest_pools(
    pools: Sequence[PoolItem], resources: Sequence[ResourceItem]
) -> dict[int, PoolItem]:
    """Return, by resource id, the deepest pool containing each resource.

    One sweep over pools and resources in address order. The stack holds the pools that
    contain the current position; since blocks nest or are disjoint it is a chain, each
    inside the one below it. A resource with a forced domain walks down to that domain.
    """
    # Among equal blocks the pool pushed last (the top) must be the lowest id: pools of
    # one block sort by descending id.
    events: list[tuple[int, int, int, int, object]] = [
        (pool.cidr.family, _key(pool.cidr), 0, -pool.id, pool) for pool in pools
    ]
    events.extend(
        (resource.cidr.family, _key(resource.cidr), 1, resource.id, resource)
        for resource in resources
    )
    events.sort(key=lambda event: event[:4])
    found: dict[int, PoolItem] = {}
    # (last address, pool): the last address is computed once per pool, not per comparison.
    stack: list[tuple[int, PoolItem]] = []
    family = 0
    for event_family, _, kind, _, item in events:
        if event_family != family:
            stack.clear()
            family = event_family
        cidr: Prefix = item.cidr  # type: ignore[attr-defined]
        first = cidr.first
        while stack and stack[-1][0] < first:
            stack.pop()
        if kind == 0:
            stack.append((cidr.last, item))  # type: ignore[arg-type]
            continue
        resource: ResourceItem = item  # type: ignore[assignment]
        if resource.domain is None:
            if stack:
                found[resource.id] = stack[-1][1]
            continue
        for _, pool in reversed(stack):
            if pool.domain == resource.domain:
                found[resource.id] = pool
                break
    return found


class _Sorted:
    """Items of one domain and family in address order, for "strictly inside" searches."""

    def __init__(self, items: list[tuple[int, int, object]]) -> None:
        items.sort(key=lambda entry: (entry[0], entry[1]))
        self.keys = [entry[0] for entry in items]
        self.items = [entry[2] for entry in items]

    def strictly_inside(self, prefix: Prefix) -> tuple[int, int]:
        """Return the index range of the items strictly inside ``prefix``."""
        start = bisect_left(self.keys, (prefix.first << _LENGTH_BITS) | (prefix.length + 1))
        if prefix.length == prefix.bits:
            return start, start
        end = bisect_right(self.keys, (prefix.last << _LENGTH_BITS) | ((1 << _LENGTH_BITS) - 1))
        return start, max(start, end)


def _outermost(items: Sequence[object], start: int, end: int, limit: int) -> list[object]:
    """Return up to ``limit`` items of ``items[start:end]`` not inside an earlier one."""
    shown: list[object] = []
    reach = -1
    for index in range(start, end):
        item = items[index]
        cidr: Prefix = item.cidr  # type: ignore[attr-defined]
        if cidr.first <= reach:
            continue
        shown.append(item)
        reach = cidr.last
        if len(shown) == limit:
            break
    return shown


@dataclass(slots=True)
class _Found:
    """Mutable per-resource scratch of the resource sweep."""

    up: ResourceItem | None = None
    down: ResourceItem | None = None


def _resource_overlaps(resources: Sequence[ResourceItem]) -> dict[int, _Found]:
    """Return, by resource id, a resource of another network containing or inside it.

    ``resources`` are of one domain and family and all have a network id. Upwards, a stack
    sweep keeps for each entry ``other``: the nearest entry below it (containing it) of a
    different network, so the nearest strictly containing resource of another network is
    found in constant time. Downwards, the resources strictly inside a block form one
    range of the sorted list, and ``next_different[i]`` (the first index after ``i`` whose
    network differs from ``i``'s) tells in constant time whether the range holds another
    network.
    """
    ordered = sorted(resources, key=lambda item: (_key(item.cidr), item.id))
    count = len(ordered)
    nets = [item.network_id for item in ordered]
    next_different = [count] * (count + 1)
    for index in range(count - 2, -1, -1):
        next_different[index] = (
            index + 1 if nets[index + 1] != nets[index] else next_different[index + 1]
        )
    keys = [_key(item.cidr) for item in ordered]
    found: dict[int, _Found] = {}

    # Upwards: stack entries are (item, other, below_strict) where ``below_strict`` is the
    # stack index of the nearest entry with a different (hence strictly larger) block.
    stack: list[tuple[ResourceItem, ResourceItem | None, int]] = []
    for item in ordered:
        cidr = item.cidr
        while stack and stack[-1][0].cidr.last < cidr.first:
            stack.pop()
        other: ResourceItem | None = None
        strict = -1
        if stack:
            top, top_other, top_strict = stack[-1]
            other = top if top.network_id != item.network_id else top_other
            strict = top_strict if top.cidr == cidr else len(stack) - 1
            if strict >= 0:
                container, container_other, _ = stack[strict]
                up = container if container.network_id != item.network_id else container_other
                if up is not None:
                    found.setdefault(item.id, _Found()).up = up
        stack.append((item, other, strict))

    # Downwards.
    for index, item in enumerate(ordered):
        cidr = item.cidr
        if cidr.length == cidr.bits:
            continue
        start = bisect_left(keys, (cidr.first << _LENGTH_BITS) | (cidr.length + 1), index)
        end = bisect_right(keys, (cidr.last << _LENGTH_BITS) | ((1 << _LENGTH_BITS) - 1), start)
        if start >= end:
            continue
        hit = start if nets[start] != item.network_id else next_different[start]
        if hit < end:
            found.setdefault(item.id, _Found()).down = ordered[hit]
    return found


def _duplicates(resources: Iterable[ResourceItem]) -> dict[int, list[ResourceItem]]:
    """Return, by resource id, the resources of other networks with exactly its block."""
    groups: dict[int, list[ResourceItem]] = {}
    for item in resources:
        groups.setdefault(_ident(item.cidr), []).append(item)
    result: dict[int, list[ResourceItem]] = {}
    for members in groups.values():
        if len(members) < 2 or len({item.network_id for item in members}) < 2:
            continue
        members.sort(key=lambda item: item.id)
        for item in members:
            others = [other for other in members if other.network_id != item.network_id]
            result[item.id] = others[:OVERLAPS_SHOWN]
    return result


def _links(
    pools: Sequence[PoolItem],
    candidates: Mapping[tuple[Hashable, int], list[ResourceItem]],
) -> dict[int, PoolOutcome]:
    """Return each pool's link and orphaned flag (see the module's rules)."""
    outcomes: dict[int, PoolOutcome] = {}
    for pool in pools:
        matches = candidates.get((pool.domain, _ident(pool.cidr)), ())
        linked = None
        if matches:
            current = [item for item in matches if item.id == pool.linked_resource]
            linked = current[0].id if current else min(item.id for item in matches)
        if linked is not None:
            outcomes[pool.id] = PoolOutcome(pool.id, linked, orphaned=False)
        else:
            was = pool.was_linked or pool.linked_resource is not None
            outcomes[pool.id] = PoolOutcome(pool.id, pool.linked_resource, orphaned=was)
    return outcomes


def reconcile(pools: Iterable[PoolItem], resources: Iterable[ResourceItem]) -> Reconciliation:
    """Return the reconciliation of ``resources`` against the live ``pools``.

    ``pools`` must be the live pools only; ``resources`` may include gone ones (they
    matter only in that they no longer hold a link).
    """
    pool_list = list(pools)
    live = [item for item in resources if item.state != "gone"]
    narrowest = _narrowest_pools(pool_list, live)

    domain_of: dict[int, Hashable] = {}
    for item in live:
        if item.domain is not None:
            domain_of[item.id] = item.domain
        else:
            pool = narrowest.get(item.id)
            domain_of[item.id] = pool.domain if pool is not None else DEFAULT_DOMAIN

    # Exact pools and link candidates, per (domain, block).
    exact: dict[tuple[Hashable, int], int] = {}
    for pool in sorted(pool_list, key=lambda pool: pool.id, reverse=True):
        exact[(pool.domain, _ident(pool.cidr))] = pool.id
    idents = {item.id: _ident(item.cidr) for item in live}
    candidates: dict[tuple[Hashable, int], list[ResourceItem]] = {}
    for item in live:
        if not item.ignored:
            candidates.setdefault((domain_of[item.id], idents[item.id]), []).append(item)
    pool_outcomes = _links(pool_list, candidates)
    linked_by = {
        outcome.linked_resource: outcome.pool
        for outcome in pool_outcomes.values()
        if not outcome.orphaned and outcome.linked_resource is not None
    }

    # Pools per domain and family, for "strictly inside".
    pool_groups: dict[tuple[Hashable, int], list[tuple[int, int, object]]] = {}
    for pool in pool_list:
        pool_groups.setdefault((pool.domain, pool.cidr.family), []).append(
            (_key(pool.cidr), pool.id, pool)
        )
    sorted_pools = {group: _Sorted(items) for group, items in pool_groups.items()}

    # Resources per domain and family, for resource overlaps and duplicates.
    resource_groups: dict[tuple[Hashable, int], list[ResourceItem]] = {}
    for item in live:
        if item.network_id:
            resource_groups.setdefault((domain_of[item.id], item.cidr.family), []).append(item)
    found: dict[int, _Found] = {}
    duplicates: dict[int, list[ResourceItem]] = {}
    for members in resource_groups.values():
        found.update(_resource_overlaps(members))
        duplicates.update(_duplicates(members))

    outcomes: dict[int, ResourceOutcome] = {}
    for item in live:
        domain = domain_of[item.id]
        pool = narrowest.get(item.id)
        exact_pool = exact.get((domain, idents[item.id]))
        sides: list[Overlap] = []
        if exact_pool is None:
            group = sorted_pools.get((domain, item.cidr.family))
            if group is not None:
                start, end = group.strictly_inside(item.cidr)
                sides.extend(
                    Overlap("pool", inner.id, inner.cidr)  # type: ignore[attr-defined]
                    for inner in _outermost(group.items, start, end, OVERLAPS_SHOWN)
                )
        hits = found.get(item.id)
        if hits is not None:
            for other in (hits.up, hits.down):
                if other is not None and len(sides) < OVERLAPS_SHOWN:
                    sides.append(Overlap("resource", other.id, other.cidr))
        if item.ignored:
            state = "ignored"
        elif linked_by.get(item.id) is not None:
            state = "managed"
        elif pool is not None:
            state = "unmanaged"
        else:
            state = "outside"
        outcomes[item.id] = ResourceOutcome(
            resource=item.id,
            pool=pool.id if pool is not None else None,
            domain=domain,
            management_state=state,
            overlapping=bool(sides),
            overlaps_with=tuple(sides),
            duplicates=tuple(
                Overlap("resource", other.id, other.cidr) for other in duplicates.get(item.id, ())
            ),
            exact_pool=exact_pool,
        )
    return Reconciliation(resources=outcomes, pools=pool_outcomes)


# Compliance


def pool_type_of(resource_type: str) -> str:
    """Return the pool type a resource of ``resource_type`` is checked as."""
    return _POOL_TYPE_OF_RESOURCE.get(resource_type, "custom")


@dataclass(frozen=True, slots=True)
class ResourceFacts:
    """What the compliance rules read of a resource, and the pool it lies in.

    ``public`` marks an address meant to be public (an elastic or external IP): the
    PUBLIC_SPACE rule does not apply to it.
    """

    id: int
    cidr: Prefix
    name: str = ""
    resource_type: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    pool: int | None = None
    public: bool = False


def _only(settings: ComplianceSettings, rule_ids: Iterable[str]) -> ComplianceSettings:
    """Return ``settings`` with every rule but ``rule_ids`` turned off."""
    wanted = set(rule_ids)
    return ComplianceSettings(
        rules={
            rule_id: rule if rule_id in wanted else replace(rule, enabled=False)
            for rule_id, rule in settings.rules.items()
        }
    )


def resource_compliance(
    resources: Iterable[ResourceFacts],
    pools: Mapping[int, Prefix],
    *,
    settings: ComplianceSettings,
    now: datetime,
) -> dict[int, tuple[Finding, ...]]:
    """Return the findings of the analysis rules on each resource, as if it were a pool.

    Each resource stands in the tree as a child of its narrowest pool (``pools`` maps the
    pool ids used to their blocks), so the rules that look at the parent (PUBLIC_SPACE and
    SPECIAL_PURPOSE report on the topmost offender only) see what they would see for a
    pool there. Findings carry the resource's id in ``pool``.
    """
    facts = list(resources)
    parents = {item.pool for item in facts if item.pool is not None}
    # Resources are negative ids so that they never collide with the pools' ids.
    data = [PoolData(pool_id, None, pools[pool_id]) for pool_id in parents]
    data.extend(
        PoolData(
            -item.id,
            item.pool,
            item.cidr,
            name=item.name,
            type=pool_type_of(item.resource_type),
            tags=item.tags,
        )
        for item in facts
    )
    tree = build_tree(data)
    private_rules = _only(settings, RESOURCE_RULES)
    public_rules = _only(settings, [rule for rule in RESOURCE_RULES if rule != "PUBLIC_SPACE"])
    found: dict[int, list[Finding]] = {}
    for rules, members in (
        (private_rules, [-item.id for item in facts if not item.public]),
        (public_rules, [-item.id for item in facts if item.public]),
    ):
        if not members:
            continue
        for finding in _evaluate_compliance(tree, now=now, settings=rules, pool_ids=members):
            found.setdefault(-finding.pool, []).append(replace(finding, pool=-finding.pool))
    return {resource_id: tuple(findings) for resource_id, findings in found.items()}
