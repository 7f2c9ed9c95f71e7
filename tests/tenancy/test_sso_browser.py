"""Single sign-on end to end: Chromium signs in through a real OpenID Connect provider.

The provider is oidc-provider-mock (an authlib-based OpenID Connect server)
served on loopback in a thread; it shows an authorization form in which the
test types the subject, whose claims (e-mail, groups) the test set beforehand
through the mock's ``PUT /users/{sub}``. It publishes its key without a
``kid``. The console runs in pytest-django's live server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests
from django.db import connections

from apps.audit.models import AuditEvent
from apps.tenancy.choices import Role
from apps.tenancy.models import Membership, Organization, User
from tests.browser import CHROMIUM
from tests.tenancy.sso_helpers import make_provider, map_group

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="needs Debian's chromium at /usr/bin/chromium (make browser installs it)",
    ),
]


@pytest.fixture
def oidc_issuer() -> Iterator[str]:
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def set_claims(issuer: str, sub: str, **claims: object) -> None:
    response = requests.put(f"{issuer}/users/{sub}", json=claims, timeout=5)
    assert response.status_code == 204


def sign_in_through_the_provider(page, base_url: str, sub: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("#id_sso_organization", "acme")
    page.click("text=Continue with single sign-on")
    page.click("text=Sign in with Corp IdP")
    # The provider's own authorization page.
    page.wait_for_selector('input[name="sub"]')
    page.fill('input[name="sub"]', sub)
    page.click('button:has-text("Authorize")')
    page.wait_for_load_state("networkidle")


def test_browser_signs_in_through_the_provider_and_roles_follow_groups(
    live_server, request, organization: Organization, oidc_issuer: str
):
    page = request.getfixturevalue("browser_page")
    provider = make_provider(organization, oidc_issuer, client_secret="mock-accepts-any")
    map_group(provider, "ipam-admins", Role.ADMIN)
    map_group(provider, "ipam-ops", Role.OPERATOR)
    try:
        # First sign-in: the user and the membership are created with the mapped role.
        set_claims(oidc_issuer, "alice", email="alice@example.com", groups=["ipam-ops", "all"])
        sign_in_through_the_provider(page, live_server.url, "alice")
        assert page.url == f"{live_server.url}/"
        assert "alice@example.com" in page.content()
        alice = User.objects.get(email="alice@example.com")
        assert Membership.objects.get(user=alice, organization=organization).role == "operator"

        # Second sign-in, in a fresh session, with other groups: the role follows.
        page.context.clear_cookies()
        set_claims(oidc_issuer, "alice", email="alice@example.com", groups=["ipam-admins"])
        sign_in_through_the_provider(page, live_server.url, "alice")
        assert page.url == f"{live_server.url}/"
        assert Membership.objects.get(user=alice, organization=organization).role == "admin"

        # A user in no mapped group is refused with a page that says why.
        page.context.clear_cookies()
        set_claims(oidc_issuer, "bob", email="bob@example.com", groups=["marketing"])
        sign_in_through_the_provider(page, live_server.url, "bob")
        refusal = page.text_content("#sso-refusal-message")
        assert "is not in a group that gives access to Acme Networks" in refusal
        assert not User.objects.filter(email="bob@example.com").exists()
    finally:
        connections.close_all()
    actions = list(
        AuditEvent.objects.filter(action__in=["login", "sso_provisioned", "role_changed"])
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions.count("login") == 2
    assert "role_changed" in actions
    assert "sso_provisioned" in actions
