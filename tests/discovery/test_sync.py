"""The sync engine against the GCP loopback fake: exact first sync, changes, deletions,
the grace period, failed regions, throttling, 409, the quota, the reaper and the schedule.

Runs go through ``sync_run_start`` and the Celery task (eager in tests) with the real GCP
provider and collector modules reaching ``tests.fakes.gcp`` over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.audit.models import AuditEvent
from apps.cloud import services as cloud_services
from apps.cloud.models import CloudAccount
from apps.discovery import sync
from apps.discovery.models import DiscoveredResource, SyncRun
from apps.discovery.schedules import schedule_name
from cloudpam.exceptions import Conflict, QuotaExceeded
from tests.actors import TEST_ACTOR
from tests.fakes.gcp import FakeCompute

pytestmark = pytest.mark.django_db

PROJECT = "acme-net"
REGIONS = ("europe-west1", "us-central1")


@pytest.fixture
def compute(settings) -> Iterator[FakeCompute]:
    fake = FakeCompute(PROJECT, REGIONS)
    prod = fake.add_network("prod")
    fake.add_subnetwork(
        "europe-west1", "web", prod, "10.10.0.0/24", secondary={"pods": "10.64.0.0/20"}
    )
    fake.add_subnetwork("us-central1", "api", prod, "10.20.0.0/24")
    fake.add_address("lb", "10.10.0.5", region="europe-west1")
    with fake:
        settings.CLOUDPAM_GCP_ENDPOINT_URL = fake.url
        yield fake


@pytest.fixture
def account(organization) -> CloudAccount:
    return cloud_services.account_create(
        organization=organization,
        actor=TEST_ACTOR,
        name="acme",
        provider="gcp",
        external_id=PROJECT,
        auth_method="default_chain",
        regions=list(REGIONS),
    )


@pytest.fixture
def run_sync(django_capture_on_commit_callbacks):
    def run(account: CloudAccount, trigger: str = "manual") -> SyncRun:
        with django_capture_on_commit_callbacks(execute=True):
            started = sync.sync_run_start(account=account, actor=TEST_ACTOR, trigger=trigger)
        return SyncRun.objects.get(pk=started.pk)

    return run


def stored(account: CloudAccount) -> dict[tuple[str, str], str]:
    return {
        (row.resource_id.rsplit("/", 1)[-1], row.cidr): row.state
        for row in DiscoveredResource.objects.filter(account=account)
    }


ESTATE = {
    ("web", "10.10.0.0/24"): "present",
    ("web", "10.64.0.0/20"): "present",
    ("lb", "10.10.0.5/32"): "present",
    ("api", "10.20.0.0/24"): "present",
}


def counts(**values: int) -> dict[str, int]:
    base = {"seen": 0, "new": 0, "changed": 0, "unchanged": 0, "missing": 0, "gone": 0}
    return {**base, **values}


def test_first_sync_stores_the_estate_exactly(compute, account, run_sync):
    run = run_sync(account)
    assert run.status == "completed", run.error
    assert run.counts == counts(seen=4, new=4)
    assert stored(account) == ESTATE
    assert run.progress_percent == 100
    assert [region["region"] for region in run.regions] == ["global", *REGIONS]
    row = DiscoveredResource.objects.get(account=account, cidr="10.64.0.0/20")
    assert (row.resource_type, row.region, row.family, row.prefix_length) == (
        "subnetwork",
        "europe-west1",
        4,
        20,
    )
    assert (row.first_key, row.last_key) == ("0" * 24 + "0a400000", "0" * 24 + "0a400fff")
    assert row.last_seen_run_id == run.pk
    event = AuditEvent.objects.get(action="sync", object_id=run.pk)
    assert event.additional_data["counts"] == run.counts
    account.refresh_from_db()
    assert account.status == "healthy"
    assert account.last_collection["total"] == 4


def test_added_changed_and_deleted_resources_show_after_the_next_run(compute, account, run_sync):
    run_sync(account)
    prod = compute.networks[0]
    compute.add_subnetwork("us-central1", "db", prod, "10.30.0.0/24")
    compute.subnetworks["europe-west1"][0]["purpose"] = "PRIVATE_RFC_1918"
    compute.addresses["europe-west1"].clear()

    run = run_sync(account)

    assert run.status == "completed", run.error
    # web's two ranges changed; api unchanged; db new; lb missing.
    assert run.counts == counts(seen=4, new=1, changed=2, unchanged=1, missing=1)
    assert stored(account) == {
        **ESTATE,
        ("lb", "10.10.0.5/32"): "missing",
        ("db", "10.30.0.0/24"): "present",
    }
    web = DiscoveredResource.objects.get(account=account, cidr="10.10.0.0/24")
    assert web.attributes["purpose"] == "PRIVATE_RFC_1918"
    assert web.last_seen_run_id == run.pk


def test_a_missing_resource_is_gone_after_two_runs_and_two_hours(compute, account, run_sync):
    run_sync(account)
    compute.subnetworks["us-central1"].clear()
    api = ("api", "10.20.0.0/24")

    assert run_sync(account).counts["missing"] == 1
    third = run_sync(account)
    # Two complete collections without it, but not yet two hours.
    assert third.counts == counts(seen=3, unchanged=3)
    assert stored(account)[api] == "missing"
    assert DiscoveredResource.objects.get(cidr=api[1]).missing_runs == 2

    DiscoveredResource.objects.filter(cidr=api[1]).update(
        missing_since=timezone.now() - timedelta(hours=2, minutes=1)
    )
    fourth = run_sync(account)
    assert fourth.counts == counts(seen=3, unchanged=3, gone=1)
    row = DiscoveredResource.objects.get(cidr=api[1])
    assert (row.state, row.gone_at is not None) == ("gone", True)

    # It comes back: present again, counted as changed.
    compute.add_subnetwork("us-central1", "api", compute.networks[0], "10.20.0.0/24")
    back = run_sync(account)
    assert back.counts == counts(seen=4, changed=1, unchanged=3)
    assert stored(account) == ESTATE
    row.refresh_from_db()
    assert (row.missing_runs, row.missing_since, row.gone_at) == (0, None, None)


def test_the_grace_period_is_an_account_setting(compute, account, run_sync):
    cloud_services.account_update(
        account=account, actor=TEST_ACTOR, missing_grace_runs=1, missing_grace_minutes=0
    )
    run_sync(account)
    compute.addresses["europe-west1"].clear()
    run = run_sync(account)
    assert run.counts == counts(seen=3, unchanged=3, missing=1, gone=1)
    assert stored(account)[("lb", "10.10.0.5/32")] == "gone"


def test_a_no_change_run_writes_no_resource_row(compute, account, run_sync):
    run_sync(account)
    before = {row.pk: row.updated_at for row in DiscoveredResource.objects.all()}
    with CaptureQueriesContext(connection) as queries:
        run = run_sync(account)
    assert run.counts == counts(seen=4, unchanged=4)
    table = "discovery_discoveredresource"
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if table in q["sql"] and q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]
    # One bump statement per region that has resources, nothing else.
    assert len(writes) == 2, writes
    assert all('SET "last_seen_run_id"' in sql for sql in writes), writes
    assert {row.pk: row.updated_at for row in DiscoveredResource.objects.all()} == before
    assert set(DiscoveredResource.objects.values_list("last_seen_run", flat=True)) == {run.pk}
    # The whole run, pinned: reads and writes of the run, the account and the audit, and
    # the reconciliation after it (the organization's lock, the estate's digest (three
    # reads) and its stored state, pools, resources, auto-import accounts, drift findings:
    # reads only when nothing changed, and the digest it verified).
    assert len(queries.captured_queries) <= 85, len(queries.captured_queries)


def test_a_region_answering_500_marks_nothing_missing_and_the_run_is_partial(
    compute, account, run_sync
):
    run_sync(account)
    compute.subnetworks["us-central1"].clear()
    compute.addresses["europe-west1"].clear()
    compute.fail("regions/us-central1/", 500, times=None)

    run = run_sync(account)

    assert run.status == "partial"
    outcome = {region["region"]: region for region in run.regions}
    assert outcome["us-central1"]["ok"] is False
    assert outcome["us-central1"]["error_code"] == "provider_error"
    assert run.error == "us-central1: provider_error"
    # europe-west1 was complete: lb is missing; api (in the failed region) is not.
    assert stored(account) == {**ESTATE, ("lb", "10.10.0.5/32"): "missing"}
    account.refresh_from_db()
    assert account.status == "degraded"

    compute.faults.clear()
    again = run_sync(account)
    assert again.status == "completed"
    assert stored(account) == {
        **ESTATE,
        ("lb", "10.10.0.5/32"): "missing",
        ("api", "10.20.0.0/24"): "missing",
    }


def test_throttling_is_retried_and_the_run_converges(compute, account, run_sync):
    compute.fail("regions/europe-west1/", 429, times=2, retry_after=1)
    run = run_sync(account)
    assert run.status == "completed", run.regions
    assert stored(account) == ESTATE
    assert run_sync(account).counts == counts(seen=4, unchanged=4)


def test_a_second_run_while_one_is_queued_is_a_409_naming_it(compute, account):
    first = sync.sync_run_start(account=account, actor=TEST_ACTOR)  # not committed: queued
    with pytest.raises(Conflict) as raised:
        sync.sync_run_start(account=account, actor=TEST_ACTOR)
    assert raised.value.code == "conflict"
    assert raised.value.message == (
        f"Sync run {first.pk} of this account is queued; wait for it to finish."
    )


def test_the_daily_quota_of_sync_runs(compute, account, organization, run_sync):
    organization.quotas = {"max_sync_runs_per_day": 1}
    organization.save()
    run_sync(account)
    with pytest.raises(QuotaExceeded) as raised:
        sync.sync_run_start(account=account, actor=TEST_ACTOR)
    assert raised.value.code == "quota_exceeded"
    assert raised.value.message == "Quota max_sync_runs_per_day (1) reached."
    assert SyncRun.objects.count() == 1


def test_the_reaper_fails_a_run_without_progress_and_the_next_run_converges(
    compute, account, run_sync
):
    run_sync(account)
    lost = sync.sync_run_start(account=account, actor=TEST_ACTOR)
    SyncRun.objects.filter(pk=lost.pk).update(
        status="running", heartbeat_at=timezone.now() - timedelta(minutes=9)
    )
    assert sync.sync_runs_reap() == 0
    SyncRun.objects.filter(pk=lost.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=10, seconds=1)
    )
    assert sync.sync_runs_reap() == 1
    lost.refresh_from_db()
    assert (lost.status, lost.error) == ("failed", "worker lost")
    assert AuditEvent.objects.filter(action="sync", object_id=lost.pk).exists()
    # A redelivered task for the reaped run does nothing.
    assert sync.sync_run_execute(run=lost).status == "failed"
    run = run_sync(account)
    assert run.status == "completed"
    assert stored(account) == ESTATE


def test_a_cancelled_run_stops_and_frees_the_account(compute, account, run_sync):
    queued = sync.sync_run_start(account=account, actor=TEST_ACTOR)
    cancelled = sync.sync_run_cancel(run=queued, actor=TEST_ACTOR)
    assert cancelled.status == "cancelled"
    assert sync.sync_run_execute(run=cancelled).status == "cancelled"
    with pytest.raises(Conflict):
        sync.sync_run_cancel(run=cancelled, actor=TEST_ACTOR)
    assert run_sync(account).status == "completed"


def test_the_beat_schedule_follows_the_account(account):
    task = PeriodicTask.objects.get(name=schedule_name(account.pk))
    assert (task.task, task.enabled) == ("discovery.sync_account", True)
    assert (task.interval.every, task.interval.period) == (60, "minutes")
    assert (
        task.kwargs
        == f'{{"account_id": {account.pk}, "organization_id": {account.organization_id}}}'
    )

    cloud_services.account_update(account=account, actor=TEST_ACTOR, sync_interval_minutes=15)
    task.refresh_from_db()
    assert task.interval.every == 15
    cloud_services.account_update(account=account, actor=TEST_ACTOR, sync_enabled=False)
    task.refresh_from_db()
    assert task.enabled is False
    cloud_services.account_update(account=account, actor=TEST_ACTOR, sync_enabled=True)
    cloud_services.account_update(account=account, actor=TEST_ACTOR, status="disabled")
    task.refresh_from_db()
    assert task.enabled is False
    cloud_services.account_delete(account=account, actor=TEST_ACTOR)
    assert not PeriodicTask.objects.filter(name=schedule_name(account.pk)).exists()


def test_the_scheduled_task_starts_a_run_and_skips_a_busy_account(
    compute, account, django_capture_on_commit_callbacks
):
    from apps.discovery import tasks

    with django_capture_on_commit_callbacks(execute=True):
        answer = tasks.sync_account.delay(
            account_id=account.pk, organization_id=account.organization_id
        ).get()
    run = SyncRun.objects.get()
    assert (answer, run.trigger, run.status) == (f"run {run.pk}", "schedule", "completed")
    sync.sync_run_start(account=account, actor=TEST_ACTOR)
    busy = tasks.sync_account.delay(
        account_id=account.pk, organization_id=account.organization_id
    ).get()
    assert busy == "conflict"


def test_the_reaper_schedule_exists():
    task = PeriodicTask.objects.get(name="discovery: reap sync runs")
    assert (task.task, task.interval.every, task.interval.period) == (
        "discovery.sync_runs_reap",
        1,
        "minutes",
    )
