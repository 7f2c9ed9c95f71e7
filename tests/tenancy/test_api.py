"""Organization, member and settings endpoints."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from apps.tenancy.models import ApiToken, Membership, Organization, User

pytestmark = pytest.mark.django_db


def error_of(response, status):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    return response.json()["error"]


# ---------------------------------------------------------------- organizations


def test_list_shows_the_callers_organizations_with_roles(
    organization, other_organization, owner_client, django_assert_max_num_queries
):
    Membership.objects.create(
        user=owner_client.user, organization=other_organization, role="viewer"
    )
    Organization.objects.create(name="Initech", slug="initech")
    with django_assert_max_num_queries(5):
        response = owner_client.get("/api/v1/organizations/")
    body = response.json()
    assert body["count"] == 2
    assert [(o["slug"], o["role"]) for o in body["results"]] == [
        ("acme", "owner"),
        ("globex", "viewer"),
    ]


def test_a_token_lists_only_its_organization(organization, other_organization, token_client):
    client = token_client(organization, "owner")
    Membership.objects.create(user=client.user, organization=other_organization, role="owner")
    body = client.get("/api/v1/organizations/").json()
    assert [o["slug"] for o in body["results"]] == ["acme"]


def test_create_makes_the_creator_owner(owner_client):
    response = owner_client.post("/api/v1/organizations/", {"name": "Umbrella Labs"}, format="json")
    assert response.status_code == 201
    assert response.json()["slug"] == "umbrella-labs"
    assert response.json()["role"] == "owner"
    membership = Membership.objects.get(organization__slug="umbrella-labs")
    assert (membership.user, membership.role) == (owner_client.user, "owner")

    again = owner_client.post("/api/v1/organizations/", {"name": "Umbrella Labs"}, format="json")
    assert again.json()["slug"] == "umbrella-labs-2"
    taken = owner_client.post(
        "/api/v1/organizations/", {"name": "X", "slug": "umbrella-labs"}, format="json"
    )
    assert error_of(taken, 400)["fields"] == {"slug": ["This slug is taken."]}


def test_tokens_cannot_create_organizations(organization, token_client):
    response = token_client(organization, "owner").post(
        "/api/v1/organizations/", {"name": "Shadow"}, format="json"
    )
    assert error_of(response, 403)["code"] == "permission_denied"
    assert not Organization.objects.filter(name="Shadow").exists()


def test_rename_and_the_role_that_may(organization, client_for):
    admin, operator = client_for(organization, "admin"), client_for(organization, "operator")
    response = admin.patch("/api/v1/organizations/acme/", {"name": "Acme Corp"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Acme Corp"
    denied = operator.patch("/api/v1/organizations/acme/", {"name": "Mine"}, format="json")
    assert error_of(denied, 403)["message"] == (
        "Your role 'operator' does not have the permission 'organization.change'."
    )


def test_an_organization_you_are_not_in_is_404(organization, other_organization, owner_client):
    for path in ("", "members/", "settings/"):
        response = owner_client.get(f"/api/v1/organizations/globex/{path}")
        assert error_of(response, 404) == {
            "code": "not_found",
            "message": "No such organization.",
            "fields": {},
        }


def test_the_path_selects_among_your_organizations(organization, other_organization, client_for):
    client = client_for(organization, "owner")
    Membership.objects.create(user=client.user, organization=other_organization, role="admin")
    response = client.get("/api/v1/organizations/globex/members/")
    assert response.status_code == 200
    assert [m["role"] for m in response.json()["results"]] == ["admin"]


def test_delete_removes_everything_the_organization_owns(organization, client_for, token_for):
    owner, admin = client_for(organization, "owner"), client_for(organization, "admin")
    token_for(organization, "owner", user=owner.user)
    denied = admin.delete("/api/v1/organizations/acme/")
    assert error_of(denied, 403)["message"].endswith("'organization.delete'.")
    assert owner.delete("/api/v1/organizations/acme/").status_code == 204
    assert not Organization.objects.filter(slug="acme").exists()
    assert not Membership.objects.exists()
    assert not ApiToken.objects.exists()


# ---------------------------------------------------------------- members


def test_member_list_filters_and_keeps_a_fixed_query_count(
    organization, client_for, make_member, django_assert_max_num_queries
):
    client = client_for(organization, "admin")
    for role in ("viewer", "auditor", "operator"):
        make_member(organization, role)
    with django_assert_max_num_queries(8):
        body = client.get("/api/v1/organizations/acme/members/").json()
    assert body["count"] == 4
    viewers = client.get("/api/v1/organizations/acme/members/?role=viewer").json()
    assert [m["user"]["email"] for m in viewers["results"]] == ["viewer-acme@example.com"]
    found = client.get("/api/v1/organizations/acme/members/?q=AUDITOR").json()
    assert [m["role"] for m in found["results"]] == ["auditor"]
    assert client.get("/api/v1/organizations/acme/members/?role=").status_code == 400


def test_inviting_a_new_address_creates_the_user_and_mails_a_link(
    organization, client_for, django_capture_on_commit_callbacks
):
    client = client_for(organization, "admin")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/organizations/acme/members/",
            {"email": "Newbie@Example.com", "role": "operator"},
            format="json",
        )
    assert response.status_code == 201
    assert response.json()["user"]["email"] == "newbie@example.com"
    assert response.json()["role"] == "operator"
    user = User.objects.get(email="newbie@example.com")
    assert not user.has_usable_password()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["newbie@example.com"]
    assert "Acme Networks" in mail.outbox[0].subject
    link = re.search(r"http://testserver(/invitations/\S+/)", mail.outbox[0].body).group(1)

    browser = APIClient()
    page = browser.get(link, follow=True)
    assert b"Choose a password" in page.content
    form_url = page.redirect_chain[-1][0]
    done = browser.post(
        form_url,
        {"new_password1": "a-long-new-passphrase", "new_password2": "a-long-new-passphrase"},
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-long-new-passphrase")


def test_inviting_an_existing_user_or_member(
    organization, client_for, django_capture_on_commit_callbacks
):
    client = client_for(organization, "admin")
    existing = User.objects.create_user("known@example.com", "pw")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/organizations/acme/members/", {"email": existing.email}, format="json"
        )
    assert response.status_code == 201
    assert response.json()["role"] == "viewer"
    assert mail.outbox == []
    again = client.post(
        "/api/v1/organizations/acme/members/", {"email": existing.email}, format="json"
    )
    assert error_of(again, 409) == {
        "code": "conflict",
        "message": "known@example.com is already a member of Acme Networks.",
        "fields": {},
    }


def test_only_owners_make_or_touch_owners(organization, client_for, make_member):
    admin = client_for(organization, "admin")
    owner = client_for(organization, "owner")
    owner_membership = Membership.objects.get(user=owner.user)
    response = admin.post(
        "/api/v1/organizations/acme/members/",
        {"email": "boss@example.com", "role": "owner"},
        format="json",
    )
    assert error_of(response, 403)["message"] == (
        "Your role 'admin' does not have the permission 'owners.manage'."
    )
    path = f"/api/v1/organizations/acme/members/{owner_membership.pk}/"
    assert error_of(admin.patch(path, {"role": "viewer"}, format="json"), 403)["code"] == (
        "permission_denied"
    )
    assert error_of(admin.delete(path), 403)["code"] == "permission_denied"

    viewer = make_member(organization, "viewer")
    viewer_path = f"/api/v1/organizations/acme/members/{Membership.objects.get(user=viewer).pk}/"
    assert error_of(admin.patch(viewer_path, {"role": "owner"}, format="json"), 403)
    response = owner.patch(viewer_path, {"role": "owner"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "owner"


def test_the_last_owner_stays(organization, client_for):
    owner = client_for(organization, "owner")
    membership = Membership.objects.get(user=owner.user)
    path = f"/api/v1/organizations/acme/members/{membership.pk}/"
    expected = {
        "code": "conflict",
        "message": (
            "owner-acme@example.com is the last owner of Acme Networks; "
            "make another member owner first."
        ),
        "fields": {},
    }
    assert error_of(owner.patch(path, {"role": "admin"}, format="json"), 409) == expected
    assert error_of(owner.delete(path), 409) == expected
    membership.refresh_from_db()
    assert membership.role == "owner"


def test_removing_a_member_revokes_their_tokens(organization, client_for, token_client):
    admin = client_for(organization, "admin")
    operator = token_client(organization, "operator")
    assert operator.get("/api/v1/me/").status_code == 200
    membership = Membership.objects.get(user=operator.user)
    response = admin.delete(f"/api/v1/organizations/acme/members/{membership.pk}/")
    assert response.status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert operator.get("/api/v1/me/").status_code == 401


def test_member_of_another_organization_is_404(organization, other_organization, client_for):
    admin = client_for(organization, "admin")
    stranger = client_for(other_organization, "viewer")
    stranger_membership = Membership.objects.get(user=stranger.user)
    response = admin.patch(
        f"/api/v1/organizations/acme/members/{stranger_membership.pk}/",
        {"role": "admin"},
        format="json",
    )
    assert error_of(response, 404)["message"] == "No such member in this organization."


# ---------------------------------------------------------------- settings


def test_settings_answer_effective_values_and_usage(organization, client_for):
    body = client_for(organization, "viewer").get("/api/v1/organizations/acme/settings/").json()
    assert body["settings"]["rate_limit_per_minute"] == 6000
    assert body["settings"]["token_max_lifetime_days"] == 365
    assert body["quotas"]["max_api_calls_per_minute"] == 30000
    assert body["usage"]["max_pools"] == {"label": "Pools", "limit": 200000, "used": 0}


def test_changing_settings_and_quotas(organization, client_for):
    admin = client_for(organization, "admin")
    response = admin.patch(
        "/api/v1/organizations/acme/settings/",
        {"settings": {"audit_retention_days": 30}, "quotas": {"max_pools": 10}},
        format="json",
    )
    assert response.status_code == 200
    organization.refresh_from_db()
    assert organization.settings == {"audit_retention_days": 30}
    assert organization.quotas == {"max_pools": 10}
    assert response.json()["settings"]["audit_retention_days"] == 30
    assert response.json()["settings"]["allow_overlapping_roots"] is False


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"settings": {"audit_retention_days": 0}}, {"settings.audit_retention_days"}),
        (
            {"settings": {"allow_overlapping_roots": "sometimes"}},
            {"settings.allow_overlapping_roots"},
        ),
        ({"settings": {"no_such_setting": 1}}, {"settings.no_such_setting"}),
        ({"quotas": {"max_pools": -1}}, {"quotas.max_pools"}),
        ({"colour": "blue"}, {"colour"}),
    ],
)
def test_invalid_settings_are_400_naming_the_field(organization, client_for, payload, fields):
    response = client_for(organization, "admin").patch(
        "/api/v1/organizations/acme/settings/", payload, format="json"
    )
    assert set(error_of(response, 400)["fields"]) == fields
    organization.refresh_from_db()
    assert organization.settings == {}
    assert organization.quotas == {}


def test_token_lifetimes_must_agree(organization, client_for):
    response = client_for(organization, "admin").patch(
        "/api/v1/organizations/acme/settings/",
        {"settings": {"token_default_lifetime_days": 400}},
        format="json",
    )
    assert error_of(response, 400)["fields"] == {
        "settings.token_default_lifetime_days": [
            "The default token lifetime cannot exceed the longest token lifetime (365 days)."
        ]
    }


def test_unauthenticated_calls_are_401(organization):
    for path in ("/api/v1/organizations/", "/api/v1/tokens/", "/api/v1/organizations/acme/"):
        assert error_of(APIClient().get(path), 401)["code"] == "not_authenticated"
