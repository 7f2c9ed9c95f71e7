"""The analysis tasks: in-process runs and snapshots, the beat schedule, a real worker."""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.analysis.choices import RunStatus
from apps.analysis.models import AnalysisRun, UtilizationSnapshot
from apps.analysis.tasks import run_analysis, snapshot_organization, snapshot_utilization
from apps.tenancy.models import Organization
from apps.tenancy.rls import rls_bypass, tenant_context
from cloudpam.celery import app
from tests.celery_worker import running_worker
from tests.rls import become

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE = "analysis: daily utilization snapshots"


@pytest.mark.django_db
def test_run_task_completes_a_run_in_process(organization, plan):
    run = AnalysisRun.objects.create(organization=organization, all_pools=True)
    assert run_analysis.delay(run_id=run.pk, organization_id=organization.pk).get() == "completed"
    run.refresh_from_db()
    assert (run.status, run.progress, run.summary["pools"]) == (RunStatus.COMPLETED, 100, 6)
    # A retry of a finished run does nothing more.
    assert run_analysis.delay(run_id=run.pk, organization_id=organization.pk).get() == "completed"


@pytest.mark.django_db
def test_run_task_of_another_organization_or_a_missing_run(organization, other_organization):
    run = AnalysisRun.objects.create(organization=organization, all_pools=True)
    assert run_analysis.delay(run_id=run.pk, organization_id=other_organization.pk).get() == (
        "missing"
    )
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


@pytest.mark.django_db
def test_snapshot_tasks_cover_every_organization(organization, other_organization, plan, make_pool):
    make_pool("10.0.0.0/8", organization=other_organization, name="globex")
    assert snapshot_utilization.delay().get() == 2
    today = timezone.now().date()
    assert UtilizationSnapshot.objects.filter(day=today).count() == 7
    assert snapshot_organization.delay(organization_id=organization.pk).get() == 6
    assert UtilizationSnapshot.objects.filter(day=today).count() == 7
    with pytest.raises(Organization.DoesNotExist):
        snapshot_organization.delay(organization_id=987654)


@pytest.mark.django_db
def test_daily_snapshot_is_scheduled_in_the_database():
    task = PeriodicTask.objects.get(name=SCHEDULE)
    assert task.task == "analysis.snapshot_utilization"
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == (
        "15",
        "0",
        "UTC",
    )
    assert "analysis.snapshot_utilization" in app.tasks

    migration = importlib.import_module("apps.analysis.migrations.0002_daily_snapshot_schedule")
    migration.remove_schedule(django_apps, None)
    assert not PeriodicTask.objects.filter(name=SCHEDULE).exists()
    migration.create_schedule(django_apps, None)
    migration.create_schedule(django_apps, None)
    assert PeriodicTask.objects.filter(name=SCHEDULE).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_tasks_run_in_their_organization_under_row_level_security(
    organization, other_organization, plan, make_pool, app_role
):
    make_pool("10.0.0.0/8", organization=other_organization, name="globex")
    run = AnalysisRun.objects.create(organization=organization, all_pools=True)
    foreign = AnalysisRun.objects.create(organization=other_organization, all_pools=True)
    become(app_role)
    assert run_analysis.delay(run_id=foreign.pk, organization_id=organization.pk).get() == "missing"
    assert run_analysis.delay(run_id=run.pk, organization_id=organization.pk).get() == "completed"
    assert snapshot_utilization.delay().get() == 2
    with tenant_context(organization):
        run.refresh_from_db()
        assert (run.status, run.summary["pools"]) == (RunStatus.COMPLETED, 6)
        assert UtilizationSnapshot.objects.count() == 6
    with rls_bypass():
        assert UtilizationSnapshot.objects.count() == 7
    # Outside any tenant context the tables show nothing: the wall holds.
    assert UtilizationSnapshot.objects.count() == 0
    assert AnalysisRun.objects.count() == 0


def _database_url() -> str:
    settings = connection.settings_dict
    credentials = quote(settings["USER"] or "", safe="")
    if settings.get("PASSWORD"):
        credentials += ":" + quote(settings["PASSWORD"], safe="")
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or "5432"
    return f"postgres://{credentials}@{host}:{port}/{settings['NAME']}"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_real_worker_runs_an_analysis_and_reports_progress(redis_url, tmp_path, organization, plan):
    """A worker on Redis, sharing the test database, carries out a run and reports progress.

    A trigger records every progress value the worker writes, so the test sees them all
    however fast the run is.
    """
    run = AnalysisRun.objects.create(organization=organization, all_pools=True)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE test_run_progress (id serial, progress integer)")
        cursor.execute(
            "CREATE FUNCTION test_log_progress() RETURNS trigger AS $$ BEGIN "
            "INSERT INTO test_run_progress (progress) VALUES (NEW.progress); RETURN NEW; "
            "END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER test_log_progress AFTER UPDATE OF progress ON analysis_analysisrun "
            "FOR EACH ROW EXECUTE FUNCTION test_log_progress()"
        )
    env = {"DATABASE_URL": _database_url()}
    try:
        with running_worker(redis_url, tmp_path, label="analysis", env=env) as (client, queue):
            result = client.send_task(
                "analysis.run",
                kwargs={"run_id": run.pk, "organization_id": organization.pk},
                queue=queue,
            )
            seen = []
            deadline = time.monotonic() + 90
            while not result.ready() and time.monotonic() < deadline:
                seen.append(AnalysisRun.objects.values_list("status", flat=True).get(pk=run.pk))
                time.sleep(0.05)
            assert result.get(timeout=5) == "completed"
            with connection.cursor() as cursor:
                cursor.execute("SELECT progress FROM test_run_progress ORDER BY id")
                written = [row[0] for row in cursor.fetchall()]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS test_log_progress ON analysis_analysisrun")
            cursor.execute("DROP FUNCTION IF EXISTS test_log_progress()")
            cursor.execute("DROP TABLE IF EXISTS test_run_progress")
    run.refresh_from_db()
    assert (run.status, run.progress, run.message) == ("completed", 100, "Analysed 6 pools.")
    assert run.summary["pools"] == 6
    assert set(seen) <= {"queued", "running", "completed"}
    # 1 % on loading, engine steps up to 95 %, then 100 % on completion.
    assert written[0] == 1
    assert written[-1] == 100
    assert written == sorted(written)
    assert len(written) >= 3
    assert any(1 < value < 100 for value in written)
