"""Reads of the network view: the pool tree with the discovered resources under each pool.

Selectors take the organization explicitly and never return an unbounded list: a level of
the tree comes a batch at a time (``limit``/``offset``), and the to-scale picture streams
its blocks into the layout engine (``apps.discovery.netmap``), which aggregates them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from apps.discovery import netmap
from apps.discovery.choices import ManagementState, OverlapStatus, ResourceState
from apps.discovery.models import DiscoveredResource
from apps.pools import cidr as engine
from apps.pools.choices import PoolStatus, PoolType
from apps.pools.models import Pool
from apps.pools.selectors import containing_filter, pool_utilization_map
from apps.tenancy.models import Organization

# Resources that are still there, or may be: a gone resource is history, not the network.
VISIBLE_STATES = (ResourceState.PRESENT, ResourceState.MISSING)
STREAM_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch of a tree level: the rows, and the offset of the next batch (or None)."""

    rows: list[Any]
    next_offset: int | None
    total: int


def resource_mark(resource: Any) -> str:
    """Return how the network view marks a resource: its most telling state.

    ``overlapping`` wins over the management state, as it needs a decision whatever the
    plan says; a missing or gone resource is marked so before anything else.
    """
    if resource.state in (ResourceState.MISSING, ResourceState.GONE):
        return str(resource.state)
    if resource.overlap_status == OverlapStatus.OVERLAPPING:
        return "overlapping"
    return str(resource.management_state or "unreconciled")


def visible_resources(*, organization: Organization) -> QuerySet:
    """Return the organization's resources that the network view shows."""
    return DiscoveredResource.objects.for_organization(organization).filter(
        state__in=VISIBLE_STATES
    )


def _batch(queryset: QuerySet, *, offset: int, limit: int) -> Batch:
    rows = list(queryset[offset : offset + limit + 1])
    more = len(rows) > limit
    total = offset + len(rows) if not more else queryset.count()
    return Batch(rows=rows[:limit], next_offset=offset + limit if more else None, total=total)


def _annotate_pools(organization: Organization, pools: list[Pool]) -> list[Pool]:
    """Attach ``utilization`` and ``resource_count`` (resources placed directly) to pools."""
    utilization = pool_utilization_map(pools)
    counts = dict(
        visible_resources(organization=organization)
        .filter(pool__in=[pool.pk for pool in pools])
        .order_by()
        .values_list("pool")
        .annotate(count=Count("pk"))
    )
    for pool in pools:
        pool.utilization = utilization[pool.pk]
        pool.resource_count = counts.get(pool.pk, 0)
    return pools


def network_pools(
    *, organization: Organization, parent: Pool | None, offset: int = 0, limit: int = 100
) -> Batch:
    """Return a batch of the live pools under ``parent`` (the roots when None), in address
    order, each with its utilization and the number of resources placed directly in it."""
    pools = Pool.objects.for_organization(organization).live()
    pools = pools.filter(parent=parent) if parent is not None else pools.filter(depth=1)
    batch = _batch(
        pools.select_related("cloud_account").in_address_order(), offset=offset, limit=limit
    )
    _annotate_pools(organization, batch.rows)
    return batch


def network_resources(
    *, organization: Organization, pool: Pool | None, offset: int = 0, limit: int = 100
) -> Batch:
    """Return a batch of the resources whose narrowest pool is ``pool``, in address order.

    With ``pool`` None: the resources in no pool (``outside``, or not reconciled yet).
    """
    resources = visible_resources(organization=organization).filter(pool=pool)
    resources = resources.select_related("account").order_by(
        "family", "first_key", "prefix_length", "id"
    )
    batch = _batch(resources, offset=offset, limit=limit)
    for resource in batch.rows:
        resource.mark = resource_mark(resource)
    return batch


def network_summary(*, organization: Organization) -> dict[str, int]:
    """Return the number of visible resources per mark, for the legend of the page."""
    rows = (
        visible_resources(organization=organization)
        .order_by()
        .values_list("state", "overlap_status", "management_state")
        .annotate(count=Count("pk"))
    )
    summary: dict[str, int] = {}
    for state, overlap, management, count in rows:
        row = DiscoveredResource(state=state, overlap_status=overlap, management_state=management)
        mark = resource_mark(row)
        summary[mark] = summary.get(mark, 0) + count
    summary["orphaned"] = (
        Pool.objects.for_organization(organization).live().filter(orphaned_at__isnull=False)
    ).count()
    return summary


def _planned_blocks(pool: Pool) -> Iterator[netmap.Block]:
    rows = (
        Pool.objects.live()
        .filter(parent=pool)
        .order_by("first_key", "prefix_length", "id")
        .values_list("pk", "cidr", "name", "first_key", "last_key", "status", "type", "orphaned_at")
    )
    for pk, text, name, first, last, status, kind, orphaned_at in rows.iterator(STREAM_CHUNK):
        if orphaned_at is not None:
            mark = "orphaned"
        elif status == PoolStatus.RESERVED or kind == PoolType.RESERVED:
            mark = "reserved"
        else:
            mark = "used"
        yield netmap.Block(int(first, 16), int(last, 16), mark, f"{text} {name}", pk)


def _discovered_blocks(organization: Organization, pool: Pool) -> Iterator[netmap.Block]:
    prefix = pool.prefix
    within = Q(
        family=prefix.family,
        first_key__gte=pool.first_key,
        first_key__lte=pool.last_key,
    )
    containing = Q(**containing_filter(prefix))
    rows = (
        visible_resources(organization=organization)
        .filter(within | containing)
        .order_by("first_key", "prefix_length", "id")
        .values_list(
            "pk",
            "cidr",
            "resource_type",
            "resource_id",
            "name",
            "first_key",
            "last_key",
            "state",
            "overlap_status",
            "management_state",
        )
    )
    for row in rows.iterator(STREAM_CHUNK):
        pk, text, kind, resource_id, name, first, last, state, overlap, management = row
        mark = resource_mark(
            DiscoveredResource(state=state, overlap_status=overlap, management_state=management)
        )
        label = f"{text} {kind} {name or resource_id} ({mark})"
        yield netmap.Block(int(first, 16), int(last, 16), mark, label, pk)


def pool_picture(*, organization: Organization, pool: Pool) -> netmap.Picture:
    """Return the two-lane, to-scale picture of ``pool``: live children and discovered CIDRs.

    The discovered lane holds every visible resource of the organization that shares an
    address with the pool (the ones containing it fill the lane).
    """
    return netmap.two_lanes(
        engine.Prefix(pool.family, int(pool.first_key, 16), pool.prefix_length),
        planned=_planned_blocks(pool),
        discovered=_discovered_blocks(organization, pool),
    )


MARKS = (
    ManagementState.MANAGED,
    ManagementState.UNMANAGED,
    ManagementState.OUTSIDE,
    "overlapping",
    ManagementState.IGNORED,
    ResourceState.MISSING,
    "orphaned",
)
