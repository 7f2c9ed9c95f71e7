"""Benchmark sync runs: a 10,000-resource account served by the GCP loopback fake.

Run from the repository root, against PostgreSQL (the targets are PostgreSQL's)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cloudpam python bench/bench_sync.py

It migrates the database ``DATABASE_URL`` names (SQLite without it, which it says), creates
an organization of its own and removes it at the end. The estate is served by
``tests.fakes.gcp`` in a child process (so the memory measured is the sync's alone), read
through the real GCP provider and collector modules with the production pacing, and each
run goes through ``sync_run_start`` and the Celery task (in-process without ``REDIS_URL``)
exactly as a scheduled run does. The GCP fake was chosen as the fastest local emulator
that speaks a real cloud's wire format.

For 10,000 resources (half subnetworks, half addresses, in two regions) it times a first
sync, a resync with nothing changed (its reconciliation verifies the estate and stores its
digest), another (the stable case: reconciliation skipped) and a resync with one subnetwork
changed; then it
measures the peak memory (tracemalloc) of a first sync of 2,500 and of 10,000 resources.
Targets (SPEC.md section 5): first sync at most 60 s, each resync at most 10 s, and a
peak at 10,000 resources at most 1.5 times the peak at 2,500. It exits non-zero when one is
missed or a run does not store the estate exactly.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import broken, report

SIZE = 10_000
SMALL = 2_500
FIRST_TARGET = 60.0
RESYNC_TARGET = 10.0
FLAT_TARGET = 1.5
REGIONS = ("europe-west1", "us-central1")


def estate(size: int, project: str) -> Any:
    """Return a fake project of exactly ``size`` records: subnetworks and addresses."""
    from tests.fakes.gcp import FakeCompute

    fake = FakeCompute(project, REGIONS)
    network = fake.add_network("prod")
    per_region = size // len(REGIONS)
    for r, region in enumerate(REGIONS):
        for i in range(per_region // 2):
            n = r * per_region + i
            fake.add_subnetwork(region, f"s{i}", network, f"10.{n // 256}.{n % 256}.0/24")
        for i in range(per_region - per_region // 2):
            n = r * per_region + i
            fake.add_address(f"a{i}", f"34.{n // 65536}.{n // 256 % 256}.{n % 256}", region=region)
    return fake


def serve(size: int, project: str, urls: Any, commands: Any) -> None:
    """Serve the estate until told to stop; ``change`` alters one subnetwork."""
    fake = estate(size, project)
    with fake:
        urls.put(fake.url)
        while True:
            command = commands.get()
            if command == "stop":
                return
            if command == "change":
                fake.subnetworks[REGIONS[0]][0]["purpose"] = "PRIVATE_RFC_1918"
                urls.put("changed")


def setup_django() -> str:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpam.settings.test")
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    settings = connection.settings_dict
    return f"{connection.vendor} {settings.get('NAME')}"


def main() -> int:
    database = setup_django()
    from django.conf import settings
    from django.db import connection

    from apps.cloud import services as cloud_services
    from apps.discovery import sync
    from apps.discovery.models import DiscoveredResource, SyncRun
    from apps.tenancy.models import Organization
    from apps.tenancy.rls import rls_bypass
    from cloudpam.context import system_actor

    actor = system_actor("bench")
    print(f"database: {database}")
    if connection.vendor != "postgresql":
        print("note: the targets are PostgreSQL's; set DATABASE_URL to a PostgreSQL server")
    context = multiprocessing.get_context("spawn")
    failures: list[str] = []
    results: dict[str, float] = {}
    peaks: dict[int, int] = {}

    def one_run(account: Any) -> tuple[float, Any]:
        started = time.perf_counter()
        run = sync.sync_run_start(account=account, actor=actor)
        elapsed = time.perf_counter() - started
        return elapsed, SyncRun.objects.get(pk=run.pk)

    def fresh_organization(project: str) -> Any:
        organization = Organization.objects.create(
            name=f"{project} {os.getpid()}", slug=f"{project}-{os.getpid()}"
        )
        organization.quotas = {"max_sync_runs_per_day": 1_000}
        organization.save()
        return organization

    with rls_bypass():
        # Each size in an organization of its own: the reconciliation that ends a run covers
        # the whole organization, so an earlier size's resources would be measured too.
        for size, timed in ((SIZE, True), (SMALL, False), (SIZE, False)):
            project = f"bench-{size}-{'t' if timed else 'm'}"
            organization = fresh_organization(project)
            urls, commands = context.Queue(), context.Queue()
            child = context.Process(target=serve, args=(size, project, urls, commands), daemon=True)
            child.start()
            try:
                settings.CLOUDPAM_GCP_ENDPOINT_URL = urls.get(timeout=300)
                account = cloud_services.account_create(
                    organization=organization,
                    actor=actor,
                    name=project,
                    provider="gcp",
                    external_id=project,
                    auth_method="default_chain",
                    regions=list(REGIONS),
                )
                if not timed:
                    tracemalloc.start()
                    _elapsed, run = one_run(account)
                    peaks[size] = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
                    if run.counts.get("new") != size:
                        failures.append(f"memory run stored {run.counts} of {size}")
                    continue
                elapsed, run = one_run(account)
                results["first sync"] = elapsed
                if run.status != "completed" or run.counts.get("new") != size:
                    failures.append(f"first sync: {run.status} {run.counts}")
                elapsed, run = one_run(account)
                results["no-change resync"] = elapsed
                if run.counts.get("unchanged") != size:
                    failures.append(f"no-change resync: {run.counts}")
                # The reconciliation above verified the estate; this one finds it unchanged.
                elapsed, run = one_run(account)
                results["stable resync"] = elapsed
                if run.counts.get("unchanged") != size:
                    failures.append(f"stable resync: {run.counts}")
                commands.put("change")
                urls.get(timeout=60)
                elapsed, run = one_run(account)
                results["one-change resync"] = elapsed
                if run.counts.get("changed") != 1 or run.counts.get("unchanged") != size - 1:
                    failures.append(f"one-change resync: {run.counts}")
                stored = DiscoveredResource.objects.filter(account=account).count()
                if stored != size:
                    failures.append(f"{stored} rows stored for {size} resources")
            finally:
                commands.put("stop")
                child.join(timeout=30)
                DiscoveredResource.objects.filter(organization=organization).delete()
                SyncRun.objects.filter(organization=organization).delete()
                organization.delete()

    targets = {
        "first sync": FIRST_TARGET,
        "no-change resync": RESYNC_TARGET,
        "stable resync": RESYNC_TARGET,
        "one-change resync": RESYNC_TARGET,
    }
    for name, seconds in results.items():
        print(f"{name} of {SIZE:,} resources: {seconds:.2f} s (target <= {targets[name]:.0f} s)")
        report(
            f"{name} of {SIZE:,}", seconds, "s", f"<= {targets[name]:.0f}", seconds <= targets[name]
        )
    ratio = peaks[SIZE] / peaks[SMALL]
    print(
        f"peak memory of a first sync: {peaks[SMALL] / 2**20:.1f} MiB at {SMALL:,}, "
        f"{peaks[SIZE] / 2**20:.1f} MiB at {SIZE:,} (ratio {ratio:.2f}, target <= {FLAT_TARGET})"
    )
    report("first sync memory growth", ratio, "x", f"<= {FLAT_TARGET}", ratio <= FLAT_TARGET)
    if failures:
        broken("; ".join(failures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
