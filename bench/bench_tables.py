"""Benchmark the console's pool table with 100,000 pools: page sizes, sorts and columns.

Run from the repository root::

    python bench/bench_tables.py [--database-url postgres://...]

It builds the plan of ``bench_pools_api.py`` (a /8, 256 /16s, 99,743 /26s; a throwaway
SQLite database unless ``--database-url`` or ``DATABASE_URL`` names another), signs in as
an owner and renders ``/pools/list/`` at 25 and 250 rows, sorted by address and by name
descending, with the default columns and then with every column chosen. It prints the
p50/p95/max of each (the query counts are pinned by
``tests/platform/test_table_queries.py``). No target is set by an issue; the figures are for
comparison (a page of 250 rows renders every cell through its column's template).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_pools_api
from bench_pools_api import WARMUP, build_plan, measure, setup_django

REQUESTS = 40

CASES = (
    ("25 rows, address order", "/pools/list/?per_page=25"),
    ("250 rows, address order", "/pools/list/?per_page=250"),
    ("250 rows, name descending", "/pools/list/?per_page=250&sort=-name"),
    (
        "250 rows, within a /16, by prefix",
        "/pools/list/?per_page=250&within=10.7.0.0/16&sort=prefix_length",
    ),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="database to fill (default: $DATABASE_URL, else a temporary SQLite)",
    )
    parser.add_argument("--requests", type=int, default=REQUESTS, help="timed requests per case")
    args = parser.parse_args()
    bench_pools_api.REQUESTS = args.requests
    setup_django(args.database_url)
    from django.db import connection
    from django.test import Client

    from apps.pools.tables import PoolTable
    from apps.tenancy.models import TablePreference

    plan = build_plan()
    client = Client(HTTP_HOST="localhost")
    client.force_login(plan["user"])
    print(
        f"database: {connection.vendor}; {WARMUP} warm-up and {args.requests} timed "
        "requests per case"
    )
    for columns in ("default columns", "every column"):
        if columns == "every column":
            TablePreference.objects.update_or_create(
                user=plan["user"],
                table=PoolTable.key,
                defaults={"columns": PoolTable.column_keys()},
            )
        for label, url in CASES:
            p50, p95, worst = measure(client, url)
            print(f"{label}, {columns}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {worst:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
