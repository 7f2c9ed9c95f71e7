"""Gunicorn settings for the web container.

Several worker processes each count their own requests; prometheus_client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) lets ``/metrics`` answer with
the sum over all of them, which django-prometheus picks up by itself.
"""

import os
import shutil

from prometheus_client import multiprocess

bind = "0.0.0.0:8080"
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
timeout = 60
graceful_timeout = 30
keepalive = 5
max_requests = 1000
max_requests_jitter = 100
# Heartbeat files in memory: the root filesystem is read-only in the container.
worker_tmp_dir = "/dev/shm"  # noqa: S108
accesslog = None  # the application writes one JSON line per request itself
errorlog = "-"
control_socket_disable = True


def on_starting(server):
    """Start with an empty metrics directory: files of a previous run would be summed in."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the sum."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
