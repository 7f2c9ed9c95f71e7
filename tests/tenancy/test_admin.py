"""The admin: organizations, memberships and tokens, limited to the active organization."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.tenancy import signals
from apps.tenancy.models import ApiToken, Membership, Organization, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def tokens(organization, other_organization, token_for):  # type: ignore[no-untyped-def]
    token_for(organization, "owner")
    token_for(other_organization, "owner")
    return ApiToken.objects.all()


@pytest.fixture
def staff_client(organization, make_member):  # type: ignore[no-untyped-def]
    """A staff member of acme with every tenancy admin permission, not a superuser."""
    staff = make_member(organization, "admin", email="staff@example.com")
    staff.is_staff = True
    staff.save()
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="tenancy"))
    client = Client()
    client.force_login(staff)
    return client


def test_superusers_see_every_organizations_tokens_but_never_a_hash(admin_client, tokens):
    page = admin_client.get("/admin/tenancy/apitoken/")
    assert page.status_code == 200
    html = page.content.decode()
    for token in tokens:
        assert f"cpam_{token.prefix}_" in html
    detail = admin_client.get(f"/admin/tenancy/apitoken/{tokens[0].pk}/change/").content.decode()
    assert tokens[0].secret_hash not in detail
    assert "argon2" not in detail
    assert admin_client.get("/admin/tenancy/apitoken/add/").status_code == 403


def test_staff_see_only_their_active_organization(staff_client, tokens, other_organization):
    html = staff_client.get("/admin/tenancy/apitoken/").content.decode()
    acme_token = tokens.get(organization__slug="acme")
    globex_token = tokens.get(organization__slug="globex")
    assert f"cpam_{acme_token.prefix}_" in html
    assert f"cpam_{globex_token.prefix}_" not in html
    assert staff_client.get(f"/admin/tenancy/apitoken/{globex_token.pk}/change/").status_code == 302
    orgs = staff_client.get("/admin/tenancy/organization/").content.decode()
    assert "Acme Networks" in orgs
    assert "Globex" not in orgs
    members = staff_client.get("/admin/tenancy/membership/").content.decode()
    assert "staff@example.com" in members
    assert "owner-globex@example.com" not in members
    # The organization filter offers only what the rows hold: no other names.
    assert "Globex" not in staff_client.get("/admin/tenancy/membership/").content.decode()
    # Users span organizations: superusers only.
    assert staff_client.get("/admin/tenancy/user/").status_code == 403


def test_token_filters_and_the_revoke_action(admin_client, tokens):
    token = tokens.get(organization__slug="acme")
    response = admin_client.post(
        "/admin/tenancy/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    revoked = admin_client.get("/admin/tenancy/apitoken/?status=revoked").content.decode()
    assert f"cpam_{token.prefix}_" in revoked
    active = admin_client.get("/admin/tenancy/apitoken/?status=active").content.decode()
    assert f"cpam_{token.prefix}_" not in active


def test_membership_changes_in_the_admin_keep_the_last_owner(admin_client, organization, user):
    membership = Membership.objects.get(user=user)
    response = admin_client.post(
        f"/admin/tenancy/membership/{membership.pk}/change/", {"role": "viewer"}, follow=True
    )
    assert b"is the last owner of Acme Networks" in response.content
    membership.refresh_from_db()
    assert membership.role == "owner"


def test_adding_a_membership_in_the_admin_goes_through_the_service(admin_client, organization):
    newcomer = User.objects.create_user("newcomer@example.com", "x")
    response = admin_client.post(
        "/admin/tenancy/membership/add/",
        {"email": "Newcomer@example.com", "organization": organization.pk, "role": "auditor"},
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=newcomer).role == "auditor"
    again = admin_client.post(
        "/admin/tenancy/membership/add/",
        {"email": newcomer.email, "organization": organization.pk, "role": "viewer"},
    )
    assert again.context["adminform"].form.errors["email"] == [
        "newcomer@example.com is already a member of Acme Networks."
    ]


def _organization_form(organization, **changes):  # type: ignore[no-untyped-def]
    """The organization's change form as the browser posts it: every typed field filled."""
    data = {"name": organization.name}
    for name, value in {**organization.effective_settings, **organization.effective_quotas}.items():
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif not isinstance(value, dict):
            data[name] = str(value)
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def test_organization_settings_are_typed_fields_validated_in_the_admin(admin_client, organization):
    url = f"/admin/tenancy/organization/{organization.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'name="audit_retention_days"' in page
    assert 'name="max_pools"' in page
    response = admin_client.post(
        url, _organization_form(organization, audit_retention_days="forever")
    )
    assert response.status_code == 200
    assert b"Enter a whole number." in response.content
    organization.refresh_from_db()
    assert organization.settings == {}


def test_the_organization_page_lists_its_members_with_links(admin_client, organization, user):
    page = admin_client.get(f"/admin/tenancy/organization/{organization.pk}/change/")
    html = page.content.decode()
    membership = Membership.objects.get(user=user, organization=organization)
    assert f'href="/admin/tenancy/membership/{membership.pk}/change/">{user.email}</a>' in html
    assert f"/admin/tenancy/membership/?organization__id__exact={organization.pk}" in html


def test_superuser_admin_requests_bypass_row_level_security_explicitly(
    admin_client, organization, monkeypatch
):
    from apps.tenancy import middleware

    entered = []
    original = middleware.rls_bypass

    def spy():  # type: ignore[no-untyped-def]
        entered.append(True)
        return original()

    monkeypatch.setattr(middleware, "rls_bypass", spy)
    admin_client.get("/admin/tenancy/apitoken/")
    assert entered == [True]
    entered.clear()
    admin_client.get("/")
    assert entered == []


def test_organizations_are_added_and_deleted_by_superusers_only(staff_client, organization):
    assert staff_client.get("/admin/tenancy/organization/add/").status_code == 403
    response = staff_client.post(
        f"/admin/tenancy/organization/{organization.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert Organization.objects.filter(pk=organization.pk).exists()


def _staff_of(organization, make_member, role):  # type: ignore[no-untyped-def]
    person = make_member(organization, role, email=f"{role}-staff@example.com")
    person.is_staff = True
    person.save()
    client = Client()
    client.force_login(person)
    return client


def test_adding_an_organization_makes_the_given_user_its_owner(admin_client, user, settings):
    # The instance's rule on who creates organizations binds the superuser who acts,
    # not the customer made owner.
    settings.CLOUDPAM_ORGANIZATION_CREATORS = "staff"
    assert not user.is_staff
    response = admin_client.post(
        "/admin/tenancy/organization/add/", {"name": "Initech", "owner_email": user.email}
    )
    assert response.status_code == 302
    initech = Organization.objects.get(name="Initech")
    assert initech.slug == "initech"
    assert Membership.objects.get(organization=initech).user == user
    assert Membership.objects.get(organization=initech).role == "owner"

    unknown = admin_client.post(
        "/admin/tenancy/organization/add/",
        {"name": "Nobody's", "owner_email": "ghost@example.com"},
    )
    assert unknown.status_code == 200
    assert unknown.context["adminform"].form.errors["owner_email"] == [
        "No user has this e-mail; add the user first."
    ]
    assert not Organization.objects.filter(name="Nobody's").exists()


def test_organization_changes_keep_the_slug_and_merge_the_settings(admin_client, organization):
    organization.settings = {"audit_retention_days": 400}
    organization.save()
    response = admin_client.post(
        f"/admin/tenancy/organization/{organization.pk}/change/",
        _organization_form(
            organization,
            name="Acme Renamed",
            slug="hijacked",
            token_max_lifetime_days="200",
            max_pools="5000",
        ),
    )
    assert response.status_code == 302
    organization.refresh_from_db()
    assert (organization.name, organization.slug) == ("Acme Renamed", "acme")
    assert organization.settings == {"audit_retention_days": 400, "token_max_lifetime_days": 200}
    assert organization.quotas == {"max_pools": 5000}


def test_a_refused_setting_undoes_the_rename_of_the_same_form(admin_client, organization):
    # The default token lifetime may not exceed the longest: the service refuses it.
    response = admin_client.post(
        f"/admin/tenancy/organization/{organization.pk}/change/",
        _organization_form(
            organization,
            name="Renamed",
            token_default_lifetime_days="300",
            token_max_lifetime_days="200",
        ),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    organization.refresh_from_db()
    assert organization.name == "Acme Networks"


def test_owners_delete_their_organization_in_the_admin_and_admins_do_not(
    organization, make_member, user
):
    admin_member = _staff_of(organization, make_member, "admin")
    url = f"/admin/tenancy/organization/{organization.pk}/delete/"
    assert admin_member.post(url, {"post": "yes"}).status_code == 403
    owner = Client()
    user.is_staff = True
    user.save()
    owner.force_login(user)
    assert owner.post(url, {"post": "yes"}).status_code == 302
    assert not Organization.objects.filter(pk=organization.pk).exists()


def test_only_owners_add_promote_or_remove_owners_in_the_admin(organization, make_member, user):
    admin_member = _staff_of(organization, make_member, "admin")
    operator = make_member(organization, "operator", email="op@example.com")
    operator_membership = Membership.objects.get(user=operator)
    owner_membership = Membership.objects.get(user=user)

    promote = admin_member.post(
        f"/admin/tenancy/membership/{operator_membership.pk}/change/", {"role": "owner"}
    )
    assert promote.context["adminform"].form.errors["role"] == [
        "Only owners add, promote or demote owners."
    ]
    operator_membership.refresh_from_db()
    assert operator_membership.role == "operator"
    url = f"/admin/tenancy/membership/{owner_membership.pk}/delete/"
    assert admin_member.post(url, {"post": "yes"}).status_code == 403
    # The bulk action is refused whole when it holds an owner, else removes through the service.
    action = {"action": "delete_selected", "post": "yes"}
    selected = [operator_membership.pk, owner_membership.pk]
    response = admin_member.post(
        "/admin/tenancy/membership/", action | {"_selected_action": selected}
    )
    assert response.status_code == 403
    assert Membership.objects.count() == 3
    removed = []

    def on_change(sender, membership, action, **kwargs):  # type: ignore[no-untyped-def]
        removed.append((membership.pk, action))

    signals.membership_changed.connect(on_change)
    try:
        admin_member.post(
            "/admin/tenancy/membership/", action | {"_selected_action": [operator_membership.pk]}
        )
    finally:
        signals.membership_changed.disconnect(on_change)
    assert not Membership.objects.filter(pk=operator_membership.pk).exists()
    assert removed == [(operator_membership.pk, "removed")]


def test_members_see_their_own_tokens_and_token_managers_everyones(
    organization, make_member, token_for, user
):
    viewer = _staff_of(organization, make_member, "viewer")
    token_for(organization, "owner", user=user)
    theirs = token_for.last
    token_for(organization, "viewer", user=User.objects.get(email="viewer-staff@example.com"))
    mine = token_for.last
    html = viewer.get("/admin/tenancy/apitoken/").content.decode()
    assert f"cpam_{mine.prefix}_" in html
    assert f"cpam_{theirs.prefix}_" not in html
    viewer.post(
        "/admin/tenancy/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [theirs.pk, mine.pk]},
    )
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    assert ApiToken.objects.get(pk=mine.pk).revoked_at is not None
    manager = _staff_of(organization, make_member, "admin")
    assert f"cpam_{theirs.prefix}_" in manager.get("/admin/tenancy/apitoken/").content.decode()
