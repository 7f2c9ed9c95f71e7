"""PostgreSQL's plans for the pool queries that must stay index scans at any size (issue 16).

The data is realistic in shape and in statistics, not forced: three organizations of
generated plans (9,000 pools), ``ANALYZE``d, with the planner's defaults (no
``enable_seqscan = off``). Each request's queries on ``pools_pool`` are captured and
``EXPLAIN``ed; none may read the table sequentially. The figures at a million pools are in
``bench/bench_scale.py``.

Left out: the reads that cover most of an organization by nature (the count of its whole
list, ``GET /pools/`` with no filter or a filter every pool matches, and the census of the
big pools of the analysis in parts), for which a sequential scan is the cheapest plan; and
``q``, whose trigram indexes (migration 0006) the planner only prefers on a large table:
``bench/bench_scale.py`` checks it at a million pools, with the other queries here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.analysis.parts import organization_summary_in_parts
from apps.pools.generation import pool_plan_generate
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from apps.tenancy.rls import tenant_context
from tests.actors import TEST_ACTOR

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def plans(organization: Organization, other_organization: Organization) -> Organization:
    third = Organization.objects.create(name="Initech", slug="initech")
    for org, total, seed in (
        (organization, 4_000, 1),
        (other_organization, 3_000, 2),
        (third, 2_000, 3),
    ):
        pool_plan_generate(organization=org, total=total, seed=seed, actor=TEST_ACTOR)
    tagged = list(
        Pool.objects.for_organization(organization).filter(depth=4).values_list("pk", flat=True)
    )[:40]
    Pool.objects.filter(pk__in=tagged).update(tags={"env": "prod"})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pools_pool")
        cursor.execute("ANALYZE pools_poolchildlengths")
    return organization


def sequential_scans(queries: list[dict[str, Any]], organization: Organization) -> list[str]:
    """Return the captured queries on pools_pool whose plan reads it sequentially."""
    found = []
    for query in queries:
        sql = query["sql"]
        if "pools_pool" not in sql or sql.lstrip().upper().startswith(
            ("SAVEPOINT", "RELEASE", "EXPLAIN")
        ):
            continue
        with tenant_context(organization), connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        # pools_pool itself. The child counts utilization reads (pools_poolchildlengths) are
        # a few rows per pool; on a table this small a sequential read of them is the
        # planner's right choice, so only bench_scale checks them, at a million pools.
        if re.search(r"Seq Scan on pools_pool\s", plan):
            found.append(f"{sql}\n{plan}")
    return found


def urls(organization: Organization) -> list[str]:
    live = Pool.objects.for_organization(organization).live()
    hub = live.order_by("-numchild", "pk").first()
    leaf = live.filter(depth=6).order_by("pk").first()
    vpc = live.filter(depth=4).exclude(pk=hub.pk).order_by("pk").first()
    address = leaf.cidr.split("/")[0]
    return [
        f"/api/v1/pools/{leaf.pk}/",
        f"/api/v1/pools/?parent={hub.pk}",
        "/api/v1/pools/?parent=null",
        "/api/v1/pools/?type=vpc",
        "/api/v1/pools/?type=environment&status=active",
        "/api/v1/pools/?status=deprecated",
        "/api/v1/pools/?tag=env:prod",
        f"/api/v1/pools/?cidr={leaf.cidr}",
        f"/api/v1/pools/?contains={address}",
        f"/api/v1/pools/?within={vpc.cidr}",
        f"/api/v1/pools/?root={vpc.pk}",
        f"/api/v1/ip/{address}/",
        f"/api/v1/pools/{hub.pk}/available/",
        f"/api/v1/pools/{hub.pk}/available/?prefix_length={hub.prefix_length + 12}",
        f"/api/v1/pools/{hub.pk}/utilization/",
        f"/api/v1/pools/{hub.pk}/children/",
        f"/api/v1/pools/tree/?root={hub.pk}&depth=1",
        f"/api/v1/analysis/pools/{vpc.pk}/",
    ]


def test_the_pool_requests_use_indexes(
    plans: Organization, token_client: Callable[..., Any]
) -> None:
    client = token_client(plans)
    problems = []
    for url in urls(plans):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, url
        problems += [
            f"{url}: {scan}" for scan in sequential_scans(captured.captured_queries, plans)
        ]
    assert problems == []


def test_the_analysis_in_parts_reads_by_index(plans: Organization) -> None:
    with tenant_context(plans), CaptureQueriesContext(connection) as captured:
        organization_summary_in_parts(organization=plans, part_size=300)
    queries = [
        query
        for query in captured.captured_queries
        # The count of the plan and the census of the big pools read it all (see above).
        if "COUNT(" not in query["sql"].upper()
        or ("BETWEEN" in query["sql"] and "HAVING" not in query["sql"].upper())
    ]
    assert len(queries) > 10
    assert sequential_scans(queries, plans) == []


def test_the_analysis_reads_each_parts_history_by_pool(plans: Organization) -> None:
    # Two days of snapshots of every pool: joined to the pools by path, the planner read
    # all of them for each part (66 s a part at a million pools).
    from datetime import timedelta

    from django.utils import timezone

    from apps.analysis.services import snapshot_take

    today = timezone.now().date()
    for day in (today - timedelta(days=1), today):
        snapshot_take(organization=plans, day=day)
    with tenant_context(plans), CaptureQueriesContext(connection) as captured:
        organization_summary_in_parts(organization=plans, part_size=300)
    reads = [
        query["sql"]
        for query in captured.captured_queries
        if "analysis_utilizationsnapshot" in query["sql"]
    ]
    assert len(reads) > 10
    # By pool id (an array), which the (pool, day) index answers; on a table this small a
    # sequential read is the planner's right choice, so bench_scale.py times it at a million
    # pools.
    for sql in reads:
        assert "pools_pool" not in sql, sql
        assert "pool_id = ANY(" in sql, sql


def test_a_parts_history_read_compares_ids_of_the_columns_type(plans: Organization) -> None:
    # psycopg sends a list of small ids as int4[]: bigint = ANY(int4[]) cannot be hashed,
    # and where the planner filtered the snapshots through the list (before the table's
    # first ANALYZE) each was compared with a part's 20,000 ids one by one, 16 s a part at
    # 200,000 pools. As bigint[], the list is an index condition or a hashed filter.
    from apps.analysis.services import snapshot_take

    snapshot_take(organization=plans)
    with tenant_context(plans), CaptureQueriesContext(connection) as captured:
        organization_summary_in_parts(organization=plans, part_size=300)
    query = next(
        query
        for query in captured.captured_queries
        if "analysis_utilizationsnapshot" in query["sql"]
    )
    with connection.cursor() as cursor:
        for analyzed in (False, True):
            if analyzed:
                cursor.execute("ANALYZE analysis_utilizationsnapshot")
            else:
                # The table as before its first ANALYZE (the test runs as a superuser).
                cursor.execute(
                    "DELETE FROM pg_statistic"
                    " WHERE starelid = 'analysis_utilizationsnapshot'::regclass"
                )
                cursor.execute(
                    "UPDATE pg_class SET reltuples = -1, relpages = 0"
                    " WHERE oid = 'analysis_utilizationsnapshot'::regclass"
                )
            with tenant_context(plans):
                cursor.execute(f"EXPLAIN {query['sql']}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "pool_id = ANY (" in plan, plan
            assert "::bigint[]" in plan, plan
            assert "::integer[]" not in plan, plan
            assert "::smallint[]" not in plan, plan
