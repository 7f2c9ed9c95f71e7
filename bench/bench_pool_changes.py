"""Benchmark the batch write path: a large batch of creates through ``pool_changes_apply``.

Run from the repository root::

    python bench/bench_pool_changes.py [--pools 10000] [--database-url postgres://...]

By default it builds a throwaway SQLite database in a temporary directory (pass
``--database-url`` for a scratch PostgreSQL database it may fill). The batch is what a
10,000-row import looks like: under a stored /8, regions by CIDR, VPCs by CIDR under them
(refs), and subnets allocated by prefix length within the VPCs, plus a third of the
subnets created by CIDR. It times the dry run (the batch applied in a transaction that is
rolled back, with the audit off, as a plan's dry run does) and the apply (audited), then
checks the tree (treebeard's ``find_problems``) and the audit chain. Targets (issue 12):
10,000 rows dry run + apply within 10 s; 100,000 rows within 90 s. Exits non-zero when
the target is missed or the tree or chain is broken.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import broken, report

TARGETS_S = {10_000: 10.0, 100_000: 90.0}


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


def batch_of(total: int, corp: int) -> list:
    """Return ``total`` creates under pool ``corp`` (a /8): regions, VPCs, subnets."""
    from apps.pools.changes import PoolCreate

    changes: list[PoolCreate] = []
    region = vpc = -1
    subnets = 0
    while len(changes) < total:
        if vpc < 0 or subnets == 250:
            vpc += 1
            subnets = 0
            if vpc % 16 == 0:
                region += 1
                first = ipaddress.IPv4Address("10.0.0.0") + region * (1 << 20)
                changes.append(
                    PoolCreate(ref=f"r{region}", name=f"r{region}", cidr=f"{first}/12", parent=corp)
                )
            first = ipaddress.IPv4Address("10.0.0.0") + vpc * (1 << 16)
            changes.append(
                PoolCreate(ref=f"v{vpc}", name=f"v{vpc}", cidr=f"{first}/16", parent=f"r{region}")
            )
            continue
        ref = f"v{vpc}-s{subnets}"
        if subnets % 3 == 0:
            first = ipaddress.IPv4Address("10.0.0.0") + vpc * (1 << 16) + (255 - subnets // 3) * 256
            change = PoolCreate(ref=ref, name=ref, cidr=f"{first}/24", parent=f"v{vpc}")
        else:
            change = PoolCreate(ref=ref, name=ref, prefix_length=24, within=f"v{vpc}")
        changes.append(change)
        subnets += 1
    return changes[:total]


class _RollBack(Exception):
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--pools", type=int, default=10_000)
    args = parser.parse_args()
    setup_django(args.database_url)

    from auditlog.context import disable_auditlog
    from django.db import transaction

    from apps.audit.models import AuditEvent
    from apps.audit.selectors import audit_chain_verify
    from apps.audit.services import audit_chains_settle
    from apps.pools import changes as batch
    from apps.pools.models import Pool
    from apps.pools.services import pool_changes_apply, pool_create
    from apps.tenancy.models import Organization
    from apps.tenancy.rls import tenant_context
    from cloudpam.context import system_actor

    batch.MAX_CHANGES = max(batch.MAX_CHANGES, args.pools)
    actor = system_actor("bench")
    organization = Organization.objects.create(
        name="Bench", slug="bench-pool-changes", quotas={"max_pools": args.pools + 10}
    )
    with tenant_context(organization):
        corp = pool_create(organization=organization, actor=actor, name="corp", cidr="10.0.0.0/8")
        changes = batch_of(args.pools, corp.pk)
        started = time.perf_counter()
        try:
            with transaction.atomic(), disable_auditlog():
                pool_changes_apply(organization=organization, actor=actor, changes=changes)
                raise _RollBack
        except _RollBack:
            pass
        dry_run = time.perf_counter() - started
        started, cpu = time.perf_counter(), time.process_time()
        applied = pool_changes_apply(
            organization=organization, actor=actor, changes=changes, details={"bench": True}
        )
        apply = time.perf_counter() - started
        apply_cpu = time.process_time() - cpu
        audit_chains_settle()
        problems = [problem for problems in Pool.objects.find_problems() for problem in problems]
        verdict = audit_chain_verify(organization_id=organization.pk)
        events = AuditEvent.objects.filter(organization=organization).count()

    total = dry_run + apply
    target = TARGETS_S.get(args.pools, 10.0 * args.pools / 10_000)
    print(f"creates: {len(changes):,} ({len(applied.pools):,} applied)")
    print(f"dry run (rolled back, audit off): {dry_run:.2f} s")
    print(f"apply (audited): {apply:.2f} s ({apply_cpu:.2f} s of this process's CPU)")
    print(f"dry run + apply: {total:.2f} s, target {target:.1f} s")
    intact = verdict.intact
    print(f"tree problems: {len(problems)}; events: {events:,}; chain intact: {intact}")
    if problems or len(applied.pools) != len(changes) or not intact:
        broken("the tree is inconsistent, a change is missing or the chain is broken")
    report(
        f"{len(changes):,} creates, dry run + apply",
        total,
        "s",
        f"<= {target:.1f}",
        total <= target,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
