"""The sync schedule of each account: a django-celery-beat entry kept in step with it.

Operators see and may pause the entries in the admin; the cloud account services call
``sync_schedule_update`` whenever an account is created, changed or deleted, so the entry
follows ``sync_interval_minutes``, ``sync_enabled``, the account's status and its deletion.
"""

from __future__ import annotations

import json

from django_celery_beat.models import IntervalSchedule, PeriodicTask

from apps.cloud.choices import AccountStatus
from apps.cloud.models import CloudAccount

SYNC_TASK = "discovery.sync_account"


def schedule_name(account_id: int) -> str:
    """Return the name of the account's periodic task."""
    return f"discovery: sync account {account_id}"


def sync_schedule_update(*, account: CloudAccount) -> PeriodicTask | None:
    """Create, change or remove the account's periodic sync; return it (None when removed)."""
    name = schedule_name(account.pk)
    if account.deleted_at is not None:
        PeriodicTask.objects.filter(name=name).delete()
        return None
    interval, _created = IntervalSchedule.objects.get_or_create(
        every=account.sync_interval_minutes, period=IntervalSchedule.MINUTES
    )
    enabled = account.sync_enabled and account.status != AccountStatus.DISABLED
    wanted = {
        "task": SYNC_TASK,
        "interval": interval,
        "kwargs": json.dumps(
            {"account_id": account.pk, "organization_id": account.organization_id}
        ),
        "enabled": enabled,
        "description": f"Sync {account.name} every {account.sync_interval_minutes} minutes.",
    }
    task = PeriodicTask.objects.filter(name=name).first()
    if task is None:
        return PeriodicTask.objects.create(name=name, **wanted)
    changed = [key for key, value in wanted.items() if getattr(task, key) != value]
    if changed:
        for key in changed:
            setattr(task, key, wanted[key])
        task.save()
    return task
