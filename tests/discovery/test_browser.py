"""The discovery console in a real browser: sync an account, watch it, apply a drift fix.

Drives Debian's headless Chromium with Playwright against pytest-django's live server. The
account is a GCP project served by the loopback Compute Engine fake (tests/fakes/gcp.py),
reached through ``CLOUDPAM_GCP_ENDPOINT_URL`` as an operator would point CloudPAM at an
emulator. Celery runs eagerly in the test settings, as in the other browser test: the run
executes in the live server's thread when "Sync now" is posted.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connections

from apps.cloud import services as cloud_services
from apps.pools import services as pool_services
from apps.pools.models import Pool
from tests.actors import TEST_ACTOR
from tests.browser import PASSWORD, needs_chromium
from tests.fakes.gcp import FakeCompute

PROJECT = "acme-net"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    needs_chromium,
]


@pytest.fixture
def compute(settings) -> Iterator[FakeCompute]:  # type: ignore[no-untyped-def]
    """One custom-mode network with a subnetwork the plan does not hold yet."""
    fake = FakeCompute(PROJECT, ("europe-west1",))
    prod = fake.add_network("prod")
    fake.add_subnetwork("europe-west1", "web", prod, "10.10.0.0/24")
    with fake:
        settings.CLOUDPAM_GCP_ENDPOINT_URL = fake.url
        yield fake


def test_sync_from_the_console_then_apply_a_drift_suggestion(
    live_server, browser_page, user, organization, compute
):  # type: ignore[no-untyped-def]
    root = pool_services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="corp", cidr="10.0.0.0/8"
    )
    account = cloud_services.account_create(
        actor=TEST_ACTOR,
        organization=organization,
        name="Data platform",
        provider="gcp",
        external_id=PROJECT,
        auth_method="default_chain",
        regions=["europe-west1"],
    )
    try:
        drive(live_server, browser_page, user, root, account)
    finally:
        # Playwright's sync API runs the test in a greenlet with its own context, so the
        # ORM calls here opened a connection of their own: close it, or PostgreSQL
        # refuses to drop the test database.
        connections.close_all()


def drive(live_server, page, user, root, account) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # Sync now, from the account's page: the run's page follows its progress to the end.
    page.goto(f"{live_server.url}/accounts/{account.pk}/")
    page.click("button:has-text('Sync now')")
    page.wait_for_url(f"{live_server.url}/discovery/runs/*/")
    progress = page.locator("#run-progress")
    page.wait_for_selector('#run-progress[data-status="completed"][data-percent="100"]')
    assert progress.locator(".bar").get_attribute("aria-label") == "100.00% done"
    assert progress.locator('[data-count="new"]').inner_text() == "1"

    # The subnetwork is unmanaged: inside corp, planned nowhere. Apply the suggestion.
    page.click("nav.tabs >> text=Drift")
    page.wait_for_url(f"{live_server.url}/discovery/drift/")
    row = page.locator("tr[data-finding]", has_text="10.10.0.0/24").first
    row.wait_for()
    row.locator("button:has-text('Apply')").click()
    page.wait_for_selector(".message.success")
    pool = Pool.objects.get(cidr="10.10.0.0/24", deleted_at__isnull=True)
    assert (pool.parent_id, pool.source) == (root.pk, "discovered")

    # The new pool is in the network view's tree under corp, with its resource.
    page.click("nav.tabs >> text=Network")
    page.wait_for_url(f"{live_server.url}/discovery/network/")
    node = page.locator(f'li[data-pool="{root.pk}"]')
    node.locator("summary").click()
    child = node.locator(f'li[data-pool="{pool.pk}"]')
    child.wait_for()
    assert child.locator(".tree-cidr").inner_text() == "10.10.0.0/24"
