"""The SSO API: providers (client secret write-only), the discovery check, mappings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.cloud import crypto
from apps.tenancy.choices import Role
from apps.tenancy.models import Organization
from apps.tenancy.sso.models import GroupRoleMapping, IdentityProvider
from tests.fakes.oidc import FakeOidcProvider
from tests.isolation import api_routes, declared_permission
from tests.tenancy.sso_helpers import make_provider, map_group

pytestmark = pytest.mark.django_db

SECRET = "very-secret-client-secret-1234"
PROVIDERS = "/api/v1/sso/providers/"


@pytest.fixture
def fake() -> Iterator[FakeOidcProvider]:
    with FakeOidcProvider() as provider:
        yield provider


@pytest.fixture
def admin_client(organization: Organization, client_for) -> APIClient:
    return client_for(organization, Role.ADMIN)


def body(**extra: object) -> dict[str, object]:
    return {
        "name": "Okta",
        "issuer": "https://acme.okta.com/oauth2/default/",
        "client_id": "0oa1b2c3",
        "client_secret": SECRET,
        "groups_claim": "groups",
        **extra,
    }


def test_every_sso_route_needs_sso_manage():
    routes = [r for r in api_routes() if r.name.startswith("api:sso-")]
    assert {(r.name, r.method) for r in routes} == {
        ("api:sso-provider-list", "get"),
        ("api:sso-provider-list", "post"),
        ("api:sso-provider-detail", "get"),
        ("api:sso-provider-detail", "patch"),
        ("api:sso-provider-detail", "delete"),
        ("api:sso-provider-check", "post"),
        ("api:sso-mapping-list", "get"),
        ("api:sso-mapping-list", "post"),
        ("api:sso-mapping-detail", "get"),
        ("api:sso-mapping-detail", "patch"),
        ("api:sso-mapping-detail", "delete"),
    }
    for route in routes:
        assert declared_permission(route) == "sso.manage", route.id


def test_create_stores_the_secret_encrypted_and_never_returns_it(admin_client, organization):
    response = admin_client.post(PROVIDERS, body(), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert SECRET not in response.content.decode()
    assert "client_secret" not in data
    assert data["client_secret_set"] is True
    assert data["slug"] == "okta"
    assert data["issuer"] == "https://acme.okta.com/oauth2/default"
    assert data["scopes"] == "openid email profile"
    assert data["login_path"] == "/sso/acme/okta/login/"
    provider = IdentityProvider.objects.get(pk=data["id"])
    assert SECRET not in provider.client_secret_encrypted
    assert crypto.decrypt_secrets(provider.client_secret_encrypted) == {"client_secret": SECRET}
    for read in (admin_client.get(PROVIDERS), admin_client.get(f"{PROVIDERS}{provider.pk}/")):
        assert read.status_code == 200
        assert SECRET not in read.content.decode()
    for event in AuditEvent.objects.all():
        assert SECRET not in str(event.changes)
        assert provider.client_secret_encrypted not in str(event.changes)
    created = AuditEvent.objects.get(action="create", object_type="identityprovider")
    assert "client_secret_encrypted" not in created.changes
    assert created.changes["name"] == [None, "Okta"]


def test_patch_replaces_or_removes_the_secret(admin_client, organization):
    provider_id = admin_client.post(PROVIDERS, body(), format="json").json()["id"]
    url = f"{PROVIDERS}{provider_id}/"
    response = admin_client.patch(url, {"client_secret": "another-one"}, format="json")
    assert response.status_code == 200
    provider = IdentityProvider.objects.get(pk=provider_id)
    assert crypto.decrypt_secrets(provider.client_secret_encrypted)["client_secret"] == (
        "another-one"
    )
    response = admin_client.patch(url, {"name": "Okta EU"}, format="json")
    assert response.json()["client_secret_set"] is True
    response = admin_client.patch(url, {"client_secret": ""}, format="json")
    assert response.json()["client_secret_set"] is False


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"issuer": "http://idp.example.com"}, "issuer", "The issuer must use https://"),
        ({"issuer": "ftp://x"}, "issuer", "The issuer must be an https:// URL."),
        ({"scopes": "email profile"}, "scopes", "The scopes must include 'openid'."),
        ({"default_role": "king"}, "default_role", '"king" is not a valid choice.'),
        ({"slug": "Not A Slug"}, "slug", "Use lower-case letters, digits and hyphens."),
        ({"name": ""}, "name", "This field may not be blank."),
        ({"enabled": "yes"}, "enabled", "Must be a valid boolean."),
        ({"client_id": 12}, "client_id", "Not a valid string."),
    ],
)
def test_invalid_provider_is_400(admin_client, changes, field, message):
    response = admin_client.post(PROVIDERS, body(**changes), format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert message in error["fields"][field][0]
    assert not IdentityProvider.objects.exists()


def test_duplicate_slug_is_409(admin_client):
    assert admin_client.post(PROVIDERS, body(), format="json").status_code == 201
    response = admin_client.post(PROVIDERS, body(), format="json")
    assert response.status_code == 409
    assert response.json()["error"]["fields"] == {
        "slug": ["This slug is taken in the organization."]
    }


def test_check_reports_what_discovery_found(admin_client, organization, fake):
    provider = make_provider(organization, fake.url)
    response = admin_client.post(f"{PROVIDERS}{provider.pk}/check/")
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert data["issuer"] == fake.url
    assert data["token_endpoint"] == f"{fake.url}/token"
    assert data["jwks_uri"] == f"{fake.url}/jwks"
    assert data["scopes_supported"] == ["openid", "email", "profile", "groups"]
    assert "error" not in data
    provider.refresh_from_db()
    assert provider.discovery_document["issuer"] == fake.url
    event = AuditEvent.objects.filter(action="connectivity_check").latest("id")
    assert event.additional_data == {"ok": True, "error_code": None}


def test_check_names_the_failure(admin_client, organization, fake):
    fake.discovery_issuer = "https://someone-else.example.com"
    provider = make_provider(organization, fake.url)
    data = admin_client.post(f"{PROVIDERS}{provider.pk}/check/").json()
    assert data["ok"] is False
    assert data["error"]["code"] == "issuer_mismatch"
    assert "names the issuer 'https://someone-else.example.com'" in data["error"]["message"]
    unreachable = make_provider(organization, "http://127.0.0.1:9", slug="down")
    data = admin_client.post(f"{PROVIDERS}{unreachable.pk}/check/").json()
    assert data["ok"] is False
    assert data["error"]["code"] == "provider_unreachable"


def test_mappings_crud(admin_client, organization):
    provider = make_provider(organization, "https://idp.example.com")
    url = f"{PROVIDERS}{provider.pk}/mappings/"
    created = admin_client.post(url, {"group": "netops", "role": "operator"}, format="json")
    assert created.status_code == 201
    mapping_id = created.json()["id"]
    assert created.json()["role"] == "operator"
    duplicate = admin_client.post(url, {"group": "netops", "role": "viewer"}, format="json")
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["fields"] == {"group": ["This group is mapped already."]}
    bad = admin_client.post(url, {"group": "x", "role": "root"}, format="json")
    assert bad.status_code == 400
    listed = admin_client.get(url).json()
    assert listed["count"] == 1
    patched = admin_client.patch(f"{url}{mapping_id}/", {"role": "admin"}, format="json")
    assert patched.json()["role"] == "admin"
    assert admin_client.delete(f"{url}{mapping_id}/").status_code == 204
    assert not GroupRoleMapping.objects.exists()


def test_mapping_of_another_provider_is_404(admin_client, organization):
    one = make_provider(organization, "https://one.example.com", slug="one")
    two = make_provider(organization, "https://two.example.com", slug="two")
    map_group(two, "g", Role.VIEWER)
    mapping = GroupRoleMapping.objects.get()
    response = admin_client.get(f"{PROVIDERS}{one.pk}/mappings/{mapping.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_other_organization_provider_is_404(admin_client, other_organization):
    provider = make_provider(other_organization, "https://idp.example.com")
    for method, path in (
        ("get", f"{PROVIDERS}{provider.pk}/"),
        ("post", f"{PROVIDERS}{provider.pk}/check/"),
        ("get", f"{PROVIDERS}{provider.pk}/mappings/"),
    ):
        response = getattr(admin_client, method)(path)
        assert response.status_code == 404
    assert admin_client.get(PROVIDERS).json()["count"] == 0


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER, Role.AUDITOR])
def test_non_admins_are_refused(organization, client_for, role):
    client = client_for(organization, role)
    response = client.get(PROVIDERS)
    assert response.status_code == 403
    assert "'sso.manage'" in response.json()["error"]["message"]


def test_list_query_count_is_fixed(admin_client, organization, django_assert_max_num_queries):
    for index in range(5):
        provider = make_provider(organization, "https://idp.example.com", slug=f"p{index}")
        map_group(provider, "g", Role.VIEWER)
    with django_assert_max_num_queries(12):
        response = admin_client.get(PROVIDERS)
    assert response.json()["count"] == 5
    assert {item["mapping_count"] for item in response.json()["results"]} == {1}


def test_secret_cannot_be_stored_without_a_key(admin_client, settings):
    settings.CLOUDPAM_DEV_ENCRYPTION_KEY = False
    settings.CLOUDPAM_ENCRYPTION_KEYS = []
    response = admin_client.post(PROVIDERS, body(), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "configuration_error"
    assert not IdentityProvider.objects.exists()


def test_rotate_credentials_reencrypts_client_secrets(settings, organization, other_organization):
    import io

    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CLOUDPAM_ENCRYPTION_KEYS = [old]
    first = make_provider(organization, "https://a.example.com", client_secret="one")
    second = make_provider(other_organization, "https://b.example.com", client_secret="two")
    settings.CLOUDPAM_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_credentials", stdout=out)
    assert "2 identity provider(s) with a client secret: 2 re-encrypted" in out.getvalue()
    settings.CLOUDPAM_ENCRYPTION_KEYS = [new]
    for provider, secret in ((first, "one"), (second, "two")):
        provider.refresh_from_db()
        assert crypto.decrypt_secrets(provider.client_secret_encrypted) == {"client_secret": secret}
    out = io.StringIO()
    call_command("rotate_credentials", stdout=out)
    assert "2 identity provider(s) with a client secret: 0 re-encrypted, 2 already" in (
        out.getvalue()
    )
