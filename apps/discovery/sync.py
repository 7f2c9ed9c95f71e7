"""Sync runs: store what a collection found, incrementally, and converge after any fault.

``sync_run_start`` queues a run for an account (409 ``conflict`` while another is queued or
running, 429 ``quota_exceeded`` past ``max_sync_runs_per_day``); the Celery task calls
``sync_run_execute``, which streams the collector's records (or an agent batch's) through
``RunWriter``:

* records are written in batches of ``BATCH_SIZE``: the existing rows of a batch's keys
  are loaded in one query, new rows are inserted with one ``bulk_create``, rows whose
  fingerprint (a hash of the record's content) changed are rewritten with one
  ``bulk_update``; unchanged rows are only remembered by id;
* when a region has been read to the end, its unchanged rows get ``last_seen_run`` and
  ``last_seen_at`` in one ``UPDATE`` (chunked only past ``BUMP_CHUNK`` ids), and its rows
  the collection did not see become ``missing``; missing rows past the account's grace
  period (``missing_grace_runs`` complete collections and ``missing_grace_minutes``)
  become ``gone``. A failed region marks nothing.
* a missing or gone row seen again is ``present`` again and counted as ``changed``.

Convergence: the unique constraint on ``(account, resource_id, cidr)`` and the load-then-
write of each batch mean a run repeated after any fault (worker killed, region failed)
writes each resource once and ends in the same state. A run is executed once: the task
takes it from ``queued`` to ``running`` with a conditional update, so a redelivered task
finds it running and leaves it to the reaper (``sync_runs_reap``), which fails it after
``REAP_AFTER`` without progress; the next run converges.

Agent batches (``ingest_batches_consume``) go through the same writer, one run each;
batches of one collection share its start (``collection_started_at``), so a region
completed in a later batch counts the rows earlier batches saw as seen.
"""

from __future__ import annotations

import hashlib
import json
import logging
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.choices import AuditAction
from apps.cloud import services as cloud_services
from apps.cloud.models import CloudAccount
from apps.discovery.choices import (
    ACTIVE_SYNC_STATUSES,
    ResourceState,
    SyncStatus,
    SyncTrigger,
)
from apps.discovery.collectors.base import DiscoveredRecord, ProviderError, RegionOutcome
from apps.discovery.models import Agent, DiscoveredResource, IngestBatch, SyncRun
from apps.pools import cidr as cidr_engine
from apps.tenancy.models import Organization
from apps.tenancy.quotas import quota_check
from cloudpam.context import Actor, actor_from, operation
from cloudpam.exceptions import ApplicationError, Conflict

logger = logging.getLogger("apps.discovery.sync")

BATCH_SIZE = 1000
BUMP_CHUNK = 30_000
REAP_AFTER = timedelta(minutes=10)
WORKER_LOST = "worker lost"
# The fields a record sets; rewritten when its fingerprint changes.
RECORD_FIELDS = [
    "provider",
    "resource_type",
    "name",
    "region",
    "network_id",
    "parent_resource_id",
    "account_external_id",
    "provider_state",
    "tags",
    "attributes",
    "fingerprint",
]
CHANGED_FIELDS = [
    *RECORD_FIELDS,
    "state",
    "last_seen_at",
    "last_seen_run",
    "missing_runs",
    "missing_since",
    "gone_at",
    "updated_at",
]


class RunCancelled(Exception):
    """The run was cancelled (or failed by the reaper) while it was being written."""


def fingerprint_of(found: DiscoveredRecord) -> str:
    """Return the SHA-256 of the record's content: equal content, equal fingerprint."""
    data = json.dumps(found.as_dict(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def record_from_dict(data: dict[str, Any]) -> DiscoveredRecord:
    """Return the record of an agent batch's wire form."""
    return DiscoveredRecord(
        provider=data["provider"],
        resource_type=data["resource_type"],
        resource_id=data["resource_id"],
        cidr=data["cidr"],
        name=data.get("name", ""),
        region=data.get("region", ""),
        network_id=data.get("network_id", ""),
        parent_resource_id=data.get("parent_resource_id", ""),
        account_external_id=data.get("account_external_id", ""),
        state=data.get("state", ""),
        tags=data.get("tags") or {},
        attributes=data.get("attributes") or {},
    )


def _run_actor(run: SyncRun) -> Actor:
    if run.trigger == SyncTrigger.AGENT and run.agent_id is not None:
        return actor_from(system=f"agent:{run.agent_id}")
    return actor_from(user=run.created_by, system="discovery.sync")


# Starting a run


def _day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def sync_runs_today(*, organization: Organization) -> int:
    """Return how many sync runs the organization started since midnight UTC."""
    return SyncRun.objects.filter(
        organization=organization, created_at__gte=_day_start(timezone.now())
    ).count()


def _active_conflict(account: CloudAccount) -> None:
    active = (
        SyncRun.objects.filter(account=account, status__in=ACTIVE_SYNC_STATUSES)
        .order_by("pk")
        .first()
    )
    if active is not None:
        raise Conflict(
            f"Sync run {active.pk} of this account is {active.status}; wait for it to finish."
        )


def _create_run(
    *, account: CloudAccount, actor: Actor, check_quota: bool = True, **fields: Any
) -> SyncRun:
    """Create a queued run of ``account`` under its row lock (one active run, the quota).

    Agent batches are not counted against ``max_sync_runs_per_day``: they are stored
    already, and refusing to consume them would only delay what the agent reported.
    """
    CloudAccount.objects.select_for_update().filter(pk=account.pk).first()
    _active_conflict(account)
    if check_quota:
        organization = Organization.objects.get(pk=account.organization_id)
        quota_check(
            organization=organization,
            name="max_sync_runs_per_day",
            used=sync_runs_today(organization=organization),
        )
    try:
        with transaction.atomic(), operation("create", actor=actor):
            return SyncRun.objects.create(
                organization_id=account.organization_id,
                account=account,
                created_by_id=actor.user_id,
                status=SyncStatus.QUEUED,
                progress_message="Queued.",
                heartbeat_at=timezone.now(),
                **fields,
            )
    except IntegrityError:
        # Another request queued one between the check and the insert.
        _active_conflict(account)
        raise


@transaction.atomic
def sync_run_start(
    *, account: CloudAccount, actor: Actor, trigger: str = SyncTrigger.MANUAL
) -> SyncRun:
    """Queue a sync run of ``account`` and enqueue its task once the transaction commits."""
    cloud_services.account_collection_check(account=account)
    run = _create_run(account=account, actor=actor, trigger=trigger)
    transaction.on_commit(lambda: _enqueue(run))
    return run


def _enqueue(run: SyncRun) -> None:
    from apps.discovery import tasks

    result = tasks.sync_run_execute.delay(run_id=run.pk, organization_id=run.organization_id)
    SyncRun.objects.filter(pk=run.pk, task_id="").update(task_id=str(result.id or "")[:64])


@transaction.atomic
def sync_run_cancel(*, run: SyncRun, actor: Actor) -> SyncRun:
    """Cancel a queued or running run; the engine stops at its next batch (409 if finished)."""
    run = SyncRun.objects.select_for_update().get(pk=run.pk)
    if not run.is_active:
        raise Conflict(f"Sync run {run.pk} is already {run.status}.")
    run.status = SyncStatus.CANCELLED
    run.finished_at = timezone.now()
    run.progress_message = "Cancelled."
    with operation(AuditAction.SYNC, actor=actor, details={"cancelled": True}):
        run.save()
    return run


# Writing a collection


@dataclass
class Counts:
    """The effect of a run on the stored estate."""

    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    missing: int = 0
    gone: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "seen": self.seen,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "missing": self.missing,
            "gone": self.gone,
        }


@dataclass
class RunWriter:
    """Write one run's records in batches and close its regions (see the module docstring)."""

    run: SyncRun
    account: CloudAccount
    seen_since: datetime
    now: datetime = field(default_factory=timezone.now)
    counts: Counts = field(default_factory=Counts)
    by_type: Counter[tuple[str, str]] = field(default_factory=Counter)
    _buffer: dict[tuple[str, str], tuple[DiscoveredRecord, str]] = field(default_factory=dict)
    _unchanged: dict[str, array] = field(default_factory=dict)

    def add(self, found: DiscoveredRecord) -> None:
        """Take one record; write the buffer when it is full."""
        self.counts.seen += 1
        self.by_type[(found.resource_type, found.region)] += 1
        self._buffer[(found.resource_id, found.cidr)] = (found, fingerprint_of(found))
        if len(self._buffer) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records: insert the new, rewrite the changed, note the rest."""
        if not self._buffer:
            return
        buffered = self._buffer
        self._buffer = {}
        ids = {resource_id for resource_id, _cidr in buffered}
        existing = {
            (row.resource_id, row.cidr): row
            for row in DiscoveredResource.objects.filter(
                account=self.account, resource_id__in=ids
            ).only("id", "resource_id", "cidr", "fingerprint", "state", "last_seen_run_id")
        }
        new_rows: list[DiscoveredResource] = []
        changed_rows: list[DiscoveredResource] = []
        for key, (found, fingerprint) in buffered.items():
            row = existing.get(key)
            if row is None:
                new_rows.append(self._new_row(found, fingerprint))
            elif row.fingerprint != fingerprint or row.state != ResourceState.PRESENT:
                self._fill(row, found, fingerprint)
                changed_rows.append(row)
            elif row.last_seen_run_id != self.run.pk:
                self._unchanged.setdefault(found.region, array("q")).append(row.pk)
        with transaction.atomic():
            if new_rows:
                DiscoveredResource.objects.bulk_create(new_rows, batch_size=BATCH_SIZE)
            if changed_rows:
                DiscoveredResource.objects.bulk_update(
                    changed_rows, CHANGED_FIELDS, batch_size=BATCH_SIZE
                )
        self.counts.new += len(new_rows)
        self.counts.changed += len(changed_rows)

    def _new_row(self, found: DiscoveredRecord, fingerprint: str) -> DiscoveredResource:
        row = DiscoveredResource(
            organization_id=self.account.organization_id,
            account=self.account,
            resource_id=found.resource_id,
            first_seen_at=self.now,
            created_at=self.now,
        )
        row.set_prefix(cidr_engine.parse_prefix(found.cidr))
        self._fill(row, found, fingerprint)
        return row

    def _fill(self, row: DiscoveredResource, found: DiscoveredRecord, fingerprint: str) -> None:
        row.provider = found.provider
        row.resource_type = found.resource_type
        row.name = found.name[:255]
        row.region = found.region
        row.network_id = found.network_id
        row.parent_resource_id = found.parent_resource_id
        row.account_external_id = found.account_external_id
        row.provider_state = found.state[:64]
        row.tags = dict(found.tags)
        row.attributes = dict(found.attributes)
        row.fingerprint = fingerprint
        row.state = ResourceState.PRESENT
        row.last_seen_at = self.now
        row.last_seen_run = self.run
        row.missing_runs = 0
        row.missing_since = None
        row.gone_at = None
        row.updated_at = self.now

    def close_region(self, outcome: RegionOutcome) -> None:
        """Bump the region's unchanged rows; if it was read to the end, mark the unseen."""
        self.flush()
        ids = self._unchanged.pop(outcome.region, None)
        if ids:
            self.counts.unchanged += len(ids)
            for start in range(0, len(ids), BUMP_CHUNK):
                DiscoveredResource.objects.filter(pk__in=ids[start : start + BUMP_CHUNK]).update(
                    last_seen_run=self.run, last_seen_at=self.now
                )
        if not outcome.ok:
            return
        self._mark_unseen(outcome.region)

    def _mark_unseen(self, region: str) -> None:
        unseen = DiscoveredResource.objects.filter(
            account=self.account,
            region=region,
            last_seen_at__lt=self.seen_since,
            state__in=(ResourceState.PRESENT, ResourceState.MISSING),
        )
        if not unseen.exists():
            # The common case (nothing disappeared): one read, no write.
            return
        with transaction.atomic():
            # Rows already missing count one more complete collection without them...
            unseen.filter(state=ResourceState.MISSING).update(
                missing_runs=F("missing_runs") + 1, updated_at=self.now
            )
            # ... and present rows not seen become missing.
            self.counts.missing += unseen.filter(state=ResourceState.PRESENT).update(
                state=ResourceState.MISSING,
                missing_runs=1,
                missing_since=self.now,
                updated_at=self.now,
            )
            grace = timedelta(minutes=self.account.missing_grace_minutes)
            self.counts.gone += unseen.filter(
                state=ResourceState.MISSING,
                missing_runs__gte=self.account.missing_grace_runs,
                missing_since__lte=self.now - grace,
            ).update(state=ResourceState.GONE, gone_at=self.now, updated_at=self.now)

    def finish(self, outcomes: Iterable[RegionOutcome]) -> None:
        """Close every region not closed yet (the unchanged rows of unknown regions too)."""
        self.flush()
        for outcome in outcomes:
            self.close_region(outcome)
        for region in list(self._unchanged):
            self.close_region(RegionOutcome(region, False, 0))


def _progress(run: SyncRun, percent: int, message: str) -> None:
    """Record progress and the heartbeat; raise RunCancelled when the run is no longer ours."""
    updated = SyncRun.objects.filter(pk=run.pk, status=SyncStatus.RUNNING).update(
        progress_percent=max(0, min(percent, 99)),
        progress_message=message[:255],
        heartbeat_at=timezone.now(),
    )
    if not updated:
        raise RunCancelled


def _claim(run: SyncRun) -> bool:
    """Take a queued run for this worker; False when another has it or it has finished."""
    now = timezone.now()
    return bool(
        SyncRun.objects.filter(pk=run.pk, status=SyncStatus.QUEUED).update(
            status=SyncStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            progress_percent=1,
            progress_message="Started.",
        )
    )


@dataclass
class _Source:
    """Where a run's records come from: a stream, and its region outcomes as they end."""

    records: Iterator[DiscoveredRecord]
    outcomes: list[RegionOutcome]
    expected_regions: int
    # Only these regions may be closed by this run (agent batches close a region once).
    closable: set[str] | None = None
    # Outcomes known up front (an agent batch's), closed once every record is in.
    tail: list[RegionOutcome] = field(default_factory=list)

    @property
    def all_outcomes(self) -> list[RegionOutcome]:
        return [*self.outcomes, *self.tail]


def _collector_source(run: SyncRun, account: CloudAccount) -> _Source:
    collection = cloud_services.account_collection_open(account=account)
    expected = len(account.regions) or len((account.last_collection or {}).get("regions") or [])
    return _Source(iter(collection), collection.outcomes, expected)


def sync_run_execute(*, run: SyncRun) -> SyncRun:
    """Carry out a queued run: stream the records, write them, close regions, audit.

    Not atomic on purpose: progress is visible while the run is under way, and each batch
    is committed so that a killed worker loses at most the batch it was writing.
    """
    run = SyncRun.objects.select_related("account", "batch", "agent").get(pk=run.pk)
    if not _claim(run):
        return SyncRun.objects.get(pk=run.pk)
    run.refresh_from_db()
    account = run.account
    if account is None:
        return _finish(run, SyncStatus.FAILED, error="The account was deleted.")
    if run.batch_id is None:
        SyncRun.objects.filter(pk=run.pk).update(collection_started_at=run.started_at)
        run.collection_started_at = run.started_at
    try:
        source = _batch_source(run) if run.batch_id is not None else _collector_source(run, account)
    except ProviderError as error:
        cloud_services.account_collection_failed(
            account=account, code=error.code, message=error.message
        )
        return _finish(run, SyncStatus.FAILED, error=f"{error.code}: {error.message}")
    except ApplicationError as error:
        return _finish(run, SyncStatus.FAILED, error=error.message)
    writer = RunWriter(
        run=run, account=account, seen_since=run.collection_started_at or run.started_at
    )
    try:
        _write(run, writer, source)
    except RunCancelled:
        run.refresh_from_db()
        return run
    except Exception as error:
        logger.exception("Sync run %s failed", run.pk)
        return _finish(
            run, SyncStatus.FAILED, error=f"{type(error).__name__}", counts=writer.counts
        )
    outcomes = [outcome.as_dict() for outcome in source.all_outcomes]
    failed = [outcome for outcome in source.all_outcomes if not outcome.ok]
    if failed and len(failed) == len(outcomes):
        status = SyncStatus.FAILED
    elif failed:
        status = SyncStatus.PARTIAL
    else:
        status = SyncStatus.COMPLETED
    error = "; ".join(f"{o.region}: {o.error_code}" for o in failed)
    run = _finish(run, status, error=error, counts=writer.counts, regions=outcomes)
    if run.batch_id is None:
        summary = cloud_services.CollectionSummary.of(counts=writer.by_type, regions=outcomes)
        cloud_services.account_collection_record(
            account=account, summary=summary, actor=_run_actor(run)
        )
    _after_run(run)
    return run


def _write(run: SyncRun, writer: RunWriter, source: _Source) -> None:
    closed = 0
    _progress(run, 2, "Collecting.")
    for found in source.records:
        if len(source.outcomes) > closed:
            # The stream has moved on: the regions that ended are complete in the buffer.
            for outcome in source.outcomes[closed:]:
                _close(writer, outcome, source)
            closed = len(source.outcomes)
            _report(run, writer, closed, source)
        writer.add(found)
        if not writer._buffer:
            _report(run, writer, closed, source)
    writer.flush()
    for outcome in [*source.outcomes[closed:], *source.tail]:
        _close(writer, outcome, source)
    writer.finish([])


def _close(writer: RunWriter, outcome: RegionOutcome, source: _Source) -> None:
    if source.closable is not None and outcome.region not in source.closable:
        # Closed by an earlier batch of the same collection: only bump what this one saw.
        outcome = RegionOutcome(outcome.region, False, outcome.records)
    writer.close_region(outcome)


def _report(run: SyncRun, writer: RunWriter, closed: int, source: _Source) -> None:
    expected = source.expected_regions
    if expected:
        percent = 5 + closed * 90 // max(expected, closed + 1)
    else:
        percent = 5 + 90 * closed // (closed + 2)
    _progress(
        run,
        percent,
        f"{writer.counts.seen:,} record(s) read, {closed} region(s) done.",
    )


def _finish(
    run: SyncRun,
    status: str,
    *,
    error: str = "",
    counts: Counts | None = None,
    regions: list[dict[str, Any]] | None = None,
) -> SyncRun:
    """Record the end of the run with its ``sync`` audit event (unless it was cancelled)."""
    with transaction.atomic():
        locked = SyncRun.objects.select_for_update().get(pk=run.pk)
        if not locked.is_active:
            return locked
        locked.status = status
        locked.finished_at = timezone.now()
        locked.heartbeat_at = locked.finished_at
        locked.error = error[:2000]
        locked.progress_percent = 100
        locked.progress_message = {
            SyncStatus.COMPLETED: "Completed.",
            SyncStatus.PARTIAL: "Completed; some regions failed.",
        }.get(status, "Failed.")
        if counts is not None:
            locked.counts = counts.as_dict()
        if regions is not None:
            locked.regions = regions
        details = {"counts": locked.counts, "status": status}
        with operation(AuditAction.SYNC, actor=_run_actor(locked), details=details):
            locked.save()
    return locked


def _after_run(run: SyncRun) -> None:
    """Reconcile the account's resources against the pool plan after a finished run.

    A run that failed outright changed nothing worth reconciling.
    """
    if run.status not in (SyncStatus.COMPLETED, SyncStatus.PARTIAL):
        return
    from apps.discovery.reconciliation import resources_reconcile

    organization = Organization.objects.get(pk=run.organization_id)
    resources_reconcile(
        organization=organization, account=run.account, run=run, actor=_run_actor(run)
    )


# Agent batches


def _batch_source(run: SyncRun) -> _Source:
    content = IngestBatch.objects.get(pk=run.batch_id).content()
    outcomes = [
        RegionOutcome(
            region=item["region"],
            ok=bool(item.get("ok")),
            records=int(item.get("records") or 0),
            error_code=item.get("error_code"),
            error_message=item.get("error_message"),
        )
        for item in content.get("regions") or []
    ]
    previous = _previous_batch_run(run)
    closable = {o.region for o in outcomes}
    if previous is not None and previous.collection_started_at == run.collection_started_at:
        # The same collection: regions an earlier batch closed are not closed again.
        closable -= {region["region"] for region in previous.regions or []}
    records = (record_from_dict(item) for item in content.get("records") or [])
    return _Source(records, [], 0, closable=closable, tail=outcomes)


def _previous_batch_run(run: SyncRun) -> SyncRun | None:
    """Return the agent run of the same collection as ``run`` just before it, if any."""
    return (
        SyncRun.objects.filter(
            account_id=run.account_id,
            agent_id=run.agent_id,
            trigger=SyncTrigger.AGENT,
            pk__lt=run.pk,
        )
        .exclude(status__in=ACTIVE_SYNC_STATUSES)
        .order_by("-pk")
        .first()
    )


def _extends(previous: list[dict[str, Any]], current: list[dict[str, Any]]) -> bool:
    """Return whether ``current`` region outcomes continue ``previous`` (same collection)."""
    before = [item["region"] for item in previous]
    after = [item["region"] for item in current]
    return after[: len(before)] == before and len(after) > len(before)


def _agent_account(batch: IngestBatch, agent: Agent) -> CloudAccount:
    """Return the live account of the batch's provider and external id, made if missing.

    An account an agent reports and nobody created is created (collected by the agent
    only: the worker's schedule stays off, no credentials are stored here).
    """
    account = (
        CloudAccount.objects.live()
        .filter(
            organization_id=batch.organization_id,
            provider=batch.provider,
            external_id=batch.account_external_id,
        )
        .first()
    )
    if account is not None:
        return account
    return cloud_services.account_create(
        organization=Organization.objects.get(pk=batch.organization_id),
        actor=actor_from(system=f"agent:{agent.pk}"),
        name=f"{batch.account_external_id} (agent {agent.name})"[:255],
        provider=batch.provider,
        external_id=batch.account_external_id,
        auth_method="managed_identity" if batch.provider == "azure" else "default_chain",
        sync_enabled=False,
    )


def ingest_batch_consume(*, batch: IngestBatch) -> SyncRun | None:
    """Store one unconsumed batch through the sync engine; None when it must wait.

    A batch waits while another run of its account is active. Consuming is idempotent:
    a consumed batch is skipped, and a batch whose run was lost is stored again by a new
    run (the writes converge).
    """
    agent = batch.agent
    with transaction.atomic():
        locked = IngestBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.consumed_at is not None:
            return None
        try:
            account = _agent_account(locked, agent)
        except ApplicationError as error:
            logger.warning("Batch %s not stored: %s", locked.pk, error.message)
            return None
        if SyncRun.objects.filter(account=account, status__in=ACTIVE_SYNC_STATUSES).exists():
            return None
        previous = (
            SyncRun.objects.filter(account=account, agent=agent, trigger=SyncTrigger.AGENT)
            .exclude(status__in=ACTIVE_SYNC_STATUSES)
            .order_by("-pk")
            .first()
        )
        regions = list(locked.regions or [])
        started = timezone.now()
        if previous is not None and _same_collection(previous, regions):
            started = previous.collection_started_at or started
        run = _create_run(
            account=account,
            actor=actor_from(system=f"agent:{agent.pk}"),
            trigger=SyncTrigger.AGENT,
            check_quota=False,
            agent=agent,
            batch=locked,
            collection_started_at=started,
        )
        locked.consumed_at = timezone.now()
        locked.save(update_fields=["consumed_at"])
    return sync_run_execute(run=run)


def _same_collection(previous: SyncRun, regions: list[dict[str, Any]]) -> bool:
    """Return whether a batch with ``regions`` continues the collection of ``previous``.

    Region outcomes accumulate along a collection's batches (the last carries them all):
    a batch continues the previous one when its outcomes extend the previous ones, or when
    neither has any yet. Anything else starts a new collection.
    """
    before = previous.regions or []
    if not regions:
        return not before
    return _extends(before, regions)


def ingest_batches_consume(*, organization: Organization) -> list[SyncRun]:
    """Store every unconsumed batch of the organization, oldest first; return the runs."""
    runs = []
    pending = IngestBatch.objects.filter(
        organization=organization, consumed_at__isnull=True
    ).order_by("received_at", "pk")
    for batch in pending.select_related("agent").defer("payload"):
        run = ingest_batch_consume(batch=batch)
        if run is not None:
            runs.append(run)
    return runs


# The reaper


def sync_runs_reap(*, now: datetime | None = None) -> int:
    """Fail queued or running runs without progress for ``REAP_AFTER``: their worker died."""
    cutoff = (now or timezone.now()) - REAP_AFTER
    stale = SyncRun.objects.filter(status__in=ACTIVE_SYNC_STATUSES).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    count = 0
    for run in stale.order_by("pk"):
        with transaction.atomic():
            locked = SyncRun.objects.select_for_update().get(pk=run.pk)
            if not locked.is_active:
                continue
            locked.status = SyncStatus.FAILED
            locked.error = WORKER_LOST
            locked.finished_at = now or timezone.now()
            locked.progress_message = "Failed: worker lost."
            with operation(
                AuditAction.SYNC,
                actor=actor_from(system="discovery.reaper"),
                details={"counts": locked.counts, "status": SyncStatus.FAILED},
            ):
                locked.save()
        count += 1
    return count
