"""SSO in the console: the admins' pages, the login page's buttons, enforcement, the admin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.cloud import crypto
from apps.tenancy.choices import Role
from apps.tenancy.models import Membership, Organization, User
from apps.tenancy.services import organization_settings_update
from apps.tenancy.sso.models import GroupRoleMapping, IdentityProvider
from tests.fakes.oidc import FakeOidcProvider
from tests.tenancy.sso_helpers import make_provider, map_group, sign_in

pytestmark = pytest.mark.django_db

ROLES = [role.value for role in Role]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def fake() -> Iterator[FakeOidcProvider]:
    with FakeOidcProvider() as provider:
        yield provider


@pytest.fixture
def browser_for(make_member):
    def make(organization: Organization, role: str) -> Client:
        client = Client()
        client.user = make_member(organization, role)
        client.force_login(client.user)
        return client

    return make


FORM = {
    "name": "Keycloak",
    "slug": "",
    "issuer": "https://sso.example.com/realms/acme",
    "client_id": "cloudpam",
    "client_secret": "kc-secret-value-999",
    "scopes": "openid email profile",
    "email_claim": "email",
    "groups_claim": "realm_access.roles",
    "default_role": "",
    "enabled": "on",
}


@pytest.mark.parametrize("role", ROLES)
def test_provider_pages_for_every_role(organization, browser_for, role):
    client = browser_for(organization, role)
    provider = make_provider(organization, "https://idp.example.com")
    allowed = role in (Role.OWNER, Role.ADMIN)
    pages = ["/organization/sso/", f"/organization/sso/{provider.pk}/"]
    for page in pages:
        response = client.get(page)
        assert response.status_code == (200 if allowed else 403), (role, page)
        if not allowed:
            assert "sso.manage" in response.content.decode()
    settings_page = client.get("/organization/settings/").content.decode()
    assert ('href="/organization/sso/"' in settings_page) is allowed
    created = client.post("/organization/sso/", FORM)
    assert created.status_code == (302 if allowed else 403)
    assert IdentityProvider.objects.filter(slug="keycloak").exists() is allowed


def test_create_edit_and_map_from_the_console(organization, browser_for, fake):
    client = browser_for(organization, Role.ADMIN)
    response = client.post("/organization/sso/", FORM)
    provider = IdentityProvider.objects.get(slug="keycloak")
    assert response["Location"] == f"/organization/sso/{provider.pk}/"
    assert crypto.decrypt_secrets(provider.client_secret_encrypted) == {
        "client_secret": "kc-secret-value-999"
    }
    page = client.get(response["Location"]).content.decode()
    assert "kc-secret-value-999" not in page
    assert "/sso/acme/keycloak/login/" in page
    assert "http://testserver/sso/callback/" in page
    # Editing without a secret keeps it; the issuer change drops the discovery cache.
    edit = {**FORM, "client_secret": "", "issuer": fake.url, "action": "update"}
    assert client.post(f"/organization/sso/{provider.pk}/", edit).status_code == 302
    provider.refresh_from_db()
    assert provider.issuer == fake.url
    assert provider.client_secret_set
    # A mapping, then a duplicate (a form error), then removal.
    mapping = {"action": "add_mapping", "group": "ipam-admins", "role": "admin"}
    assert client.post(f"/organization/sso/{provider.pk}/", mapping).status_code == 302
    again = client.post(f"/organization/sso/{provider.pk}/", mapping)
    assert again.status_code == 400
    assert "This group is mapped already." in again.content.decode()
    # The check shows what the discovery document holds.
    checked = client.post(f"/organization/sso/{provider.pk}/", {"action": "check"})
    assert checked.status_code == 200
    assert f"{fake.url}/token" in checked.content.decode()
    pk = GroupRoleMapping.objects.get().pk
    removal = {"action": "delete_mapping", "mapping": pk}
    assert client.post(f"/organization/sso/{provider.pk}/", removal).status_code == 302
    assert not GroupRoleMapping.objects.exists()
    assert client.post(f"/organization/sso/{provider.pk}/", {"action": "delete"}).status_code == 302
    assert not IdentityProvider.objects.exists()


def test_invalid_form_shows_the_service_error(organization, browser_for):
    client = browser_for(organization, Role.ADMIN)
    response = client.post("/organization/sso/", {**FORM, "issuer": "http://idp.example.com"})
    assert response.status_code == 400
    assert "The issuer must use https://" in response.content.decode()


def test_another_organizations_provider_is_404(organization, other_organization, browser_for):
    client = browser_for(organization, Role.OWNER)
    provider = make_provider(other_organization, "https://idp.example.com")
    assert client.get(f"/organization/sso/{provider.pk}/").status_code == 404
    assert client.post(f"/organization/sso/{provider.pk}/", {"action": "delete"}).status_code == 404
    assert IdentityProvider.objects.filter(pk=provider.pk).exists()


def test_login_page_lists_the_organizations_providers(organization, other_organization):
    make_provider(organization, "https://a.example.com", slug="okta", name="Okta")
    make_provider(organization, "https://b.example.com", slug="off", name="Old", enabled=False)
    make_provider(other_organization, "https://c.example.com", slug="entra", name="Entra")
    client = Client()
    plain = client.get("/login/").content.decode()
    assert "Continue with single sign-on" in plain
    assert "Sign in with" not in plain
    page = client.get("/login/?organization=acme&next=/pools/").content.decode()
    assert 'href="/sso/acme/okta/login/?next=%2Fpools%2F"' in page
    assert "Sign in with Okta" in page
    assert "Old" not in page
    assert "Entra" not in page
    for slug in ("nope", "globex-unknown"):
        missing = client.get(f"/login/?organization={slug}").content.decode()
        assert f"No single sign-on is set up for “{slug}”" in missing
    chooser = client.get("/sso/?organization=ACME&next=/pools/")
    assert chooser["Location"] == "/login/?organization=acme&next=%2Fpools%2F"


def test_enforced_sso_refuses_a_members_password(organization, make_member):
    member = make_member(organization, Role.ADMIN)
    organization_settings_update(organization=organization, settings={"enforce_sso": True})
    client = Client()
    response = client.post("/login/", {"username": member.email, "password": PASSWORD})
    assert response.status_code == 200
    text = response.content.decode()
    assert "Acme Networks requires single sign-on" in text
    assert "_auth_user_id" not in client.session
    failed = AuditEvent.objects.filter(action="login_failed").latest("id")
    assert failed.additional_data == {"reason": "sso_required"}
    # The admin's sign-in refuses it too, to staff members.
    member.is_staff = True
    member.save()
    admin_login = client.post(
        "/admin/login/", {"username": member.email, "password": PASSWORD, "next": "/admin/"}
    )
    assert "requires single sign-on" in admin_login.content.decode()


def test_enforced_sso_lets_a_superuser_use_the_password(organization):
    superuser = User.objects.create_superuser("root@example.com", PASSWORD)
    Membership.objects.create(user=superuser, organization=organization, role=Role.OWNER)
    organization_settings_update(organization=organization, settings={"enforce_sso": True})
    client = Client()
    response = client.post("/login/", {"username": superuser.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(superuser.pk)


def test_without_enforcement_password_still_works(organization, make_member):
    member = make_member(organization, Role.VIEWER)
    response = Client().post("/login/", {"username": member.email, "password": PASSWORD})
    assert response.status_code == 302


def test_enforcing_member_signs_in_through_sso(organization, make_member, fake):
    member = make_member(organization, Role.VIEWER)
    organization_settings_update(organization=organization, settings={"enforce_sso": True})
    provider = make_provider(organization, fake.url)
    map_group(provider, "ops", Role.OPERATOR)
    fake.claims = {"sub": "m", "email": member.email, "groups": ["ops"]}
    client = Client()
    assert sign_in(client, organization, provider).status_code == 302
    assert client.session["_auth_user_id"] == str(member.pk)
    assert Membership.objects.get(user=member).role == Role.OPERATOR


def test_enforce_sso_is_a_setting(organization, client_for):
    client = client_for(organization, Role.ADMIN)
    url = f"/api/v1/organizations/{organization.slug}/settings/"
    assert client.get(url).json()["settings"]["enforce_sso"] is False
    response = client.patch(url, {"settings": {"enforce_sso": [1]}}, format="json")
    assert response.status_code == 400
    response = client.patch(url, {"settings": {"enforce_sso": True}}, format="json")
    assert response.status_code == 200
    organization.refresh_from_db()
    assert organization.setting("enforce_sso") is True


def test_admin_change_form_never_shows_the_secret(organization):
    superuser = User.objects.create_superuser("root@example.com", PASSWORD)
    provider = make_provider(organization, "https://idp.example.com")
    client = Client()
    client.force_login(superuser)
    page = client.get(f"/admin/tenancy/identityprovider/{provider.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "s3cret-value-for-tests" not in html
    assert provider.client_secret_encrypted not in html
    data = {
        "name": "Renamed",
        "slug": provider.slug,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "scopes": provider.scopes,
        "email_claim": "email",
        "groups_claim": "groups",
        "default_role": "",
        "enabled": "on",
        "client_secret": "",
    }
    response = client.post(f"/admin/tenancy/identityprovider/{provider.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    provider.refresh_from_db()
    assert provider.name == "Renamed"
    assert crypto.decrypt_secrets(provider.client_secret_encrypted)["client_secret"] == (
        "s3cret-value-for-tests"
    )
    data["client_secret"] = "rotated-secret"
    client.post(f"/admin/tenancy/identityprovider/{provider.pk}/change/", data)
    provider.refresh_from_db()
    assert crypto.decrypt_secrets(provider.client_secret_encrypted)["client_secret"] == (
        "rotated-secret"
    )
    for event in AuditEvent.objects.filter(object_type="identityprovider"):
        assert "rotated-secret" not in str(event.changes)
        assert "s3cret" not in str(event.changes)
