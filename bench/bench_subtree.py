"""Benchmark the subtree services: move, recursive delete, restore and purge of a big subtree.

Run from the repository root::

    python bench/bench_subtree.py [--database-url postgres://...] [--pools 10000]

By default it builds a throwaway SQLite database in a temporary directory (pass
``--database-url`` for a scratch PostgreSQL database it may fill). Two overlapping roots
(10.0.0.0/8, the organization allows overlapping roots) hold the subtree under the first:
a /9 with about sqrt(N) children, each with about sqrt(N) children, N pools in all,
inserted in bulk with treebeard's paths. It then times, through the services with the
audit on: moving the subtree to the other root, deleting it recursively, restoring it,
deleting it again and purging it, and the chaining of the audit events those wrote. It
checks treebeard's bookkeeping and the audit chain afterwards.

Targets (issue 16): a recursive delete of 100,000 pools within 30 s on PostgreSQL; the
same target (scaled) for the other operations. Without ``--pools`` it runs 10,000 pools,
and on PostgreSQL 100,000 pools too. Figures go through ``bench/_report.py`` (with the
CPU time of this process beside each, the machine being shared); a failed check (events
missing, a broken chain, treebeard's problems) is a broken result.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import broken, report

# Seconds per 100,000 pools for each subtree operation (issue 16: a recursive delete).
TARGET_S_PER_100K = 30.0


def setup_django(database_url: str | None) -> None:
    """Point Django at the benchmark database and quiet the log lines."""
    workdir = tempfile.mkdtemp(prefix="cloudpam-bench-")
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{workdir}/bench.sqlite3"
    os.environ["CLOUDPAM_VAR_DIR"] = workdir
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpam.settings.test")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import logging

    logging.getLogger("cloudpam.audit").setLevel(logging.WARNING)


def build_subtree(top, total: int) -> int:
    """Fill ``top`` (a /9 without children) with two levels, ``total`` pools in all.

    Return the number of pools of the subtree, ``top`` included.
    """
    from apps.pools import cidr as engine
    from apps.pools.models import Pool

    fan = max(1, math.isqrt(max(total - 1, 1)))
    first_level = max(1, (total - 1) // (fan + 1))
    remainder = total - 1 - first_level
    children = []
    for n in range(first_level):
        child = Pool(
            organization_id=top.organization_id,
            parent=top,
            name=f"c{n}",
            path=Pool._get_path(top.path, top.depth + 1, n + 1),
            depth=top.depth + 1,
            numchild=0,
        )
        child.set_prefix(engine.Prefix(4, top.prefix.first + (n << (32 - 19)), 19))
        children.append(child)
    Pool.objects.bulk_create(children, batch_size=2000)
    Pool.objects.filter(pk=top.pk).update(numchild=first_level)
    grandchildren = []
    counts: dict[int, int] = {}
    for index in range(remainder):
        child = children[index % first_level]
        position = counts.get(child.pk, 0) + 1
        counts[child.pk] = position
        grandchild = Pool(
            organization_id=top.organization_id,
            parent=child,
            name=f"g{index}",
            path=Pool._get_path(child.path, child.depth + 1, position),
            depth=child.depth + 1,
            numchild=0,
        )
        grandchild.set_prefix(
            engine.Prefix(4, child.prefix.first + ((position - 1) << (32 - 30)), 30)
        )
        grandchildren.append(grandchild)
    Pool.objects.bulk_create(grandchildren, batch_size=2000)
    for child in children:
        Pool.objects.filter(pk=child.pk).update(numchild=counts.get(child.pk, 0))
    return 1 + first_level + remainder


def run(total: int, vendor: str) -> tuple[list[tuple[str, float, float, float]], list[str]]:
    """Time the subtree services on a subtree of ``total`` pools; return figures and problems."""
    from apps.audit.models import AuditEvent
    from apps.audit.selectors import audit_chain_verify
    from apps.audit.services import audit_chain_settle
    from apps.pools.models import Pool
    from apps.pools.services import pool_create, pool_delete, pool_move, pool_purge, pool_restore
    from apps.tenancy.models import Organization
    from apps.tenancy.rls import tenant_context
    from cloudpam.context import system_actor

    actor = system_actor("bench")
    slug = f"bench-subtree-{total}"
    organization = Organization.objects.create(
        name=f"Subtree {total}", slug=slug, settings={"allow_overlapping_roots": True}
    )
    # (label, wall seconds, CPU seconds of this process, target): the machine is shared, and
    # the CPU time tells this process's work from the waits on a busy database.
    figures: list[tuple[str, float, float, float]] = []
    problems: list[str] = []
    target = TARGET_S_PER_100K * max(total, 10_000) / 100_000
    with tenant_context(organization):
        first = pool_create(actor=actor, organization=organization, name="a", cidr="10.0.0.0/8")
        second = pool_create(actor=actor, organization=organization, name="b", cidr="10.0.0.0/8")
        top = pool_create(
            actor=actor, organization=organization, name="top", cidr="10.0.0.0/9", parent=first
        )
        size = build_subtree(top, total)
        audit_chain_settle(organization_id=organization.pk, wait=True)
        before = AuditEvent.objects.filter(organization_id=organization.pk).count()

        def timed(label: str, call) -> None:
            started, cpu = time.perf_counter(), time.process_time()
            call()
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            figures.append((label, wall, cpu, target))

        timed("move", lambda: pool_move(actor=actor, pool=top, parent=second))
        timed("recursive delete", lambda: pool_delete(actor=actor, pool=top, recursive=True))
        timed("restore", lambda: pool_restore(actor=actor, pool=top))
        pool_delete(actor=actor, pool=top, recursive=True)
        started = time.perf_counter()
        audit_chain_settle(organization_id=organization.pk, wait=True)
        settle_delete = time.perf_counter() - started
        timed("purge", lambda: pool_purge(actor=actor, pool=top))
        timed(
            "chain the pending events",
            lambda: audit_chain_settle(organization_id=organization.pk, wait=True),
        )

        events = AuditEvent.objects.filter(organization_id=organization.pk).count() - before
        # One move event, then one event per pool for each delete, restore and purge.
        expected = 1 + 4 * size
        if events != expected:
            problems.append(f"{events:,} audit events, expected {expected:,}")
        verification = audit_chain_verify(organization_id=organization.pk)
        if not verification.intact:
            problems.append(f"audit chain broken: {verification.problem}")
        if Pool.objects.filter(organization=organization).count() != 2:
            problems.append("the purge left pools behind")
        tree = Pool.objects.find_problems(parent=second)
        if any(tree):
            problems.append(f"treebeard finds problems: {tree}")
    print(
        f"[{vendor}] {size:,} pools; chaining the second delete's events took {settle_delete:.2f} s"
    )
    return figures, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--pools", type=int, action="append", default=None)
    args = parser.parse_args()
    setup_django(args.database_url or os.environ.get("BENCH_DATABASE_URL"))
    from django.db import connection

    vendor = connection.vendor
    sizes = args.pools or ([10_000, 100_000] if vendor == "postgresql" else [10_000])
    for total in sizes:
        figures, problems = run(total, vendor)
        for label, seconds, cpu, target in figures:
            print(f"[{vendor}] {label} of {total:,} pools: CPU of this process {cpu:.2f} s")
            report(
                f"{label} of {total:,} pools ({vendor})",
                seconds,
                "s",
                f"<= {target:.1f}",
                seconds <= target,
            )
        if problems:
            broken("; ".join(problems))
    return 0


if __name__ == "__main__":
    sys.exit(main())
