"""Debian's headless Chromium for the browser tests, driven by Playwright.

One place for the launch flags and the page fixture, which the browser tests
import; ``browser_page`` reaches every test through ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"

# Without Debian's Chromium the browser tests skip, and say why.
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="needs Debian's chromium at /usr/bin/chromium (make browser installs it)",
)

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """Yield a running headless Chromium (a Playwright ``Browser``), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """Yield a page of a fresh headless Chromium."""
    with chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(15_000)
        yield page
        # No request may still be running in the live server when its database goes.
        page.wait_for_load_state("networkidle")
        page.close()
