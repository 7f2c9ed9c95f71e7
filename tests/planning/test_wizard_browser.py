"""The schema wizard in a real browser: Regional with two regions and three environments,
previewed live, turned into a plan, applied on the plan page, and seen in the pool tree.

Drives Debian's headless Chromium with Playwright against pytest-django's live server.
"""

from __future__ import annotations

import pytest
from django.db import connections

from apps.planning.models import Plan
from apps.pools.models import Pool
from tests.browser import PASSWORD, needs_chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    needs_chromium,
]


def test_walk_the_wizard_preview_create_apply_and_see_the_pools(live_server, browser_page, user):
    try:
        drive(live_server, browser_page, user)
    finally:
        # The sync API runs the test in a greenlet with a connection of its own: close it,
        # or PostgreSQL refuses to drop the test database.
        connections.close_all()


def drive(live_server, page, user) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/plans/wizard/")
    page.select_option("#id_pick_template", "regional")
    page.click("button:has-text('Use this template')")
    page.wait_for_selector("legend:has-text('3. Regions and sites')")

    page.fill("#id_supernet", "10.0.0.0/8")
    page.fill("#id_regions", "us-east-1, eu-west-1")
    page.fill("#id_environments", "prod, staging, dev")
    page.fill("#id_tiers", "public /24 x2\nprivate 4000 hosts x2")
    page.fill("#id_headroom", "25")
    # The live preview follows the form: 1 supernet, 2 regions, 6 environments, 6 VPCs,
    # 24 subnets.
    page.locator("#id_headroom").dispatch_event("change")
    page.wait_for_selector("#preview-counts:has-text('39 pools')")
    assert "10.0.0.0/15  us-east-1 [region]" in page.inner_text("#preview-tree")
    assert "eu-west-1" in page.inner_text("#preview-map")

    # What does not fit says why, live.
    page.fill("#id_supernet", "10.0.0.0/16")
    page.locator("#id_supernet").dispatch_event("change")
    page.wait_for_selector("#preview-errors:has-text('8 times too small')")
    page.fill("#id_supernet", "10.0.0.0/8")
    page.locator("#id_supernet").dispatch_event("change")
    page.wait_for_selector("#preview-counts:has-text('39 pools')")

    page.click("button:has-text('Create plan')")
    page.wait_for_load_state("networkidle")
    plan = Plan.objects.get()
    assert plan.source == "template"
    assert plan.operation_count == 39
    apply_on_plan_page(live_server, page, plan)

    plan.refresh_from_db()
    assert plan.status == "applied"
    region = Pool.objects.get(name="us-east-1", deleted_at=None)
    assert region.cidr == "10.0.0.0/15"
    page.goto(f"{live_server.url}/pools/")
    tree = page.locator("ul.pool-tree")
    root = Pool.objects.get(cidr="10.0.0.0/8", deleted_at=None)
    node = tree.locator(f'li[data-pool="{root.pk}"]')
    node.locator("a.tree-cidr", has_text="10.0.0.0/8").first.wait_for()
    assert "Regional 10.0.0.0/8" in node.inner_text()
    assert Pool.objects.filter(source="template", deleted_at=None).count() == 39


def apply_on_plan_page(live_server, page, plan) -> None:  # type: ignore[no-untyped-def]
    """Apply the plan with the plan page's button and its confirmation."""
    assert f"/{plan.pk}/" in page.url, page.url
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Apply')")
    confirm = page.locator("button:has-text('Confirm'), button:has-text('Apply plan')")
    if confirm.count():
        confirm.first.click()
    page.wait_for_load_state("networkidle")
