"""Reads of the address plan: lists, trees, utilization, free space and address lookups.

Every selector takes the organization (or a pool already fetched through it) explicitly.
The list and tree readers run a fixed number of queries whatever the page size:
utilization comes from one grouped query per page, since a pool's used space is the sum of
its live children's sizes (live siblings never overlap).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from apps.pools import allocation
from apps.pools import cidr as engine
from apps.pools.choices import AllocationStrategy, PoolStatus, PoolType
from apps.pools.models import Pool, PoolChildLengths
from apps.pools.utilization import Utilization, count_children, utilization
from apps.tenancy.models import Organization
from cloudpam.db import rows as sql_rows
from cloudpam.exceptions import Conflict, NotFound, ValidationError

# Children per node in a tree answer unless asked, and the most a request may ask for.
TREE_PAGE = 100
TREE_PAGE_MAX = 1_000
# The most pools one tree answer holds; deeper pools are left out (counted in ``more``).
TREE_MAX_NODES = 10_000
# Children one tree answer may read for its rows' largest free blocks; a row whose
# children would pass it is left without the figure (its pool page lists the free blocks)
# rather than have a page of rows read a million children.
FREE_SCAN_BUDGET = 20_000
# Ids per IN (...) list: well under SQLite's limit on bound parameters.
_IN_CHUNK = 2_000
_BITS = {4: 32, 6: 128}


def describe_pool(pool: Pool) -> str:
    """Return how messages name a pool: ``10.0.0.0/16 "prod" (pool 12)``."""
    return f'{pool.cidr} "{pool.name}" (pool {pool.pk})'


# Fetching


def pool_get(*, organization: Organization | None, pk: Any) -> Pool:
    """Return the organization's pool ``pk``, deleted or not; 404 for anything else."""
    pool = None
    if isinstance(pk, int) and not isinstance(pk, bool) and 0 < pk < 2**63:
        pool = Pool.objects.for_organization(organization).filter(pk=pk).first()
    if pool is None:
        raise NotFound(f"No pool with id {pk} in this organization.")
    return pool


def pool_list(*, organization: Organization | None, include_deleted: bool = False) -> QuerySet:
    """Return the organization's pools in address order (live ones unless asked)."""
    pools = Pool.objects.for_organization(organization)
    if not include_deleted:
        pools = pools.live()
    return pools.in_address_order()


def pool_overlapping_roots(*, organization: Organization) -> list[tuple[Pool, Pool]]:
    """Return pairs of live root pools that overlap, each with an earlier root it overlaps.

    Roots come in address order: one overlaps an earlier one when it starts before the
    furthest end reached so far, so one pass finds them all. They are read from the depth
    index and sorted, not found by walking every pool in address order (a million).
    """
    roots = (
        Pool.objects.for_organization(organization)
        .live()
        .roots_in_address_order()
        .only("pk", "name", "cidr", "family", "first_key", "last_key")
    )
    pairs: list[tuple[Pool, Pool]] = []
    reach: Pool | None = None
    for pool in roots:
        if reach is not None and reach.family == pool.family and pool.first_key <= reach.last_key:
            pairs.append((reach, pool))
        if reach is None or reach.family != pool.family or pool.last_key > reach.last_key:
            reach = pool
    return pairs


def pool_count(*, organization: Organization | None) -> int:
    """Return how many live pools the organization has (its ``max_pools`` usage)."""
    return Pool.objects.for_organization(organization).live().order_by().count()


@dataclass(frozen=True, slots=True)
class FamilyCounts:
    """Live pools and live root pools (address spaces) of an organization per family."""

    pools: dict[int, int]
    roots: dict[int, int]

    @property
    def total(self) -> int:
        """Return the live pools of both families."""
        return sum(self.pools.values())


def pool_family_counts(*, organization: Organization | None) -> FamilyCounts:
    """Return the organization's live pools and live roots per family, in two index reads.

    Counted with ``FILTER`` and no ``GROUP BY``: grouping by family steers SQLite to the
    address index for the roots too, reading every pool's row to test the parent. Without
    it the pools are counted from the address index alone and the roots from the depth
    index, a few entries.
    """
    live = Pool.objects.for_organization(organization).live().order_by()
    by_family = {f"v{family}": Count("pk", filter=Q(family=family)) for family in _BITS}
    pools = live.aggregate(**by_family)
    roots = live.filter(depth=1).aggregate(**by_family)
    return FamilyCounts(
        pools={family: pools[f"v{family}"] for family in _BITS},
        roots={family: roots[f"v{family}"] for family in _BITS},
    )


def pool_children(*, pool: Pool, include_deleted: bool = False) -> QuerySet:
    """Return the direct children of ``pool`` in address order."""
    children = Pool.objects.filter(parent=pool)
    if not include_deleted:
        children = children.live()
    return children.in_address_order()


def pool_subtree_count(pool: Pool) -> int:
    """Return how many live pools lie below ``pool`` (a count over a path index range)."""
    below = Pool.objects.live().in_subtree(pool.path).exclude(pk=pool.pk)
    return below.order_by().count()


def pool_ancestors(pool: Pool) -> list[Pool]:
    """Return the ancestors of ``pool``, its root first, in one query."""
    steplen = Pool.steplen
    paths = [pool.path[:end] for end in range(steplen, len(pool.path), steplen)]
    if not paths:
        return []
    return list(Pool.objects.filter(path__in=paths).order_by("depth"))


@dataclass(frozen=True, slots=True)
class ChildSpan:
    """What the pool page's picture needs of a live child."""

    pk: int
    cidr: str
    name: str
    first: int
    last: int
    reserved: bool


def pool_child_spans(pool: Pool) -> list[ChildSpan]:
    """Return the live children of ``pool`` as light spans, in address order."""
    rows = (
        Pool.objects.live()
        .filter(parent=pool)
        .order_by("first_key")
        .values_list("pk", "cidr", "name", "first_key", "last_key", "status", "type")
    )
    return [
        ChildSpan(
            pk,
            cidr,
            name,
            int(first, 16),
            int(last, 16),
            status == PoolStatus.RESERVED or kind == PoolType.RESERVED,
        )
        for pk, cidr, name, first, last, status, kind in rows
    ]


# Utilization


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def pool_utilization_map(pools: Iterable[Pool]) -> dict[int, Utilization]:
    """Return the utilization of each pool of ``pools`` by pk, in one grouped query per chunk.

    Live siblings never overlap, so used space is the sum of the live children's sizes:
    children counted per parent and prefix length give it exactly, IPv6 included. On
    PostgreSQL the counts are read from ``PoolChildLengths``; elsewhere they are counted.
    """
    pools = list(pools)
    lengths: dict[int, list[tuple[int, int]]] = defaultdict(list)
    counted = connection.vendor == "postgresql"
    for chunk in _chunks([pool.pk for pool in pools]):
        if counted:
            # Kept by triggers (migration 0007): a few rows per pool, however many
            # children. Only ids of pools fetched through the organization reach here.
            rows = PoolChildLengths.objects.filter(parent_id__in=chunk, live__gt=0).values_list(
                "parent_id", "prefix_length", "live"
            )
        else:
            # COUNT(*), not COUNT(id): the id is not in the (parent, prefix_length) index.
            rows = (
                Pool.objects.filter(parent_id__in=chunk, deleted_at__isnull=True)
                .order_by()
                .values_list("parent_id", "prefix_length")
                .annotate(count=Count("*"))
            )
        for parent_id, length, count in rows:
            lengths[parent_id].append((length, count))
    result: dict[int, Utilization] = {}
    for pool in pools:
        used, children = count_children(_BITS[pool.family], lengths.get(pool.pk, ()))
        result[pool.pk] = utilization(total=pool.size, used=used, children=children)
    return result


_DETAIL_SQL: dict[str, str] = {}


def _detail_sql() -> str:
    sql = _DETAIL_SQL.get(connection.vendor)
    if sql is None:
        quote = connection.ops.quote_name
        table = quote(Pool._meta.db_table)
        if connection.vendor == "postgresql":
            # The trigger-kept counts (PoolChildLengths): one row per prefix length of the
            # live children, or one row of NULLs without any.
            lengths = quote(PoolChildLengths._meta.db_table)
            children = (
                f" c.{quote('prefix_length')}, c.{quote('live')} FROM {table}"
                f" LEFT OUTER JOIN {lengths} c ON c.{quote('parent_id')} = {table}.{quote('id')}"
                f" AND c.{quote('live')} > 0"
            )
            group = ""
        else:
            # COUNT(*) as the map counts, from the (parent, prefix_length) index alone; the
            # one row a childless pool gets (prefix length NULL) is dropped when read.
            children = (
                f" c.{quote('prefix_length')}, COUNT(*) FROM {table}"
                f" LEFT OUTER JOIN {table} c ON c.{quote('parent_id')} = {table}.{quote('id')}"
                f" AND c.{quote('deleted_at')} IS NULL"
            )
            group = f" GROUP BY {table}.{quote('id')}, c.{quote('prefix_length')}"
        sql = (
            f"SELECT {sql_rows.columns(Pool)},{children}"
            f" WHERE {table}.{quote('id')} = %s AND {table}.{quote('organization_id')} = %s"
            f"{group}"
        )
        _DETAIL_SQL[connection.vendor] = sql
    return sql


def pool_detail(*, organization: Organization | None, pk: Any) -> tuple[Pool, Utilization]:
    """Return the organization's pool ``pk`` (deleted or not) with its utilization; else 404.

    The pool detail answer is the API's hot path: ``pool_get`` and
    ``pool_utilization_map`` in one hand-written statement (``cloudpam.db.rows``), the
    children's prefix lengths read as the map reads them.
    """
    rows: list[tuple[Any, ...]] = []
    valid_id = isinstance(pk, int) and not isinstance(pk, bool) and 0 < pk < 2**63
    if organization is not None and valid_id:
        with connection.cursor() as cursor:
            cursor.execute(_detail_sql(), [pk, organization.pk])
            rows = cursor.fetchall()
    if not rows:
        raise NotFound(f"No pool with id {pk} in this organization.")
    width = len(Pool._meta.concrete_fields)
    pool = sql_rows.load(connection, Pool, [rows[0][:width]])[0]
    lengths = [(row[width], row[width + 1]) for row in rows if row[width] is not None]
    used, children = count_children(_BITS[pool.family], lengths)
    return pool, utilization(total=pool.size, used=used, children=children)


@dataclass(frozen=True, slots=True)
class UtilizationDetail:
    """A pool's utilization with its children's space per status."""

    utilization: Utilization
    by_status: dict[str, dict[str, Any]]


def pool_utilization(pool: Pool) -> UtilizationDetail:
    """Return the utilization of ``pool``, broken down by the status of its live children."""
    bits = _BITS[pool.family]
    lengths: dict[str, list[tuple[int, int]]] = {status: [] for status in PoolStatus.values}
    rows = (
        Pool.objects.filter(parent=pool, deleted_at__isnull=True)
        .order_by()
        .values_list("status", "prefix_length")
        .annotate(count=Count("pk"))
    )
    for status, length, count in rows:
        lengths.setdefault(status, []).append((length, count))
    by_status = {status: count_children(bits, pairs) for status, pairs in lengths.items()}
    return UtilizationDetail(
        utilization=utilization(
            total=pool.size,
            used=sum(used for used, _ in by_status.values()),
            children=sum(children for _, children in by_status.values()),
        ),
        by_status={
            status: {"children": children, "addresses": str(used)}
            for status, (used, children) in by_status.items()
        },
    )


# Trees


@dataclass(slots=True)
class TreeNode:
    """A pool in a tree answer, with its utilization and the children fetched with it.

    ``children`` is one page of the live children (the first ``limit`` in address order,
    or none below the depth asked for); ``more`` counts the live children left out.
    """

    pool: Pool
    utilization: Utilization
    children: list[TreeNode] = field(default_factory=list)
    more: int = 0
    offset: int = 0
    """Live children before the page in ``children`` (a page opened around a pool)."""
    largest_free: engine.Prefix | None = None
    """The largest free block, when ``free_known``; None for a full pool."""
    free_known: bool = False


@dataclass(slots=True)
class Tree:
    """A tree answer: the top nodes, and the paging of the level ``offset`` applies to.

    That level is the roots when no root was asked for, else the root's children;
    ``total`` counts its live pools.
    """

    nodes: list[TreeNode]
    total: int
    offset: int
    limit: int


def _address_order(pool: Pool) -> tuple[int, str, int, int]:
    return (pool.family, pool.first_key, pool.prefix_length, pool.pk)


def _children_pages(parents: Sequence[Pool], *, offset: int, limit: int, budget: int) -> list[Pool]:
    """Return each parent's live children ranked ``offset+1 .. offset+limit`` in address
    order, grouped by parent, at most ``budget`` in all.

    One query per chunk of parents: a window ranks the children of each parent, so a
    parent with 50,000 children costs one index range read, not 50,000 rows sent.
    """
    fetched: list[Pool] = []
    for chunk in _chunks([parent.pk for parent in parents]):
        if len(chunk) == 1:
            page = Pool.objects.filter(parent_id=chunk[0], deleted_at__isnull=True)
            rows = list(page.in_address_order()[offset : offset + min(limit, budget)])
        else:
            ranked = (
                Pool.objects.filter(parent_id__in=chunk, deleted_at__isnull=True)
                .annotate(
                    rank=Window(
                        RowNumber(),
                        partition_by=[F("parent_id")],
                        order_by=[F("family"), F("first_key"), F("prefix_length"), F("id")],
                    )
                )
                .filter(rank__gt=offset, rank__lte=offset + limit)
                .order_by("parent_id", "rank")
            )
            rows = list(ranked[:budget])
        fetched.extend(rows)
        budget -= len(rows)
        if budget <= 0:
            break
    return fetched


def pool_tree(
    *,
    organization: Organization | None,
    root: Pool | None = None,
    depth: int | None = None,
    limit: int | None = None,
    offset: int = 0,
    max_nodes: int | None = None,
) -> Tree:
    """Return the live tree under ``root`` (all roots when None), ``depth`` levels deep.

    ``depth=0`` returns the starting level alone, ``depth=1`` adds its children, and so
    on; None means as deep as the tree goes. Every level is paged: each node carries at
    most ``limit`` children (``TREE_PAGE`` by default) in address order, and ``more``
    tells how many it has beyond them. ``offset`` skips pools of the first paged level
    (the roots, or ``root``'s children), so a client reads any node's children page by
    page with ``root=node, depth=1, offset=...``. An answer holds at most ``max_nodes``
    pools (``TREE_MAX_NODES``); past it, deeper pools are left out and counted in
    ``more``: a tree of any size answers, never refuses.
    """
    cap = TREE_MAX_NODES if max_nodes is None else max_nodes
    limit = TREE_PAGE if limit is None else limit
    live = Pool.objects.for_organization(organization).live()
    if root is not None:
        if root.deleted_at is not None:
            raise Conflict(f"Pool {describe_pool(root)} is deleted.")
        tops = [root]
        total = -1
        child_offset = offset
    else:
        total = live.filter(depth=1).count()
        tops = list(live.roots_in_address_order()[offset : offset + min(limit, cap)])
        child_offset = 0
    utilization = pool_utilization_map(tops)
    top_nodes = [TreeNode(pool=pool, utilization=utilization[pool.pk]) for pool in tops]
    if root is not None:
        total = top_nodes[0].utilization.children
    budget = cap - len(top_nodes)
    level = top_nodes
    levels = 0
    while level and budget > 0 and (depth is None or levels < depth):
        parents = [node for node in level if node.utilization.children > child_offset]
        if not parents:
            break
        fetched = _children_pages(
            [node.pool for node in parents], offset=child_offset, limit=limit, budget=budget
        )
        budget -= len(fetched)
        child_offset = 0
        utilization = pool_utilization_map(fetched)
        by_pk = {node.pool.pk: node for node in parents}
        level = []
        for pool in fetched:
            node = TreeNode(pool=pool, utilization=utilization[pool.pk])
            by_pk[pool.parent_id].children.append(node)
            level.append(node)
        levels += 1
    _count_more(top_nodes, first_offset=offset if root is not None else 0)
    return Tree(nodes=top_nodes, total=total, offset=offset, limit=limit)


def _before(pool: Pool) -> Q:
    """Return the filter of the pools before ``pool`` in address order."""
    family, first, length = pool.family, pool.first_key, pool.prefix_length
    return (
        Q(family__lt=family)
        | Q(family=family, first_key__lt=first)
        | Q(family=family, first_key=first, prefix_length__lt=length)
        | Q(family=family, first_key=first, prefix_length=length, pk__lt=pool.pk)
    )


def pool_tree_path(
    *, organization: Organization | None, pool: Pool, limit: int | None = None
) -> Tree:
    """Return the tree opened down to ``pool``, each level paged around the path.

    The roots are the page of ``limit`` (``TREE_PAGE`` by default) that holds the pool's
    root; each ancestor carries the page of its children that holds the next pool of the
    path, with ``offset`` and ``more`` counting its children before and after that page.
    Pages start at multiples of ``limit``, the pages "more" links read. ``pool`` itself is
    not opened. Queries: the ranks of the path (one grouped count), the roots' count, then
    a page and its utilization per level.
    """
    if pool.deleted_at is not None:
        raise Conflict(f"Pool {describe_pool(pool)} is deleted.")
    limit = TREE_PAGE if limit is None else limit
    path = [*pool_ancestors(pool), pool]
    live = Pool.objects.for_organization(organization).live()
    wanted = Q()
    for step in path:
        wanted |= (
            Q(parent__isnull=True, depth=1)
            if step.parent_id is None
            else Q(parent_id=step.parent_id)
        ) & _before(step)
    ranks = dict(
        live.filter(wanted).order_by().values_list("parent_id").annotate(count=Count("pk"))
    )
    total = live.filter(depth=1).count()
    offset = ranks.get(None, 0) // limit * limit
    tops = list(live.roots_in_address_order()[offset : offset + limit])
    utilization = pool_utilization_map(tops)
    level = [TreeNode(pool=top, utilization=utilization[top.pk]) for top in tops]
    top_nodes = level
    for parent in path[:-1]:
        node = next((node for node in level if node.pool.pk == parent.pk), None)
        if node is None:
            break
        skipped = ranks.get(parent.pk, 0) // limit * limit
        children = list(pool_children(pool=parent)[skipped : skipped + limit])
        utilization = pool_utilization_map(children)
        node.children = [
            TreeNode(pool=child, utilization=utilization[child.pk]) for child in children
        ]
        node.offset = skipped
        node.more = max(node.utilization.children - skipped - len(children), 0)
        level = node.children
    for node in tree_nodes(top_nodes):
        if not node.children:
            node.more = node.utilization.children
    return Tree(nodes=top_nodes, total=total, offset=offset, limit=limit)


def _count_more(nodes: list[TreeNode], *, first_offset: int) -> None:
    """Set ``more`` on every node: its live children after the page shown."""
    stack = [(node, first_offset) for node in nodes]
    while stack:
        node, skipped = stack.pop()
        node.more = max(node.utilization.children - skipped - len(node.children), 0)
        stack.extend((child, 0) for child in node.children)


def tree_nodes(nodes: Iterable[TreeNode]) -> list[TreeNode]:
    """Return every node of ``nodes`` and their descendants, parents before children."""
    result: list[TreeNode] = []
    stack = list(reversed(list(nodes)))
    while stack:
        node = stack.pop()
        result.append(node)
        stack.extend(reversed(node.children))
    return result


def pool_largest_free_map(
    pools: Sequence[Pool],
    utilization: dict[int, Utilization],
    *,
    budget: int | None = None,
) -> dict[int, engine.Prefix | None]:
    """Return the largest free block of each pool of ``pools`` by pk (None when full).

    A pool without children is free whole and a full one has no free block, which the
    utilization already tells; the others have their live children's ranges read in one
    query per chunk of pools, in index order. Pools are taken in order while their
    children fit in ``budget`` rows (``FREE_SCAN_BUDGET``); a pool past it is left out of
    the answer, so a page of rows never reads more than the budget whatever its parents
    hold.
    """
    budget = FREE_SCAN_BUDGET if budget is None else budget
    result: dict[int, engine.Prefix | None] = {}
    scanned: list[Pool] = []
    for pool in pools:
        used = utilization[pool.pk]
        if used.children == 0:
            result[pool.pk] = pool.prefix
        elif used.free <= 0:
            result[pool.pk] = None
        elif used.children <= budget:
            scanned.append(pool)
            budget -= used.children
    ranges: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for chunk in _chunks([pool.pk for pool in scanned]):
        rows = (
            Pool.objects.filter(parent_id__in=chunk, deleted_at__isnull=True)
            .order_by("parent_id", "family", "first_key")
            .values_list("parent_id", "first_key", "last_key")
        )
        for parent_id, first, last in rows:
            ranges[parent_id].append((int(first, 16), int(last, 16)))
    for pool in scanned:
        parent = pool.prefix
        result[pool.pk] = allocation.largest_in(
            parent, allocation.gaps(parent, ranges.get(pool.pk, ()))
        )
    return result


def tree_free_space(nodes: Iterable[TreeNode], *, budget: int | None = None) -> None:
    """Set ``largest_free`` on every node of a tree answer, from one query per chunk."""
    flat = tree_nodes(nodes)
    largest = pool_largest_free_map(
        [node.pool for node in flat],
        {node.pool.pk: node.utilization for node in flat},
        budget=budget,
    )
    for node in flat:
        if node.pool.pk in largest:
            node.largest_free = largest[node.pool.pk]
            node.free_known = True


# Free space and allocation


def _child_prefix_length(pool: Pool, prefix_length: Any, field_name: str) -> int:
    """Return ``prefix_length`` if a block of that length can lie strictly inside ``pool``."""
    bits = _BITS[pool.family]
    low = pool.prefix_length + 1
    if isinstance(prefix_length, bool) or not isinstance(prefix_length, int):
        message = "A valid integer is required."
        raise ValidationError(f"{field_name}: {message}", fields={field_name: [message]})
    if not low <= prefix_length <= bits:
        message = (
            f"{pool.cidr} has room for prefix lengths {low} to {bits}, not {prefix_length}."
            if low <= bits
            else f"{pool.cidr} is a single address; it has no room for children."
        )
        raise ValidationError(message, fields={field_name: [message]})
    return prefix_length


def pool_free_blocks(
    pool: Pool, *, prefix_length: int | None = None, limit: int = 10
) -> list[engine.Prefix]:
    """Return the free space of ``pool``: its maximal free blocks, in address order.

    With ``prefix_length``, return instead the first ``limit`` free aligned blocks of
    exactly that length.
    """
    parent = pool.prefix
    if prefix_length is None:
        return allocation.free_blocks_in(
            parent, allocation.gaps(parent, pool_child_layout(pool).ranges)
        )
    length = _child_prefix_length(pool, prefix_length, "prefix_length")
    free = allocation.gaps(parent, pool_child_layout(pool).ranges)
    return allocation.blocks_of_length_in(parent, free, length, limit)


@dataclass(frozen=True, slots=True)
class ChildLayout:
    """What allocating in a pool needs to know of its children, from one query."""

    ranges: list[tuple[int, int]]
    """The ``(first, last)`` address ranges of the live children, in address order."""
    last_path: str | None
    """The highest tree path among all children, soft-deleted ones included."""


# The width of the address keys (``first_key``, ``last_key``), the same for every address.
KEY_LENGTH = len(engine.address_key(0))


def pool_child_layout(pool: Pool) -> ChildLayout:
    """Return the live children's address ranges and the last child path of ``pool``.

    One aggregate row, not a row per child: under an allocation's lock a parent with
    thousands of children cost more in building a row tuple per child (in the driver and
    the ORM) than in anything else. The live children's keys come back concatenated, each
    child as its first and last key (``KEY_LENGTH`` hex digits each), and are cut apart
    here; ``string_agg`` and SQLite's ``group_concat`` both skip the NULLs that stand for
    deleted children, which still count for the last path.
    """
    table = Pool._meta.db_table
    concat = "string_agg" if connection.vendor == "postgresql" else "group_concat"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {concat}(CASE WHEN deleted_at IS NULL THEN first_key || last_key END, ''),"  # noqa: S608 - names only
            f" max(path) FROM {table} WHERE parent_id = %s",
            [pool.pk],
        )
        keys, last_path = cursor.fetchone()
    # Decoded at once and cut into byte strings: parsing each key's hex digits on its
    # own cost a millisecond per thousand children, under the parent's lock.
    raw = bytes.fromhex(keys or "")
    width = KEY_LENGTH // 2
    bounds = [int.from_bytes(raw[start : start + width]) for start in range(0, len(raw), width)]
    ranges = sorted(zip(bounds[::2], bounds[1::2], strict=True))
    return ChildLayout(ranges=ranges, last_path=last_path)


def free_block_for(
    pool: Pool,
    *,
    prefix_length: Any,
    strategy: str = AllocationStrategy.FIRST_FIT,
    layout: ChildLayout | None = None,
) -> engine.Prefix:
    """Return the block an allocation of ``prefix_length`` in ``pool`` would take now.

    Raise ``no_space`` (409) naming the largest free block when no block is free.
    ``pool_allocate`` calls this under the pool's lock with the children it has read;
    the console calls it to preview.
    """
    length = _child_prefix_length(pool, prefix_length, "prefix_length")
    parent = pool.prefix
    if layout is None:
        layout = pool_child_layout(pool)
    free = allocation.gaps(parent, layout.ranges)
    if strategy == AllocationStrategy.BEST_FIT:
        block = allocation.best_fit_in(parent, free, length)
    else:
        block = allocation.first_fit_in(parent, free, length)
    if block is not None:
        return block
    largest = allocation.largest_in(parent, free)
    detail = (
        f"the largest free block is {largest}" if largest is not None else "it has no free space"
    )
    message = f"No free /{length} in {pool.cidr}; {detail}."
    raise Conflict(message, code="no_space", fields={"prefix_length": [message]})


# Address lookups


def parse_lookup(text: Any) -> engine.Prefix:
    """Return the prefix an address (a host prefix) or a prefix ``text`` spells, else 400."""
    if not isinstance(text, str):
        raise ValidationError("Enter an IPv4 or IPv6 address or prefix.")
    try:
        if "/" in text:
            return engine.parse_prefix(text)
        family, value = engine.parse_address(text)
    except engine.CidrError as exc:
        raise ValidationError(exc.message, fields={"address": [exc.message]}) from None
    return engine.Prefix(family, value, _BITS[family])


def containing_keys(prefix: engine.Prefix) -> list[str]:
    """Return the first-address keys of every aligned block that contains ``prefix``.

    A pool is an aligned block, so a pool contains ``prefix`` only if it starts at
    ``prefix.first`` masked to the pool's own length: at most 33 (IPv4) or 129 (IPv6)
    index probes instead of a range scan.
    """
    bits = _BITS[prefix.family]
    keys = {
        engine.address_key(prefix.first >> (bits - length) << (bits - length))
        for length in range(prefix.length + 1)
    }
    return sorted(keys)


def containing_filter(prefix: engine.Prefix) -> dict[str, Any]:
    """Return queryset filters selecting the pools that contain ``prefix`` (equal included)."""
    return {
        "family": prefix.family,
        "first_key__in": containing_keys(prefix),
        "prefix_length__lte": prefix.length,
        "last_key__gte": engine.address_key(prefix.last),
    }


def within_filter(prefix: engine.Prefix) -> dict[str, Any]:
    """Return queryset filters selecting the pools inside ``prefix`` (equal included)."""
    return {
        "family": prefix.family,
        "first_key__gte": engine.address_key(prefix.first),
        "first_key__lte": engine.address_key(prefix.last),
        "last_key__lte": engine.address_key(prefix.last),
    }


def pool_lookup_address(
    *, organization: Organization | None, text: Any
) -> tuple[engine.Prefix, list[Pool]]:
    """Return where an address or prefix lives: the live pools containing it, deepest first."""
    prefix = parse_lookup(text)
    # Sorted here, not in SQL: an ORDER BY on depth would steer SQLite's planner to the
    # (organization, depth) index and a scan of every pool instead of ~33 index probes.
    pools = sorted(
        Pool.objects.for_organization(organization)
        .live()
        .filter(**containing_filter(prefix))
        .order_by(),
        key=lambda pool: (-pool.depth, -pool.prefix_length, pool.pk),
    )
    return prefix, pools


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What the console's search box found: a lookup, or pools by name."""

    prefix: engine.Prefix | None
    pools: list[Pool]
    exact: Pool | None = None


def pool_search(
    *, organization: Organization | None, text: str, limit: int = 100, family: int | None = None
) -> SearchResult:
    """Find pools by a name, a prefix or an address, as the console's search box does.

    An address or prefix finds the pools containing it, deepest first (and the pool of
    exactly that prefix, if any); anything else is matched against names. ``family``
    keeps only IPv4 (4) or IPv6 (6) pools.
    """
    text = text.strip()
    looks_like_address = bool(text) and (":" in text or text[0].isdigit())
    if looks_like_address:
        try:
            prefix, pools = pool_lookup_address(organization=organization, text=text)
        except ValidationError:
            if "/" in text or text.count(".") == 3 or ":" in text:
                raise
        else:
            exact = next(
                (pool for pool in pools if pool.prefix_length == prefix.length and "/" in text),
                None,
            )
            if family and prefix.family != family:
                pools, exact = [], None
            return SearchResult(prefix=prefix, pools=pools[:limit], exact=exact)
    named = Pool.objects.for_organization(organization).live().filter(name__icontains=text)
    if family:
        named = named.filter(family=family)
    return SearchResult(prefix=None, pools=list(named.in_address_order()[:limit]))
