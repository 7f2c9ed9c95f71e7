"""Benchmark the schema wizard: a template of about 5,000 pools generated and validated.

Target (issue #12): generating the plan and validating it takes at most 5 s. Three figures
are printed: the pure generator, the pure checks every plan gets first (the plan engine's
``validate_operations`` when it is installed, else the pool batch's ``check_changes``), and,
with ``--dry-run``, the dry run of the plan through the pool services on the configured
database (``DATABASE_URL``; an in-memory SQLite database when unset). Run from the
repository root::

    python bench/bench_wizard.py [--dry-run]

It exits non-zero when the generation plus the checks (and the dry run when asked) miss the
target, or when the plan is not valid.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import broken, report

from apps.planning.engine.templates import generate, parse_params
from apps.pools.changes import PoolCreate, check_changes

TARGET = 5.0
PARAMS = {
    "supernet": "10.0.0.0/8",
    "regions": [f"region-{number}" for number in range(1, 11)],
    "environments": ["prod", "staging", "qa", "dev", "sandbox"],
    "vpcs": 2,
    "tiers": [
        {"name": "public", "prefix_length": 24, "count": 16},
        {"name": "private", "hosts": 500, "count": 16},
        {"name": "data", "prefix_length": 26, "count": 16},
    ],
    "headroom": 20,
}


def pure_checks(operations: list[dict]) -> tuple[str, int]:
    """Return which pure checks ran and how many errors they found."""
    try:
        from apps.planning.engine import validate_operations
    except ImportError:
        changes = [
            PoolCreate(
                ref=op["ref"],
                name=op["name"],
                cidr=op["cidr"],
                parent=op["parent"],
                type=op["type"],
                status=op["status"],
                description=op["description"],
                tags=op["tags"],
                source="template",
            )
            for op in operations
        ]
        return "pools.changes.check_changes", len(check_changes(changes))
    checked = validate_operations(operations, source="template")
    return "planning.engine.validate_operations", len(checked.errors)


def dry_run(operations: list[dict]) -> tuple[float, int] | None:
    """Return the time and error count of the plan's dry run through the pool services.

    Return None when the plan services have no dry run (``plan_validate``) yet.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpam.settings.test")
    os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
    # The audit log lines of every event would bury the figures.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    from apps.planning import services
    from apps.pools.services import pool_create
    from apps.tenancy.models import Organization
    from apps.tenancy.rls import tenant_context
    from cloudpam.context import system_actor

    validate = getattr(services, "plan_validate", None)
    if validate is None:
        return None
    call_command("migrate", verbosity=0)
    organization, _ = Organization.objects.get_or_create(
        slug="bench-wizard", defaults={"name": "Bench wizard"}
    )
    organization.quotas = {**(organization.quotas or {}), "max_pools": 1_000_000}
    organization.save()
    actor = system_actor("bench_wizard")
    with tenant_context(organization):
        root = pool_create(
            organization=organization, actor=actor, name="bench root", cidr="10.0.0.0/7"
        )
        # The template's supernet goes under a stored pool, as "the first free block" would.
        operations = [dict(operations[0], parent=root.pk), *operations[1:]]
        plan = services.plan_create(
            organization=organization,
            actor=actor,
            title="bench",
            source="template",
            operations=operations,
        )
        start = time.perf_counter()
        plan = validate(plan=plan, actor=actor)
        elapsed = time.perf_counter() - start
    return elapsed, len(plan.validation.get("errors", []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="also time the database dry run")
    args = parser.parse_args()

    start = time.perf_counter()
    plan = generate(parse_params("regional", PARAMS))
    generated = time.perf_counter() - start
    operations = [dict(operation) for operation in plan.operations]
    start = time.perf_counter()
    checks, errors = pure_checks(operations)
    checked = time.perf_counter() - start
    total = generated + checked
    print(f"pools generated           {len(operations):>8,}")
    print(f"generate                  {generated:>8.3f} s")
    print(f"pure checks ({checks}) {checked:>8.3f} s, {errors} errors")
    failed = errors > 0
    if args.dry_run:
        result = dry_run(operations)
        if result is None:
            print("dry run (pool services)   not available: the plan services have no dry run")
        else:
            elapsed, dry_errors = result
            total += elapsed
            print(f"dry run (pool services)   {elapsed:>8.3f} s, {dry_errors} errors")
            failed = failed or dry_errors > 0
    print(f"total                     {total:>8.3f} s (target {TARGET:.1f} s)")
    if failed:
        broken("the generated plan is not valid")
    report("wizard template", total, "s", f"<= {TARGET:.1f}", total <= TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
