"""Benchmark one organization of 1,000,000 pools on PostgreSQL (issue 16).

Run from the repository root (``make bench-scale``; minutes, not seconds)::

    SCALE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/cp_scale_bench \\
        python bench/bench_scale.py [--pools 1000000]

The database is the benchmark's own: it is migrated, and the organization ``scale`` is
filled once with ``manage.py generate_plan`` (timed, and the time kept in
``var/bench_scale.json`` next to the database's name); later runs reuse the plan. The
requests go through the Django test client with an API token (Bearer), the settings of
``DJANGO_SETTINGS_MODULE`` (the test settings by default, as for every bench script).

Figures (targets from issue 16): pool detail p95, list page with utilization p95, the
first page of a tree level of 50,000 children, free space of the biggest pools, the
``/ip/{address}/`` lookup p95, a recursive delete of a subtree of about 100,000 pools (in
a child process, rolled back so the plan stays whole; killed after four times its
target), the daily snapshot job (time and traced peak) and the whole-organization
analysis (time, and peak memory in a child process), after the snapshot so that its
runway reads a day of history as it does in production. Every figure goes through
``bench/_report.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import broken, report

ROOT = Path(__file__).resolve().parent.parent
SLUG = "scale"
POOLS = 1_000_000
REQUESTS = 200
WARMUP = 10
DETAIL_P95_MS = 50.0
LIST_P95_MS = 100.0
TREE_PAGE_MS = 200.0
FREE_SPACE_S = 0.5
LOOKUP_P95_MS = 20.0
DELETE_S = 30.0
DELETE_SUBTREE = 100_000
ANALYSIS_S = 60.0
# Peak resident memory of the whole-organization analysis, a process of its own.
ANALYSIS_RSS_MIB = 1_024.0
SNAPSHOT_PEAK_MIB = 256.0
GENERATE_S = 600.0
# The parts ``--only`` chooses from, in the order they run.
# The snapshot job runs before the analysis, whose runway reads the snapshots.
PARTS = ("detail", "list", "tree", "free", "explain", "lookup", "delete", "snapshot", "analysis")


def setup_django(database_url: str) -> None:
    """Point Django at the benchmark database, migrate it and quiet the log lines."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpam.settings.test")
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    logging.getLogger("cloudpam.audit").setLevel(logging.WARNING)


def _state_file() -> Path:
    path = ROOT / "var" / "bench_scale.json"
    path.parent.mkdir(exist_ok=True)
    return path


def generated(total: int, database_url: str) -> tuple[float, bool]:
    """Fill the organization once; return the generation's seconds and whether it ran now."""
    from django.core.management import call_command

    from apps.pools.models import Pool
    from apps.tenancy.models import Organization
    from apps.tenancy.rls import tenant_context

    organization, _ = Organization.objects.get_or_create(
        slug=SLUG, defaults={"name": "Scale", "quotas": {"max_pools": 2 * total}}
    )
    state = json.loads(_state_file().read_text()) if _state_file().exists() else {}
    with tenant_context(organization):
        count = Pool.objects.for_organization(organization).count()
    if count:
        print(f"reusing the {count:,} pools of '{SLUG}'")
        return float(state.get(database_url, {}).get("seconds", "nan")), False
    started = time.perf_counter()
    call_command("generate_plan", pools=total, org=SLUG, seed=0)
    seconds = time.perf_counter() - started
    state[database_url] = {"seconds": seconds, "pools": total}
    _state_file().write_text(json.dumps(state, indent=2))
    return seconds, True


def token_client() -> tuple[object, object]:
    """Return a test client carrying an owner's API token, and the organization."""
    from django.test import Client

    from apps.tenancy import services
    from apps.tenancy.models import Membership, Organization, User
    from apps.tenancy.rls import tenant_context

    organization = Organization.objects.get(slug=SLUG)
    user, _ = User.objects.get_or_create(email="scale-bench@example.com")
    with tenant_context(organization):
        membership, _ = Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": "owner"}
        )
        _, value = services.api_token_create(
            membership=membership, name=f"bench {time.time():.0f}", scopes=["read", "write"]
        )
    return Client(HTTP_AUTHORIZATION=f"Bearer {value}", HTTP_HOST="localhost"), organization


def console_client():  # type: ignore[no-untyped-def]
    """Return a test client logged in to the console as the benchmark's owner."""
    from django.test import Client

    from apps.tenancy.models import User

    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.get(email="scale-bench@example.com"))
    return client


def timed_get(client, url: str) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        broken(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
    return elapsed


def p95(client, urls: list[str]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Return the median and p95 in ms of GETs of ``urls`` after a warm-up.

    Also prints the median Python CPU time per request: on a shared, loaded machine the
    wall times are mostly waiting for a core, and the CPU time is the work.
    """
    for url in urls[:WARMUP]:
        timed_get(client, url)
    times, cpu = [], []
    for url in urls:
        started = time.process_time()
        times.append(timed_get(client, url))
        cpu.append((time.process_time() - started) * 1000)
    times.sort()
    print(f"  ({len(urls)} requests: Python CPU median {statistics.median(cpu):.1f} ms)")
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def explain_all(client, organization, urls: list[str]) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
    """EXPLAIN every pools_pool query of ``urls``; return how many, and the sequential scans."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.tenancy.rls import tenant_context

    checked, scans = 0, []
    for url in urls:
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        for query in captured.captured_queries:
            sql = query["sql"]
            # The planner estimates of capped list counts are EXPLAINs already.
            if "pools_pool" not in sql or sql.startswith("EXPLAIN"):
                continue
            checked += 1
            with tenant_context(organization), connection.cursor() as cursor:
                cursor.execute("EXPLAIN " + sql)
                plan = "\n".join(row[0] for row in cursor.fetchall())
            if "Seq Scan on pools_pool" in plan:
                scans.append(f"{url}: {sql}")
    return checked, scans


def subtree_near(organization, size: int):  # type: ignore[no-untyped-def]
    """Return the live pool whose subtree is closest to ``size`` pools (depth 2 or 3)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT prefix, count(*) FROM (
                SELECT substr(path, 1, 8) AS prefix FROM pools_pool
                WHERE organization_id = %s AND deleted_at IS NULL AND depth >= 2
                UNION ALL
                SELECT substr(path, 1, 12) FROM pools_pool
                WHERE organization_id = %s AND deleted_at IS NULL AND depth >= 3
            ) AS paths GROUP BY prefix
            """,
            [organization.pk, organization.pk],
        )
        prefix, count = min(cursor.fetchall(), key=lambda row: abs(row[1] - size))
    from apps.pools.models import Pool

    return Pool.objects.get(organization=organization, path=prefix), count


def delete_child(pool_id: int) -> None:
    """Delete the subtree of ``pool_id`` recursively, print the seconds, roll back."""
    from django.db import transaction

    from apps.pools.models import Pool
    from apps.pools.services import pool_delete
    from apps.tenancy.models import Organization
    from apps.tenancy.rls import tenant_context
    from cloudpam.context import system_actor

    organization = Organization.objects.get(slug=SLUG)
    with tenant_context(organization), transaction.atomic():
        pool = Pool.objects.get(pk=pool_id)
        started = time.perf_counter()
        deleted = pool_delete(pool=pool, recursive=True, actor=system_actor("bench"))
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    print(json.dumps({"seconds": seconds, "deleted": deleted}))


def analysis_child() -> None:
    """Run the whole-organization analysis job; print its seconds and peak RSS."""
    from apps.analysis.models import AnalysisRun
    from apps.analysis.services import analysis_run_execute
    from apps.tenancy.models import Organization
    from apps.tenancy.rls import tenant_context

    organization = Organization.objects.get(slug=SLUG)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tenant_context(organization):
        run = AnalysisRun.objects.create(organization=organization, all_pools=True)
        started = time.perf_counter()
        run = analysis_run_execute(run=run)
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # The processes the parts were spread over (CLOUDPAM_ANALYSIS_PROCESSES): the largest.
    processes = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "status": run.status,
                "pools": run.summary.get("pools"),
                "rss_mib": max(peak, processes) / 1024,
                "rss_job_mib": peak / 1024,
                "rss_process_mib": processes / 1024,
                "rss_before_mib": before / 1024,
            }
        )
    )


def child(args: list[str], timeout: float) -> dict[str, object] | None:
    """Run this script with ``args`` in a fresh process; None when it outlives ``timeout``."""
    command = [sys.executable, __file__, *args]
    try:
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-4000:])
        broken(f"{' '.join(args)} failed (exit {result.returncode})")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("SCALE_DATABASE_URL"))
    parser.add_argument("--pools", type=int, default=POOLS)
    parser.add_argument("--delete-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--analysis-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated parts to run, of: {', '.join(PARTS)} (all by default)",
    )
    args = parser.parse_args()
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    if only - set(PARTS):
        print(f"unknown parts {sorted(only - set(PARTS))}; choose from {', '.join(PARTS)}")
        return 2

    def want(part: str) -> bool:
        return not only or part in only

    if not args.database_url or not args.database_url.startswith("postgres"):
        print("bench_scale needs PostgreSQL: set SCALE_DATABASE_URL (or --database-url)")
        return 2
    os.environ["SCALE_DATABASE_URL"] = args.database_url
    setup_django(args.database_url)
    if args.delete_child is not None:
        delete_child(args.delete_child)
        return 0
    if args.analysis_child:
        analysis_child()
        return 0

    from apps.pools.models import Pool
    from apps.tenancy.rls import tenant_context

    seconds, fresh = generated(args.pools, args.database_url)
    label = "generating the plan" if fresh else "generating the plan (earlier run)"
    report(label, seconds, "s", f"<= {GENERATE_S:.0f}", seconds <= GENERATE_S)

    client, organization = token_client()
    rng = random.Random(16)
    with tenant_context(organization):
        live = Pool.objects.for_organization(organization).live()
        total = live.count()
        print(f"{total:,} live pools in '{SLUG}'")
        top = live.order_by("-pk").values_list("pk", flat=True)[0]
        sample = [rng.randint(1, top) for _ in range(REQUESTS * 3)]
        existing = list(live.filter(pk__in=sample).values_list("pk", flat=True))[:REQUESTS]
        hub = live.order_by("-numchild").first()
        roots = list(live.filter(depth=1).order_by("path"))
        leaves = list(
            live.filter(numchild=0, depth__gte=5)
            .order_by("?")
            .values_list("cidr", flat=True)[:REQUESTS]
        )

    if want("detail"):
        median, high = p95(client, [f"/api/v1/pools/{pk}/" for pk in existing])
        print(f"pool detail: median {median:.1f} ms, p95 {high:.1f} ms")
        report("pool detail p95", high, "ms", f"<= {DETAIL_P95_MS:.0f}", high <= DETAIL_P95_MS)

    if want("list"):
        lists = [
            "/api/v1/pools/",
            f"/api/v1/pools/?parent={hub.pk}",
            "/api/v1/pools/?type=vpc",
            "/api/v1/pools/?family=6&status=active",
            f"/api/v1/pools/?within={roots[0].cidr}",
        ]
        for url in lists:
            median, high = p95(client, [url] * (REQUESTS // len(lists)))
            print(f"{url}: median {median:.1f} ms, p95 {high:.1f} ms")
        median, high = p95(client, [url for url in lists for _ in range(REQUESTS // len(lists))])
        report(
            "list page with utilization p95",
            high,
            "ms",
            f"<= {LIST_P95_MS:.0f}",
            high <= LIST_P95_MS,
        )
        console = console_client()
        pages = [
            "/pools/list/",
            f"/pools/list/?parent={hub.pk}",
            "/pools/list/?type=vpc",
            "/pools/list/?family=6&status=active",
        ]
        for url in pages:
            median, high = p95(console, [url] * (REQUESTS // len(pages) // 2))
            print(f"console {url}: median {median:.1f} ms, p95 {high:.1f} ms")
        median, high = p95(
            console, [url for url in pages for _ in range(REQUESTS // len(pages) // 2)]
        )
        report(
            "console list page p95",
            high,
            "ms",
            f"<= {LIST_P95_MS:.0f}",
            high <= LIST_P95_MS,
        )

    if want("tree"):
        tree_url = f"/api/v1/pools/tree/?root={hub.pk}&depth=1"
        first = timed_get(client, tree_url)
        median, high = p95(client, [tree_url] * 20)
        print(
            f"tree level of {hub.numchild:,} children, first page: first {first:.1f} ms, "
            f"median {median:.1f} ms"
        )
        report(
            f"tree level of {hub.numchild:,} children, first page",
            median,
            "ms",
            f"<= {TREE_PAGE_MS:.0f}",
            median <= TREE_PAGE_MS,
        )

    if want("free"):
        worst = 0.0
        for pool in [hub, *roots]:
            elapsed = min(
                timed_get(client, f"/api/v1/pools/{pool.pk}/available/") for _ in range(3)
            )
            print(f"free space of {pool.cidr} ({pool.numchild:,} children): {elapsed:.1f} ms")
            worst = max(worst, elapsed / 1000)
        report(
            "free space of the biggest pools",
            worst,
            "s",
            f"<= {FREE_SPACE_S}",
            worst <= FREE_SPACE_S,
        )

    if want("explain"):
        plans_checked, scans = explain_all(
            client,
            organization,
            [
                f"/api/v1/pools/{existing[0]}/",
                f"/api/v1/pools/?parent={hub.pk}",
                "/api/v1/pools/?type=vpc",
                "/api/v1/pools/?status=deprecated",
                "/api/v1/pools/?q=vpc-12",
                f"/api/v1/pools/?contains={leaves[0].split('/')[0]}",
                f"/api/v1/pools/?within={leaves[0]}",
                f"/api/v1/ip/{leaves[0].split('/')[0]}/",
                f"/api/v1/pools/{hub.pk}/available/",
                f"/api/v1/pools/{hub.pk}/utilization/",
                f"/api/v1/pools/tree/?root={hub.pk}&depth=1",
            ],
        )
        for scan in scans:
            print(f"  sequential scan: {scan[:300]}")
        report(
            f"key queries reading pools_pool sequentially (of {plans_checked})",
            len(scans),
            "queries",
            "0",
            not scans,
        )

    if want("lookup"):
        addresses = [cidr.split("/")[0] for cidr in leaves]
        median, high = p95(client, [f"/api/v1/ip/{address}/" for address in addresses])
        print(f"/ip/{{address}}/: median {median:.1f} ms, p95 {high:.1f} ms")
        report("/ip/{address}/ p95", high, "ms", f"<= {LOOKUP_P95_MS:.0f}", high <= LOOKUP_P95_MS)

    if want("delete"):
        with tenant_context(organization):
            target, size = subtree_near(organization, DELETE_SUBTREE)
        print(f"recursive delete of {target.cidr} ({size:,} pools), rolled back afterwards")
        outcome = child(["--delete-child", str(target.pk)], timeout=DELETE_S * 4)
        if outcome is None:
            print(f"  stopped after {DELETE_S * 4:.0f} s")
            report(
                f"recursive delete of {size:,} pools", DELETE_S * 4, "s (stopped)", "<= 30", False
            )
        else:
            elapsed = float(outcome["seconds"])  # type: ignore[arg-type]
            report(
                f"recursive delete of {size:,} pools", elapsed, "s", "<= 30", elapsed <= DELETE_S
            )

    if want("snapshot"):
        from apps.analysis.services import snapshot_take

        with tenant_context(organization):
            tracemalloc.start()
            started = time.perf_counter()
            taken = snapshot_take(organization=organization)
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        print(
            f"snapshot of {taken:,} pools: {elapsed:.1f} s under tracemalloc, peak {peak:.1f} MiB"
        )
        report(
            "snapshot job traced peak",
            peak,
            "MiB",
            f"<= {SNAPSHOT_PEAK_MIB:.0f}",
            peak <= SNAPSHOT_PEAK_MIB,
        )

    if want("analysis"):
        outcome = child(["--analysis-child"], timeout=ANALYSIS_S * 10)
        if outcome is None:
            report("whole-organization analysis", ANALYSIS_S * 10, "s (stopped)", "<= 60", False)
        else:
            print(f"analysis: {outcome}")
            elapsed = float(outcome["seconds"])  # type: ignore[arg-type]
            rss = float(outcome["rss_mib"])  # type: ignore[arg-type]
            report("whole-organization analysis", elapsed, "s", "<= 60", elapsed <= ANALYSIS_S)
            report(
                "whole-organization analysis peak RSS",
                rss,
                "MiB",
                f"<= {ANALYSIS_RSS_MIB:.0f}",
                rss <= ANALYSIS_RSS_MIB,
            )

    return 0


if __name__ == "__main__":
    sys.exit(main())
