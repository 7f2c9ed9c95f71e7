"""Celery tasks of discovery: they take ids and call one service each.

``discovery.sync_account`` runs from each account's django-celery-beat entry
(``apps.discovery.schedules``); ``discovery.sync_runs_reap`` every minute from the entry a
data migration creates. Every task is idempotent: a run is executed once (claimed from
``queued``), a consumed batch is skipped.
"""

from __future__ import annotations

import logging

from celery import shared_task

from apps.cloud.models import CloudAccount
from apps.discovery import sync
from apps.discovery.choices import SyncTrigger
from apps.discovery.models import IngestBatch, SyncRun
from apps.tenancy.tasks import MaintenanceTask, TenantTask, current_organization
from cloudpam.context import actor_from
from cloudpam.exceptions import ApplicationError

logger = logging.getLogger("apps.discovery.tasks")


@shared_task(base=TenantTask, name="discovery.sync_run_execute")
def sync_run_execute(*, run_id: int, organization_id: int) -> str:
    """Carry out the sync run ``run_id`` of organization ``organization_id``."""
    run = SyncRun.objects.filter(pk=run_id, organization_id=organization_id).first()
    if run is None:
        return "missing"
    return sync.sync_run_execute(run=run).status


@shared_task(base=TenantTask, name="discovery.sync_account")
def sync_account(*, account_id: int, organization_id: int) -> str:
    """Start the scheduled sync of an account; skip it while a run is active or over quota."""
    account = (
        CloudAccount.objects.live().filter(pk=account_id, organization_id=organization_id).first()
    )
    if account is None:
        return "missing"
    try:
        run = sync.sync_run_start(
            account=account,
            actor=actor_from(system="discovery.sync_account"),
            trigger=SyncTrigger.SCHEDULE,
        )
    except ApplicationError as error:
        logger.info("Scheduled sync of account %s skipped: %s", account_id, error.code)
        return error.code
    return f"run {run.pk}"


@shared_task(base=TenantTask, name="discovery.ingest_batches_consume")
def ingest_batches_consume(*, organization_id: int) -> int:
    """Store the organization's unconsumed agent batches; return how many runs it made."""
    organization = current_organization()
    if organization is None:
        return 0
    return len(sync.ingest_batches_consume(organization=organization))


@shared_task(base=MaintenanceTask, name="discovery.sync_runs_reap")
def sync_runs_reap() -> int:
    """Fail the runs whose worker died; queue the consumption of batches left waiting."""
    reaped = sync.sync_runs_reap()
    waiting = (
        IngestBatch.objects.filter(consumed_at__isnull=True)
        .values_list("organization_id", flat=True)
        .distinct()
        .order_by("organization_id")
    )
    for organization_id in waiting:
        ingest_batches_consume.delay(organization_id=organization_id)
    return reaped
