import time
import pytest
from django.db import connections
from tests.browser import chromium, needs_chromium
from tests.platform.test_page_walk import (
    DESKTOP, PHONE, Walker, admin_pages, build_walk, console_pages, sign_in, SETTLED, PAGE_CHECKS,
)
from apps.tenancy.models import Organization


@pytest.fixture
def walk(db):
    t = time.perf_counter()
    w = build_walk(Organization.objects.create(name="Demo Corp", slug="demo"))
    print("build_walk", time.perf_counter() - t)
    return w


@pytest.mark.django_db(transaction=True)
def test_profile(live_server, walk):
    pages = console_pages(walk)
    apages = admin_pages(walk)
    try:
        with chromium() as browser:
            t = time.perf_counter()
            state = sign_in(browser, live_server.url, walk.people["owner"])
            print("sign_in", time.perf_counter() - t)
            walker = Walker(browser, live_server.url, state, DESKTOP)
            reqs = []
            walker.page.on("request", lambda r: reqs.append(r.url))
            rows = []
            for page in pages[:40] + [p for p, _ in apages][:40]:
                reqs.clear()
                t0 = time.perf_counter()
                response = walker.page.goto(walker.base + page.path)
                t1 = time.perf_counter()
                walker.page.wait_for_function(SETTLED)
                t2 = time.perf_counter()
                walker.page.evaluate(PAGE_CHECKS)
                t3 = time.perf_counter()
                rows.append((t1 - t0, t2 - t1, t3 - t2, len(reqs), page.path))
            for r in sorted(rows, reverse=True)[:15]:
                print("%.3f %.3f %.3f %d %s" % r)
            print("sum goto %.2f settle %.2f eval %.2f n=%d" % (sum(r[0] for r in rows), sum(r[1] for r in rows), sum(r[2] for r in rows), len(rows)))
            print("avg requests", sum(r[3] for r in rows) / len(rows))
            walker.close()
    finally:
        connections.close_all()
