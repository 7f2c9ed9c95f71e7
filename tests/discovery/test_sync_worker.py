"""A real Celery worker on Redis killed in the middle of a sync run.

The worker collects a GCP project from the loopback fake, which holds its answer for the
second region until the worker has been killed (SIGKILL) — after the first region was
written and closed. The reaper then fails the run ("worker lost"); the next run must
converge to the fixture: no resource lost, duplicated or wrongly marked missing.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.cloud import services as cloud_services
from apps.discovery import sync
from apps.discovery.models import DiscoveredResource, SyncRun
from apps.tenancy.rls import rls_bypass
from tests.actors import TEST_ACTOR
from tests.celery_worker import running_worker
from tests.fakes.gcp import FakeCompute
from tests.fakes.http import Request

PROJECT = "acme-net"
REGIONS = ("europe-west1", "us-central1")
PER_REGION = 1_200


class GatedCompute(FakeCompute):
    """A fake that holds the third page of us-central1's subnetworks while ``gate`` is closed.

    By then the engine has closed europe-west1 and written its first 1,000 records of
    us-central1; the rest of that region is still to come.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.pages = 0

    def route(self, request: Request) -> tuple[int, dict[str, Any]]:
        if "regions/us-central1/subnetworks" in request.path and not self.gate.is_set():
            self.pages += 1
            if self.pages == 3:
                self.held.set()
                self.gate.wait(timeout=120)
        return super().route(request)


def _database_url() -> str:
    settings = connection.settings_dict
    credentials = quote(settings["USER"] or "", safe="")
    if settings.get("PASSWORD"):
        credentials += ":" + quote(settings["PASSWORD"], safe="")
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or "5432"
    return f"postgres://{credentials}@{host}:{port}/{settings['NAME']}"


def expected(fake: FakeCompute) -> set[tuple[str, str]]:
    return {
        (subnet["name"], subnet["ipCidrRange"])
        for region in REGIONS
        for subnet in fake.subnetworks[region]
    }


def present(account) -> list[tuple[str, str]]:
    rows = DiscoveredResource.objects.filter(account=account, state="present")
    return [(row.name, row.cidr) for row in rows]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_is_reaped_and_the_next_run_converges(
    redis_url, tmp_path, organization, settings
):
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database: needs PostgreSQL")
    fake = GatedCompute(PROJECT, REGIONS)
    network = fake.add_network("prod")
    for r, region in enumerate(REGIONS):
        for i in range(PER_REGION):
            n = r * PER_REGION + i
            fake.add_subnetwork(region, f"{region}-{i}", network, f"10.{n // 256}.{n % 256}.0/24")
    with fake, rls_bypass():
        settings.CLOUDPAM_GCP_ENDPOINT_URL = fake.url
        account = cloud_services.account_create(
            organization=organization,
            actor=TEST_ACTOR,
            name="acme",
            provider="gcp",
            external_id=PROJECT,
            auth_method="default_chain",
            regions=list(REGIONS),
        )
        # The fixture: a first sync in-process, then changes in both regions.
        first = sync.sync_run_start(account=account, actor=TEST_ACTOR)
        assert SyncRun.objects.get(pk=first.pk).status == "completed"
        for region in REGIONS:
            del fake.subnetworks[region][:100]
        fake.add_subnetwork("europe-west1", "new-eu", network, "10.200.0.0/24")
        fake.add_subnetwork("us-central1", "new-us", network, "10.201.0.0/24")

        fake.gate.clear()
        processes: list[subprocess.Popen] = []
        env = {"DATABASE_URL": _database_url(), "CLOUDPAM_GCP_ENDPOINT_URL": fake.url}
        with transaction.atomic():
            lost = sync._create_run(account=account, actor=TEST_ACTOR, trigger="manual")
        with running_worker(redis_url, tmp_path, label="sync", env=env, processes=processes) as (
            client,
            queue,
        ):
            client.send_task(
                "discovery.sync_run_execute",
                kwargs={"run_id": lost.pk, "organization_id": organization.pk},
                queue=queue,
            )
            assert fake.held.wait(timeout=90), "the worker never reached the second region"
            time.sleep(0.5)
            processes[0].send_signal(signal.SIGKILL)
            processes[0].wait(timeout=20)
        fake.gate.set()

        lost.refresh_from_db()
        assert lost.status == "running"
        # europe-west1 was stored and closed before the kill: its deletions are missing;
        # us-central1's are not (never closed), and its new subnetwork was not reached.
        missing = DiscoveredResource.objects.filter(account=account, state="missing")
        assert {row.region for row in missing} == {"europe-west1"}
        assert missing.count() == 100
        assert DiscoveredResource.objects.filter(name="new-eu").exists()
        assert not DiscoveredResource.objects.filter(name="new-us").exists()

        SyncRun.objects.filter(pk=lost.pk).update(
            heartbeat_at=timezone.now() - sync.REAP_AFTER - timezone.timedelta(seconds=1)
        )
        assert sync.sync_runs_reap() == 1
        lost.refresh_from_db()
        assert (lost.status, lost.error) == ("failed", "worker lost")

        again = sync.sync_run_start(account=account, actor=TEST_ACTOR)
        again = SyncRun.objects.get(pk=again.pk)
        assert again.status == "completed", again.error
        stored = present(account)
        assert len(stored) == len(set(stored)), "a resource was stored twice"
        assert set(stored) == expected(fake)
        missing = DiscoveredResource.objects.filter(account=account, state="missing")
        assert missing.count() == 200
        assert DiscoveredResource.objects.filter(account=account).count() == 2 * PER_REGION + 2
        DiscoveredResource.objects.filter(organization=organization).delete()
        SyncRun.objects.filter(organization=organization).delete()
