"""Agent batches consumed by the sync engine: one run per batch, idempotent, and regions
closed once per collection even when it spans several batches."""

from __future__ import annotations

import pytest

from apps.cloud.models import CloudAccount
from apps.discovery import services, sync
from apps.discovery.ingest import clean_batch
from apps.discovery.models import DiscoveredResource, IngestBatch, SyncRun
from tests.discovery import factories

pytestmark = pytest.mark.django_db

EXTERNAL_ID = "123456789012"


def push(agent, batch_id, records, regions):
    data = {
        "batch_id": batch_id,
        "provider": "aws",
        "account_external_id": EXTERNAL_ID,
        "regions": regions,
        "records": records,
    }
    return services.ingest_batch_store(agent=agent, batch=clean_batch(data))[0]


def ok(region="eu-west-1", records=0):
    return {"region": region, "ok": True, "records": records}


def states():
    return dict(DiscoveredResource.objects.values_list("resource_id", "state"))


@pytest.fixture
def agent(organization):
    return factories.agent(organization)[0]


def test_a_batch_becomes_an_agent_run_of_the_matching_account(organization, agent):
    push(agent, "b-1", [factories.record(i) for i in range(3)], [ok(records=3)])
    runs = sync.ingest_batches_consume(organization=organization)
    assert len(runs) == 1
    run = runs[0]
    assert (run.trigger, run.status, run.agent_id) == ("agent", "completed", agent.pk)
    assert run.counts["new"] == 3
    account = CloudAccount.objects.get(organization=organization, external_id=EXTERNAL_ID)
    # Nobody had created the account: the agent's records made it, unscheduled.
    assert (account.provider, account.auth_method, account.sync_enabled) == (
        "aws",
        "default_chain",
        False,
    )
    assert IngestBatch.objects.get().consumed_at is not None
    assert DiscoveredResource.objects.filter(account=account).count() == 3


def test_consuming_twice_stores_once(organization, agent):
    push(agent, "b-1", [factories.record(i) for i in range(3)], [ok(records=3)])
    sync.ingest_batches_consume(organization=organization)
    assert sync.ingest_batches_consume(organization=organization) == []
    assert SyncRun.objects.count() == 1
    assert DiscoveredResource.objects.count() == 3


def test_an_existing_account_receives_the_records(organization, agent):
    from apps.cloud.services import account_create
    from tests.actors import TEST_ACTOR

    account = account_create(
        organization=organization,
        actor=TEST_ACTOR,
        name="prod",
        provider="aws",
        external_id=EXTERNAL_ID,
        auth_method="default_chain",
    )
    push(agent, "b-1", [factories.record(0)], [ok(records=1)])
    run = sync.ingest_batches_consume(organization=organization)[0]
    assert run.account_id == account.pk
    assert CloudAccount.objects.count() == 1


def test_a_collection_over_several_batches_closes_each_region_once(organization, agent):
    # First collection: four records in two batches; the region ends in the second.
    push(agent, "c1-1", [factories.record(i) for i in range(2)], [])
    push(agent, "c1-2", [factories.record(i) for i in range(2, 4)], [ok(records=4)])
    sync.ingest_batches_consume(organization=organization)
    assert set(states().values()) == {"present"}

    # Second collection: record 0 is gone; the first batch holds records 1 and 2, the last
    # record 3. Records of the first batch must count as seen when the region closes.
    push(agent, "c2-1", [factories.record(i) for i in (1, 2)], [])
    push(agent, "c2-2", [factories.record(3)], [ok(records=3)])
    runs = sync.ingest_batches_consume(organization=organization)
    assert [run.counts["missing"] for run in runs] == [0, 1]
    assert states() == {
        "eni-00000000": "missing",
        "eni-00000001": "present",
        "eni-00000002": "present",
        "eni-00000003": "present",
    }
    first, second = runs
    assert first.collection_started_at == second.collection_started_at


def test_a_failed_region_in_a_batch_marks_nothing(organization, agent):
    push(agent, "c1", [factories.record(i) for i in range(2)], [ok(records=2)])
    sync.ingest_batches_consume(organization=organization)
    failed = {"region": "eu-west-1", "ok": False, "records": 0, "error_code": "throttled"}
    push(agent, "c2", [], [failed])
    run = sync.ingest_batches_consume(organization=organization)[0]
    assert run.status == "failed"
    assert set(states().values()) == {"present"}


def test_a_batch_waits_while_a_run_of_its_account_is_active(organization, agent):
    push(agent, "b-1", [factories.record(0)], [ok(records=1)])
    sync.ingest_batches_consume(organization=organization)
    account = CloudAccount.objects.get()
    busy = factories.sync_run(account, status="running", finished_at=None)
    push(agent, "b-2", [factories.record(1)], [ok(records=1)])
    assert sync.ingest_batches_consume(organization=organization) == []
    assert IngestBatch.objects.filter(consumed_at__isnull=True).count() == 1
    busy.status = "completed"
    busy.save()
    assert len(sync.ingest_batches_consume(organization=organization)) == 1


def test_storing_a_batch_queues_its_consumption(
    organization, agent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        push(agent, "b-1", [factories.record(0)], [ok(records=1)])
    assert SyncRun.objects.get().trigger == "agent"
    assert IngestBatch.objects.get().consumed_at is not None
