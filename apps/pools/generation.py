"""Fill an empty organization with a generated plan of any size, in bulk.

:func:`pool_plan_generate` is the service behind ``manage.py generate_plan``: the plan
comes from :mod:`apps.pools.plan_generator` (pure, with paths, depths and child counts
already computed) and goes to the database in chunks: PostgreSQL's ``COPY`` through
psycopg 3, ``bulk_create`` elsewhere. The invariants hold by construction of the plan and
the exclusion constraints still check every row on PostgreSQL.

Audit: one ``import`` event for the whole plan, with its size and seed, not one per pool.
Generating a plan is an operator's action on an organization that has no pools yet (the
service refuses any other), so no pool has a "before" to record; a million ``create``
events would double the write and triple the table's size to say what the plan and the
seed say exactly (the same seed gives the same plan). Every later change of a generated
pool goes through the pool services and is audited per pool as usual.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from apps.pools import cidr as engine
from apps.pools.choices import PoolSource
from apps.pools.models import Pool
from apps.pools.plan_generator import PlannedPool, generate_plan
from apps.pools.signals import plan_generated, pools_bulk_created
from apps.tenancy.models import Organization
from apps.tenancy.quotas import quota_check
from apps.tenancy.rls import rls_bypass
from cloudpam.context import Actor
from cloudpam.exceptions import Conflict, ValidationError

__all__ = ["GeneratedPlan", "pool_plan_generate"]

# Rows sent to the database at a time: big enough for COPY to stream, small enough that
# a chunk's rows and ids stay a few megabytes.
CHUNK = 20_000
MAX_POOLS = 10_000_000
_COLUMNS = (
    "id",
    "path",
    "depth",
    "numchild",
    "organization_id",
    "name",
    "cidr",
    "family",
    "prefix_length",
    "first_key",
    "last_key",
    "parent_id",
    "type",
    "status",
    "description",
    "tags",
    "source",
    "separate_routing_domain",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class GeneratedPlan:
    """Say how many pools a generation inserted, and its roots."""

    pools: int
    roots: tuple[int, ...]
    seed: int


def _chunks(rows: Iterable[PlannedPool]) -> Iterator[list[PlannedPool]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk


def _next_root_step() -> int:
    """Return the number of the next root path: roots are numbered across organizations."""
    with rls_bypass():
        last = Pool.objects.filter(depth=1).order_by("-path").values_list("path", flat=True)[:1]
    return Pool._str2int(last[0]) + 1 if last else 1


def _copy_chunk(chunk: list[PlannedPool], ids: array, organization_id: int, now: str) -> None:
    """Insert ``chunk`` with COPY, taking its ids from the table's sequence."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('pools_pool', 'id')) "
            "FROM generate_series(1, %s)",
            [len(chunk)],
        )
        ids.extend(row[0] for row in cursor.fetchall())
    raw = connection.connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY pools_pool ({', '.join(_COLUMNS)}) FROM STDIN") as copy,
    ):
        for pool in chunk:
            prefix = pool.prefix
            copy.write_row(
                (
                    ids[pool.index],
                    pool.path,
                    pool.depth,
                    pool.numchild,
                    organization_id,
                    pool.name,
                    str(prefix),
                    prefix.family,
                    prefix.length,
                    engine.address_key(prefix.first),
                    engine.address_key(prefix.last),
                    None if pool.parent is None else ids[pool.parent],
                    pool.type,
                    pool.status,
                    "",
                    "{}",
                    PoolSource.IMPORTED,
                    False,
                    now,
                    now,
                )
            )


def _create_chunk(chunk: list[PlannedPool], ids: array, organization: Organization) -> None:
    """Insert ``chunk`` with ``bulk_create``, which returns the new ids on SQLite too.

    A chunk holds parents and their children: it is inserted level by level, so that every
    parent has its id before its children need it.
    """
    ids.extend([0] * len(chunk))
    levels: dict[int, list[tuple[PlannedPool, Pool]]] = {}
    for pool in chunk:
        levels.setdefault(pool.depth, []).append((pool, Pool()))
    for depth in sorted(levels):
        rows = []
        for pool, row in levels[depth]:
            row.organization = organization
            row.path = pool.path
            row.depth = pool.depth
            row.numchild = pool.numchild
            row.name = pool.name
            row.parent_id = None if pool.parent is None else ids[pool.parent]
            row.type = pool.type
            row.status = pool.status
            row.source = PoolSource.IMPORTED
            row.set_prefix(pool.prefix)
            rows.append(row)
        Pool.objects.bulk_create(rows, batch_size=1_000)
        for pool, row in levels[depth]:
            ids[pool.index] = row.pk


@transaction.atomic
def pool_plan_generate(
    *,
    organization: Organization,
    total: int,
    seed: int = 0,
    actor: Actor,
    progress: Callable[[int], None] | None = None,
) -> GeneratedPlan:
    """Fill ``organization``, which must have no pools, with a generated plan of ``total``.

    Refuse (409 ``conflict``) when it has any pool, soft-deleted ones included, so a second
    run never mixes two plans; the quota ``max_pools`` applies. ``progress`` is called with
    the number of pools inserted so far after each chunk.
    """
    if isinstance(total, bool) or not isinstance(total, int) or not 2 <= total <= MAX_POOLS:
        message = f"Must be a whole number from 2 to {MAX_POOLS:,}."
        raise ValidationError(f"pools: {message}", fields={"pools": [message]})
    Organization.objects.select_for_update().get(pk=organization.pk)
    existing = Pool.objects.for_organization(organization).count()
    if existing:
        raise Conflict(
            f"The organization '{organization.slug}' already has {existing:,} pools; "
            "a plan is generated into an empty organization only."
        )
    quota_check(organization=organization, name="max_pools", amount=total, used=0)
    now = timezone.now()
    ids: array = array("q")
    copy = connection.vendor == "postgresql"
    for chunk in _chunks(generate_plan(total, seed=seed, first_root_step=_next_root_step())):
        if copy:
            _copy_chunk(chunk, ids, organization.pk, now.isoformat())
        else:
            _create_chunk(chunk, ids, organization)
        if progress is not None:
            progress(len(ids))
    roots = tuple(
        Pool.objects.for_organization(organization)
        .filter(depth=1)
        .order_by("path")
        .values_list("pk", flat=True)
    )
    cache.delete(f"pools:live-count:{organization.pk}")
    pools_bulk_created.send(sender=Pool, organization_id=organization.pk)
    plan_generated.send(
        sender=Pool,
        organization=organization,
        actor=actor,
        details={"generated_plan": {"pools": len(ids), "seed": seed, "roots": list(roots)}},
    )
    return GeneratedPlan(pools=len(ids), roots=roots, seed=seed)
