"""Benchmark the plan engine: a 5,000-pool plan checked, dry-run with its preview, applied.

Run from the repository root::

    python bench/bench_plans.py [--database-url postgres://...]

By default it builds a throwaway SQLite database in a temporary directory (pass
``--database-url`` for a scratch PostgreSQL database it may fill). The plan is what a
Regional template of 5,000 pools looks like: a /8 supernet, 4 regions, 4 environments
each, 12 VPCs per environment, 25 subnets per VPC (4 + 16 + 192 + 4,800 pools... minus the
last subnets to make 5,000), created by prefix under refs. It times the pure checks, the
dry run with its preview (``plan_validate``) and the apply, and prints them. Target
(issue 12): a 5,000-pool template validated within 5 s, whose validation part is the pure
checks plus the dry run. Exits non-zero when the target is missed or the plan is invalid.
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

POOLS = 5_000
VALIDATE_TARGET_S = 5.0


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


def block(base: str, length: int, index: int) -> str:
    """Return the ``index``-th block of ``length`` after ``base``."""
    first = int(ipaddress.IPv4Address(base)) + index * (1 << (32 - length))
    return f"{ipaddress.IPv4Address(first)}/{length}"


def regional_operations(total: int = POOLS) -> list[dict[str, object]]:
    """Return the operations of a Regional plan of ``total`` pools, as the wizard makes them."""
    operations: list[dict[str, object]] = []

    def add(ref: str, cidr: str, parent: str | None, kind: str) -> None:
        if len(operations) < total:
            operations.append(
                {
                    "op": "create",
                    "ref": ref,
                    "name": ref,
                    "cidr": cidr,
                    "parent": parent,
                    "type": kind,
                    "status": "planned",
                }
            )

    add("corp", "10.0.0.0/8", None, "supernet")
    for r in range(4):
        region = f"r{r}"
        add(region, block("10.0.0.0", 10, r), "corp", "region")
        for e in range(4):
            env = f"{region}-e{e}"
            env_first = block("10.0.0.0", 12, r * 4 + e).split("/")[0]
            add(env, f"{env_first}/12", region, "environment")
            for v in range(12):
                vpc = f"{env}-v{v}"
                vpc_first = block(env_first, 16, v).split("/")[0]
                add(vpc, f"{vpc_first}/16", env, "vpc")
                for s in range(25):
                    add(f"{vpc}-s{s}", block(vpc_first, 24, s), vpc, "subnet")
    return operations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    setup_django(args.database_url)

    from apps.planning import engine
    from apps.planning.choices import PlanStatus
    from apps.planning.services import plan_apply, plan_create, plan_validate
    from apps.tenancy.models import Organization
    from apps.tenancy.rls import tenant_context
    from cloudpam.context import system_actor

    actor = system_actor("bench")
    organization = Organization.objects.create(name="Bench", slug="bench-plans")
    operations = regional_operations()
    with tenant_context(organization):
        started = time.perf_counter()
        checked = engine.validate_operations(operations, source="template")
        pure = time.perf_counter() - started
        plan = plan_create(
            organization=organization,
            actor=actor,
            title="Regional, 5,000 pools",
            source="template",
            operations=operations,
        )
        started = time.perf_counter()
        plan = plan_validate(plan=plan, actor=actor)
        dry_run = time.perf_counter() - started
        started = time.perf_counter()
        if plan.status == PlanStatus.VALID:
            plan = plan_apply(plan=plan, actor=actor)
        applied = time.perf_counter() - started

    print(f"operations: {len(operations):,} ({len(checked.errors)} pure errors)")
    print(f"pure checks: {pure:.2f} s")
    print(f"dry run with preview (plan_validate): {dry_run:.2f} s")
    print(f"apply: {applied:.2f} s")
    print(f"validated (pure + dry run): {pure + dry_run:.2f} s, target {VALIDATE_TARGET_S:.1f} s")
    print(f"status: {plan.status}, risk {plan.risk_level}")
    if plan.status != PlanStatus.APPLIED:
        broken(f"the plan did not apply ({plan.status})")
    validated = pure + dry_run
    report(
        "5,000-pool plan validated",
        validated,
        "s",
        f"<= {VALIDATE_TARGET_S:.1f}",
        validated <= VALIDATE_TARGET_S,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
