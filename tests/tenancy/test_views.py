"""Console pages: organization settings, members, tokens, new organization."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.tenancy.models import ApiToken, Membership, Organization, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_for(make_member):  # type: ignore[no-untyped-def]
    def make(organization: Organization, role: str) -> Client:
        client = Client()
        client.user = make_member(organization, role)
        client.force_login(client.user)
        return client

    return make


def test_the_organization_page_shows_settings_quotas_and_what_the_role_may(
    organization, browser_for
):
    viewer = browser_for(organization, "viewer")
    page = viewer.get("/organization/settings/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Acme Networks" in html
    assert "LLM tokens per month" in html
    assert 'name="action" value="settings"' not in html
    assert "Delete Acme Networks" not in html
    assert viewer.post("/organization/settings/", {"action": "settings"}).status_code == 403

    owner = browser_for(organization, "owner")
    html = owner.get("/organization/settings/").content.decode()
    assert 'name="action" value="settings"' in html
    assert "Delete Acme Networks" in html


def test_saving_settings_from_the_console(organization, browser_for):
    admin = browser_for(organization, "admin")
    form = {
        "action": "settings",
        "allow_overlapping_roots": "on",
        "plans_private_space": "on",
        "audit_retention_days": "90",
        "rate_limit_per_minute": "100",
        "token_default_lifetime_days": "30",
        "token_max_lifetime_days": "60",
        "compliance": "{}",
    }
    response = admin.post("/organization/settings/", form)
    assert response.status_code == 302
    organization.refresh_from_db()
    assert organization.setting("allow_overlapping_roots") is True
    assert organization.setting("token_max_lifetime_days") == 60

    bad = admin.post("/organization/settings/", {**form, "token_default_lifetime_days": "90"})
    assert bad.status_code == 400
    assert b"cannot exceed the longest token lifetime" in bad.content

    quotas = admin.post(
        "/organization/settings/",
        {
            "action": "quotas",
            "max_pools": "5",
            "max_cloud_accounts": "1",
            "max_sync_runs_per_day": "2",
            "max_api_calls_per_minute": "300",
            "max_llm_tokens_per_month": "0",
        },
    )
    assert quotas.status_code == 302
    organization.refresh_from_db()
    assert organization.effective_quotas["max_pools"] == 5


def test_deleting_needs_the_slug_typed(organization, browser_for):
    owner = browser_for(organization, "owner")
    response = owner.post("/organization/settings/", {"action": "delete", "confirm_slug": "nope"})
    assert response.status_code == 302
    assert Organization.objects.filter(slug="acme").exists()
    response = owner.post("/organization/settings/", {"action": "delete", "confirm_slug": "acme"})
    assert response.status_code == 302
    assert not Organization.objects.filter(slug="acme").exists()
    assert (
        browser_for(Organization.objects.create(name="B", slug="b"), "admin")
        .post("/organization/settings/", {"action": "delete", "confirm_slug": "b"})
        .status_code
        == 403
    )


def test_members_page_invites_changes_roles_and_removes(
    organization, browser_for, django_capture_on_commit_callbacks
):
    admin = browser_for(organization, "admin")
    page = admin.get("/organization/members/")
    assert page.status_code == 200
    assert b"admin-acme@example.com" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            "/organization/members/", {"email": "new@example.com", "role": "operator"}
        )
    assert response.status_code == 302
    member = Membership.objects.get(user__email="new@example.com")
    assert member.role == "operator"

    assert (
        admin.post(f"/organization/members/{member.pk}/role/", {"role": "viewer"}).status_code
        == 302
    )
    member.refresh_from_db()
    assert member.role == "viewer"
    assert (
        admin.post(f"/organization/members/{member.pk}/role/", {"role": "owner"}).status_code == 403
    )
    assert admin.post(f"/organization/members/{member.pk}/remove/").status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()

    duplicate = admin.post(
        "/organization/members/", {"email": "admin-acme@example.com", "role": "viewer"}
    )
    assert duplicate.status_code == 400
    assert b"already a member" in duplicate.content
    filtered = admin.get("/organization/members/?role=auditor")
    assert b"No member matches these filters." in filtered.content


def test_viewers_read_members_but_cannot_manage(organization, browser_for):
    viewer = browser_for(organization, "viewer")
    page = viewer.get("/organization/members/")
    assert page.status_code == 200
    assert b"Invite a member" not in page.content
    response = viewer.post("/organization/members/", {"email": "x@example.com", "role": "viewer"})
    assert response.status_code == 403
    assert b"members.manage" in response.content


def test_another_organizations_member_is_404(organization, other_organization, browser_for):
    admin = browser_for(organization, "admin")
    stranger = browser_for(other_organization, "viewer")
    membership = Membership.objects.get(user=stranger.user)
    assert admin.post(f"/organization/members/{membership.pk}/remove/").status_code == 404
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_tokens_page_shows_a_new_token_once(organization, browser_for):
    operator = browser_for(organization, "operator")
    response = operator.post(
        "/organization/tokens/", {"name": "deploy bot", "scopes": ["read", "write"]}
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    value = re.search(r'value="(cpam_[^"]+)"', response.content.decode()).group(1)
    token = ApiToken.objects.get(name="deploy bot")
    assert value.startswith(f"cpam_{token.prefix}_")
    assert token.scopes == ["read", "write"]

    listing = operator.get("/organization/tokens/").content.decode()
    assert "deploy bot" in listing
    assert value not in listing
    assert f"cpam_{token.prefix}_…" in listing

    too_wide = operator.post("/organization/tokens/", {"name": "x", "scopes": ["admin"]})
    assert too_wide.status_code == 400
    assert b"is above it" in too_wide.content

    assert operator.post(f"/organization/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.status == "revoked"


def test_others_tokens_are_for_admins(organization, browser_for, token_for):
    viewer = browser_for(organization, "viewer")
    admin = browser_for(organization, "admin")
    token_for(organization, "viewer", user=viewer.user)
    own = ApiToken.objects.get()
    assert b"viewer test token" in admin.get("/organization/tokens/").content
    other = browser_for(organization, "auditor")
    assert other.post(f"/organization/tokens/{own.pk}/revoke/").status_code == 404
    assert admin.post(f"/organization/tokens/{own.pk}/revoke/").status_code == 302


def test_a_new_organization_from_the_console(user):
    client = Client()
    client.force_login(user)
    response = client.post("/organization/new/", {"name": "Skunkworks"})
    assert response.status_code == 302
    page = client.get("/organization/settings/")
    assert b"<h1>Skunkworks</h1>" in page.content


def test_without_an_organization_the_console_offers_to_create_one(db):
    lonely = User.objects.create_user("lonely@example.com", "x")
    client = Client()
    client.force_login(lonely)
    response = client.get("/organization/members/")
    assert response.status_code == 302
    assert response["Location"] == "/organization/new/"


def test_the_navigation_links_the_organization_page(organization, browser_for):
    page = browser_for(organization, "viewer").get("/")
    assert b'href="/organization/settings/"' in page.content
