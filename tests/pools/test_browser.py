"""The console in a real browser: sign in, create a root pool, allocate a child, see it.

Drives Debian's headless Chromium with Playwright against pytest-django's live server.
"""

from __future__ import annotations

import re

import pytest
from django.db import connections

from apps.pools.models import Pool
from tests.browser import PASSWORD, needs_chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    needs_chromium,
]


def test_create_a_root_pool_allocate_a_child_and_see_it_in_the_tree(
    live_server, browser_page, user
):
    try:
        drive(live_server, browser_page, user)
    finally:
        # Playwright's sync API runs the test in a greenlet with its own context, so the
        # ORM calls here opened a connection of their own: close it, or PostgreSQL
        # refuses to drop the test database.
        connections.close_all()


def drive(live_server, page, user) -> None:  # type: ignore[no-untyped-def]
    """Sign in, create a root pool, allocate a child through the form, find it in the tree."""
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.click("nav.mainnav >> text=Pools")
    page.wait_for_url(f"{live_server.url}/pools/")
    page.click("text=Create the first root pool")
    page.fill("#id_name", "Corporate")
    page.fill("#id_cidr", "10.0.0.1/8")
    page.select_option("#id_type", "supernet")
    page.click("button:has-text('Create pool')")
    # The service's error, as the API words it.
    page.wait_for_selector("text=10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?")
    page.fill("#id_cidr", "10.0.0.0/8")
    page.click("button:has-text('Create pool')")
    page.wait_for_selector("h1:has-text('Corporate')")
    root = Pool.objects.get(name="Corporate")
    assert page.url == f"{live_server.url}/pools/{root.pk}/"

    # The allocate form previews the block before taking it, and follows its inputs.
    page.wait_for_selector("[data-preview-block]:has-text('10.0.0.0/24')")
    page.fill("#id_prefix_length", "16")
    page.locator("#id_prefix_length").dispatch_event("change")
    page.wait_for_selector("[data-preview-block]:has-text('10.0.0.0/16')")
    page.fill("#id_name", "us-east-1")
    page.select_option("#id_type", "region")
    page.click("button:has-text('Allocate')")
    page.wait_for_selector("text=Allocated 10.0.0.0/16 \u201cus-east-1\u201d.")
    child = Pool.objects.get(name="us-east-1")
    assert (child.parent_id, child.cidr, child.type) == (root.pk, "10.0.0.0/16", "region")
    assert page.locator("svg.address-map rect.seg-used").count() == 1

    page.goto(f"{live_server.url}/pools/")
    tree = page.locator("ul.pool-tree")
    tree.locator("text=10.0.0.0/8").wait_for()
    node = tree.locator(f'li[data-pool="{child.pk}"]')
    assert node.locator(".tree-cidr").inner_text() == "10.0.0.0/16"
    assert re.search(r"us-east-1", node.inner_text())
    assert tree.locator(f'li[data-pool="{root.pk}"] .util-pct').first.inner_text() == "0.4%"
