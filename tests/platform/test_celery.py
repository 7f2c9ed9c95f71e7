import socket
import time
import urllib.request

import pytest

from cloudpam.tasks import ping
from tests.celery_worker import running_worker


def test_ping_runs_in_process_without_redis():
    assert ping.delay().get(timeout=5) == "pong"


def test_schedules_live_in_the_database(settings):
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"


@pytest.mark.redis
def test_real_worker_round_trips_a_task_through_redis(redis_url, tmp_path):
    """Start a real worker process on Redis and get the ping task's answer back."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    env = {"CELERY_METRICS_PORT": str(metrics_port), "CELERY_METRICS_ADDR": "127.0.0.1"}
    with running_worker(redis_url, tmp_path, label="ping", env=env) as (client, queue):
        result = client.send_task("cloudpam.ping", queue=queue)
        assert result.get(timeout=60) == "pong"
        metrics = _scrape(f"http://127.0.0.1:{metrics_port}/")
        assert 'cloudpam_celery_tasks_total{state="SUCCESS",task="cloudpam.ping"} 1.0' in metrics


def _scrape(url: str) -> str:
    for _ in range(50):
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                text = response.read().decode()
            if "cloudpam.ping" in text:
                return text
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no task metrics at {url}")
