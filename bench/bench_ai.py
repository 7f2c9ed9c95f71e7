"""Benchmark the AI planner's own costs (issue 13): context, plan validation, first token.

Run from the repository root::

    python bench/bench_ai.py [--database-url postgres://...]

By default it builds a throwaway SQLite database in a temporary directory (pass
``--database-url`` for a scratch PostgreSQL database it may fill). It bulk-inserts two
10,000-pool organizations:

- deep: a /8, 4 regional /10s, 16 environment /12s, 256 VPC /16s and 9,723 /24 subnets, a
  description and tags on each VPC, 30 days of snapshots for every VPC and 500
  discovered subnets (each VPC partly used: its largest free block needs its children);
- wide (``bench_ai_chat.py``'s shape): a /8 holding 100 /16s, 9,899 /24s filling them in
  order, 256 to each (few levels, hundreds of children under each pool shown).

and measures:

(a) the context of a request (``context_facts_for`` + ``build_context`` with an 8,000
    token budget) in each shape, for three focuses: median of 20 runs after one cold run,
    the queries, and the context's size. Target <= 200 ms, judged on CPU time (SQLite runs
    in the process), printed beside the wall time, which a shared machine inflates.
(b) the validation of a 1,000-operation plan (``plan_create`` + ``plan_validate``, the
    pure checks and the dry run with its preview). Target <= 2 s, judged on CPU time as
    (a), the wall time printed beside it.
(c) the time to first streamed token CloudPAM adds over the fake model server's own
    latency at the provider layer, measured by ``bench_llm.py`` (which this script runs).
    Target <= 50 ms. ``bench_ai_chat.py`` measures it through the whole SSE API.

Each figure is reported through ``bench/_report.py``; the script exits 0 when it ran.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import broken, report
from bench_pools_api import setup_django

CONTEXT_TARGET_MS = 200.0
VALIDATE_TARGET_S = 2.0
BUDGET_TOKENS = 8_000
RUNS = 20
SUBNETS = 10_000 - 1 - 4 - 16 - 256
PLAN_OPERATIONS = 1_000


def build_organization() -> object:
    """Insert the 10,000-pool organization in bulk, as the pool services store pools."""
    from django.db import transaction
    from django.utils import timezone

    from apps.analysis.models import UtilizationSnapshot
    from apps.cloud.services import account_create
    from apps.discovery.models import DiscoveredResource
    from apps.pools import cidr
    from apps.pools.models import Pool
    from apps.tenancy.models import Organization
    from cloudpam.context import system_actor

    organization = Organization.objects.create(name="Bench", slug="bench-ai")

    def make(prefix: cidr.Prefix, name: str, kind: str, parent: Pool | None, path: str) -> Pool:
        pool = Pool(
            organization=organization,
            name=name,
            parent=parent,
            path=path,
            depth=len(path) // Pool.steplen,
            type=kind,
        )
        pool.set_prefix(prefix)
        return pool

    started = time.perf_counter()
    vpcs: list[Pool] = []
    with transaction.atomic():
        root_path = Pool._get_path(None, 1, 1)
        root = make(cidr.parse_prefix("10.0.0.0/8"), "corp", "supernet", None, root_path)
        root.numchild = 4
        root.save()
        regions = Pool.objects.bulk_create(
            [
                make(
                    cidr.Prefix(4, (10 << 24) | (r << 22), 10),
                    f"region-{r}",
                    "region",
                    root,
                    Pool._get_path(root.path, 2, r + 1),
                )
                for r in range(4)
            ]
        )
        environments = []
        for r, region in enumerate(regions):
            for e, env in enumerate(("prod", "staging", "dev", "test")):
                first = (10 << 24) | (r << 22) | (e << 20)
                path = Pool._get_path(region.path, 3, e + 1)
                prefix = cidr.Prefix(4, first, 12)
                environments.append(make(prefix, f"{env}-region-{r}", "environment", region, path))
        environments = Pool.objects.bulk_create(environments)
        for environment in environments:
            base = int(cidr.parse_prefix(environment.cidr).first)
            for v in range(16):
                path = Pool._get_path(environment.path, 4, v + 1)
                prefix = cidr.Prefix(4, base | (v << 16), 16)
                vpc = make(prefix, f"{environment.name}-vpc-{v}", "vpc", environment, path)
                vpc.description = "Workload VPC; owner netops@example.com; ticket NET-1234"
                vpc.tags = {"env": environment.name.split("-")[0], "cost_center": f"cc-{v}"}
                vpcs.append(vpc)
        vpcs = Pool.objects.bulk_create(vpcs)
        per_vpc, extra = divmod(SUBNETS, len(vpcs))
        batch: list[Pool] = []
        for index, vpc in enumerate(vpcs):
            base = int(cidr.parse_prefix(vpc.cidr).first)
            count = per_vpc + (1 if index < extra else 0)
            batch.extend(
                make(
                    cidr.Prefix(4, base | (s << 8), 24),
                    f"{vpc.name}-subnet-{s}",
                    "subnet",
                    vpc,
                    Pool._get_path(vpc.path, 5, s + 1),
                )
                for s in range(count)
            )
        Pool.objects.bulk_create(batch, batch_size=5000)
        # Tree counters, as the services keep them.
        for parent in [root, *regions, *environments, *vpcs]:
            Pool.objects.filter(pk=parent.pk).update(
                numchild=Pool.objects.filter(parent_id=parent.pk).count()
            )
        today = timezone.now().date()
        UtilizationSnapshot.objects.bulk_create(
            [
                UtilizationSnapshot(
                    organization=organization,
                    pool=vpc,
                    day=today - timedelta(days=30 - day),
                    total=str(65536),
                    used=str(1000 + day * (10 + index % 50)),
                )
                for index, vpc in enumerate(vpcs)
                for day in range(30)
            ],
            batch_size=5000,
        )
        account = account_create(
            actor=system_actor("bench"),
            organization=organization,
            name="gcp",
            provider="gcp",
            external_id="bench-project",
            auth_method="default_chain",
        )
        now = timezone.now()
        subnets = list(
            Pool.objects.filter(organization=organization, type="subnet").order_by("pk")[:500]
        )
        resources = []
        for index, subnet in enumerate(subnets):
            resource = DiscoveredResource(
                organization=organization,
                account=account,
                provider="gcp",
                resource_type="subnet",
                resource_id=f"subnet-{index}",
                region="europe-west1",
                fingerprint="0" * 64,
                first_seen_at=now,
                last_seen_at=now,
                pool=subnet,
            )
            resource.set_prefix(cidr.parse_prefix(subnet.cidr))
            resources.append(resource)
        DiscoveredResource.objects.bulk_create(resources)
    count = Pool.objects.filter(organization=organization).count()
    print(f"built {count:,} pools in {time.perf_counter() - started:.1f} s")
    assert count == 10_000, count
    return organization


WIDE_SIXTEENS = 99


def build_wide_organization() -> object:
    """Insert bench_ai_chat's 10,000-pool shape: a /8 holding 100 /16s, /24s filling them.

    10.0.0.0/8, 99 /16s (``region-b``) and a ``staging`` 10.250.0.0/16, then 9,899 /24s
    filling the /16s in order, 256 to each: few levels, wide ones, so a context's pools
    have hundreds of children each (where the deep shape has 16 to 38).
    """
    from django.db import transaction

    from apps.pools import cidr
    from apps.pools.models import Pool
    from apps.tenancy.models import Organization

    organization = Organization.objects.create(name="Bench wide", slug="bench-ai-wide")

    def make(prefix: str, name: str, parent: Pool | None, path: str) -> Pool:
        pool = Pool(
            organization=organization,
            name=name,
            parent=parent,
            path=path,
            depth=len(path) // Pool.steplen,
            type="",
        )
        pool.set_prefix(cidr.parse_prefix(prefix))
        return pool

    started = time.perf_counter()
    with transaction.atomic():
        # Paths are unique across organizations: this root comes after the others.
        position = Pool.objects.filter(depth=1).count() + 1
        root = make("10.0.0.0/8", "root", None, Pool._get_path(None, 1, position))
        root.numchild = WIDE_SIXTEENS + 1
        root.save()
        sixteens = [
            make(f"10.{b}.0.0/16", f"region-{b}", root, Pool._get_path(root.path, 2, b + 1))
            for b in range(WIDE_SIXTEENS)
        ]
        sixteens.append(
            make("10.250.0.0/16", "staging", root, Pool._get_path(root.path, 2, WIDE_SIXTEENS + 1))
        )
        sixteens = Pool.objects.bulk_create(sixteens)
        left = 10_000 - 1 - len(sixteens)
        batch: list[Pool] = []
        for b, sixteen in enumerate(sixteens[:WIDE_SIXTEENS]):
            count = min(256, left - len(batch))
            batch.extend(
                make(
                    f"10.{b}.{c}.0/24",
                    f"subnet-{b}-{c}",
                    sixteen,
                    Pool._get_path(sixteen.path, 3, c + 1),
                )
                for c in range(count)
            )
            Pool.objects.filter(pk=sixteen.pk).update(numchild=count)
        Pool.objects.bulk_create(batch, batch_size=5000)
    count = Pool.objects.filter(organization=organization).count()
    print(f"built {count:,} pools (wide shape) in {time.perf_counter() - started:.1f} s")
    assert count == 10_000, count
    return organization


FOCUSES = (
    ("a VPC", "allocate four /24s for staging in staging-region-2-vpc-7"),
    ("the root", "reserve room for growth in 10.0.0.0/8"),
    ("nothing", "what should I clean up?"),
)
WIDE_FOCUSES = (
    ("an empty /16", "allocate four /24s for staging in 10.250.0.0/16"),
    ("a full /16", "reserve a /20 in 10.3.0.0/16"),
    ("nothing", "what should I clean up?"),
)


def bench_context(organization: object, shape: str, label: str, focus: str) -> None:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from apps.planning.ai.context import build_context
    from apps.planning.ai.selectors import context_facts_for

    def once() -> tuple[float, float, float, object, object]:
        started, cpu = time.perf_counter(), time.process_time()
        facts = context_facts_for(organization, focus=focus, budget_tokens=BUDGET_TOKENS)
        selected = time.perf_counter()
        context = build_context(facts, focus=focus, budget_tokens=BUDGET_TOKENS)
        ended = time.perf_counter()
        return (
            (ended - started) * 1000,
            (time.process_time() - cpu) * 1000,
            (selected - started) * 1000,
            facts,
            context,
        )

    cold = once()[0]
    wall, cpu, selector = [], [], []
    for _ in range(RUNS):
        elapsed, used, selecting, facts, context = once()
        wall.append(elapsed)
        cpu.append(used)
        selector.append(selecting)
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        once()
    # The database runs in this process (SQLite): CPU time holds it, and leaves out the
    # time other processes of a shared machine take the CPU away.
    median = statistics.median(cpu)
    print(
        f"(a) context, {shape} shape, focus on {label}: median {median:.1f} ms CPU, "
        f"{statistics.median(wall):.1f} ms wall (cold {cold:.1f} ms wall, selector "
        f"{statistics.median(selector):.1f} ms wall, {len(queries)} queries)"
    )
    print(
        f"    size: {context.tokens:,} tokens ({len(context.text):,} characters) of a "
        f"{BUDGET_TOKENS:,} budget, {len(context.pool_ids)} pools shown of "
        f"{len(facts.pools):,} loaded ({facts.total_pools:,} live), "
        f"{len(facts.findings)} findings, truncated={context.truncated}"
    )
    report(
        f"context of a 10,000-pool organization ({shape}, focus on {label})",
        median,
        "ms CPU",
        f"<= {CONTEXT_TARGET_MS:.0f} ms",
        median <= CONTEXT_TARGET_MS,
    )


def plan_operations() -> list[dict[str, object]]:
    """Return 1,000 creates: a /12 root, 8 VPC /16s in it, 991 /24s spread over them."""
    root = {"op": "create", "ref": "root", "name": "new-space", "cidr": "172.16.0.0/12"}
    operations: list[dict[str, object]] = [{**root, "parent": None, "type": "supernet"}]
    operations.extend(
        {
            "op": "create",
            "ref": f"v{v}",
            "name": f"new-vpc-{v}",
            "prefix_length": 16,
            "within": "root",
            "parent": "root",
            "type": "vpc",
        }
        for v in range(8)
    )
    operations.extend(
        {
            "op": "create",
            "ref": f"s{s}",
            "name": f"new-subnet-{s}",
            "prefix_length": 24,
            "within": f"v{s % 8}",
            "parent": f"v{s % 8}",
            "type": "subnet",
            "tags": {"env": "prod"},
        }
        for s in range(PLAN_OPERATIONS - len(operations))
    )
    return operations


def bench_validation(organization: object) -> None:
    from apps.planning.services import plan_create, plan_validate
    from cloudpam.context import system_actor

    actor = system_actor("bench")
    operations = plan_operations()
    started, cpu = time.perf_counter(), time.process_time()
    plan = plan_create(
        organization=organization,
        actor=actor,
        title="AI: 1,000 operations",
        source="ai",
        operations=operations,
    )
    created = time.perf_counter() - started
    plan = plan_validate(plan=plan, actor=actor)
    total = time.perf_counter() - started
    used = time.process_time() - cpu
    print(
        f"(b) validation of a {len(operations):,}-operation plan: {total:.2f} s wall, "
        f"{used:.2f} s CPU (plan_create {created:.2f} s, dry run with preview "
        f"{total - created:.2f} s, status {plan.status})"
    )
    if plan.status != "valid":
        broken(f"the 1,000-operation plan is {plan.status}: {plan.errors[:3]}")
    # Judged on CPU time like (a): SQLite runs in the process, and the wall time of the
    # dry run's writes (rolled back) is mostly the shared machine's disk and other loads.
    report(
        f"validation of a {len(operations):,}-operation plan",
        used,
        "s CPU",
        f"<= {VALIDATE_TARGET_S:.0f} s",
        used <= VALIDATE_TARGET_S,
    )


def bench_first_token() -> None:
    import bench_llm

    print("(c) time to first streamed token (bench_llm.py):")
    bench_llm.main()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    setup_django(args.database_url)
    from django.db import connection

    from apps.tenancy.rls import tenant_context

    print(f"database: {connection.vendor}")
    organization = build_organization()
    wide = build_wide_organization()
    with tenant_context(organization):
        for label, focus in FOCUSES:
            bench_context(organization, "deep", label, focus)
    with tenant_context(wide):
        for label, focus in WIDE_FOCUSES:
            bench_context(wide, "wide", label, focus)
    with tenant_context(organization):
        bench_validation(organization)
    bench_first_token()
    return 0


if __name__ == "__main__":
    sys.exit(main())
