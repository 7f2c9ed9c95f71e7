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

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from treebeard.exceptions import PathOverflow

from apps.pools import changes as batch
from apps.pools import cidr as engine
from apps.pools.choices import AllocationStrategy, PoolSource, PoolStatus, PoolType
from apps.pools.models import ROOTS_CONSTRAINT, SIBLINGS_CONSTRAINT, Pool
from apps.pools.selectors import (
    describe_pool,
    free_block_for,
    pool_child_layout,
    pool_count,
    pool_overlapping_roots,
)
from apps.tenancy.models import Organization
from apps.tenancy.permissions import actor_permission_denial
from apps.tenancy.quotas import quota_check, quota_limit
from apps.tenancy.rls import rls_bypass
from cloudpam.context import Actor, operation
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


def _clean_choice(value: Any, choices: type, field: str) -> str:
    if value not in choices.values:
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


def _lock_subtree(pool: Pool, *, live_only: bool) -> list[Pool]:
    """Lock the subtree of the locked ``pool`` (it included) and return it, by depth.

    A creation under a pool of the subtree that committed while the first query waited
    for its locks is not in that query's snapshot; the query is repeated until it finds
    nothing new, and from then on every parent in the subtree is locked, so nothing more
    can be added under it.
    """
    locked: dict[int, Pool] = {pool.pk: pool}
    while True:
        rows = Pool.objects.select_for_update().in_subtree(pool.path)
        if live_only:
            rows = rows.filter(deleted_at__isnull=True)
        found = list(rows.exclude(pk__in=list(locked)).order_by("pk"))
        if not found:
            return sorted(locked.values(), key=lambda member: (member.depth, member.pk))
        locked.update((member.pk, member) for member in found)


def _lock_parent_counting_child(organization: Organization, pk: int) -> Pool | None:
    """Lock pool ``pk`` and count one more child in its ``numchild``, in one statement.

    For an allocation, which always adds a child (or fails and rolls back): the row lock
    and treebeard's counter update cost one round trip inside the critical section
    instead of two.
    """
    table = Pool._meta.db_table
    rows = list(
        Pool.objects.raw(
            f"UPDATE {table} SET numchild = numchild + 1"  # noqa: S608 - table name only
            " WHERE id = %s AND organization_id = %s RETURNING *",
            [pk, organization.pk],
        )
    )
    return rows[0] if rows else None


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
            pool.save(force_insert=True)
        except IntegrityError as exc:
            # Only the exclusion constraint can refuse the row here; the action fails.
            _raise_for_integrity(exc, pool.prefix)
            raise
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
    cached = cache.get(key)
    if cached is not None and cached + amount + limit * QUOTA_MARGIN <= limit:
        # Keep the cached count moving with the creations it lets through (deletions are
        # not subtracted: a count too high only brings the exact count sooner).
        with contextlib.suppress(ValueError):
            cache.incr(key, amount)
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
        subtree = _lock_subtree(locked, live_only=True)
    else:
        live_children = Pool.objects.live().filter(parent=locked).count()
        if live_children:
            noun = "child" if live_children == 1 else "children"
            raise Conflict(
                f"{describe_pool(locked)} has {live_children} live {noun}; delete them first "
                "or delete recursively.",
                fields={"recursive": ["Pass recursive=true to delete the whole subtree."]},
            )
        subtree = [locked]
    now = timezone.now()
    with operation("delete", actor=actor):
        for member in subtree:
            member.deleted_at = now
            member.save(update_fields=["deleted_at", "updated_at"])
    pool.deleted_at = now
    return len(subtree)


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

    batch = list(
        Pool.objects.select_for_update()
        .in_subtree(target.path)
        .filter(deleted_at=target.deleted_at)
        .exclude(pk=target.pk)
        .order_by("pk")
    )
    _check_quota(organization, 1 + len(batch))
    target.deleted_at = None
    target.separate_routing_domain = _separate_domain(organization, parent)
    try:
        with operation("restore", actor=actor), transaction.atomic():
            target.save(update_fields=["deleted_at", "separate_routing_domain", "updated_at"])
            for member in sorted(batch, key=lambda p: p.depth):
                member.deleted_at = None
                member.save(update_fields=["deleted_at", "updated_at"])
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
        count, _by_model = locked.delete()
    return count


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


@transaction.atomic
def pool_changes_apply(
    *,
    organization: Organization,
    actor: Actor,
    changes: Sequence[batch.PoolChange],
    details: Mapping[str, Any] | None = None,
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
    """
    errors = batch.check_changes(changes)
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
    for index, change in enumerate(changes):
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
            continue
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
            field_name = next(iter(exc.fields or {}), "")
            errors.append(batch.ChangeError(index, change.ref, exc.code, exc.message, field_name))
            causes[index] = exc
            failed.add(change.ref)
    if errors:
        raise ChangesRejected(errors, causes)
    return ChangesApplied(pools=pools, counts=counts)
