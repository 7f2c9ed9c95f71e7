"""The AI chat in a real browser: ask the fake model, watch the answer stream in word by
word, open the proposed plan and apply it (Debian's headless Chromium with Playwright)."""

from __future__ import annotations

import os

import pytest
from django.db import connections

from apps.planning.models import Plan
from apps.pools.models import Pool
from tests.browser import CHROMIUM, PASSWORD
from tests.fakes.llm import Script
from tests.planning.ai.conftest import creates, provider_on
from tests.planning.test_wizard_browser import apply_on_plan_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="needs Debian's chromium at /usr/bin/chromium (make browser installs it)",
    ),
]

WORDS = "Two /24s for staging, at the start of 10.20.0.0/16, leaving the rest free."


def test_chat_streams_the_answer_then_the_plan_is_applied(
    live_server,
    browser_page,
    user,
    organization,
    staging,
    fake,
):
    provider_on(fake, organization)
    fake.script(
        Script(
            json={
                "reply": WORDS,
                "operations": creates(staging.pk, "10.20.0.0/24", "10.20.1.0/24"),
            },
            chunk_delay=0.08,
        )
    )
    try:
        drive(live_server, browser_page, user)
    finally:
        connections.close_all()
    plan = Plan.objects.get()
    assert plan.source == "ai"
    assert plan.status == "applied"
    assert sorted(
        Pool.objects.filter(parent=staging, deleted_at=None).values_list("cidr", flat=True)
    ) == ["10.20.0.0/24", "10.20.1.0/24"]


def drive(live_server, page, user) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/ai/")
    page.click("button:has-text('New conversation')")
    page.wait_for_selector("#ai-form")
    page.fill("#ai-text", "allocate two /24s for staging")
    page.click("#ai-send")

    # The answer arrives word by word: part of it shows while the stream is still open.
    streaming = page.locator("#ai-log .ai-assistant .ai-content").last
    page.wait_for_function(
        "() => { const n = document.querySelectorAll('#ai-log .ai-assistant .ai-content');"
        " const t = n.length ? n[n.length - 1].textContent : '';"
        " return t.length > 0 && document.getElementById('ai-send').disabled; }"
    )
    partial = streaming.text_content() or ""
    assert partial
    assert WORDS.startswith(partial.strip())
    assert partial.strip() != WORDS

    # Once done, the rendered answer carries the plan: link, status, diff, counters.
    link = page.locator("#ai-log a.ai-plan-link").last
    link.wait_for()
    text = page.inner_text("#ai-log")
    assert WORDS in text
    assert "10.20.1.0/24" in text
    assert "Valid" in text
    assert page.inner_text("[data-counter=total_tokens]") == "17"
    link.click()
    page.wait_for_load_state("networkidle")
    plan = Plan.objects.get()
    apply_on_plan_page(live_server, page, plan)
