"""The address-plan tree in a real browser: the keyboard alone walks, opens and pages it.

Reuses the Chromium fixture of ``test_browser.py``. Any console error fails the test, a
Content-Security-Policy refusal of the tree's script or styles included.
"""

from __future__ import annotations

from django.db import connections

from apps.pools import services
from apps.pools.models import Pool
from tests.actors import TEST_ACTOR
from tests.browser import PASSWORD
from tests.pools import test_browser

pytestmark = test_browser.pytestmark

FOCUSED = "document.activeElement.closest('[role=treeitem]')?.dataset.pool || ''"


def test_keyboard_walks_opens_pages_and_expands_the_tree(
    live_server, browser_page, user, organization, monkeypatch
):
    monkeypatch.setattr("apps.pools.views.TREE_BATCH", 2)
    root = services.pool_create(
        actor=TEST_ACTOR, organization=organization, cidr="10.0.0.0/8", name="corp"
    )
    east, _west, south = (
        services.pool_allocate(actor=TEST_ACTOR, parent=root, prefix_length=16, name=name)
        for name in ("east", "west", "south")
    )
    subnets = [
        services.pool_allocate(actor=TEST_ACTOR, parent=east, prefix_length=24, name=f"s{n}")
        for n in range(2)
    ]
    services.pool_allocate(actor=TEST_ACTOR, parent=subnets[0], prefix_length=28, name="deep")
    try:
        drive(live_server, browser_page, user, root, east, south, subnets)
    finally:
        connections.close_all()


def wait_until(condition, page, timeout_ms: int = 15_000) -> None:  # type: ignore[no-untyped-def]
    for _ in range(timeout_ms // 50):
        if condition():
            return
        page.wait_for_timeout(50)
    raise AssertionError("the tree never reached the expected state")


def drive(live_server, page, user, root, east, south, subnets) -> None:  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/pools/")

    def focused() -> str:
        return page.evaluate(FOCUSED)

    def item(pool: Pool):  # type: ignore[no-untyped-def]
        return page.locator(f'li[role=treeitem][data-pool="{pool.pk}"]')

    # One tab stop: Tab from the search button lands on the first root.
    page.focus("#pool-search")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert focused() == str(root.pk)
    assert item(root).get_attribute("aria-expanded") == "true"

    # Down to "east", Right opens it (its children load), Right again enters it.
    page.keyboard.press("ArrowDown")
    assert focused() == str(east.pk)
    assert item(east).get_attribute("aria-expanded") == "false"
    page.keyboard.press("ArrowRight")
    item(subnets[1]).wait_for()
    assert item(east).get_attribute("aria-expanded") == "true"
    page.keyboard.press("ArrowRight")
    assert focused() == str(subnets[0].pk)
    # Left goes to the parent, Left again closes it; Down then skips its hidden children.
    page.keyboard.press("ArrowLeft")
    assert focused() == str(east.pk)
    page.keyboard.press("ArrowLeft")
    assert item(east).get_attribute("aria-expanded") == "false"
    assert not item(subnets[0]).is_visible()

    # The root shows two of its three children; the "1 more" row is the last item, and
    # Enter loads the next page there and moves the focus to its first pool.
    page.keyboard.press("End")
    more = page.locator("li.tree-more[role=treeitem]")
    assert page.evaluate("document.activeElement.classList.contains('tree-more')")
    assert more.inner_text().startswith("1 more")
    page.keyboard.press("Enter")
    item(south).wait_for()
    # Polled, not wait_for_function (the CSP forbids the eval() that one needs) and not a
    # ":focus" selector, which matches only while the browser window itself has the focus.
    wait_until(lambda: focused() == str(south.pk), page)
    assert page.locator("li.tree-more[role=treeitem]").count() == 0

    # Home, then "*" on a closed root expands its whole subtree.
    page.keyboard.press("Home")
    assert focused() == str(root.pk)
    page.keyboard.press("ArrowLeft")
    assert item(root).get_attribute("aria-expanded") == "false"
    page.keyboard.press("*")
    deep = Pool.objects.get(name="deep")
    item(deep).wait_for()
    assert item(subnets[0]).get_attribute("aria-expanded") == "true"
    assert item(root).get_attribute("aria-expanded") == "true"

    # Enter on a pool opens its page.
    page.keyboard.press("ArrowDown")
    assert focused() == str(east.pk)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/pools/{east.pk}/")
    assert errors == []
