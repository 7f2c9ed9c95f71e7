"""
Benchmark: import 10,000 and 100,000 pool rows from CSV, and export 100,000 pools.

Targets (SPEC.md section 7.2):

- a 10,000-row CSV: read, checked, dry-run (``plan_import``) and applied (``plan_apply``)
  in at most 10 s;
- 100,000 rows in at most 90 s. A plan holds at most 20,000 operations (section 7.0),
  so the 100,000 rows come as five files of 20,000, one subtree each, each imported and
  applied; reading and checking one file of 100,000 rows is timed on its own;
- a CSV export of 100,000 pools through the API in at most 10 s, with flat memory: the
  peak Python memory (tracemalloc) for 100,000 pools at most 1.5 times that for 10,000
  plus 2 MiB.

Runs on a throwaway SQLite database, or on PostgreSQL when ``DATABASE_URL`` points at it
(a test database ``<name>_bench`` is created next to it and dropped afterwards).

    DJANGO_SETTINGS_MODULE=cloudpam.settings.test python bench/bench_import_export.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cp_io python bench/bench_import_export.py
    python bench/bench_import_export.py --export-only
    python bench/bench_import_export.py --import-only --large

``--large`` times the 100,000 rows even when the 10,000-row target is missed (on a loaded
machine, say); ``--import-only`` and ``--export-only`` time one half.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = tempfile.mkdtemp(prefix="cloudpam-bench-io-")
POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")
if not POSTGRES:
    os.environ["DATABASE_URL"] = f"sqlite:///{WORKDIR}/bench.sqlite3"
os.environ["CLOUDPAM_VAR_DIR"] = WORKDIR
os.environ.pop("REDIS_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpam.settings.test")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import django  # noqa: E402
from _report import report  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

SMALL_ROWS, PLAN_ROWS, FILES = 10_000, 20_000, 5
EXPORT_POOLS = 100_000
SMALL_TARGET, LARGE_TARGET, EXPORT_TARGET = 10.0, 90.0, 10.0
MAX_GROWTH, SLACK_MIB = 1.5, 2.0


def csv_rows(first_octet: int, count: int) -> bytes:
    """Return a CSV of ``count`` pools: a /8 root, /16 regions and /24 subnets under them."""
    lines = ["name,cidr,parent,type,status,tags"]
    root = f"{first_octet}.0.0.0/8"
    lines.append(f"root-{first_octet},{root},,supernet,active,env=bench")
    made, second = 1, 0
    while made < count:
        region = f"{first_octet}.{second}.0.0/16"
        lines.append(f"region-{first_octet}-{second},{region},{root},region,active,")
        made += 1
        for third in range(250):
            if made >= count:
                break
            lines.append(
                f"subnet-{first_octet}-{second}-{third},{first_octet}.{second}.{third}.0/24,"
                f"{region},subnet,planned,tier=app"
            )
            made += 1
        second += 1
    return ("\n".join(lines) + "\n").encode()


def import_and_apply(organization, actor, content: bytes, name: str) -> float:  # type: ignore[no-untyped-def]
    from apps.planning.imports import ImportRequest, plan_import
    from apps.planning.services import plan_apply

    started, cpu = time.perf_counter(), time.process_time()
    plan = plan_import(
        organization=organization,
        actor=actor,
        stream=io.BytesIO(content),
        request=ImportRequest(filename=name),
    )
    checked, checked_cpu = time.perf_counter(), time.process_time()
    if plan.status != "valid":
        raise SystemExit(f"{name}: the import is {plan.status}: {plan.source_detail['errors'][:3]}")
    plan_apply(plan=plan, actor=actor)
    done, done_cpu = time.perf_counter(), time.process_time()
    # This process's CPU time beside the wall time: on a shared, loaded machine the wall
    # time mostly measures the wait for a core (the database's own work is not in it).
    print(
        f"  {name}: {plan.operation_count:,} rows, dry run {checked - started:.2f} s "
        f"(CPU {checked_cpu - cpu:.2f} s), apply {done - checked:.2f} s "
        f"(CPU {done_cpu - checked_cpu:.2f} s), total {done - started:.2f} s"
    )
    return done - started


def seed_pools(organization, first_octet: int, count: int) -> None:  # type: ignore[no-untyped-def]
    """Insert a tree of ``count`` pools in bulk (test data for the export, not a writer)."""
    from apps.pools import cidr as engine
    from apps.pools.models import Pool

    def pool(name: str, text: str, parent, depth: int, path: str, kind: str):  # type: ignore[no-untyped-def]
        item = Pool(
            organization=organization,
            name=name,
            parent=parent,
            depth=depth,
            path=path,
            numchild=0,
            type=kind,
            status="active",
            tags={"env": "bench"},
            source="imported",
        )
        item.set_prefix(engine.parse_prefix(text))
        return item

    root = Pool(organization=organization, name=f"root-{first_octet}", type="supernet")
    root.set_prefix(engine.parse_prefix(f"{first_octet}.0.0.0/8"))
    root = Pool.objects.add_root(instance=root)
    made, second, batch = 1, 0, []
    while made < count:
        region = pool(
            f"region-{second}",
            f"{first_octet}.{second}.0.0/16",
            root,
            2,
            Pool._get_path(root.path, 2, second + 1),
            "region",
        )
        region.save()
        made += 1
        children = min(400, count - made)
        batch.extend(
            pool(
                f"subnet-{second}-{third}",
                f"{first_octet}.{second}.{third * 64 >> 8}.{third * 64 & 255}/26",
                region,
                3,
                Pool._get_path(region.path, 3, third + 1),
                "subnet",
            )
            for third in range(children)
        )
        Pool.objects.filter(pk=region.pk).update(numchild=children)
        made += children
        second += 1
        if len(batch) >= 5_000:
            Pool.objects.bulk_create(batch)
            batch = []
    Pool.objects.bulk_create(batch)
    Pool.objects.filter(pk=root.pk).update(numchild=second)


def export(client: Client, **params: str) -> tuple[float, float, int]:
    """Return the time of a CSV export, the peak memory of a second one, and its size.

    Tracing every allocation slows Python down several times over, so the time is taken
    from a run without tracemalloc and the memory from another.
    """
    started = time.perf_counter()
    response = client.get("/api/v1/pools/export/", {"format": "csv", **params})
    size = sum(len(piece) for piece in response.streaming_content)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"export answered {response.status_code}")
    tracemalloc.start()
    response = client.get("/api/v1/pools/export/", {"format": "csv", **params})
    for _piece in response.streaming_content:
        pass
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20, size


def main() -> int:
    logging.disable(logging.CRITICAL)
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["*"]
    if POSTGRES:
        old_config = setup_databases(verbosity=0, interactive=False)
    else:
        old_config = None
        call_command("migrate", verbosity=0)
    try:
        return run()
    finally:
        if old_config is not None:
            connection.close()
            teardown_databases(old_config, verbosity=0)


def run() -> int:
    from apps.planning.io.imports import pool_operations
    from apps.planning.io.readers import read_file
    from apps.pools.choices import PoolStatus, PoolType
    from apps.tenancy.choices import Role
    from apps.tenancy.models import Membership, Organization, User
    from cloudpam.context import actor_from

    engine = "PostgreSQL" if POSTGRES else "SQLite"
    print(f"Import and export on {engine}")
    organization = Organization.objects.create(name="Bench", slug="bench-io")
    user = User.objects.create_user("bench-io@example.com", "x")
    Membership.objects.create(user=user, organization=organization, role=Role.OWNER)
    actor = actor_from(user=user)
    failures = []

    if "--export-only" in sys.argv:
        return export_targets(organization, user, failures)
    small = import_and_apply(organization, actor, csv_rows(10, SMALL_ROWS), "10k.csv")
    print(f"10,000-row CSV, dry run + apply: {small:.2f} s (target {SMALL_TARGET:.0f} s)")
    report("10,000-row import", small, "s", f"<= {SMALL_TARGET:.0f}", small <= SMALL_TARGET)
    if small > SMALL_TARGET:
        failures.append("10,000-row import")

    if small > SMALL_TARGET and "--large" not in sys.argv:
        # Each row costs about small / SMALL_ROWS seconds in the dry run and again in the
        # apply; the 100,000 rows would take ten times as long, so they are not run.
        print(
            f"100,000 rows: skipped, the 10,000-row target is already missed "
            f"(about {small * 10:.0f} s by extrapolation, target {LARGE_TARGET:.0f} s)"
        )
        failures.append("100,000-row import (extrapolated)")
        report(
            "100,000-row import (extrapolated)", small * 10, "s", f"<= {LARGE_TARGET:.0f}", False
        )
    else:
        # Five /8 trees in one file: one /8 holds at most 256 regions of 251 rows.
        files = [csv_rows(40 + index, PLAN_ROWS) for index in range(FILES)]
        big = files[0] + b"".join(content.split(b"\n", 1)[1] for content in files[1:])
        started = time.perf_counter()
        parsed = read_file(io.BytesIO(big), filename="100k.csv")
        result = pool_operations(parsed.pools, types=PoolType.values, statuses=PoolStatus.values)
        print(
            f"100,000-row CSV read and checked in one piece: "
            f"{time.perf_counter() - started:.2f} s "
            f"({len(result.operations):,} operations, {len(result.errors)} errors)"
        )
        total = 0.0
        for index in range(FILES):
            total += import_and_apply(
                organization, actor, csv_rows(20 + index, PLAN_ROWS), f"20k-{index + 1}.csv"
            )
        print(
            f"100,000 rows as {FILES} plans, dry run + apply: {total:.2f} s "
            f"(target {LARGE_TARGET:.0f} s)"
        )
        report("100,000-row import", total, "s", f"<= {LARGE_TARGET:.0f}", total <= LARGE_TARGET)
        if total > LARGE_TARGET:
            failures.append("100,000-row import")

    if "--import-only" in sys.argv:
        print("MISSED: " + ", ".join(failures) if failures else "All targets met.")
        return 0
    return export_targets(organization, user, failures)


def export_targets(organization, user, failures: list[str]) -> int:  # type: ignore[no-untyped-def]
    """Time the CSV export of 100,000 pools and compare its peak memory with 10,000."""
    from apps.pools.models import Pool

    # The export reads pools however they were written: a tree of EXPORT_POOLS is
    # inserted in bulk, next to a 10,000-pool tree to compare the peak memory with.
    seed_pools(organization, 12, SMALL_ROWS)
    seed_pools(organization, 13, EXPORT_POOLS)
    client = Client()
    client.force_login(user)
    small_root = Pool.objects.get(organization=organization, cidr="12.0.0.0/8")
    large_root = Pool.objects.get(organization=organization, cidr="13.0.0.0/8")
    count = Pool.objects.in_subtree(large_root.path).count()
    elapsed_small, peak_small, _size = export(client, root=str(small_root.pk))
    elapsed, peak, size = export(client, root=str(large_root.pk))
    print(
        f"CSV export of 10,000 pools: {elapsed_small:.2f} s, peak {peak_small:.1f} MiB; "
        f"of {count:,} pools: {elapsed:.2f} s, {size / 2**20:.1f} MiB sent, peak {peak:.1f} MiB "
        f"(target {EXPORT_TARGET:.0f} s, peak at most {MAX_GROWTH}x + {SLACK_MIB} MiB)"
    )
    limit = peak_small * MAX_GROWTH + SLACK_MIB
    report("CSV export", elapsed, "s", f"<= {EXPORT_TARGET:.0f}", elapsed <= EXPORT_TARGET)
    report("CSV export peak", peak, "MiB", f"<= {limit:.1f}", peak <= limit)
    if elapsed > EXPORT_TARGET:
        failures.append("export time")
    if peak > limit:
        failures.append("export memory")
    print("MISSED: " + ", ".join(failures) if failures else "All targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
