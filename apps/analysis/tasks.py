"""Celery tasks of the analysis app: they take ids and call one service each.

``analysis.snapshot_utilization`` runs daily from a django-celery-beat schedule created by
a data migration (operators change the time in the admin); it fans out one
``analysis.snapshot_organization`` task per organization. Every task is idempotent: a
finished run is not redone, and a second snapshot the same day overwrites the first.

Tenant tasks run inside their organization's tenant context (``TenantTask``: row-level
security on PostgreSQL, the organization in the log context); the fan-out spans
organizations by design and runs with the explicit bypass (``MaintenanceTask``).
"""

from __future__ import annotations

from celery import shared_task

from apps.analysis import services
from apps.analysis.models import AnalysisRun
from apps.tenancy.models import Organization
from apps.tenancy.tasks import MaintenanceTask, TenantTask, current_organization


@shared_task(base=TenantTask, name="analysis.run")
def run_analysis(*, run_id: int, organization_id: int) -> str:
    """Carry out the analysis run ``run_id`` of organization ``organization_id``."""
    run = AnalysisRun.objects.filter(pk=run_id, organization_id=organization_id).first()
    if run is None:
        return "missing"
    return services.analysis_run_execute(run=run).status


@shared_task(base=TenantTask, name="analysis.snapshot_organization")
def snapshot_organization(*, organization_id: int) -> int:
    """Record today's utilization of every live pool of one organization."""
    organization = current_organization()
    if organization is None:
        return 0
    return services.snapshot_take(organization=organization)


@shared_task(base=MaintenanceTask, name="analysis.snapshot_utilization")
def snapshot_utilization() -> int:
    """Queue today's utilization snapshot of every organization; return how many."""
    organization_ids = list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    for organization_id in organization_ids:
        snapshot_organization.delay(organization_id=organization_id)
    return len(organization_ids)
