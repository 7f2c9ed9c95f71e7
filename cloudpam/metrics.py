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


@signals.worker_ready.connect
def _serve_worker_metrics(**_kwargs: Any) -> None:
    """Serve the worker's task metrics on CELERY_METRICS_PORT, when set.

    Web processes expose ``/metrics`` themselves; a worker has no HTTP server,
    so it gets a small one. Under the prefork pool the task counters live in the
    child processes; with PROMETHEUS_MULTIPROC_DIR set they are summed here.
    """
    import os

    from django.conf import settings
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

    port = settings.CELERY_METRICS_PORT
    if not port:
        return
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=settings.CELERY_METRICS_ADDR, registry=registry)
