"""The whole-organization analysis in parts gives the figures of the one-piece analysis."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import billiard
import pytest
from django.utils import timezone

from apps.analysis import selectors
from apps.analysis.models import AnalysisRun
from apps.analysis.parts import _in_processes, _Job, organization_summary_in_parts
from apps.analysis.services import analysis_run_execute
from apps.pools.generation import pool_plan_generate
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from tests.actors import TEST_ACTOR
from tests.analysis.conftest import add_history

pytestmark = pytest.mark.django_db


def one_piece(organization: Organization) -> dict[str, Any]:
    tree, result = selectors.organization_analysis(organization=organization)
    summary = selectors.overview_data(tree, result)
    summary["findings"] = len(result.findings)
    summary["recommendations"] = len(result.recommendations)
    return summary


@pytest.fixture
def generated(organization: Organization) -> Organization:
    """A generated plan of 1,500 pools with some history, deprecated pools and old ones."""
    pool_plan_generate(organization=organization, total=1_500, seed=5, actor=TEST_ACTOR)
    live = Pool.objects.for_organization(organization).live()
    # Old pools make EMPTY_POOL findings and reclaim recommendations.
    live.filter(pk__in=list(live.filter(depth=6).values_list("pk", flat=True)[:200])).update(
        created_at=timezone.now() - timedelta(days=90)
    )
    for pool in live.filter(depth__in=[3, 4, 5]).exclude(numchild=0)[:20]:
        add_history(pool, [pool.size // 8, pool.size // 5, pool.size // 3, pool.size // 2])
    return organization


@pytest.mark.parametrize("part_size", [1, 7, 60, 400, 100_000])
def test_the_parts_add_up_to_the_one_piece_analysis(
    generated: Organization, part_size: int
) -> None:
    expected = one_piece(generated)
    assert expected["pools"] == 1_500
    assert expected["findings"] > 0
    assert expected["recommendations"] > 0
    assert organization_summary_in_parts(organization=generated, part_size=part_size) == expected


def test_the_parts_cover_overlapping_roots_and_root_consolidations(
    organization: Organization, make_pool: Any
) -> None:
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    first = make_pool("10.0.0.0/16", name="a", type="vpc", status="planned")
    make_pool("10.1.0.0/16", name="b", type="vpc", status="planned")
    make_pool("10.0.0.0/16", name="c", type="vpc")
    make_pool("10.0.1.0/24", parent=first, name="s", type="subnet")
    expected = one_piece(organization)
    assert expected["recommendations_by_type"].get("consolidation")
    for part_size in (1, 2, 100):
        summary = organization_summary_in_parts(organization=organization, part_size=part_size)
        assert summary == expected


def test_an_analysis_run_of_the_whole_plan_goes_in_parts(generated: Organization) -> None:
    run = AnalysisRun.objects.create(organization=generated, all_pools=True)
    steps: list[int] = []
    run = analysis_run_execute(run=run, on_progress=lambda percent, _: steps.append(percent))
    assert run.status == "completed"
    assert run.summary == one_piece(generated)
    assert run.message == "Analysed 1,500 pools."
    assert steps == sorted(steps)
    assert steps[-1] == 100


def test_snapshots_are_taken_in_chunks(generated: Organization, monkeypatch: Any) -> None:
    from apps.analysis import services
    from apps.analysis.models import UtilizationSnapshot
    from apps.pools.selectors import pool_utilization_map

    monkeypatch.setattr(services, "SNAPSHOT_CHUNK", 64)
    assert services.snapshot_take(organization=generated) == 1_500
    live = list(Pool.objects.for_organization(generated).live())
    usage = pool_utilization_map(live)
    today = timezone.now().date()
    stored = {row.pool_id: row for row in UtilizationSnapshot.objects.filter(day=today)}
    assert len(stored) == 1_500
    for pool in live:
        assert stored[pool.pk].used == str(usage[pool.pk].used)
        assert stored[pool.pk].total == str(usage[pool.pk].total)
    # Idempotent: the second run of the day overwrites.
    assert services.snapshot_take(organization=generated) == 1_500
    assert UtilizationSnapshot.objects.filter(day=today).count() == 1_500


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parts_spread_over_processes_add_up_to_the_one_piece_analysis(
    organization: Organization, settings: Any, caplog: Any
) -> None:
    # Committed (a transactional test): the processes read the plan on their own connections.
    pool_plan_generate(organization=organization, total=1_500, seed=5, actor=TEST_ACTOR)
    for pool in (
        Pool.objects.for_organization(organization).filter(depth=4).exclude(numchild=0)[:10]
    ):
        add_history(pool, [pool.size // 8, pool.size // 4, pool.size // 2])
    expected = one_piece(organization)
    settings.CLOUDPAM_ANALYSIS_PROCESSES = 2
    steps: list[tuple[int, int]] = []
    with caplog.at_level("WARNING", logger="apps.analysis.parts"):
        summary = organization_summary_in_parts(
            organization=organization, part_size=60, progress=lambda *step: steps.append(step)
        )
    assert summary == expected
    assert steps[-1] == (1_500, 1_500)
    assert [done for done, _ in steps] == sorted(done for done, _ in steps)

    # The parts themselves, from other processes (a failure there would raise, not fall
    # back to this one), equal to those made here.
    job = _Job(organization, 60, None)
    big = job.big_pools()
    paths = {pool.path for pool in big}
    runs = [(parent, run) for parent in [None, *big] for run in job.runs(parent, paths)][:6]
    assert len(runs) == 6
    here = {tuple(part.totals): part for part in (job.part(parent, run) for parent, run in runs)}
    there = {tuple(part.totals): part for part in _in_processes(job, runs, 2)}
    assert there.keys() == here.keys()
    for key, part in there.items():
        assert (part.totals, part.summary.data(), part.pools) == (
            here[key].totals,
            here[key].summary.data(),
            here[key].pools,
        )

    # From a process of a Celery worker's pool (a billiard daemon), as production runs it.
    from django.db import connection

    from apps.analysis import processes

    context = billiard.get_context("spawn")
    database = connection.settings_dict["NAME"]
    with context.Pool(1, initializer=processes.setup, initargs=(database,)) as pool:
        pools = pool.apply(_parts_from_a_pool_process, (organization.pk, runs))
    assert pools == sum(part.pools for part in here.values())


def _parts_from_a_pool_process(organization_id: int, runs: list[Any]) -> int:
    from apps.tenancy.rls import tenant_context

    assert billiard.current_process().daemon
    organization = Organization.objects.get(pk=organization_id)
    with tenant_context(organization):
        job = _Job(organization, 60, None)
        return sum(part.pools for part in _in_processes(job, runs, 2))


def test_a_parts_pools_read_raw_equal_the_orms(generated: Organization) -> None:
    # On PostgreSQL the rows come without Django's converters and the creation times
    # through psycopg's own loader; they must be the pools the ORM reads, times included.
    from apps.analysis.selectors import _POOL_FIELDS, _pool_data
    from apps.tenancy.rls import tenant_context

    Pool.objects.for_organization(generated).filter(depth=5).update(tags={"env": "prod"})
    job = _Job(generated, 60, None)
    with tenant_context(generated):
        queryset = job.live().order_by("pk")
        raw = job.rows(queryset)
        through_orm = _pool_data(queryset.values_list(*_POOL_FIELDS))
    assert len(raw) == 1_500
    assert raw == through_orm
    assert {pool.created_at.utcoffset() for pool in raw} == {timedelta(0)}
    assert any(pool.tags for pool in raw)
