"""Prometheus metrics of Celery tasks (requests and queries come from django-prometheus)."""

from __future__ import annotations

import time
from typing import Any

from celery import signals
from prometheus_client import Counter, Histogram

TASKS = Counter("cloudpam_celery_tasks_total", "Celery tasks finished", ["task", "state"])
TASK_SECONDS = Histogram("cloudpam_celery_task_seconds", "Celery task duration", ["task"])
_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_started(task_id: str | None = None, **_kwargs: Any) -> None:
    if task_id:
        _started[task_id] = time.monotonic()


@signals.task_postrun.connect
def _task_finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_kwargs: Any
) -> None:
    name = getattr(task, "name", "unknown")
    started = _started.pop(task_id, None) if task_id else None
    if started is not None:
        TASK_SECONDS.labels(task=name).observe(time.monotonic() - started)
    TASKS.labels(task=name, state=state or "UNKNOWN").inc()
