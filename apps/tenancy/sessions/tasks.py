"""Scheduled upkeep of session rows."""

from __future__ import annotations

from celery import shared_task

from apps.tenancy.sessions.services import user_sessions_purge
from apps.tenancy.tasks import MaintenanceTask


@shared_task(name="apps.tenancy.sessions.tasks.user_sessions_purge", base=MaintenanceTask)
def purge_user_sessions() -> int:
    """Delete the rows of revoked and expired sessions (daily)."""
    return user_sessions_purge()
