"""The console, the admin and Swagger UI work under the Content-Security-Policy.

Debian's headless Chromium loads each page; the test fails on any CSP violation
(a ``securitypolicyviolation`` event or a "Refused to ..." console message).
"""

from __future__ import annotations

import os

import pytest
from django.db import connections

from apps.pools import services as pool_services
from apps.tenancy import services as tenancy_services
from apps.tenancy.models import Membership
from tests.actors import TEST_ACTOR
from tests.browser import CHROMIUM, PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="needs Debian's chromium at /usr/bin/chromium (make browser installs it)",
    ),
]

# Runs before any page script and outside the page's CSP.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def test_console_admin_and_swagger_ui_run_without_csp_violations(
    live_server, request, user, organization, settings
):
    # The Chromium page of tests/browser.py.
    page = request.getfixturevalue("browser_page")
    settings.CLOUDPAM_API_DOCS = "authenticated"
    user.is_staff = user.is_superuser = True
    user.save()
    root = pool_services.pool_create(
        organization=organization, name="Corp", cidr="10.0.0.0/8", actor=TEST_ACTOR
    )
    pool_services.pool_allocate(parent=root, prefix_length=10, name="Half", actor=TEST_ACTOR)
    membership = Membership.objects.get(user=user, organization=organization)
    token, _value = tenancy_services.api_token_create(
        membership=membership, name="ci", scopes=["read"], actor=user
    )
    try:
        violations = visit_everything(live_server.url, page, user, root)
        dialogs = revoke_but_change_your_mind(live_server.url, page)
        violations += page.evaluate("window.__cspViolations")
    finally:
        connections.close_all()
    assert violations == []
    assert dialogs == ["Revoke ci? Scripts using it stop at once."]
    token.refresh_from_db()
    assert token.revoked_at is None


def visit_everything(url, page, user, root) -> list[str]:  # type: ignore[no-untyped-def]
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    page.add_init_script(RECORD_VIOLATIONS)
    violations: list[str] = []

    def check(path: str, ready: str) -> None:
        response = page.goto(f"{url}{path}")
        assert response.status == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        # The nonce is in the header only where a page uses it (Swagger UI's inline script).
        assert ("'nonce-" in policy) == (path == "/api/docs/"), path
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        violations.extend(f"{path}: {v}" for v in page.evaluate("window.__cspViolations"))

    check("/login/", "#id_username")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
    for path, ready in [
        ("/", "main"),
        ("/pools/", "ul.pool-tree"),
        (f"/pools/{root.pk}/", "h1:has-text('Corp')"),
        ("/organization/members/", "main"),
        ("/organization/tokens/", "main"),
        ("/admin/", "#content"),
        ("/admin/pools/pool/", "#changelist"),
        (f"/admin/pools/pool/{root.pk}/change/", "#content-main form"),
        ("/api/docs/", ".swagger-ui .info"),
    ]:
        check(path, ready)
    return violations + refused


def revoke_but_change_your_mind(url, page) -> list[str]:  # type: ignore[no-untyped-def]
    """The revoke button asks first (static JS, no inline handler); dismissing keeps the token."""
    dialogs: list[str] = []

    def dismiss(dialog) -> None:  # type: ignore[no-untyped-def]
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.goto(f"{url}/organization/tokens/")
    page.click("button:has-text('Revoke')")
    page.wait_for_load_state("networkidle")
    assert page.url == f"{url}/organization/tokens/"
    return dialogs
