"""Benchmark the reconciliation service on a database: what the engine's callers add.

Run from the repository root against a scratch database you own (it is migrated, and an
organization named after the process is created in it and left there, since its audit
events are append-only)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/DBNAME python bench/bench_reconcile_pg.py

The plan and estate are those of ``bench_reconcile.py`` (100,000 pools, 100,000
resources), inserted in bulk. Timed: the first reconciliation (every resource written, the
exact pools linked with one audited event each, the drift findings created) and a second one with
nothing changed (load, engine, compare, no write), which stores the estate's digest, and a
third that finds the digest unchanged and skips: what every later sync run of a stable
estate pays. Targets: the first reconciliation in at most 5 s (issue #11, read as
the whole service; every write is set-based: one JSON record set per 2,000 resources or 5,000
pools, the link events through the audit service's bulk writer, the findings from JSON
record sets too) and the no-change reconciliation in at most 30 s. The phases'
seconds are printed to show where the time goes. Without ``DATABASE_URL`` it says so and exits 0.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import broken, report

NO_CHANGE_TARGET = 30.0
FIRST_TARGET = 5.0
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _step(number: int) -> str:
    text = ""
    for _ in range(4):
        number, digit = divmod(number, 36)
        text = _ALPHABET[digit] + text
    return text


def setup_django() -> None:
    os.environ.setdefault("CLOUDPAM_VAR_DIR", tempfile.mkdtemp(prefix="cloudpam-bench-"))
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpam.settings.test")
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    logging.getLogger("cloudpam.audit").setLevel(logging.WARNING)
    logging.getLogger("apps.discovery.reconciliation").setLevel(logging.WARNING)


def insert_estate(organization: object) -> tuple[int, int]:
    """Insert the benchmark plan and estate in bulk; return their sizes."""
    from django.utils import timezone

    from apps.cloud.models import CloudAccount
    from apps.discovery.models import DiscoveredResource
    from apps.pools import cidr
    from apps.pools.models import Pool
    from bench.bench_reconcile import synthetic_estate

    pools, resources = synthetic_estate()
    # Paths are unique across organizations: the roots go after the database's last root.
    last_root = Pool.objects.filter(depth=1).order_by("-path").values_list("path", flat=True)
    children: dict[int | None, int] = {None: int(last_root[0], 36) if last_root else 0}
    paths: dict[int, str] = {}
    rows = []
    for item in pools:  # Parents come before their children in the generated list.
        children[item.parent_id] = children.get(item.parent_id, 0) + 1
        prefix = paths[item.parent_id] if item.parent_id is not None else ""
        path = prefix + _step(children[item.parent_id])
        paths[item.id] = path
        row = Pool(
            id=None,
            organization=organization,
            name=f"p{item.id}",
            path=path,
            depth=len(path) // 4,
            numchild=0,
        )
        row.set_prefix(item.cidr)
        row.bench_id = item.id  # type: ignore[attr-defined]
        row.bench_parent = item.parent_id  # type: ignore[attr-defined]
        rows.append(row)
    for row in rows:
        row.numchild = children.get(row.bench_id, 0)  # type: ignore[attr-defined]
    # Level by level, so that every parent has its id (and the roots' constraint holds).
    by_bench: dict[int, int] = {}
    for depth in sorted({row.depth for row in rows}):
        level = [row for row in rows if row.depth == depth]
        for row in level:
            parent = row.bench_parent  # type: ignore[attr-defined]
            row.parent_id = by_bench[parent] if parent is not None else None
        Pool.objects.bulk_create(level, batch_size=5_000)
        by_bench.update({row.bench_id: row.pk for row in level})  # type: ignore[attr-defined]

    account = CloudAccount.objects.create(
        organization=organization,
        name="bench",
        provider="aws",
        external_id="000000000000",
        auth_method="default_chain",
    )
    now = timezone.now()
    resource_rows = []
    for item in resources:
        row = DiscoveredResource(
            organization=organization,
            account=account,
            provider="aws",
            resource_type="subnet" if item.cidr.length == 24 else "eni",
            resource_id=f"r-{item.id}",
            network_id=item.network_id,
            state=item.state,
            fingerprint="0" * 64,
            first_seen_at=now,
            last_seen_at=now,
        )
        row.set_prefix(cidr.Prefix(item.cidr.family, item.cidr.first, item.cidr.length))
        resource_rows.append(row)
    DiscoveredResource.objects.bulk_create(resource_rows, batch_size=5_000)
    return len(rows), len(resource_rows)


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        print("skipped: set DATABASE_URL to a database you own to run this benchmark")
        return 0
    setup_django()
    from django.db import connection

    from apps.discovery.models import ReconciliationState
    from apps.discovery.reconciliation import resources_reconcile
    from apps.tenancy.models import Organization
    from apps.tenancy.rls import rls_bypass, tenant_context
    from cloudpam.context import system_actor

    actor = system_actor("bench")
    slug = f"bench-reconcile-{os.getpid()}"
    with rls_bypass():
        organization = Organization.objects.create(name=slug, slug=slug)
    try:
        with tenant_context(organization):
            started = time.perf_counter()
            pools, resources = insert_estate(organization)
            print(
                f"{connection.vendor}: {pools:,} pools, {resources:,} resources inserted in "
                f"{time.perf_counter() - started:.1f} s (not timed below)"
            )
            started = time.perf_counter()
            first = resources_reconcile(organization=organization, actor=actor)
            elapsed_first = time.perf_counter() - started
            print(
                f"first reconciliation: {elapsed_first:.1f} s ({first.changed:,} resources "
                f"written, {first.linked:,} pools linked with their audit events, "
                f"{sum(first.drift.values()):,} drift findings); phases {first.timings}"
            )
            started = time.perf_counter()
            second = resources_reconcile(organization=organization, actor=actor)
            elapsed_second = time.perf_counter() - started
            print(
                f"no-change reconciliation: {elapsed_second:.1f} s ({second.changed} written; "
                f"target {NO_CHANGE_TARGET:.0f} s); phases {second.timings}"
            )
            # Its memory, on a run made to verify again (the digest forgotten).
            ReconciliationState.objects.filter(organization=organization).delete()
            gc.collect()
            tracemalloc.start()
            traced = resources_reconcile(organization=organization, actor=actor)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"  peak {peak / 2**20:.0f} MiB traced ({traced.changed} written, "
                f"{'skipped' if traced.unchanged else 'in full'})"
            )
            started = time.perf_counter()
            third = resources_reconcile(organization=organization, actor=actor)
            elapsed_third = time.perf_counter() - started
            print(
                f"stable estate (the digest of the verified one holds): {elapsed_third:.2f} s "
                f"({'skipped' if third.unchanged else 'reconciled in full'}); "
                f"phases {third.timings}"
            )
    finally:
        # The organization stays (its audit events are append-only): use a scratch database.
        print(f"organization '{slug}' left in the database")
    if second.changed != 0:
        broken(f"a no-change reconciliation wrote {second.changed} resources")
    if not third.unchanged:
        broken("a reconciliation of a verified, unchanged estate did not skip")
    report(
        "first reconciliation",
        elapsed_first,
        "s",
        f"<= {FIRST_TARGET:.0f}",
        elapsed_first <= FIRST_TARGET,
    )
    report(
        "no-change reconciliation (verifies, stores the digest)",
        elapsed_second,
        "s",
        f"<= {NO_CHANGE_TARGET:.0f}",
        elapsed_second <= NO_CHANGE_TARGET,
    )
    report(
        "stable-estate reconciliation",
        elapsed_third,
        "s",
        f"<= {FIRST_TARGET:.0f}",
        elapsed_third <= FIRST_TARGET,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
