"""Every write to the address plan, with the invariants of SPEC.md section 2.

Each service is one atomic action. Before reading what it will check, it locks, in one
consistent order: the organization row when root pools are involved (so root changes are
serialized per organization only), then the pools it reads and writes, by primary key,
then, for a move or a recursive delete, the rest of the subtree (a pool gains children
only under its own lock, so a locked subtree cannot grow). An allocation therefore locks
its parent alone: allocations in different parents never wait on each other, and
allocations in one parent never hand out overlapping blocks.

The rules:

1. A child lies strictly inside its parent, of the same family (``outside_parent``).
2. Live siblings never overlap, nor do the live roots of an organization unless it allows
   overlapping roots (``overlap``).
3. Changing a pool's prefix keeps its children inside and its siblings clear; moving a pool
   checks rules 1 and 2 at its new place (its subtree moves with it, already inside it).
4. Deleting a pool with live children needs ``recursive``; a restore re-checks the rules.

Writes go through ``save()`` (never ``QuerySet.update()`` for what a user can see) so that
the audit trail records each change. Every service takes its actor explicitly and names
its operation (``allocate``, ``move``, ``resize``, ...) for the audit events it causes.

Bulk writers use ``pool_changes_apply``: the batch is checked as a whole (``changes``),
its permissions and quota checked once, every stored pool it names locked once in
primary-key order, then each change is made here, as the single services make it.
"""

from __future__ import annotations

import bisect
import datetime
import json
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from auditlog import get_logentry_model
from auditlog.context import disable_auditlog
from django.core.cache import cache
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone
from treebeard.exceptions import PathOverflow

from apps.pools import allocation
from apps.pools import changes as batch
from apps.pools import cidr as engine
from apps.pools.choices import AllocationStrategy, PoolSource, PoolStatus, PoolType
from apps.pools.models import ROOTS_CONSTRAINT, SIBLINGS_CONSTRAINT, Pool
from apps.pools.selectors import (
    _child_prefix_length,
    describe_pool,
    free_block_for,
    pool_child_layout,
    pool_count,
    pool_overlapping_roots,
)
from apps.pools.signals import pools_bulk_changed, pools_bulk_created
from apps.tenancy.models import Organization
from apps.tenancy.permissions import actor_permission_denial
from apps.tenancy.quotas import quota_check, quota_limit
from apps.tenancy.rls import rls_bypass
from cloudpam.context import Actor, operation
from cloudpam.db import rows as sql_rows
from cloudpam.exceptions import (
    ApplicationError,
    Conflict,
    NotFound,
    ValidationError,
)

POOL_LABEL: Final = "pools.pool"


class _Unset:
    """The type of ``UNSET``: "leave this field as it is"."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()

NAME_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 10_000
TAGS_MAX_COUNT = 50
TAG_KEY_MAX_LENGTH = 128
TAG_VALUE_MAX_LENGTH = 512
# The max_pools check trusts a cached count for this long while usage is more than
# QUOTA_MARGIN (a share of the limit) below the limit.
QUOTA_COUNT_SECONDS = 60
QUOTA_MARGIN = 0.01
# Attempts at a root path: treebeard numbers roots across all organizations, so two
# organizations adding a root at once can pick the same path; the loser retries.
ROOT_PATH_ATTEMPTS = 5


# Input checks shared by every writer


def _clean_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            "A pool needs a name.", fields={"name": ["This field may not be blank."]}
        )
    name = value.strip()
    if len(name) > NAME_MAX_LENGTH:
        message = f"Ensure this field has no more than {NAME_MAX_LENGTH} characters."
        raise ValidationError(f"name: {message}", fields={"name": [message]})
    return name


_CHOICE_VALUES: dict[type, frozenset[str]] = {}


def _clean_choice(value: Any, choices: type, field: str) -> str:
    allowed = _CHOICE_VALUES.get(choices)
    if allowed is None:
        allowed = _CHOICE_VALUES[choices] = frozenset(choices.values)
    if not isinstance(value, str) or value not in allowed:
        message = f"'{value}' is not a valid {field}; choose one of {', '.join(choices.values)}."
        raise ValidationError(message, fields={field: [message]})
    return str(value)


def _clean_description(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(
            "description: Not a valid string.", fields={"description": ["Not a valid string."]}
        )
    if len(value) > DESCRIPTION_MAX_LENGTH:
        message = f"Ensure this field has no more than {DESCRIPTION_MAX_LENGTH} characters."
        raise ValidationError(f"description: {message}", fields={"description": [message]})
    return value


def _clean_tags(value: Any) -> dict[str, str]:
    """Return ``value`` when it is an object of string keys and string values, within limits."""

    def fail(message: str) -> ValidationError:
        return ValidationError(f"tags: {message}", fields={"tags": [message]})

    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail("Tags must be an object of string keys and string values.")
    if len(value) > TAGS_MAX_COUNT:
        raise fail(f"A pool has at most {TAGS_MAX_COUNT} tags.")
    tags: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > TAG_KEY_MAX_LENGTH:
            raise fail(f"Tag keys are strings of 1 to {TAG_KEY_MAX_LENGTH} characters.")
        if not isinstance(item, str) or len(item) > TAG_VALUE_MAX_LENGTH:
            raise fail(
                f"The value of tag '{key}' must be a string of at most "
                f"{TAG_VALUE_MAX_LENGTH} characters."
            )
        tags[key] = item
    return tags


def parse_pool_prefix(value: Any, field: str = "cidr") -> engine.Prefix:
    """Return the prefix ``value`` spells, or raise a ValidationError naming ``field``.

    A prefix must carry its length: a bare address is refused rather than read as a host
    block, since ``10.0.0.0`` for a pool is far more often a forgotten ``/8`` than a /32.
    """
    if isinstance(value, engine.Prefix):
        return value
    if not isinstance(value, str):
        raise ValidationError(
            f"{field}: Not a valid string.", fields={field: ["Not a valid string."]}
        )
    try:
        prefix = engine.parse_prefix(value)
    except engine.CidrError as exc:
        raise ValidationError(exc.message, fields={field: [exc.message]}) from None
    if "/" not in value:
        message = f"'{value.strip()}' has no prefix length; write it as {prefix}."
        raise ValidationError(message, fields={field: [message]})
    return prefix


# Locks


def _lock_organization(organization: Organization) -> Organization:
    """Lock the organization row: the lock that serializes changes among its roots."""
    return Organization.objects.select_for_update().get(pk=organization.pk)


def _lock_pools(organization: Organization, *pks: int | None) -> dict[int, Pool]:
    """Lock the organization's pools ``pks`` in primary-key order and return them by pk."""
    wanted = sorted({pk for pk in pks if pk is not None})
    if not wanted:
        return {}
    rows = (
        Pool.objects.for_organization(organization)
        .select_for_update()
        .filter(pk__in=wanted)
        .order_by("pk")
    )
    return {pool.pk: pool for pool in rows}


def _lock_subtree(pool: Pool, *, live_only: bool) -> None:
    """Lock the subtree of the locked ``pool`` (it included), in one set of statements.

    Only the ids are read, in primary-key order (the order every lock is taken in). A
    creation under a pool of the subtree that committed while the first query waited for
    its locks is not in that query's snapshot; the query is repeated until it finds
    nothing new, and from then on every parent in the subtree is locked, so nothing more
    can be added under it. Without concurrent creations that is two statements whatever
    the size of the subtree.
    """
    rows = Pool.objects.select_for_update().in_subtree(pool.path)
    if live_only:
        rows = rows.filter(deleted_at__isnull=True)
    rows = rows.order_by("pk").values_list("pk", flat=True)
    locked: set[int] | None = None
    while True:
        found = set(rows)
        if found == locked:
            return
        locked = found


# The columns the audit event of a set-based change needs: its object and its repr.
_EVENT_FIELDS: Final = ("id", "organization_id", "cidr", "name")


def _record_updates(rows: Sequence[Pool], after: Mapping[str, Any]) -> None:
    """Record one event per updated pool of a set-based ``UPDATE``, in bulk.

    ``rows`` hold the audited fields' values from before the update; each event is the
    one ``save(update_fields=...)`` of that pool would have recorded (``updated_at``,
    set by ``auto_now`` after django-auditlog's ``pre_save`` diff, never in it).
    """
    if not rows:
        return
    # The events are each subtree service's last write: they go in chained, the chain's
    # head held only until the commit that follows.
    get_logentry_model().objects.log_update_many(
        [(row, {name: getattr(row, name) for name in after}, after) for row in rows],
        return_events=False,
        chain_now=True,
    )
    pools_bulk_changed.send(sender=Pool, organization_id=rows[0].organization_id)


def _lock_parent_counting_child(organization: Organization, pk: int) -> Pool | None:
    """Lock pool ``pk`` and count one more child in its ``numchild``, in one statement.

    For an allocation, which always adds a child (or fails and rolls back): the row lock
    and treebeard's counter update cost one round trip inside the critical section
    instead of two.
    """
    table = Pool._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET numchild = numchild + 1"  # noqa: S608 - names only
            f" WHERE id = %s AND organization_id = %s RETURNING {sql_rows.columns(Pool)}",
            [pk, organization.pk],
        )
        locked = sql_rows.load(connection, Pool, cursor.fetchall())
    return locked[0] if locked else None


def _parent_id(organization: Organization, parent: Pool | int | None) -> int | None:
    """Return the id of ``parent`` when it is one of the organization's pools, else 404."""
    if parent is None:
        return None
    if isinstance(parent, Pool):
        if parent.organization_id != organization.pk:
            raise _parent_not_found(parent.pk)
        return parent.pk
    if isinstance(parent, bool) or not isinstance(parent, int):
        raise ValidationError(
            "parent: A valid integer is required.",
            fields={"parent": ["A valid integer is required."]},
        )
    if not Pool.objects.for_organization(organization).filter(pk=parent).exists():
        raise _parent_not_found(parent)
    return parent


def _parent_not_found(pk: int) -> NotFound:
    message = f"No pool with id {pk} in this organization."
    return NotFound(message, fields={"parent": [message]})


def _require_live(pool: Pool, action: str) -> None:
    if pool.deleted_at is not None:
        raise Conflict(f"Pool {describe_pool(pool)} is deleted; restore it before {action}.")


# The invariants


def _check_inside(
    prefix: engine.Prefix, parent: Pool, *, error: type[ApplicationError] = ValidationError
) -> None:
    """Enforce rule 1: ``prefix`` lies strictly inside ``parent``, of the same family.

    The error is a 400 for a request that asks for a bad place, a 409 (``error=Conflict``)
    for a restore that finds its old place changed.
    """
    parent_prefix = parent.prefix
    if prefix.family != parent_prefix.family:
        message = (
            f"{prefix} is IPv{prefix.family} but its parent {describe_pool(parent)} "
            f"is IPv{parent_prefix.family}."
        )
    elif not parent_prefix.contains(prefix):
        message = f"{prefix} is not inside its parent {describe_pool(parent)}."
    elif prefix.length == parent_prefix.length:
        message = (
            f"{prefix} is as large as its parent {describe_pool(parent)}; a child must be smaller."
        )
    else:
        return
    raise error(message, code="outside_parent", fields={"cidr": [message]})


def _find_overlap(
    organization: Organization,
    prefix: engine.Prefix,
    parent: Pool | None,
    exclude_pk: int | None,
) -> Pool | None:
    """Return a live sibling of a pool at ``prefix`` under ``parent`` that overlaps it."""
    siblings = Pool.objects.live().filter(family=prefix.family)
    if parent is None:
        siblings = siblings.for_organization(organization).filter(parent__isnull=True)
    else:
        siblings = siblings.filter(parent=parent)
    if exclude_pk is not None:
        siblings = siblings.exclude(pk=exclude_pk)
    first, last = engine.address_key(prefix.first), engine.address_key(prefix.last)
    if parent is None:
        # Roots may overlap one another where the organization allowed it, so the two
        # index probes below (exact only for disjoint siblings) would not be enough.
        return (
            siblings.filter(first_key__lte=last, last_key__gte=first)
            .order_by("first_key", "pk")
            .first()
        )
    # Children never overlap one another: only a child starting inside the prefix, or the
    # one child starting closest before it, can overlap it. Two index probes, whatever
    # the number of children.
    inside = (
        siblings.filter(first_key__gte=first, first_key__lte=last).order_by("first_key").first()
    )
    if inside is not None:
        return inside
    before = siblings.filter(first_key__lt=first).order_by("-first_key").first()
    if before is not None and before.last_key >= first:
        return before
    return None


def _check_clear(
    organization: Organization,
    prefix: engine.Prefix,
    parent: Pool | None,
    *,
    exclude_pk: int | None = None,
) -> None:
    """Enforce rule 2: no live sibling of a pool at ``prefix`` under ``parent`` overlaps it."""
    if parent is None and organization.setting("allow_overlapping_roots"):
        return
    other = _find_overlap(organization, prefix, parent, exclude_pk)
    if other is None:
        return
    where = f"in {describe_pool(parent)}" if parent is not None else "among the root pools"
    message = f"{prefix} overlaps {describe_pool(other)} {where}."
    raise Conflict(message, code="overlap", fields={"cidr": [message]})


def _check_children_inside(pool: Pool, prefix: engine.Prefix) -> None:
    """Enforce rule 3: a pool's new prefix keeps every live child strictly inside."""
    first, last = engine.address_key(prefix.first), engine.address_key(prefix.last)
    outside = (
        Pool.objects.live()
        .filter(parent=pool)
        .exclude(
            family=prefix.family,
            first_key__gte=first,
            last_key__lte=last,
            prefix_length__gt=prefix.length,
        )
        .order_by("family", "first_key")
        .first()
    )
    if outside is not None:
        message = f"{prefix} would leave the child {describe_pool(outside)} outside its parent."
        raise Conflict(message, fields={"cidr": [message]})


def _check_place(
    organization: Organization,
    prefix: engine.Prefix,
    parent: Pool | None,
    *,
    exclude_pk: int | None = None,
) -> None:
    """Enforce rules 1 and 2 for a pool at ``prefix`` under ``parent``."""
    if parent is not None:
        _check_inside(prefix, parent)
    _check_clear(organization, prefix, parent, exclude_pk=exclude_pk)


def _raise_for_integrity(exc: IntegrityError, prefix: engine.Prefix) -> None:
    """Turn a violated exclusion constraint into the ``overlap`` error the checks would give."""
    text = str(exc)
    if SIBLINGS_CONSTRAINT in text or ROOTS_CONSTRAINT in text:
        message = f"{prefix} overlaps a live sibling (refused by the database)."
        raise Conflict(message, code="overlap", fields={"cidr": [message]}) from exc


def _is_path_collision(exc: IntegrityError) -> bool:
    text = str(exc)
    return "path" in text and SIBLINGS_CONSTRAINT not in text and ROOTS_CONSTRAINT not in text


# Tree writes


def _next_child_path(parent: Pool, last_path: str | None) -> str:
    """Return the tree path of a new last child of ``parent``, as treebeard numbers them."""
    depth = parent.depth + 1
    step = 1 if last_path is None else Pool._str2int(last_path[-Pool.steplen :]) + 1
    if len(Pool._int2str(step)) > Pool.steplen:
        raise Conflict(f"{describe_pool(parent)} has as many children as a pool can hold.")
    path = Pool._get_path(parent.path, depth, step)
    if len(path) > Pool._meta.get_field("path").max_length:
        raise Conflict(f"{describe_pool(parent)} is as deep as the pool tree can go.")
    return path


def _last_child_path(parent: Pool) -> str | None:
    """Return the path of the last child of ``parent`` (deleted ones count), or None."""
    return (
        Pool.objects.filter(
            depth=parent.depth + 1, path__range=Pool._get_children_path_interval(parent.path)
        )
        .order_by("-path")
        .values_list("path", flat=True)
        .first()
    )


_UNKNOWN: Final = object()


def _insert(
    pool: Pool, parent: Pool | None, last_path: Any = _UNKNOWN, *, counted: bool = False
) -> Pool:
    """Insert the unsaved ``pool`` under the locked ``parent`` (or as a root).

    A child is appended as treebeard's ``add_child`` would, but without its second lock
    and last-child query: the parent is already locked here, and an allocation has read
    the children (``last_path``) and counted the new one in ``numchild`` (``counted``)
    as it locked. This keeps the critical section of allocations in one parent short.
    """
    if parent is not None:
        if last_path is _UNKNOWN:
            last_path = _last_child_path(parent)
        pool.path = _next_child_path(parent, last_path)
        pool.depth = parent.depth + 1
        pool.numchild = 0
        if not counted:
            Pool.objects.filter(pk=parent.pk).update(numchild=F("numchild") + 1)
            parent.numchild += 1
        try:
            # Recorded below from the values just written: django-auditlog's own diff
            # of a new row walks every field through layers of checks, a large share of
            # an allocation's time; the event is the one its post_save would record.
            with disable_auditlog():
                pool.save(force_insert=True)
        except IntegrityError as exc:
            # Only the exclusion constraint can refuse the row here; the action fails.
            _raise_for_integrity(exc, pool.prefix)
            raise
        get_logentry_model().objects.log_create_many([(pool, None)])
        return pool
    for attempt in range(ROOT_PATH_ATTEMPTS):
        try:
            # Treebeard numbers roots across all organizations, and row-level security
            # would hide the other organizations' roots from it: the next root path is
            # found (and the row inserted) with the explicit bypass.
            with transaction.atomic(), rls_bypass():
                return Pool.objects.add_root(instance=pool)
        except PathOverflow:
            raise Conflict("The pool tree holds as many root pools as it can.") from None
        except IntegrityError as exc:
            _raise_for_integrity(exc, pool.prefix)
            if not _is_path_collision(exc) or attempt + 1 == ROOT_PATH_ATTEMPTS:
                raise
            pool.pk = None
    raise AssertionError("unreachable")  # pragma: no cover


def _move(pool: Pool, parent: Pool | None) -> None:
    """Move ``pool`` and its subtree under ``parent`` (or to the roots) in the tree paths."""
    for attempt in range(ROOT_PATH_ATTEMPTS):
        try:
            with transaction.atomic():
                if parent is not None:
                    Pool.objects.move(pool, parent, "last-child")
                    return
                # As for a new root: the next root path is global (see _insert).
                with rls_bypass():
                    Pool.objects.move(pool, Pool.objects.get_last_root_node(), "last-sibling")
                return
        except PathOverflow:
            raise Conflict(f"{describe_pool(pool)} cannot move there: the tree is full.") from None
        except IntegrityError as exc:
            _raise_for_integrity(exc, pool.prefix)
            if (
                parent is not None
                or not _is_path_collision(exc)
                or attempt + 1 == ROOT_PATH_ATTEMPTS
            ):
                raise
            pool.refresh_from_db(fields=["path", "depth", "numchild"])


def _check_quota(organization: Organization, amount: int) -> None:
    """Refuse (429 ``quota_exceeded``) when ``amount`` more live pools pass ``max_pools``.

    Counting 100,000 pools for every allocation would cost more than the allocation, so
    far from the limit a count cached for ``QUOTA_COUNT_SECONDS`` (and advanced by each
    creation it lets through) is trusted; within ``QUOTA_MARGIN`` of the limit (a
    hundredth of it) the pools are counted every time.
    The check runs before the parent's lock and no lock covers the organization
    (creations in different parents must not wait on each other), so concurrent creations
    can overshoot the limit by at most their number.
    """
    limit = quota_limit(organization=organization, name="max_pools")
    key = f"pools:live-count:{organization.pk}"
    # One cache round trip: the cached count moves with this creation (an atomic
    # increment that fails when nothing is cached) and the new count is judged. A count
    # too high (deletions are not subtracted, a creation may fail after counting) only
    # brings the exact count sooner.
    try:
        counted = cache.incr(key, amount)
    except ValueError:
        counted = None
    if counted is not None and counted + limit * QUOTA_MARGIN <= limit:
        return
    used = pool_count(organization=organization)
    quota_check(organization=organization, name="max_pools", amount=amount, used=used)
    cache.set(key, used + amount, QUOTA_COUNT_SECONDS)


def _separate_domain(organization: Organization, parent: Pool | None) -> bool:
    return parent is None and bool(organization.setting("allow_overlapping_roots"))


# Services


def overlapping_roots_guard(*, organization: Organization, value: object) -> None:
    """Refuse to turn ``allow_overlapping_roots`` off while live root pools overlap (409).

    Registered with tenancy's settings service, which calls it with the organization
    locked: the same lock under which roots are created and moved.
    """
    if value:
        return
    pairs = pool_overlapping_roots(organization=organization)
    if not pairs:
        return
    shown = [f"{describe_pool(first)} and {describe_pool(second)}" for first, second in pairs]
    more = f" (and {len(shown) - 10} more)" if len(shown) > 10 else ""
    message = (
        "Overlapping root pools exist: "
        + "; ".join(shown[:10])
        + more
        + ". Renumber, nest or delete them before turning allow_overlapping_roots off."
    )
    raise Conflict(message, fields={"allow_overlapping_roots": [message]})


@transaction.atomic
def pool_create(
    *,
    organization: Organization,
    name: str,
    cidr: str | engine.Prefix,
    parent: Pool | int | None = None,
    type: str = PoolType.CUSTOM,
    status: str = PoolStatus.ACTIVE,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    source: str = PoolSource.MANUAL,
    actor: Actor,
) -> Pool:
    """Create a pool at ``cidr`` under ``parent`` (a root when None) after rules 1 and 2."""
    _check_quota(organization, 1)
    with operation("create", actor=actor):
        return _pool_create(
            organization=organization,
            name=name,
            cidr=cidr,
            parent=parent,
            type=type,
            status=status,
            description=description,
            tags=tags,
            source=source,
            actor=actor,
        )


def _pool_create(
    *,
    organization: Organization,
    name: str,
    cidr: str | engine.Prefix,
    parent: Pool | int | None,
    type: str,
    status: str,
    description: str,
    tags: Mapping[str, str] | None,
    source: str,
    actor: Actor,
) -> Pool:
    fields = {
        "name": _clean_name(name),
        "type": _clean_choice(type, PoolType, "type"),
        "status": _clean_choice(status, PoolStatus, "status"),
        "description": _clean_description(description),
        "tags": _clean_tags(tags),
        "source": _clean_choice(source, PoolSource, "source"),
    }
    prefix = parse_pool_prefix(cidr)
    parent_id = _parent_id(organization, parent)
    if parent_id is None:
        organization = _lock_organization(organization)
        locked_parent = None
    else:
        locked_parent = _lock_pools(organization, parent_id)[parent_id]
        _require_live(locked_parent, "adding pools to it")
    _check_place(organization, prefix, locked_parent)
    return _create_child(
        organization=organization, parent=locked_parent, prefix=prefix, actor=actor, **fields
    )


def _create_child(
    *,
    organization: Organization,
    parent: Pool | None,
    prefix: engine.Prefix,
    actor: Actor,
    last_path: Any = _UNKNOWN,
    counted: bool = False,
    **fields: Any,
) -> Pool:
    """Insert a pool whose place has been checked under the parent's lock."""
    pool = Pool(
        organization=organization,
        parent=parent,
        separate_routing_domain=_separate_domain(organization, parent),
        created_by_id=actor.user_id,
        **fields,
    )
    pool.set_prefix(prefix)
    return _insert(pool, parent, last_path, counted=counted)


@transaction.atomic
def pool_allocate(
    *,
    parent: Pool,
    prefix_length: int,
    name: str,
    type: str = PoolType.CUSTOM,
    status: str = PoolStatus.ACTIVE,
    strategy: str = AllocationStrategy.FIRST_FIT,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    source: str = PoolSource.MANUAL,
    actor: Actor,
) -> Pool:
    """Carve the next free block of ``prefix_length`` out of ``parent`` as a new child.

    The parent row stays locked from reading its children to inserting the new one, so
    concurrent allocations in one parent queue up and never take overlapping blocks.
    Raise ``no_space`` (409) naming the largest free block when none is large enough.
    """
    _check_quota(parent.organization, 1)
    with operation("allocate", actor=actor):
        return _pool_allocate(
            parent=parent,
            prefix_length=prefix_length,
            name=name,
            type=type,
            status=status,
            strategy=strategy,
            description=description,
            tags=tags,
            source=source,
            actor=actor,
        )


def _pool_allocate(
    *,
    parent: Pool,
    prefix_length: int,
    name: str,
    type: str,
    status: str,
    strategy: str,
    description: str,
    tags: Mapping[str, str] | None,
    source: str,
    actor: Actor,
) -> Pool:
    fields = {
        "name": _clean_name(name),
        "type": _clean_choice(type, PoolType, "type"),
        "status": _clean_choice(status, PoolStatus, "status"),
        "description": _clean_description(description),
        "tags": _clean_tags(tags),
        "source": _clean_choice(source, PoolSource, "source"),
    }
    strategy = _clean_choice(strategy, AllocationStrategy, "strategy")
    organization = parent.organization
    locked = _lock_parent_counting_child(organization, parent.pk)
    if locked is None:
        raise NotFound(f"No pool with id {parent.pk} in this organization.")
    _require_live(locked, "allocating from it")
    layout = pool_child_layout(locked)
    block = free_block_for(locked, prefix_length=prefix_length, strategy=strategy, layout=layout)
    return _create_child(
        organization=organization,
        parent=locked,
        prefix=block,
        actor=actor,
        last_path=layout.last_path,
        counted=True,
        **fields,
    )


@transaction.atomic
def pool_update(
    *,
    pool: Pool,
    name: str | _Unset = UNSET,
    cidr: str | engine.Prefix | _Unset = UNSET,
    parent: Pool | int | _Unset | None = UNSET,
    type: str | _Unset = UNSET,
    status: str | _Unset = UNSET,
    description: str | _Unset = UNSET,
    tags: Mapping[str, str] | _Unset = UNSET,
    actor: Actor,
) -> Pool:
    """Change a pool's attributes, prefix and parent, re-checking rules 1 to 3.

    A new ``parent`` moves the pool with its subtree (see ``pool_move``); a new ``cidr``
    must keep its children inside and its siblings clear. Both may change at once.
    """
    changes: dict[str, Any] = {}
    if not isinstance(name, _Unset):
        changes["name"] = _clean_name(name)
    if not isinstance(type, _Unset):
        changes["type"] = _clean_choice(type, PoolType, "type")
    if not isinstance(status, _Unset):
        changes["status"] = _clean_choice(status, PoolStatus, "status")
    if not isinstance(description, _Unset):
        changes["description"] = _clean_description(description)
    if not isinstance(tags, _Unset):
        changes["tags"] = _clean_tags(tags)
    prefix = None if isinstance(cidr, _Unset) else parse_pool_prefix(cidr)

    organization = Organization.objects.get(pk=pool.organization_id)
    current_parent_id = (
        Pool.objects.for_organization(organization)
        .filter(pk=pool.pk)
        .values_list("parent_id", flat=True)
        .first()
    )
    new_parent_id = (
        current_parent_id if isinstance(parent, _Unset) else _parent_id(organization, parent)
    )
    moving = new_parent_id != current_parent_id
    roots_involved = current_parent_id is None or new_parent_id is None
    if roots_involved and (moving or prefix is not None):
        organization = _lock_organization(organization)
    locked = _lock_pools(organization, pool.pk, current_parent_id, new_parent_id)
    if pool.pk not in locked:
        raise NotFound(f"No pool with id {pool.pk} in this organization.")
    target = locked[pool.pk]
    if target.parent_id != current_parent_id:
        raise Conflict(
            f"Pool {describe_pool(target)} was moved by another change meanwhile; try again."
        )
    _require_live(target, "changing it")
    new_parent = locked.get(new_parent_id) if new_parent_id is not None else None

    if moving and new_parent is not None:
        _require_live(new_parent, "moving pools into it")
        if new_parent.pk == target.pk or new_parent.path.startswith(target.path):
            message = "A pool cannot be moved under itself or one of its descendants."
            raise ValidationError(message, fields={"parent": [message]})

    resized = prefix is not None and prefix != target.prefix
    if prefix is not None or moving:
        new_prefix = prefix if prefix is not None else target.prefix
        _check_place(organization, new_prefix, new_parent, exclude_pk=target.pk)
        if prefix is not None and prefix != target.prefix:
            _check_children_inside(target, prefix)
        if moving:
            # Paths of the whole subtree are rewritten: no pool in it may gain a child
            # (whose path would be computed from the old one) until this commits.
            _lock_subtree(target, live_only=False)
            _move(target, new_parent)
            target.parent = new_parent
        if prefix is not None:
            target.set_prefix(prefix)
        target.separate_routing_domain = _separate_domain(organization, new_parent)

    for name, value in changes.items():
        setattr(target, name, value)
    action = "move" if moving else "resize" if resized else "update"
    try:
        with (
            operation(action, actor=actor, target=(POOL_LABEL, target.pk)),
            transaction.atomic(),
        ):
            target.save()
    except IntegrityError as exc:
        _raise_for_integrity(exc, target.prefix)
        raise
    return target


def pool_move(*, pool: Pool, parent: Pool | int | None, actor: Actor) -> Pool:
    """Move ``pool`` and its subtree under ``parent`` (to the roots when None).

    Rules 1 and 2 are checked for the pool at its new place; its descendants need no
    check of their own since they lie inside it and keep their places relative to it.
    """
    return pool_update(pool=pool, parent=parent, actor=actor)


@transaction.atomic
def pool_delete(*, pool: Pool, recursive: bool = False, actor: Actor) -> int:
    """Soft-delete ``pool``; with ``recursive`` its live subtree too. Return how many.

    A pool with live children answers ``conflict`` unless ``recursive``. The pools of one
    recursive delete share one ``deleted_at``, which is how ``pool_restore`` finds them.
    Deleting a deleted pool changes nothing.
    """
    organization = Organization.objects.get(pk=pool.organization_id)
    locked = _lock_pools(organization, pool.pk).get(pool.pk)
    if locked is None:
        raise NotFound(f"No pool with id {pool.pk} in this organization.")
    if locked.deleted_at is not None:
        return 0
    if recursive:
        _lock_subtree(locked, live_only=True)
        members = Pool.objects.live().in_subtree(locked.path)
    else:
        live_children = Pool.objects.live().filter(parent=locked).count()
        if live_children:
            noun = "child" if live_children == 1 else "children"
            raise Conflict(
                f"{describe_pool(locked)} has {live_children} live {noun}; delete them first "
                "or delete recursively.",
                fields={"recursive": ["Pass recursive=true to delete the whole subtree."]},
            )
        members = Pool.objects.filter(pk=locked.pk)
    # The subtree is locked: these rows are the ones the UPDATE below changes.
    rows = list(members.only(*_EVENT_FIELDS, "deleted_at").order_by("depth", "pk"))
    now = timezone.now()
    with operation("delete", actor=actor):
        members.update(deleted_at=now, updated_at=now)
        _record_updates(rows, {"deleted_at": now})
    pool.deleted_at = now
    return len(rows)


@transaction.atomic
def pool_restore(*, pool: Pool, actor: Actor) -> Pool:
    """Bring back a soft-deleted pool and the subtree deleted with it, if the rules allow.

    The parent must be live and still hold the pool, and no live sibling may overlap it
    (409 otherwise). Descendants deleted by the same recursive delete come back with it;
    their places were valid then and nothing can have been added under a deleted pool.
    """
    organization = Organization.objects.get(pk=pool.organization_id)
    parent_id = (
        Pool.objects.for_organization(organization)
        .filter(pk=pool.pk)
        .values_list("parent_id", flat=True)
        .first()
    )
    if parent_id is None:
        organization = _lock_organization(organization)
    locked = _lock_pools(organization, pool.pk, parent_id)
    if pool.pk not in locked:
        raise NotFound(f"No pool with id {pool.pk} in this organization.")
    target = locked[pool.pk]
    if target.deleted_at is None:
        return target
    parent = locked.get(parent_id) if parent_id is not None else None
    if parent is not None:
        if parent.deleted_at is not None:
            raise Conflict(
                f"The parent {describe_pool(parent)} is deleted; restore it first.",
                fields={"parent": ["The parent is deleted."]},
            )
        _check_inside(target.prefix, parent, error=Conflict)
    _check_clear(organization, target.prefix, parent, exclude_pk=target.pk)

    deleted_at = target.deleted_at
    members = (
        Pool.objects.in_subtree(target.path).filter(deleted_at=deleted_at).exclude(pk=target.pk)
    )
    locked_ids = members.select_for_update().order_by("pk").values_list("pk", flat=True)
    count = len(list(locked_ids))
    _check_quota(organization, 1 + count)
    rows = list(members.only(*_EVENT_FIELDS, "deleted_at").order_by("depth", "pk"))
    target.deleted_at = None
    target.separate_routing_domain = _separate_domain(organization, parent)
    now = timezone.now()
    try:
        with operation("restore", actor=actor), transaction.atomic():
            target.save(update_fields=["deleted_at", "separate_routing_domain", "updated_at"])
            members.update(deleted_at=None, updated_at=now)
            _record_updates(rows, {"deleted_at": None})
    except IntegrityError as exc:
        _raise_for_integrity(exc, target.prefix)
        raise
    return target


@transaction.atomic
def pool_purge(*, pool: Pool, actor: Actor) -> int:
    """Remove a soft-deleted pool and its (deleted) subtree for good; return how many rows.

    A live pool is refused (``conflict``): it must be soft-deleted first, so that a purge
    never takes live address space with it.
    """
    organization = Organization.objects.get(pk=pool.organization_id)
    locked = _lock_pools(organization, pool.pk).get(pool.pk)
    if locked is None:
        raise NotFound(f"No pool with id {pool.pk} in this organization.")
    if locked.deleted_at is None:
        raise Conflict(f"{describe_pool(locked)} is live; delete it before purging it.")
    live = Pool.objects.live().in_subtree(locked.path).exclude(pk=locked.pk).first()
    if live is not None:
        raise Conflict(f"{describe_pool(live)} under {describe_pool(locked)} is live.")
    with operation("purge", actor=actor):
        return _purge_subtree(locked)


def _purge_subtree(pool: Pool) -> int:
    """Remove ``pool`` and its subtree in a few set-based statements; return how many rows.

    What ``Model.delete()`` would do, row by row, for each: the rows that point at a
    purged pool are cleared or removed as their foreign keys say, the pools go in one
    ``DELETE``, the parent counts one child less (treebeard's ``numchild``), and each pool
    gets its ``purge`` event, in bulk. The count includes the related rows removed.
    """
    subtree = Pool.objects.in_subtree(pool.path)
    rows = list(subtree.order_by("path"))
    ids = subtree.values("pk")
    count = 0
    for relation in Pool._meta.related_objects:
        if relation.related_model is Pool:
            continue  # The children: the subtree itself.
        related = relation.related_model._base_manager.filter(**{f"{relation.field.name}__in": ids})
        if relation.on_delete is models.SET_NULL:
            related.update(**{relation.field.name: None})
        elif relation.on_delete is models.CASCADE:
            removed, _by_model = related.delete()
            count += removed
        else:  # pragma: no cover - a new relation must say how a purge treats it
            raise AssertionError(f"No purge rule for {relation.related_model.__name__}.")
    table = Pool._meta.db_table
    sql, params = subtree.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id IN ({sql})", params)  # noqa: S608
        count += cursor.rowcount
    if pool.parent_id is not None:
        Pool.objects.filter(pk=pool.parent_id).update(numchild=F("numchild") - 1)
    # The last write of the purge: the events go in chained (see ``_record_updates``).
    get_logentry_model().objects.log_delete_many(rows, return_events=False, chain_now=True)
    pools_bulk_changed.send(sender=Pool, organization_id=pool.organization_id)
    return count


# Bulk creates of the batch write path


# Runs of at least this many consecutive creates under pools are made in bulk; shorter
# runs (and every other change) go through the single services.
BULK_MIN_RUN = 2
# Rows per INSERT and ids per ``IN (...)`` of the bulk path.
BULK_INSERT_BATCH = 1000
BULK_READ_BATCH = 500
# A run of at least this many creates has its audit events chained as they are inserted.
CHAIN_NOW_RUN = 100
# Rows per JSON document of the bulk insert on PostgreSQL.
BULK_JSON_BATCH = 5000


def _bulk_eligible(change: batch.PoolChange) -> bool:
    """Return whether ``change`` creates a pool under another pool (not a root)."""
    if not isinstance(change, batch.PoolCreate):
        return False
    if change.cidr is None:
        return True  # An allocation always lies within a pool.
    return change.parent is not None


def _describe_entry(entry: Any) -> str:
    """Describe a sibling held by a ``_Place``: a stored row's values, or a new Pool."""
    if isinstance(entry, Pool):
        return describe_pool(entry)
    pk, cidr, name = entry
    return f'{cidr} "{name}" (pool {pk})'


class _Place:
    """A parent of a run of creates: its live children by family, its last child path.

    Children are kept sorted by first address with parallel lists, as the stored
    children and the creates of the run accepted so far; they never overlap, so the
    overlap check looks at two neighbours and first fit walks forward from where the
    last allocation of the same length ended (the run only ever adds children).
    """

    __slots__ = ("added", "firsts", "hints", "last_path", "lasts", "pool", "prefix", "who")

    def __init__(self, pool: Pool, last_path: str | None = None) -> None:
        self.pool = pool
        self.prefix = pool.prefix  # Read once: the property parses the stored key each time.
        self.last_path = last_path
        self.firsts: dict[int, list[int]] = {4: [], 6: []}
        self.lasts: dict[int, list[int]] = {4: [], 6: []}
        self.who: dict[int, list[Any]] = {4: [], 6: []}
        self.hints: dict[tuple[int, int], int] = {}
        self.added = 0

    def load(self, family: int, first: int, last: int, entry: Any) -> None:
        """Add a stored live child (call ``sort`` once they are all loaded)."""
        self.firsts[family].append(first)
        self.lasts[family].append(last)
        self.who[family].append(entry)

    def sort(self) -> None:
        for family in (4, 6):
            if not self.firsts[family]:
                continue
            rows = sorted(
                zip(self.firsts[family], self.lasts[family], self.who[family], strict=True),
                key=lambda row: row[0],
            )
            self.firsts[family] = [row[0] for row in rows]
            self.lasts[family] = [row[1] for row in rows]
            self.who[family] = [row[2] for row in rows]

    def overlap(self, prefix: engine.Prefix) -> Any | None:
        """Return the child ``_find_overlap`` would name for ``prefix``, or None."""
        firsts, lasts = self.firsts[prefix.family], self.lasts[prefix.family]
        at = bisect.bisect_left(firsts, prefix.first)
        if at < len(firsts) and firsts[at] <= prefix.last:
            return self.who[prefix.family][at]
        if at and lasts[at - 1] >= prefix.first:
            return self.who[prefix.family][at - 1]
        return None

    def add(self, prefix: engine.Prefix, pool: Pool) -> None:
        at = bisect.bisect_left(self.firsts[prefix.family], prefix.first)
        self.firsts[prefix.family].insert(at, prefix.first)
        self.lasts[prefix.family].insert(at, prefix.last)
        self.who[prefix.family].insert(at, pool)

    def first_fit(self, length: int) -> engine.Prefix | None:
        """Return the lowest free aligned block of ``length`` (``first_fit_in``'s answer)."""
        parent = self.prefix
        family = parent.family
        shift = _FAMILY_BITS[family] - length
        size = 1 << shift
        firsts, lasts = self.firsts[family], self.lasts[family]
        start = max(self.hints.get((family, length), parent.first), parent.first)
        start = ((start + size - 1) >> shift) << shift
        at = bisect.bisect_right(firsts, start) - 1
        at = max(at, 0)
        while at < len(firsts) and firsts[at] <= start + size - 1:
            if lasts[at] >= start:
                start = ((lasts[at] + 1 + size - 1) >> shift) << shift
            at += 1
        if start + size - 1 > parent.last:
            return None
        self.hints[(family, length)] = start + size
        return engine.Prefix(family, start, length)

    def ranges(self, family: int) -> list[tuple[int, int]]:
        return list(zip(self.firsts[family], self.lasts[family], strict=True))


_FAMILY_BITS: Final = {4: 32, 6: 128}


def _failure(check: Any, *args: Any) -> Any:
    """Return a callable giving the error ``check(*args)`` raises, once the pools have ids.

    Messages name pools with their ids, which new pools only have once inserted: the
    error of a failing create is therefore made after the run's rows are written.
    """

    def make() -> ApplicationError:
        try:
            check(*args)
        except ApplicationError as exc:
            return exc
        raise AssertionError("the check passed the second time")  # pragma: no cover

    return make


def _overlap_error(prefix: engine.Prefix, other: Any, parent: Pool) -> None:
    message = f"{prefix} overlaps {_describe_entry(other)} in {describe_pool(parent)}."
    raise Conflict(message, code="overlap", fields={"cidr": [message]})


def _no_space(pool: Pool, ranges: list[tuple[int, int]], length: int) -> Conflict:
    """Return the ``no_space`` error ``free_block_for`` gives for ``pool`` and ``ranges``."""
    parent = pool.prefix
    largest = allocation.largest_in(parent, allocation.gaps(parent, ranges))
    detail = (
        f"the largest free block is {largest}" if largest is not None else "it has no free space"
    )
    message = f"No free /{length} in {pool.cidr}; {detail}."
    return Conflict(message, code="no_space", fields={"prefix_length": [message]})


@dataclass
class _RunResult:
    pools: dict[str, Pool]
    failures: list[tuple[int, str, Any]]


class _RunRefused(Exception):
    """The database refused a run's rows: the run is made again one change at a time."""


def _load_places(
    pools: list[Pool],
) -> dict[int, _Place]:
    """Return a ``_Place`` per stored pool, with its live children, read once per chunk."""
    places = {pool.pk: _Place(pool) for pool in pools}
    ids = sorted(places)
    for start in range(0, len(ids), BULK_READ_BATCH):
        rows = (
            Pool.objects.filter(parent_id__in=ids[start : start + BULK_READ_BATCH])
            .order_by()
            .values_list(
                "parent_id",
                "family",
                "first_key",
                "last_key",
                "path",
                "deleted_at",
                "pk",
                "cidr",
                "name",
            )
        )
        for parent_id, family, first, last, path, deleted_at, pk, cidr, name in rows:
            place = places[parent_id]
            if place.last_path is None or path > place.last_path:
                place.last_path = path
            if deleted_at is None:
                place.load(family, int(first, 16), int(last, 16), (pk, cidr, name))
    for place in places.values():
        place.sort()
    return places


def _create_run(
    run: Sequence[tuple[int, batch.PoolCreate]],
    *,
    organization: Organization,
    actor: Actor,
    created: dict[str, Pool],
    existing: Mapping[int, Pool],
    failed: set[str],
) -> _RunResult:
    """Make a run of creates under pools in bulk, as ``_apply_change`` makes each.

    The parents are read once (the stored ones are locked by the caller; those created
    earlier in the batch are the caller's own), their children once; each create is
    checked in memory in order, against the stored children and the run's earlier
    creates, with the single services' checks and messages; the accepted pools are
    inserted in bulk, generation by generation, with their tree paths computed here as
    treebeard would; parents' ``numchild`` is moved in one statement per count; one
    audit event per pool is written in bulk.
    """
    new: dict[str, Pool] = {}
    stored_ids: set[int] = set()
    for _index, change in run:
        for value in (change.parent, change.within):
            if isinstance(value, int):
                stored_ids.add(value)
            elif isinstance(value, str) and value in created:
                stored_ids.add(created[value].pk)
    fresh = list(Pool.objects.filter(pk__in=sorted(stored_ids)).order_by("pk"))
    places_by_pk = _load_places(fresh)
    places: dict[int, _Place] = {}  # by id() of the parent Pool object used for the run
    for place in places_by_pk.values():
        places[id(place.pool)] = place

    def pool_of(value: batch.PoolRef) -> Pool | None:
        if value is None:
            return None
        if isinstance(value, str):
            if value in new:
                return new[value]
            return places_by_pk[created[value].pk].pool
        return places_by_pk[value].pool

    def place_of(pool: Pool) -> _Place:
        place = places.get(id(pool))
        if place is None:
            place = places[id(pool)] = _Place(pool)
        return place

    failures: list[tuple[int, str, Any]] = []
    entries: list[tuple[Pool, str]] = []
    for index, change in run:
        names = {change.parent, change.within}
        blocked = sorted(name for name in names if isinstance(name, str) and name in failed)
        if blocked:
            message = f"It depends on '{blocked[0]}', which failed."
            failures.append((index, change.ref, lambda m=message: Conflict(m)))
            failed.add(change.ref)
            continue
        try:
            pool, action = _create_in_memory(
                change,
                organization=organization,
                actor=actor,
                pool_of=pool_of,
                place_of=place_of,
            )
        except _Deferred as deferred:
            failures.append((index, change.ref, deferred.make))
            failed.add(change.ref)
            continue
        except ApplicationError as exc:
            failures.append((index, change.ref, lambda e=exc: e))
            failed.add(change.ref)
            continue
        new[change.ref] = pool
        entries.append((pool, action))

    _bulk_insert([pool for pool, _action in entries], places_by_pk)
    if entries:
        # Chained as they are inserted (PostgreSQL): the after-commit chainer would read
        # every event of a large run back and write each one's place again.
        get_logentry_model().objects.log_create_many(
            entries, return_events=False, chain_now=len(entries) >= CHAIN_NOW_RUN
        )
        pools_bulk_created.send(sender=Pool, organization_id=organization.pk)
    created.update(new)
    return _RunResult(pools=new, failures=failures)


class _Deferred(Exception):
    """A create fails with an error that names pools by id: made after the insert."""

    def __init__(self, make: Any) -> None:
        super().__init__()
        self.make = make


_POOL_ATTNAMES: list[str] = []


def _new_pool(values: Mapping[str, Any]) -> Pool:
    """Return an unsaved pool of ``values`` by attribute name, every other column None.

    Positional values skip the keyword handling of ``Model.__init__``, which costs more
    than all the checks of a create in a run of thousands.
    """
    if not _POOL_ATTNAMES:
        _POOL_ATTNAMES.extend(field.attname for field in Pool._meta.concrete_fields)
    return Pool(*[values.get(name) for name in _POOL_ATTNAMES])


def _create_in_memory(
    change: batch.PoolCreate,
    *,
    organization: Organization,
    actor: Actor,
    pool_of: Any,
    place_of: Any,
) -> tuple[Pool, str]:
    """Check one create of a run and return its unsaved pool (with its tree place).

    The checks and their order are those of ``_pool_create`` and ``_pool_allocate``.
    """
    parent = pool_of(change.parent)
    if change.cidr is None:
        within = pool_of(change.within if change.within is not None else change.parent)
        if parent is not None and within is not parent:
            message = "A block found within one pool must be created under that pool."
            raise ValidationError(message, fields={"within": [message]})
        parent = within
    fields = {
        "name": _clean_name(change.name),
        "type": _clean_choice(change.type, PoolType, "type"),
        "status": _clean_choice(change.status, PoolStatus, "status"),
        "description": _clean_description(change.description),
        "tags": _clean_tags(change.tags),
        "source": _clean_choice(change.source, PoolSource, "source"),
    }
    place = place_of(parent)
    if change.cidr is None:
        if parent.deleted_at is not None:
            raise _Deferred(_failure(_require_live, parent, "allocating from it"))
        length = _child_prefix_length(parent, change.prefix_length, "prefix_length")
        prefix = place.first_fit(length)
        if prefix is None:
            raise _no_space(parent, place.ranges(parent.family), length)
        action = "allocate"
    else:
        prefix = parse_pool_prefix(change.cidr)
        if parent.deleted_at is not None:
            raise _Deferred(_failure(_require_live, parent, "adding pools to it"))
        # _check_inside's rule, against the parent's prefix read once per place.
        if not (place.prefix.contains(prefix) and prefix.length > place.prefix.length):
            raise _Deferred(_failure(_check_inside, prefix, parent))
        other = place.overlap(prefix)
        if other is not None:
            raise _Deferred(_failure(_overlap_error, prefix, other, parent))
        action = "create"
    try:
        path = _next_child_path(parent, place.last_path)
    except ApplicationError:
        raise _Deferred(_failure(_next_child_path, parent, place.last_path)) from None
    pool = _new_pool(
        {
            "organization_id": organization.pk,
            "separate_routing_domain": False,
            "created_by_id": actor.user_id,
            "path": path,
            "depth": parent.depth + 1,
            "numchild": 0,
            **fields,
        }
    )
    pool.organization = organization
    pool.parent = parent
    pool.set_prefix(prefix)
    place.last_path = path
    place.add(prefix, pool)
    place.added += 1
    if parent.pk is None:
        parent.numchild += 1  # A parent of the run: inserted before its children.
    return pool, action


def _max_query_params() -> int:
    """Return how many parameters one statement may carry on this database."""
    if connection.vendor == "sqlite":
        import sqlite3

        connection.ensure_connection()
        return int(connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    if connection.vendor == "postgresql":
        return 65_535
    return int(connection.features.max_query_params or 999)


def _insert_pools(pools: Sequence[Pool]) -> None:
    """Insert new pools, whose parents already have ids, and give them their ids.

    What ``bulk_create`` does, without its per-value preparation, which costs most of the
    time of a large batch: the values the batch computed are plain (text, numbers, ids),
    only ``tags`` (JSON) and the timestamps need the database's form. One multi-row
    ``INSERT ... RETURNING`` per chunk, as large as the database's parameter limit allows
    (``bulk_create`` on SQLite sends 41 rows a statement); the ids come back in row order,
    which ``bulk_create`` relies on too.
    """
    if not pools:
        return
    meta = Pool._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    stamped = [
        field
        for field in fields
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    ]
    prepared = [
        field
        for field in fields
        if field not in stamped and isinstance(field, models.JSONField | models.DateField)
    ]
    plain = [field for field in fields if field not in stamped and field not in prepared]
    related = [field for field in fields if field.is_relation]
    now = timezone.now()
    stamps = [connection.ops.adapt_datetimefield_value(now)] * len(stamped)
    plain_values = operator.attrgetter(*(field.attname for field in plain))
    ordered = [*plain, *prepared, *stamped]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in ordered)
    table = connection.ops.quote_name(meta.db_table)
    returning = connection.ops.quote_name(meta.pk.column)

    def link(pool: Pool) -> None:
        for field in related:
            # A parent made earlier in the run got its id after this pool was built.
            if getattr(pool, field.attname) is None and field.is_cached(pool):
                target = field.get_cached_value(pool)
                if target is not None:
                    if target.pk is None:
                        raise ValueError(f"{field.name} is not saved yet")
                    setattr(pool, field.attname, target.pk)
        for field in stamped:
            setattr(pool, field.attname, now)

    def saved(chunk: Sequence[Pool], ids: Sequence[int]) -> None:
        for pool, pk in zip(chunk, ids, strict=True):
            pool.pk = pk
            pool._state.adding = False
            pool._state.db = connection.alias

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One JSON document per chunk, cast to rows by the server: a statement of a
            # thousand rows' placeholders costs the driver more to rewrite than to send.
            names = [field.column for field in ordered]
            stamp = now.isoformat()
            sql = (
                f"INSERT INTO {table} ({columns}) SELECT {columns}"  # noqa: S608 - names only
                f" FROM json_populate_recordset(NULL::{table}, %s::json) RETURNING {returning}"
            )
            for start in range(0, len(pools), BULK_JSON_BATCH):
                chunk = pools[start : start + BULK_JSON_BATCH]
                document = []
                for pool in chunk:
                    link(pool)
                    values = [*plain_values(pool)]
                    values.extend(getattr(pool, field.attname) for field in prepared)
                    values.extend([stamp] * len(stamped))
                    document.append(dict(zip(names, values, strict=True)))
                cursor.execute(sql, [json.dumps(document, default=_json_value)])
                # The ids are drawn as the rows are inserted, in the document's order.
                saved(chunk, sorted(row[0] for row in cursor.fetchall()))
            return
        size = max(1, min(BULK_INSERT_BATCH, _max_query_params() // len(ordered)))
        placeholder = "(" + ", ".join(["%s"] * len(ordered)) + ")"
        for start in range(0, len(pools), size):
            chunk = pools[start : start + size]
            params: list[Any] = []
            for pool in chunk:
                link(pool)
                params.extend(plain_values(pool))
                for field in prepared:
                    value = getattr(pool, field.attname)
                    params.append(
                        None if value is None else field.get_db_prep_save(value, connection)
                    )
                params.extend(stamps)
            # Only quoted model names and placeholders go into the text; values are params.
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608
                f"{', '.join([placeholder] * len(chunk))} RETURNING {returning}",
                params,
            )
            saved(chunk, [pk for (pk,) in cursor.fetchall()])


def _json_value(value: Any) -> Any:
    """Return a value ``json`` cannot write (a timestamp) in the form PostgreSQL reads."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _bulk_insert(pools: list[Pool], places: Mapping[int, _Place]) -> None:
    """Insert the run's ``pools`` parents first, and count them in their stored parents.

    Raise ``_RunRefused`` when the database refuses a row (the exclusion constraint on
    PostgreSQL, a path taken meanwhile): the caller then makes the run change by change,
    which names the failing change.
    """
    generation: dict[int, int] = {}
    for pool in pools:
        parent = pool.parent
        generation[id(pool)] = 0 if parent.pk is not None else generation[id(parent)] + 1
    by_generation: dict[int, list[Pool]] = {}
    for pool in pools:
        by_generation.setdefault(generation[id(pool)], []).append(pool)
    by_count: dict[int, list[int]] = {}
    for pk, place in places.items():
        if place.added:
            by_count.setdefault(place.added, []).append(pk)
    try:
        with transaction.atomic():
            for level in sorted(by_generation):
                _insert_pools(by_generation[level])
            for count, ids in sorted(by_count.items()):
                for start in range(0, len(ids), BULK_READ_BATCH):
                    Pool.objects.filter(pk__in=ids[start : start + BULK_READ_BATCH]).update(
                        numchild=F("numchild") + count
                    )
    except IntegrityError as exc:
        for pool in pools:
            pool.pk = None
        raise _RunRefused from exc


# The batch write path


@dataclass(frozen=True)
class ChangesApplied:
    """What ``pool_changes_apply`` did: the pool of each change, by the change's ref."""

    pools: dict[str, Pool] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


class ChangesRejected(ApplicationError):
    """A batch that cannot be applied as a whole; ``errors`` lists every failing change.

    The status and code are those of the errors when they all agree (a batch of bad
    prefixes is a 400 ``validation_error``), else a 409 ``conflict``.
    """

    def __init__(
        self,
        errors: Sequence[batch.ChangeError],
        causes: Mapping[int, ApplicationError] | None = None,
    ) -> None:
        self.errors = list(errors)
        self.causes = dict(causes or {})
        codes = {error.code for error in self.errors}
        statuses = {_STATUS_OF_CODE.get(code, 409) for code in codes}
        code = codes.pop() if len(codes) == 1 else "conflict"
        self.status_code = statuses.pop() if len(statuses) == 1 else 409
        count = len(self.errors)
        first = self.errors[0].describe() if self.errors else ""
        more = f" ({count - 1} more)" if count > 1 else ""
        fields: dict[str, list[str]] = {}
        for error in self.errors:
            fields.setdefault(error.ref or f"#{error.index + 1}", []).append(error.message)
        super().__init__(f"The batch cannot be applied: {first}{more}.", code=code, fields=fields)

    def first_cause(self) -> ApplicationError | None:
        """Return the service's own error for a batch that failed at one change only."""
        if len(self.errors) == 1:
            return self.causes.get(self.errors[0].index)
        return None


_STATUS_OF_CODE = {
    "validation_error": 400,
    "outside_parent": 400,
    "not_found": 404,
    "permission_denied": 403,
    "quota_exceeded": 429,
}


def _resolve(value: Any, created: Mapping[str, Pool], existing: Mapping[int, Pool]) -> Pool | None:
    """Return the pool a change names: a stored one by id, or one the batch created by ref."""
    if value is None:
        return None
    if isinstance(value, str):
        return created[value]
    return existing[value]


def _anchor(
    value: Any, changes_by_ref: Mapping[str, Any], existing: Mapping[int, Pool]
) -> Pool | None:
    """Return the stored pool under which a pool named by ``value`` lies (None: a root)."""
    seen: set[str] = set()
    while isinstance(value, str) and value not in seen:
        seen.add(value)
        change = changes_by_ref[value]
        value = change.parent if isinstance(change, batch.PoolCreate) else None
    return existing.get(value) if isinstance(value, int) else None


def _authorize(
    *,
    organization: Organization,
    actor: Actor,
    changes: Sequence[batch.PoolChange],
    existing: Mapping[int, Pool],
) -> list[batch.ChangeError]:
    """Return a ``permission_denied`` error for each change the actor may not make.

    A create needs ``pools.change`` on the stored pool it goes under (the role for a
    root); an update and a delete need it on the pool they change and, for a move, on
    its new place.
    """
    if not actor.is_person:
        return []  # The system acts on work a person was allowed to start, or on its own.
    by_ref = {change.ref: change for change in changes}
    errors = []
    verdicts: dict[int | None, str | None] = {}

    def denial(pool: Pool | None) -> str | None:
        key = pool.pk if pool is not None else None
        if key not in verdicts:
            verdicts[key] = actor_permission_denial(
                actor=actor, organization=organization, permission="pools.change", obj=pool
            )
        return verdicts[key]

    for index, change in enumerate(changes):
        if isinstance(change, batch.PoolCreate):
            under = change.parent if change.parent is not None else change.within
            places = [_anchor(under, by_ref, existing)]
        else:
            places = [_anchor(change.pool, by_ref, existing)]
            if isinstance(change.pool, int):
                places = [existing[change.pool]]
            if isinstance(change, batch.PoolUpdate) and "parent" in change.fields:
                places.append(_anchor(change.fields["parent"], by_ref, existing))
        for place in places:
            reason = denial(place)
            if reason is not None:
                errors.append(batch.ChangeError(index, change.ref, "permission_denied", reason))
                break
    return errors


def _apply_change(
    change: batch.PoolChange,
    *,
    organization: Organization,
    actor: Actor,
    created: dict[str, Pool],
    existing: dict[int, Pool],
) -> Pool:
    """Make one change of a checked batch, as the single service would (quota counted)."""
    if isinstance(change, batch.PoolCreate):
        parent = _resolve(change.parent, created, existing)
        attributes = {
            "name": change.name,
            "type": change.type,
            "status": change.status,
            "description": change.description,
            "tags": change.tags,
            "source": change.source,
            "actor": actor,
        }
        if change.cidr is None:
            within = change.within if change.within is not None else change.parent
            within_pool = _resolve(within, created, existing)
            if parent is not None and within_pool is not None and within_pool.pk != parent.pk:
                message = "A block found within one pool must be created under that pool."
                raise ValidationError(message, fields={"within": [message]})
            with operation("allocate", actor=actor):
                pool = _pool_allocate(
                    parent=within_pool,
                    prefix_length=change.prefix_length,
                    strategy=AllocationStrategy.FIRST_FIT,
                    **attributes,
                )
        else:
            with operation("create", actor=actor):
                pool = _pool_create(
                    organization=organization, cidr=change.cidr, parent=parent, **attributes
                )
        created[change.ref] = pool
        return pool
    target = _resolve(change.pool, created, existing)
    if isinstance(change, batch.PoolUpdate):
        fields = dict(change.fields)
        if "parent" in fields:
            fields["parent"] = _resolve(fields["parent"], created, existing)
        pool = pool_update(pool=target, actor=actor, **fields)
    else:
        pool_delete(pool=target, recursive=change.recursive, actor=actor)
        pool = target
    if isinstance(change.pool, int):
        existing[change.pool] = pool
    return pool


def _apply_one(
    index: int,
    change: batch.PoolChange,
    *,
    organization: Organization,
    actor: Actor,
    created: dict[str, Pool],
    existing: dict[int, Pool],
    failed: set[str],
    details: Mapping[str, Any] | None,
    pools: dict[str, Pool],
    errors: list[batch.ChangeError],
    causes: dict[int, ApplicationError],
) -> None:
    """Make one change of the batch through its single service, in its own savepoint."""
    names = {change.parent, change.within} if isinstance(change, batch.PoolCreate) else set()
    if isinstance(change, batch.PoolUpdate | batch.PoolDelete):
        names = {
            change.pool,
            change.fields.get("parent") if isinstance(change, batch.PoolUpdate) else None,
        }
    blocked = sorted(name for name in names if isinstance(name, str) and name in failed)
    if blocked:
        message = f"It depends on '{blocked[0]}', which failed."
        errors.append(batch.ChangeError(index, change.ref, "conflict", message))
        failed.add(change.ref)
        return
    try:
        with transaction.atomic(), operation("batch", actor=actor, details=details):
            pools[change.ref] = _apply_change(
                change,
                organization=organization,
                actor=actor,
                created=created,
                existing=existing,
            )
    except ApplicationError as exc:
        _record_failure(index, change.ref, exc, errors=errors, causes=causes)
        failed.add(change.ref)


def _record_failure(
    index: int,
    ref: str,
    exc: ApplicationError,
    *,
    errors: list[batch.ChangeError],
    causes: dict[int, ApplicationError],
) -> None:
    field_name = next(iter(exc.fields or {}), "")
    errors.append(batch.ChangeError(index, ref, exc.code, exc.message, field_name))
    causes[index] = exc


def _create_run_or_fall_back(
    run: list[tuple[int, batch.PoolChange]],
    *,
    organization: Organization,
    actor: Actor,
    created: dict[str, Pool],
    existing: dict[int, Pool],
    failed: set[str],
    details: Mapping[str, Any] | None,
    pools: dict[str, Pool],
    errors: list[batch.ChangeError],
    causes: dict[int, ApplicationError],
) -> None:
    """Make a run of creates in bulk; if the database refuses it, one change at a time."""
    run_failed = set(failed)
    try:
        with transaction.atomic(), operation("batch", actor=actor, details=details):
            result = _create_run(
                run,  # type: ignore[arg-type]
                organization=organization,
                actor=actor,
                created=created,
                existing=existing,
                failed=run_failed,
            )
    except _RunRefused:
        for index, change in run:
            _apply_one(
                index,
                change,
                organization=organization,
                actor=actor,
                created=created,
                existing=existing,
                failed=failed,
                details=details,
                pools=pools,
                errors=errors,
                causes=causes,
            )
        return
    failed.update(run_failed)
    pools.update(result.pools)
    for index, ref, make in result.failures:
        _record_failure(index, ref, make(), errors=errors, causes=causes)


@transaction.atomic
def pool_changes_apply(
    *,
    organization: Organization,
    actor: Actor,
    changes: Sequence[batch.PoolChange],
    details: Mapping[str, Any] | None = None,
    checked: bool = False,
) -> ChangesApplied:
    """Apply a batch of creates, updates and deletes as one change to the address plan.

    The batch is checked as a whole first (shapes, prefixes, refs, overlaps among its own
    pools), then the actor's permission on every place it touches and the ``max_pools``
    quota for all its creates at once; then every stored pool it names is locked, once,
    in primary-key order (after the organization row when it creates or moves roots).
    Each change is then made as its single service makes it, in order, and each writes
    its own audit event, named after what it does, with ``details`` (e.g. the plan)
    attached. Every failing change is reported, not only the first
    (``ChangesRejected``), and then nothing is written.

    ``checked`` says the caller has just run ``changes.check_changes`` on this very
    sequence and it found nothing (a plan's pure checks), so it is not run twice.
    """
    errors = [] if checked else batch.check_changes(changes)
    if errors:
        raise ChangesRejected(errors)
    wanted = batch.existing_ids(changes)
    existing = {
        pool.pk: pool
        for pool in Pool.objects.for_organization(organization).filter(pk__in=sorted(wanted))
    }
    errors = [
        batch.ChangeError(index, change.ref, "not_found", f"No pool with id {pk} here.")
        for index, change in enumerate(changes)
        for pk in sorted(batch.existing_ids([change]) - set(existing))
    ]
    if errors:
        raise ChangesRejected(errors)
    errors = _authorize(organization=organization, actor=actor, changes=changes, existing=existing)
    if errors:
        raise ChangesRejected(errors)
    counts = batch.change_count(changes)
    if counts["create"]:
        _check_quota(organization, counts["create"])

    roots = any(
        (isinstance(change, batch.PoolCreate) and change.parent is None)
        or (isinstance(change, batch.PoolUpdate) and "parent" in change.fields)
        for change in changes
    )
    if roots:
        organization = _lock_organization(organization)
    existing = _lock_pools(organization, *wanted)

    created: dict[str, Pool] = {}
    pools: dict[str, Pool] = {}
    causes: dict[int, ApplicationError] = {}
    failed: set[str] = set()
    index = 0
    while index < len(changes):
        end = index
        while end < len(changes) and _bulk_eligible(changes[end]):
            end += 1
        if end - index >= BULK_MIN_RUN:
            run = [(at, changes[at]) for at in range(index, end)]
            _create_run_or_fall_back(
                run,
                organization=organization,
                actor=actor,
                created=created,
                existing=existing,
                failed=failed,
                details=details,
                pools=pools,
                errors=errors,
                causes=causes,
            )
            index = end
            continue
        _apply_one(
            index,
            changes[index],
            organization=organization,
            actor=actor,
            created=created,
            existing=existing,
            failed=failed,
            details=details,
            pools=pools,
            errors=errors,
            causes=causes,
        )
        index += 1
    errors.sort(key=lambda error: error.index)
    if errors:
        raise ChangesRejected(errors, causes)
    return ChangesApplied(pools=pools, counts=counts)


@dataclass
class BulkResult:
    """What ``pool_bulk_apply`` did: the changes made, and why each refused one was refused."""

    applied: list[batch.PoolChange] = field(default_factory=list)
    refused: list[tuple[batch.PoolChange, str]] = field(default_factory=list)


# A refused batch is tried again without its failing changes, at most this many times: a
# change may fail only because another of the batch did.
BULK_ATTEMPTS = 3


def pool_bulk_apply(
    *,
    organization: Organization,
    actor: Actor,
    changes: Sequence[batch.PoolChange],
    details: Mapping[str, Any] | None = None,
) -> BulkResult:
    """Apply the changes of a bulk action on selected pools, each that can be made.

    The batch goes through ``pool_changes_apply`` as one; when it is refused, the changes
    it names as failing are set aside with their reason and the rest is tried again as
    one batch, so a bulk action makes every change it can and names the others.
    """
    result = BulkResult()
    pending = list(changes)
    for _attempt in range(BULK_ATTEMPTS):
        if not pending:
            break
        try:
            pool_changes_apply(
                organization=organization, actor=actor, changes=pending, details=details
            )
        except ChangesRejected as exc:
            failing = {error.index: error.message for error in exc.errors}
            result.refused.extend((pending[index], message) for index, message in failing.items())
            pending = [change for index, change in enumerate(pending) if index not in failing]
            continue
        result.applied = pending
        return result
    result.refused.extend(
        (change, "Not tried: too many of the batch failed.") for change in pending
    )
    return result
