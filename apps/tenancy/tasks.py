"""
Celery task bases that bind the tenant context.

A tenant task takes ``organization_id`` as a keyword argument and runs inside
``tenant_context`` of that organization (row-level security on PostgreSQL,
the organization in the log context)::

    @shared_task(base=TenantTask, name="pools.recount")
    def recount(*, organization_id: int, pool_id: int) -> None:
        pool_recount(pool=Pool.objects.for_organization(current_organization()).get(...))

    recount.delay(organization_id=org.pk, pool_id=pool.pk)

Work that spans organizations by design (retention sweeps, schedules that fan
out per organization) uses ``MaintenanceTask``, which runs with the explicit
row-level-security bypass; it should do no more than enqueue one tenant task
per organization, or filter by organization by hand.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from apps.tenancy.models import Organization
from apps.tenancy.rls import rls_bypass, tenant_context
from cloudpam import context


def current_organization() -> Organization | None:
    """Return the organization the running task (or request) acts in."""
    return context.get_organization()


class TenantTask(Task):
    """Run the task in the organization named by its ``organization_id`` keyword."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        organization_id = kwargs.get("organization_id")
        if organization_id is None:
            raise TypeError(f"{self.name} is a tenant task: pass organization_id=<id>.")
        organization = Organization.objects.get(pk=organization_id)
        with (
            tenant_context(organization),
            context.bound(organization=organization, actor=self.started_by()),
        ):
            return super().__call__(*args, **kwargs)

    def started_by(self) -> dict[str, Any]:
        """Return the actor of the task: the user (and token) who started it, and the task.

        The caller's user and token travel in the task's headers and are bound before the
        task runs (``apps.audit.receivers.on_task_prerun``); a scheduled task has none and
        acts as itself.
        """
        bound = context.get_actor() or {}
        return {"user": bound.get("user"), "token": bound.get("token"), "system": self.name}


class MaintenanceTask(Task):
    """Run the task across organizations, with the explicit row-level-security bypass."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with rls_bypass(), context.bound(organization=None, actor={"system": self.name}):
            return super().__call__(*args, **kwargs)


# Tasks of the sessions package, found by Celery's autodiscovery through this module.
from apps.tenancy.sessions import tasks as session_tasks  # noqa: E402, F401
