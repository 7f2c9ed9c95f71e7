"""Reconciliation of an organization's discovered resources with its pool plan (a service).

``resources_reconcile`` holds the live pools as plain values and reads the resources in
address order, a window at a time (``resource_windows``); it runs the pure engine of
:mod:`apps.discovery.reconcile` on each window against the pools that meet it, writes back
only the reconciliation fields that changed (JSON record sets, no signals: these are
computed fields, not anyone's edit), links pools to the resources with exactly their
block (audited ``link`` events on the pools), stamps and clears ``orphaned_at``, imports
new unmanaged resources as pools when the account asks for it (``auto_import``, through
``pool_changes_apply``), and stores the drift findings as they come.

The whole organization is reconciled even when one account's run triggers it: overlaps
and duplicates cross accounts (peered networks share a routing domain), and the engine
makes that cheap. A stable estate costs less still: when the digest of the pools,
resources, findings and settings (:mod:`apps.discovery.digest`) is the one a
reconciliation that wrote nothing left, nothing would change and nothing is read.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from auditlog import get_logentry_model
from django.db import connection, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, Q
from django.utils import timezone

from apps.analysis.selectors import analysis_settings
from apps.cloud.models import CloudAccount
from apps.discovery import reconcile as engine
from apps.discovery.choices import DriftStatus, ManagementState, ResourceState
from apps.discovery.digest import POOL_COLUMNS, RESOURCE_INPUT_COLUMNS, estate_digest
from apps.discovery.models import (
    DiscoveredResource,
    DriftFinding,
    ReconciliationState,
    SyncRun,
)
from apps.pools import changes as batch
from apps.pools.choices import PoolSource
from apps.pools.cidr import Prefix
from apps.pools.models import Pool
from apps.pools.signals import pools_bulk_changed
from apps.tenancy.models import Organization
from cloudpam.context import Actor, operation, system_actor
from cloudpam.db.bulk import update_rows
from cloudpam.exceptions import ApplicationError

logger = logging.getLogger(__name__)

CHUNK = 5_000
# Resources reconciled together, about: the estate is read in address order and cut where
# no resource spans the cut, so what a reconciliation holds does not grow with the estate.
WINDOW = 2_000
# Resources read a query when reading by address: no more than a window is held at once.
ADDRESS_CHUNK = 1_000
# Resources whose compliance and changed fields are worked out and written together.
WRITE_CHUNK = 2_000
# A full reconciliation at least this often, whatever the digest says: it brings in a
# change of the engine's or the rules' code.
FULL_EVERY = timedelta(days=1)
POOL_LABEL = "pools.pool"
# What a link's audit event needs of a pool (its object and repr) and the linked fields.
_LINK_READ = (
    "id",
    "organization_id",
    "cidr",
    "name",
    "cloud_resource",
    "cloud_account",
    "orphaned_at",
)
# Resource types whose addresses are public by design: PUBLIC_SPACE does not apply.
PUBLIC_TYPES = frozenset({"eip", "public_ip"})


@dataclass(frozen=True)
class Reconciled:
    """What one reconciliation did, for the run's summary and the tests."""

    resources: int = 0
    changed: int = 0
    linked: int = 0
    orphaned: int = 0
    imported: int = 0
    import_error: str = ""
    by_state: dict[str, int] = field(default_factory=dict)
    drift: dict[str, int] = field(default_factory=dict)
    # Seconds per phase (load and engine, resources written, links, drift), for benchmarks.
    timings: dict[str, float] = field(default_factory=dict)
    # Nothing changed since a reconciliation that wrote nothing: skipped.
    unchanged: bool = False


@dataclass(frozen=True, slots=True)
class ResourceRow:
    """A resource as loaded: the engine's input and the stored fields to compare."""

    item: engine.ResourceItem
    account_id: int
    resource_id: str
    name: str
    resource_type: str
    tags: dict[str, str]
    pool_id: int | None
    management_state: str
    overlap_status: str
    overlaps_with: Any
    compliance: Any
    reconciled: bool


@dataclass(frozen=True, slots=True)
class PoolRow:
    """A live pool as loaded."""

    item: engine.PoolItem
    name: str
    cloud_account_id: int | None
    orphaned: bool


def _chunks(queryset: Any, *fields: str) -> Iterator[tuple[Any, ...]]:
    """Yield the raw rows of ``queryset``'s ``fields`` in primary-key chunks (bounded memory).

    The ORM's statement, run on a plain cursor: the rows come as the driver reads them,
    without Django's per-value converters (JSON columns stay text, decoded only where
    needed), which cost more than the query on a 100,000-row estate.
    """
    last = 0
    while True:
        chunk = queryset.filter(pk__gt=last).order_by("pk").values_list(*fields)[:CHUNK]
        sql, params = chunk.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def _json(text: Any) -> Any:
    """Return a JSON column's value read as text (a driver may already have decoded it)."""
    return json.loads(text) if isinstance(text, str | bytes) else text


def _jsonb_text(value: Any) -> str:
    """Return ``value`` spelled as PostgreSQL prints a ``jsonb``: keys by length, then bytes.

    Only a fast path: a stored value that reads the same is unchanged without decoding it;
    one that reads differently (another database's spelling) is decoded and compared.
    """
    return json.dumps(_jsonb_order(value), ensure_ascii=False)


def _jsonb_order(value: Any) -> Any:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: (len(key.encode()), key.encode()))
        return {key: _jsonb_order(value[key]) for key in keys}
    if isinstance(value, list):
        return [_jsonb_order(item) for item in value]
    return value


def _same_json(stored: Any, value: Any) -> bool:
    """Return whether the stored JSON column (text as read) holds ``value``."""
    if isinstance(stored, str):
        # Most resources have no overlap and no finding: nothing to encode for those.
        if stored == "[]":
            return value == []
        if stored == _jsonb_text(value):
            return True
    return _json(stored) == value


def _prefix(family: int, first_key: str, length: int) -> Prefix:
    # Written through set_prefix, so a valid block: not validated again per row.
    return Prefix.trusted(family, int(first_key, 16), length)


def load_pools(organization: Organization) -> list[PoolRow]:
    """Return the organization's live pools with their routing domains."""
    rows = list(_chunks(Pool.objects.for_organization(organization).live(), *POOL_COLUMNS))
    steplen = Pool.steplen
    separate_roots = {row[5]: row[0] for row in rows if row[1] is None and row[6]}
    pools = []
    for (
        pk,
        parent_id,
        family,
        first_key,
        length,
        path,
        _,
        source,
        res,
        account,
        orphan,
        name,
    ) in rows:
        domain = separate_roots.get(path[:steplen], engine.DEFAULT_DOMAIN)
        pools.append(
            PoolRow(
                item=engine.PoolItem(
                    pk,
                    _prefix(family, first_key, length),
                    parent_id,
                    domain,
                    source,
                    linked_resource=res,
                    was_linked=res is not None or account is not None,
                ),
                name=name,
                cloud_account_id=account,
                orphaned=orphan is not None,
            )
        )
    return pools


_RESOURCE_FIELDS = (*RESOURCE_INPUT_COLUMNS, "reconciled")


def _resources(organization: Organization) -> Any:
    """Return the organization's resources (gone ones too: they release their links)."""
    # Whether it was ever reconciled, not the timestamp: parsing 100,000 of them costs.
    return DiscoveredResource.objects.for_organization(organization).annotate(
        reconciled=ExpressionWrapper(Q(reconciled_at__isnull=False), BooleanField())
    )


def load_resources(organization: Organization, *, where: Q | None = None) -> list[ResourceRow]:
    """Return the organization's resources (those matching ``where``), in id order."""
    queryset = _resources(organization)
    if where is not None:
        queryset = queryset.filter(where)
    return list(_resource_rows(_chunks(queryset, *_RESOURCE_FIELDS)))


def _address_rows(queryset: Any) -> Iterator[tuple[Any, ...]]:
    """Yield the raw rows of ``queryset`` in address order, streamed from one query.

    On PostgreSQL through a server-side cursor, ``ADDRESS_CHUNK`` rows a fetch (the
    reconciliation writes between fetches, inside its transaction). Elsewhere, and where
    server-side cursors are switched off (a transaction-pooling proxy), the rows are read
    whole first: SQLite gives undefined results to a read that the same connection
    writes under.
    """
    ordered = queryset.order_by("family", "first_key", "prefix_length", "pk")
    sql, params = ordered.values_list(*_RESOURCE_FIELDS).query.sql_with_params()
    streamed = connection.vendor == "postgresql" and not connection.settings_dict.get(
        "DISABLE_SERVER_SIDE_CURSORS"
    )
    with connection.chunked_cursor() if streamed else connection.cursor() as cursor:
        cursor.execute(sql, params)
        if not streamed:
            yield from cursor.fetchall()
            return
        while rows := cursor.fetchmany(ADDRESS_CHUNK):
            yield from rows


def resource_windows(organization: Organization, *, size: int = 0) -> Iterator[list[ResourceRow]]:
    """Yield the organization's resources in address order, in windows of about ``size``.

    A window is cut only where no resource of it reaches past the cut, so resources of two
    windows never overlap: each overlap, duplicate and link lies inside one window.
    """
    yield from windows_of(_resource_rows(_address_rows(_resources(organization))), size or WINDOW)


def windows_of(rows: Iterable[ResourceRow], size: int) -> Iterator[list[ResourceRow]]:
    """Cut ``rows`` (in address order) into windows of about ``size`` (see above)."""
    window: list[ResourceRow] = []
    family = reach = -1
    for row in rows:
        cidr = row.item.cidr
        if len(window) >= size and (cidr.family != family or cidr.first > reach):
            yield window
            window = []
        if cidr.family != family:
            family, reach = cidr.family, cidr.last
        else:
            reach = max(reach, cidr.last)
        window.append(row)
    if window:
        yield window


def _resource_rows(rows: Iterable[tuple[Any, ...]]) -> Iterator[ResourceRow]:
    """Yield ``ResourceRow``s of raw rows of ``_RESOURCE_FIELDS``."""
    # Networks, types, states and most stored JSON repeat across an estate: one string each,
    # not one per resource, keeps what a reconciliation holds small.
    shared: dict[Any, Any] = {}
    empty: dict[str, Any] = {}

    def share(value: Any, longest: int = 1_000) -> Any:
        if isinstance(value, str) and len(value) <= longest:
            return shared.setdefault(value, value)
        return value

    for (
        pk,
        family,
        first_key,
        length,
        network_id,
        state,
        management,
        account_id,
        resource_id,
        name,
        resource_type,
        tags,
        pool_id,
        overlap,
        overlaps_with,
        compliance,
        reconciled,
    ) in rows:
        yield ResourceRow(
            item=engine.ResourceItem(
                pk,
                _prefix(family, first_key, length),
                share(network_id),
                share(state),
                ignored=management == ManagementState.IGNORED,
            ),
            account_id=account_id,
            resource_id=resource_id,
            name=name,
            resource_type=share(resource_type),
            tags=empty if tags == "{}" else _tags(tags),
            pool_id=pool_id,
            management_state=share(management),
            overlap_status=share(overlap),
            overlaps_with=share(overlaps_with, 64),
            compliance=share(compliance, 64),
            reconciled=bool(reconciled),
        )


def _tags(text: Any) -> dict[str, Any]:
    tags = _json(text)
    return tags if isinstance(tags, dict) else {}


def _sides(sides: Iterable[engine.Overlap]) -> list[dict[str, Any]]:
    return [{"kind": side.kind, "id": side.id, "cidr": str(side.cidr)} for side in sides]


def _finding(finding: Any) -> dict[str, str]:
    return {
        "rule": finding.rule,
        "severity": finding.severity,
        "message": finding.message,
        "remediation": finding.remediation,
    }


@dataclass
class Computed:
    """The engine's outcome with the loaded rows, handed to the drift computation."""

    pools: list[PoolRow]
    resources: list[ResourceRow]
    result: engine.Reconciliation


def _write_resources(
    rows: list[ResourceRow],
    outcomes: Mapping[int, engine.ResourceOutcome],
    blocks: Mapping[int, Prefix],
    compliance_settings: Any,
    now: Any,
) -> tuple[int, Counter[str]]:
    """Write the changed reconciliation fields of ``rows``; return the count and states.

    A chunk of resources at a time (their compliance, the comparison, the rows to write):
    a resource's findings depend only on it and its pool.
    """
    reconciled = [row for row in rows if row.item.id in outcomes]
    # Plain rows (pk, *columns), not model instances: a first reconciliation writes them all.
    changed: list[tuple[Any, ...]] = []
    written = 0
    by_state: Counter[str] = Counter()
    for start in range(0, len(reconciled), WRITE_CHUNK):
        chunk = reconciled[start : start + WRITE_CHUNK]
        findings = engine.resource_compliance(
            (_facts(row, outcomes[row.item.id]) for row in chunk),
            blocks,
            settings=compliance_settings,
            now=now,
        )
        for row in chunk:
            outcome = outcomes[row.item.id]
            by_state[outcome.management_state] += 1
            overlaps_with = _sides(outcome.overlaps_with)
            compliance = [_finding(f) for f in findings.get(row.item.id, ())]
            if (
                not row.reconciled
                or outcome.pool != row.pool_id
                or outcome.management_state != row.management_state
                or outcome.overlap_status != row.overlap_status
                or not _same_json(row.overlaps_with, overlaps_with)
                or not _same_json(row.compliance, compliance)
            ):
                changed.append(
                    (
                        row.item.id,
                        outcome.pool,
                        outcome.management_state,
                        outcome.overlap_status,
                        overlaps_with,
                        compliance,
                        now,
                    )
                )
        if len(changed) >= WRITE_CHUNK:
            _update_resources(changed)
            written += len(changed)
            changed = []
    _update_resources(changed)
    return written + len(changed), by_state


def _facts(row: ResourceRow, outcome: engine.ResourceOutcome) -> engine.ResourceFacts:
    return engine.ResourceFacts(
        row.item.id,
        row.item.cidr,
        name=row.name,
        resource_type=row.resource_type,
        tags={k: v for k, v in row.tags.items() if isinstance(v, str)},
        pool=outcome.pool,
        public=row.resource_type in PUBLIC_TYPES,
    )


def _update_resources(rows: list[tuple[Any, ...]]) -> None:
    """Write the reconciliation fields of ``rows``, set-based."""
    update_rows(
        DiscoveredResource,
        [
            ("pool_id", "bigint"),
            ("management_state", "text"),
            ("overlap_status", "text"),
            ("overlaps_with", "jsonb"),
            ("compliance", "jsonb"),
            ("reconciled_at", "timestamptz"),
        ],
        rows,
    )


def _write_links(
    pools: list[PoolRow],
    outcomes: Mapping[int, engine.PoolOutcome],
    account_of: Mapping[int, int],
    actor: Actor,
    now: Any,
) -> tuple[int, int, int]:
    """Link, relink and orphan pools as the engine decided; one ``link`` event per pool.

    Set-based: the changed pools are read once per batch, written with one ``UPDATE`` and
    their events recorded together through the audit service's bulk writer (each the
    event ``save(update_fields=...)`` would have recorded), so a first reconciliation
    that links 100,000 pools costs a few statements per thousand, not one save each.
    ``account_of`` maps each linked resource to its account. Returns the pools linked,
    orphaned and written.
    """
    wanted: dict[int, tuple[int | None, int | None, bool]] = {}
    for row in pools:
        outcome = outcomes[row.item.id]
        account = account_of.get(outcome.linked_resource) if outcome.linked_resource else None
        if account is None:
            account = row.cloud_account_id
        current = (row.item.linked_resource, row.cloud_account_id, row.orphaned)
        target = (outcome.linked_resource, account, outcome.orphaned)
        if current != target:
            wanted[row.item.id] = target
    if not wanted:
        return 0, 0, 0
    logs = get_logentry_model().objects
    linked = orphaned = written = 0
    ids = sorted(wanted)
    organization_id = None
    for start in range(0, len(ids), CHUNK):
        pools = Pool.objects.filter(pk__in=ids[start : start + CHUNK]).only(*_LINK_READ)
        entries = []
        updates = []
        for pool in pools.order_by("pk"):
            resource_id, account_id, is_orphaned = wanted[pool.pk]
            if resource_id != pool.cloud_resource_id and not is_orphaned:
                linked += 1
            if is_orphaned and pool.orphaned_at is None:
                orphaned += 1
            before = {
                "cloud_resource": pool.cloud_resource_id,
                "cloud_account": pool.cloud_account_id,
                "orphaned_at": pool.orphaned_at,
            }
            after = {
                "cloud_resource": resource_id,
                "cloud_account": account_id,
                "orphaned_at": (pool.orphaned_at or now) if is_orphaned else None,
            }
            if before == after:
                continue
            updates.append((pool.pk, resource_id, account_id, after["orphaned_at"], now))
            entries.append((pool, before, after))
            organization_id = pool.organization_id
        update_rows(
            Pool,
            [
                ("cloud_resource_id", "bigint"),
                ("cloud_account_id", "bigint"),
                ("orphaned_at", "timestamptz"),
                ("updated_at", "timestamptz"),
            ],
            updates,
        )
        written += len(updates)
        # No target: every update recorded in the block is a ``link``.
        with operation("link", actor=actor):
            # Written, not returned: no event instance for each of 100,000 pools.
            logs.log_update_many(entries, return_events=False)
    if organization_id is not None:
        pools_bulk_changed.send(sender=Pool, organization_id=organization_id)
    return linked, orphaned, written


def _import_candidates(
    rows: list[ResourceRow], outcomes: Mapping[int, engine.ResourceOutcome], accounts: set[int]
) -> Iterator[tuple[ResourceRow, int | None]]:
    """Yield the new unmanaged resources of ``accounts`` that fit cleanly, with their pool.

    A resource fits cleanly when it lies strictly inside its narrowest pool, overlaps
    nothing and duplicates nothing.
    """
    for row in rows:
        outcome = outcomes.get(row.item.id)
        if (
            outcome is None
            or row.reconciled
            or row.account_id not in accounts
            or row.item.state != ResourceState.PRESENT
            or outcome.management_state != ManagementState.UNMANAGED
            or outcome.overlapping
            or outcome.duplicates
            or outcome.exact_pool is not None
        ):
            continue
        yield row, outcome.pool


def _import_changes(candidates: list[tuple[ResourceRow, int | None]]) -> list[batch.PoolChange]:
    """Return the creates that import ``candidates``, largest first.

    A resource inside another one imported by the same batch goes under that one's new
    pool. Of several resources with one block, the first is imported (the pool then links
    one of them).
    """
    pool_of = {row.item.id: pool for row, pool in candidates}
    candidates = [row for row, _ in candidates]
    candidates.sort(key=lambda row: (row.item.cidr.family, row.item.cidr.first, row.item.cidr))
    changes: list[batch.PoolCreate] = []
    stack: list[tuple[Prefix, str]] = []
    seen: set[Prefix] = set()
    for row in candidates:
        cidr = row.item.cidr
        if cidr in seen:
            continue
        seen.add(cidr)
        while stack and (stack[-1][0].family != cidr.family or stack[-1][0].last < cidr.first):
            stack.pop()
        parent: int | str | None = stack[-1][1] if stack else pool_of[row.item.id]
        ref = f"resource-{row.item.id}"
        changes.append(
            batch.PoolCreate(
                ref=ref,
                name=(row.name or row.resource_id)[:255],
                cidr=str(cidr),
                parent=parent,
                type=engine.pool_type_of(row.resource_type),
                source=PoolSource.DISCOVERED,
                description=f"Imported from {row.resource_type} {row.resource_id}"[:1000],
            )
        )
        stack.append((cidr, ref))
    # Parents before children: larger blocks first, then address order.
    changes.sort(key=_length)
    return list(changes)


def _length(change: batch.PoolCreate) -> int:
    return int(str(change.cidr).rpartition("/")[2])


def _auto_import(
    organization: Organization,
    pools: list[PoolRow],
    actor: Actor,
    account: CloudAccount | None,
) -> tuple[int, str]:
    """Import what the auto-importing accounts found; return the count and any error."""
    accounts = CloudAccount.objects.for_organization(organization).filter(auto_import=True)
    if account is not None:
        accounts = accounts.filter(pk=account.pk)
    wanted = set(accounts.values_list("pk", flat=True))
    # Only resources never reconciled are imported: without one, no pass is needed.
    if not wanted or not (
        DiscoveredResource.objects.for_organization(organization)
        .filter(account__in=wanted, reconciled_at__isnull=True, state=ResourceState.PRESENT)
        .exists()
    ):
        return 0, ""
    windowed = WindowedReconciliation(pools)
    candidates = []
    for window in resource_windows(organization):
        outcomes = windowed.reconcile(window).resources
        candidates.extend(_import_candidates(window, outcomes, wanted))
    changes = _import_changes(candidates)
    if not changes:
        return 0, ""
    from apps.pools.services import pool_changes_apply

    try:
        with transaction.atomic():
            applied = pool_changes_apply(
                organization=organization,
                actor=actor,
                changes=changes,
                details={"auto_import": True},
            )
    except ApplicationError as exc:
        # The import is a convenience: the resources stay unmanaged and drift says so.
        logger.warning("auto import skipped: %s", exc.code)
        return 0, exc.message
    return len(applied.pools), ""


class _PoolSweep:
    """The live pools that meet each window of resources, the windows coming in address order.

    A pool meets a window when its block shares an address with the window's span: the
    pools a resource lies in, the pools it contains and their ancestors all do, so the
    engine run on the window and these pools decides as it would on everything.
    """

    def __init__(self, pools: list[PoolRow]) -> None:
        self.pools = sorted(pools, key=lambda row: row.item.cidr)
        self.next = 0
        # Pools that start before the current span and may reach into it.
        self.started: list[PoolRow] = []
        self.met: set[int] = set()

    def meeting(self, family: int, first: int, last: int) -> list[PoolRow]:
        pools = self.pools
        while self.next < len(pools) and (
            pools[self.next].item.cidr.family,
            pools[self.next].item.cidr.first,
        ) < (family, first):
            self.started.append(pools[self.next])
            self.next += 1
        self.started = [
            row
            for row in self.started
            if row.item.cidr.family == family and row.item.cidr.last >= first
        ]
        found = list(self.started)
        index = self.next
        while index < len(pools) and (
            pools[index].item.cidr.family,
            pools[index].item.cidr.first,
        ) <= (family, last):
            found.append(pools[index])
            index += 1
        self.met.update(row.item.id for row in found)
        return found

    def window_pools(self, window: list[ResourceRow]) -> list[PoolRow]:
        """Return the pools that meet ``window`` (address ordered), each family's span apart."""
        spans: dict[int, list[int]] = {}
        for row in window:
            cidr = row.item.cidr
            span = spans.get(cidr.family)
            if span is None:
                spans[cidr.family] = [cidr.first, cidr.last]
            elif cidr.last > span[1]:
                span[1] = cidr.last
        found: list[PoolRow] = []
        for family in sorted(spans):
            found.extend(self.meeting(family, *spans[family]))
        return found

    def unmet(self) -> list[PoolRow]:
        """Return the pools no window met (no resource shares an address with them)."""
        return [row for row in self.pools if row.item.id not in self.met]


class WindowedReconciliation:
    """The engine run window by window over one plan, the pools' outcomes gathered.

    Each window is reconciled against the pools that meet it (``_PoolSweep``); a pool met
    by several windows keeps the outcome of the one holding a resource with exactly its
    block (every other window says the same: unlinked, or orphaned if it was linked), and
    a pool no window met is reconciled against no resource at the end.
    """

    def __init__(self, pools: list[PoolRow]) -> None:
        self.sweep = _PoolSweep(pools)
        self.pools: dict[int, engine.PoolOutcome] = {}
        # The account of each linked resource, for the pool's ``cloud_account``.
        self.account_of: dict[int, int] = {}

    def reconcile(self, window: list[ResourceRow]) -> engine.Reconciliation:
        pools = self.sweep.window_pools(window)
        result = engine.reconcile((row.item for row in pools), (row.item for row in window))
        accounts = {row.item.id: row.account_id for row in window}
        for pool_id, outcome in result.pools.items():
            known = self.pools.get(pool_id)
            if known is None or (
                outcome.linked_resource is not None
                and not outcome.orphaned
                and (known.orphaned or known.linked_resource is None)
            ):
                self.pools[pool_id] = outcome
                if outcome.linked_resource in accounts:
                    self.account_of[outcome.linked_resource] = accounts[outcome.linked_resource]
        return result

    def finish(self) -> dict[int, engine.PoolOutcome]:
        """Return every pool's outcome, the pools no window met included."""
        unmet = self.sweep.unmet()
        if unmet:
            self.pools.update(engine.reconcile((row.item for row in unmet), ()).pools)
        return self.pools


def resources_reconcile(
    *,
    organization: Organization,
    account: CloudAccount | None = None,
    run: SyncRun | None = None,
    actor: Actor | None = None,
) -> Reconciled:
    """Reconcile every resource of the organization with its live pools, and recompute drift.

    ``account`` (the account whose run triggered it) limits the auto-import to that
    account; everything else is organization-wide. ``run`` names the run in the log.
    ``actor`` defaults to the system's ``reconciliation`` (a sync run acts on its own).
    Idempotent: a second call with nothing changed writes nothing, and stores the estate's
    digest; a call after it that finds the same digest returns at once (``unchanged``).

    The pools are held whole; the resources are read in address order, a window at a
    time (``resource_windows``), each reconciled, written and turned into findings before
    the next is read, so memory follows the plan and a window, not the estate.
    """
    from apps.discovery import drift as drift_service

    actor = actor or system_actor("reconciliation")
    now = timezone.now()
    with transaction.atomic():
        # One reconciliation per organization at a time (two accounts' runs may finish
        # together): each reads what the previous one wrote.
        locked = Organization.objects.select_for_update().filter(pk=organization.pk).first()
        clock = time.perf_counter()
        timings: dict[str, float] = {}

        def lap(name: str) -> None:
            nonlocal clock
            timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - clock, 3)
            clock = time.perf_counter()

        # The settings as this transaction sees them, for the digest and the rules alike.
        if locked is not None:
            organization.settings = locked.settings
        compliance_settings = analysis_settings(organization=organization).compliance
        digest = estate_digest(organization)
        state = ReconciliationState.objects.for_organization(organization).first()
        lap("digest")
        if state is not None and state.digest == digest and now - state.verified_at < FULL_EVERY:
            unchanged = _unchanged(organization, timings)
            logger.info(
                "reconciled",
                extra={"run": run.pk if run is not None else None, "changed": 0, "skipped": True},
            )
            return unchanged
        pools = load_pools(organization)
        imported, import_error = _auto_import(organization, pools, actor, account)
        if imported:
            pools = load_pools(organization)
        lap("compute")
        blocks = {row.item.id: row.item.cidr for row in pools}
        windowed = WindowedReconciliation(pools)
        tally = {"resources": 0, "changed": 0, "linked": 0, "orphaned": 0, "pools": 0}
        by_state: Counter[str] = Counter()

        def findings() -> Iterator[dict[str, Any]]:
            # Drives the sweep: the drift writer pulls each window's findings in turn.
            for window in resource_windows(organization):
                result = windowed.reconcile(window)
                lap("compute")
                changed, states = _write_resources(
                    window, result.resources, blocks, compliance_settings, now
                )
                tally["resources"] += len(result.resources)
                tally["changed"] += changed
                by_state.update(states)
                lap("resources")
                yield from drift_service.resource_findings(window, result.resources)
                lap("drift")
            pool_outcomes = windowed.finish()
            lap("compute")
            tally["linked"], tally["orphaned"], tally["pools"] = _write_links(
                pools, pool_outcomes, windowed.account_of, actor, now
            )
            lap("links")
            yield from drift_service.pool_findings(
                Computed(
                    pools=pools,
                    resources=_orphans_resources(organization, pool_outcomes),
                    result=engine.Reconciliation(resources={}, pools=pool_outcomes),
                )
            )

        drift, findings_written = drift_service.drift_store(
            organization=organization, findings=findings(), now=now
        )
        lap("drift")
        if imported or tally["changed"] or tally["pools"] or findings_written:
            _invalidate_analysis(organization)
            # What was written is not in the digest read before: the next reconciliation
            # verifies it (another writer may have committed meanwhile, and a digest read
            # now would take that in unreconciled).
            ReconciliationState.objects.for_organization(organization).delete()
        else:
            ReconciliationState.objects.bulk_create(
                [ReconciliationState(organization=organization, digest=digest, verified_at=now)],
                update_conflicts=True,
                unique_fields=["organization"],
                update_fields=["digest", "verified_at"],
            )
    logger.info(
        "reconciled",
        extra={
            "run": run.pk if run is not None else None,
            "changed": tally["changed"],
            "drift": drift,
        },
    )
    return Reconciled(
        resources=tally["resources"],
        changed=tally["changed"],
        linked=tally["linked"],
        orphaned=tally["orphaned"],
        imported=imported,
        import_error=import_error,
        by_state=dict(by_state),
        drift=drift,
        timings=timings,
    )


def _unchanged(organization: Organization, timings: dict[str, float]) -> Reconciled:
    """Return what a reconciliation of an unchanged estate reports, read from the tables.

    The state stored is that of a reconciliation that wrote nothing: the resources hold
    their outcomes and the findings are open or ignored.
    """
    # Gone resources get no outcome: they only release their links.
    resources = (
        DiscoveredResource.objects.for_organization(organization)
        .exclude(state=ResourceState.GONE)
        .order_by()
    )
    by_state = dict(
        resources.values_list("management_state").annotate(count=Count("pk")).order_by()
    )
    drift = dict(
        DriftFinding.objects.for_organization(organization)
        .exclude(status=DriftStatus.IGNORED)
        .values_list("kind")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return Reconciled(
        resources=sum(by_state.values()),
        by_state=by_state,
        drift=drift,
        timings=timings,
        unchanged=True,
    )


def _orphans_resources(
    organization: Organization, outcomes: Mapping[int, engine.PoolOutcome]
) -> list[ResourceRow]:
    """Return what the orphaned pools' findings read: their resources and any successors.

    A successor is a present resource of the same account and id with another block (its
    CIDR changed). Few pools are orphaned at a time; they are read by id, not with the
    estate.
    """
    ids = sorted(
        {
            outcome.linked_resource
            for outcome in outcomes.values()
            if outcome.orphaned and outcome.linked_resource is not None
        }
    )
    was: list[ResourceRow] = []
    for start in range(0, len(ids), CHUNK):
        was.extend(load_resources(organization, where=Q(pk__in=ids[start : start + CHUNK])))
    found = {row.item.id: row for row in was}
    keys = sorted({(row.account_id, row.resource_id) for row in was})
    for start in range(0, len(keys), CHUNK):
        part = set(keys[start : start + CHUNK])
        where = Q(resource_id__in={key[1] for key in part}, account_id__in={key[0] for key in part})
        for row in load_resources(organization, where=where & Q(state=ResourceState.PRESENT)):
            if (row.account_id, row.resource_id) in part:
                found.setdefault(row.item.id, row)
    return list(found.values())


def _invalidate_analysis(organization: Organization) -> None:
    """Drop the organization's cached analyses: discovered use may have changed."""
    from apps.analysis.cache import bump_organization_version

    transaction.on_commit(lambda: bump_organization_version(organization.pk))
