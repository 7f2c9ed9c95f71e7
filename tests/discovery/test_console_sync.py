"""Sync now from the account page, against the loopback Compute Engine fake."""

# ruff: noqa: F811 (the fixtures of test_console are imported to be shared, then requested)
from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.cloud import services as cloud_services
from apps.discovery.models import DiscoveredResource, SyncRun
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.discovery import factories
from tests.discovery.test_console import console, make_pool, ok  # noqa: F401
from tests.fakes.gcp import FakeCompute

pytestmark = pytest.mark.django_db

PROJECT = "acme-net"


@pytest.fixture
def compute(settings) -> Iterator[FakeCompute]:  # type: ignore[no-untyped-def]
    fake = FakeCompute(PROJECT, ("europe-west1",))
    prod = fake.add_network("prod")
    fake.add_subnetwork("europe-west1", "web", prod, "10.10.0.0/24")
    with fake:
        settings.CLOUDPAM_GCP_ENDPOINT_URL = fake.url
        yield fake


@pytest.fixture
def account(organization):  # type: ignore[no-untyped-def]
    return cloud_services.account_create(
        actor=TEST_ACTOR,
        organization=organization,
        name="Data platform",
        provider="gcp",
        external_id=PROJECT,
        auth_method="default_chain",
        regions=["europe-west1"],
    )


def test_sync_now_runs_and_opens_the_run_page(
    console, organization, account, compute, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    root = make_pool(organization, "10.0.0.0/8", name="corp")
    client = console(Role.OPERATOR)
    # The run's task is enqueued on commit; Celery is eager in the tests.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/discovery/accounts/{account.pk}/sync/")
    run = SyncRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/discovery/runs/{run.pk}/"
    html = ok(client.get(response["Location"]))
    assert f"Sync run {run.pk} of Data platform started." in html
    # The run is over, and the page no longer polls.
    assert 'data-status="completed" data-percent="100"' in html
    assert "hx-trigger" not in html
    assert 'data-count="new">1<' in html
    assert "europe-west1" in html
    resource = DiscoveredResource.objects.get()
    assert (resource.cidr, resource.pool_id) == ("10.10.0.0/24", root.pk)
    assert ok(client.get(f"/discovery/accounts/{account.pk}/runs/")).count("data-run=") == 1


def test_a_second_run_while_one_is_active_is_a_message(console, account):  # type: ignore[no-untyped-def]
    active = factories.sync_run(account, status="running", finished_at=None)
    response = console(Role.OPERATOR).post(f"/discovery/accounts/{account.pk}/sync/", follow=True)
    assert response.redirect_chain[-1][0] == f"/accounts/{account.pk}/"
    html = response.content.decode()
    assert f"Sync run {active.pk} of this account is running; wait for it to finish." in html
    assert SyncRun.objects.count() == 1


def test_the_daily_quota_is_a_message(console, organization, account):  # type: ignore[no-untyped-def]
    organization.quotas = {"max_sync_runs_per_day": 0}
    organization.save()
    response = console(Role.OPERATOR).post(f"/discovery/accounts/{account.pk}/sync/", follow=True)
    assert "Quota max_sync_runs_per_day (0) reached." in response.content.decode()
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.AUDITOR])
def test_readers_cannot_sync(console, account, role):  # type: ignore[no-untyped-def]
    assert console(role).post(f"/discovery/accounts/{account.pk}/sync/").status_code == 403
    assert not SyncRun.objects.exists()


def test_another_organizations_account_is_a_404(console, other_organization):  # type: ignore[no-untyped-def]
    theirs = cloud_services.account_create(
        actor=TEST_ACTOR,
        organization=other_organization,
        name="Theirs",
        provider="gcp",
        external_id="their-project",
        auth_method="default_chain",
    )
    assert console(Role.OWNER).post(f"/discovery/accounts/{theirs.pk}/sync/").status_code == 404
    assert not SyncRun.objects.exists()
