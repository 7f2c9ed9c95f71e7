"""A real Celery worker process on Redis, for the tests that prove tasks cross the broker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from celery import Celery

from cloudpam.celery import app

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def running_worker(
    redis_url: str,
    var_dir: Path,
    *,
    label: str,
    env: Mapping[str, str] | None = None,
    processes: list[subprocess.Popen] | None = None,
) -> Iterator[tuple[Celery, str]]:
    """Start a worker (solo pool) on a queue of its own; yield a client app and the queue.

    The client is not made the current app, so tasks of later tests keep running
    in-process. ``processes``, when given, receives the worker's process (for the tests
    that kill it).
    """
    queue = f"ci-{label}-{os.getpid()}"
    worker_env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "cloudpam.settings.local",
        "CLOUDPAM_VAR_DIR": str(var_dir),
        **(env or {}),
    }
    command = [sys.executable, "-m", "celery", "-A", "cloudpam", "worker", "-Q", queue]
    command += ["--pool", "solo", "--concurrency", "1", "-l", "warning"]
    command += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    worker = subprocess.Popen(
        command,
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    if processes is not None:
        processes.append(worker)
    client = app.__class__(
        "cloudpam-test-client", broker=redis_url, backend=redis_url, set_as_current=False
    )
    try:
        yield client, queue
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        client.close()
