"""The import console in a real browser: a CSV with a bad row, its error, the fix, apply.

Drives Debian's headless Chromium with Playwright against pytest-django's live server.
"""

from __future__ import annotations

import os

import pytest
from django.db import connections

from apps.pools.models import Pool
from tests.browser import CHROMIUM, PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="needs Debian's chromium at /usr/bin/chromium (make browser installs it)",
    ),
]

BAD = (
    "name,cidr,parent,type,status,tags\n"
    "Corporate,10.0.0.0/8,,supernet,active,owner=net\n"
    "Europe,10.1.0.0/16,10.0.0.0/8,region,active,\n"
    "Broken,10.2.0.1/16,10.0.0.0/8,region,active,\n"
)


def test_import_a_csv_fix_its_bad_row_and_apply(
    live_server,
    browser_page,
    user,
    tmp_path,
):
    try:
        drive(live_server, browser_page, user, tmp_path)
    finally:
        connections.close_all()


def drive(live_server, page, user, tmp_path) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    bad = tmp_path / "plan.csv"
    bad.write_text(BAD, encoding="utf-8")
    page.goto(f"{live_server.url}/plans/imports/")
    page.set_input_files("#id_file", str(bad))
    page.click("button:has-text('Check the file')")
    page.wait_for_selector("#row-errors")
    row = page.locator("#row-errors tbody tr")
    assert row.count() == 1
    assert row.first.inner_text().split("\t")[:3] == [
        "4",
        "cidr",
        "10.2.0.1/16 has host bits set; did you mean 10.2.0.0/16?",
    ]
    assert page.inner_text("#import-status") == "Invalid"
    assert page.locator("#apply-import").count() == 0
    assert Pool.objects.count() == 0

    fixed = tmp_path / "plan-fixed.csv"
    fixed.write_text(BAD.replace("10.2.0.1/16", "10.2.0.0/16"), encoding="utf-8")
    page.goto(f"{live_server.url}/plans/imports/")
    page.set_input_files("#id_file", str(fixed))
    page.click("button:has-text('Check the file')")
    page.wait_for_selector("#apply-import")
    assert page.inner_text("#import-status") == "Valid"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#apply-import")
    page.wait_for_selector("text=Applied: 3 pools created.")

    page.click("text=See the address plan")
    page.wait_for_selector("text=Corporate")
    assert sorted(Pool.objects.values_list("name", flat=True)) == ["Broken", "Corporate", "Europe"]
    history = page.goto(f"{live_server.url}/plans/imports/")
    assert history is not None
    assert page.locator("table tbody tr").count() == 2
