"""The SSO sign-in flow against a fake provider on loopback: success, provisioning, refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.tenancy.choices import Role
from apps.tenancy.context import SESSION_KEY
from apps.tenancy.models import Membership, Organization, User
from tests.fakes.oidc import FakeOidcProvider, parse_query
from tests.tenancy.sso_helpers import callback_url, make_provider, map_group, sign_in, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake() -> Iterator[FakeOidcProvider]:
    with FakeOidcProvider() as provider:
        yield provider


@pytest.fixture
def provider(organization: Organization, fake: FakeOidcProvider):
    idp = make_provider(organization, fake.url)
    map_group(idp, "net-admins", Role.ADMIN)
    map_group(idp, "net-ops", Role.OPERATOR)
    map_group(idp, "everyone", Role.VIEWER)
    return idp


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_authorization_request_carries_state_nonce_and_pkce(organization, provider, fake):
    client = Client()
    response = start(client, organization, provider)
    assert response.status_code == 302
    query = parse_query(response["Location"])
    assert response["Location"].startswith(f"{fake.url}/authorize?")
    assert query["response_type"] == "code"
    assert query["client_id"] == "cloudpam-client"
    assert query["redirect_uri"] == "http://testserver/sso/callback/"
    assert query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 32
    assert len(query["nonce"]) >= 32
    states = client.session["cloudpam_sso_states"]
    assert set(states) == {query["state"]}
    assert "s3cret" not in response["Location"]


def test_first_sign_in_provisions_user_and_membership_with_mapped_role(
    organization, provider, fake
):
    fake.claims = {
        "sub": "u-1",
        "email": "Ada@Example.com",
        "name": "Ada Lovelace",
        "groups": ["everyone", "net-ops"],
    }
    client = Client()
    response = sign_in(client, organization, provider)
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(email="ada@example.com")
    assert user.full_name == "Ada Lovelace"
    assert not user.has_usable_password()
    membership = Membership.objects.get(user=user, organization=organization)
    assert membership.role == Role.OPERATOR
    assert client.session[SESSION_KEY] == organization.pk
    assert client.session["_auth_user_backend"] == "apps.tenancy.sso.backends.SSOBackend"
    # The session works like a password session.
    assert client.get("/api/v1/me/").json()["role"] == "operator"
    provisioned = events("sso_provisioned")
    assert [e.organization_id for e in provisioned if e.object_type == "membership"] == [
        organization.pk
    ]
    details = next(e for e in provisioned if e.object_type == "membership").additional_data
    assert details == {
        "provider": "corp",
        "user_created": True,
        "role": "operator",
        "role_source": "mapping",
        "groups": ["everyone", "net-ops"],
    }
    login = events("login")[-1]
    assert login.additional_data == {"method": "sso", "provider": "corp", "organization": "acme"}
    assert login.organization_id == organization.pk
    # The token exchange sent the PKCE verifier and the decrypted secret.
    exchange = fake.token_requests[-1]
    assert exchange["client_secret"] == "s3cret-value-for-tests"
    assert len(exchange["code_verifier"]) >= 43


def test_second_sign_in_with_changed_groups_changes_the_role(organization, provider, fake):
    fake.claims = {"sub": "u-1", "email": "ada@example.com", "groups": ["everyone"]}
    assert sign_in(Client(), organization, provider).status_code == 302
    membership = Membership.objects.get(user__email="ada@example.com")
    assert membership.role == Role.VIEWER
    fake.claims = {"sub": "u-1", "email": "ada@example.com", "groups": ["net-admins", "x"]}
    assert sign_in(Client(), organization, provider).status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    changed = events("role_changed")[-1]
    assert changed.changes == {"role": ["viewer", "admin"]}
    assert len(events("sso_provisioned")) == 2  # the user (global chain) and the membership, once


def test_existing_user_joins_the_organization(organization, other_organization, fake):
    user = User.objects.create_user("grace@example.com", "a password 123")
    Membership.objects.create(user=user, organization=other_organization, role=Role.OWNER)
    idp = make_provider(organization, fake.url, default_role=Role.VIEWER)
    fake.claims = {"sub": "g", "email": "grace@example.com", "groups": []}
    assert sign_in(Client(), organization, idp).status_code == 302
    assert Membership.objects.get(user=user, organization=organization).role == Role.VIEWER
    assert User.objects.filter(email="grace@example.com").count() == 1
    details = events("sso_provisioned")[-1].additional_data
    assert details["user_created"] is False
    assert details["role_source"] == "default"


def test_user_without_a_mapped_group_is_refused_with_a_clear_page(organization, provider, fake):
    fake.claims = {"sub": "u-2", "email": "eve@example.com", "groups": ["marketing"]}
    response = sign_in(Client(), organization, provider)
    assert response.status_code == 403
    text = response.content.decode()
    assert "is not in a group that gives access to Acme Networks" in text
    assert "no_mapped_group" in text
    assert not User.objects.filter(email="eve@example.com").exists()
    failed = events("login_failed")[-1]
    assert failed.additional_data == {
        "method": "sso",
        "provider": "corp",
        "reason": "sso_no_mapped_group",
    }


def test_require_mapped_group_refuses_even_with_a_default(organization, fake):
    idp = make_provider(organization, fake.url, default_role=Role.VIEWER, require_mapped_group=True)
    fake.claims = {"sub": "u-3", "email": "mallory@example.com", "groups": []}
    response = sign_in(Client(), organization, idp)
    assert response.status_code == 403
    assert "not in a group" in response.content.decode()


def test_default_role_without_mapping(organization, fake):
    idp = make_provider(organization, fake.url, default_role=Role.AUDITOR)
    fake.claims = {"sub": "u-4", "email": "audit@example.com"}
    assert sign_in(Client(), organization, idp).status_code == 302
    assert Membership.objects.get(user__email="audit@example.com").role == Role.AUDITOR


@pytest.mark.parametrize(
    ("setup", "reason", "message"),
    [
        (
            lambda f: setattr(f, "token_issuer", "https://evil.example.com"),
            "wrong_issuer",
            "The ID token was issued by &#x27;https://evil.example.com&#x27;",
        ),
        (
            lambda f: setattr(f, "sign_with_unpublished_key", True),
            "bad_signature",
            "The ID token&#x27;s signature is not valid.",
        ),
        (lambda f: setattr(f, "expires_in", -600), "token_expired", "The ID token has expired."),
        (
            lambda f: setattr(f, "nonce", "another-nonce"),
            "nonce_mismatch",
            "The ID token does not belong to this sign-in.",
        ),
        (
            lambda f: setattr(f, "audience", "another-client"),
            "wrong_audience",
            "The ID token was issued for another client.",
        ),
    ],
    ids=["wrong-issuer", "bad-signature", "expired", "nonce", "audience"],
)
def test_bad_id_tokens_are_refused(organization, provider, fake, setup, reason, message):
    fake.claims = {"sub": "u-1", "email": "ada@example.com", "groups": ["net-admins"]}
    setup(fake)
    client = Client()
    response = sign_in(client, organization, provider)
    assert response.status_code == 403
    text = response.content.decode()
    assert message in text
    assert reason in text
    assert not User.objects.filter(email="ada@example.com").exists()
    assert "_auth_user_id" not in client.session
    assert events("login_failed")[-1].additional_data["reason"] == f"sso_{reason}"


def test_replayed_state_is_refused(organization, provider, fake):
    fake.claims = {"sub": "u-1", "email": "ada@example.com", "groups": ["everyone"]}
    client = Client()
    url = callback_url(client, organization, provider)
    assert client.get(url).status_code == 302
    # The same answer again, from the signed-in browser and from another one.
    for replaying in (client, Client()):
        response = replaying.get(url)
        assert response.status_code == 403
        assert "already used, has expired" in response.content.decode()
        assert "unknown_state" in response.content.decode()
    assert events("login_failed")[-1].additional_data["reason"] == "sso_unknown_state"


def test_state_from_another_browser_is_refused(organization, provider, fake):
    fake.claims = {"sub": "u-1", "email": "ada@example.com", "groups": ["everyone"]}
    url = callback_url(Client(), organization, provider)
    response = Client().get(url)
    assert response.status_code == 403
    assert not User.objects.filter(email="ada@example.com").exists()


def test_callback_without_state_or_with_provider_error(organization, provider, fake):
    client = Client()
    assert client.get("/sso/callback/?code=x").status_code == 403
    response = start(client, organization, provider)
    state = parse_query(response["Location"])["state"]
    denied = client.get(f"/sso/callback/?state={state}&error=access_denied")
    assert denied.status_code == 403
    assert "did not sign you in (access_denied)" in denied.content.decode()


def test_discovery_with_another_issuer_is_refused(organization, fake):
    fake.discovery_issuer = "https://other.example.com"
    idp = make_provider(organization, fake.url)
    response = start(Client(), organization, idp)
    assert response.status_code == 502
    assert "names the issuer" in response.content.decode()


def test_unreachable_provider_is_a_clear_page(organization):
    idp = make_provider(organization, "http://127.0.0.1:9")
    response = start(Client(), organization, idp)
    assert response.status_code == 502
    assert "could not be reached" in response.content.decode()


def test_unknown_or_disabled_provider_is_404(organization, provider):
    client = Client()
    assert client.get("/sso/acme/nope/login/").status_code == 404
    assert client.get("/sso/nope/corp/login/").status_code == 404
    provider.enabled = False
    provider.save()
    assert client.get("/sso/acme/corp/login/").status_code == 404


def test_discovery_document_is_cached(organization, provider, fake):
    fake.claims = {"sub": "u-1", "email": "ada@example.com", "groups": ["everyone"]}
    sign_in(Client(), organization, provider)
    sign_in(Client(), organization, provider)
    assert fake.discovery_requests == 1
    provider.refresh_from_db()
    assert provider.discovery_fetched_at is not None


def test_safe_next_is_followed(organization, provider, fake):
    fake.claims = {"sub": "u-1", "email": "ada@example.com", "groups": ["everyone"]}
    client = Client()
    for next_url, expected in (("/pools/", "/pools/"), ("https://evil.example.com/", "/")):
        response = client.get(f"/sso/acme/corp/login/?next={next_url}")
        answer = requests.get(response["Location"], allow_redirects=False, timeout=5)
        done = client.get(answer.headers["Location"].removeprefix("http://testserver"))
        assert done["Location"] == expected


def test_disabled_user_is_refused(organization, provider, fake):
    User.objects.create_user("ada@example.com", None, is_active=False)
    fake.claims = {"sub": "u-1", "email": "ada@example.com", "groups": ["everyone"]}
    response = sign_in(Client(), organization, provider)
    assert response.status_code == 403
    assert "This CloudPAM account is disabled." in response.content.decode()


def test_unverified_email_is_refused(organization, provider, fake):
    fake.claims = {
        "sub": "u-1",
        "email": "ada@example.com",
        "email_verified": False,
        "groups": ["everyone"],
    }
    response = sign_in(Client(), organization, provider)
    assert response.status_code == 403
    assert "unverified" in response.content.decode()


def test_last_owner_keeps_the_owner_role(organization, provider, fake):
    user = User.objects.create_user("ada@example.com", None)
    Membership.objects.create(user=user, organization=organization, role=Role.OWNER)
    fake.claims = {"sub": "u-1", "email": "ada@example.com", "groups": ["everyone"]}
    assert sign_in(Client(), organization, provider).status_code == 302
    assert Membership.objects.get(user=user).role == Role.OWNER


def test_without_a_groups_claim_the_default_only_provisions(organization, fake):
    idp = make_provider(organization, fake.url, groups_claim="", default_role=Role.VIEWER)
    fake.claims = {"sub": "g", "email": "gina@example.com"}
    assert sign_in(Client(), organization, idp).status_code == 302
    membership = Membership.objects.get(user__email="gina@example.com")
    assert membership.role == Role.VIEWER
    membership.role = Role.OPERATOR  # promoted in CloudPAM
    membership.save()
    assert sign_in(Client(), organization, idp).status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.OPERATOR


def test_with_a_groups_claim_leaving_the_groups_falls_back_to_the_default(organization, fake):
    idp = make_provider(organization, fake.url, default_role=Role.VIEWER)
    map_group(idp, "admins", Role.ADMIN)
    fake.claims = {"sub": "h", "email": "hal@example.com", "groups": ["admins"]}
    sign_in(Client(), organization, idp)
    fake.claims = {"sub": "h", "email": "hal@example.com", "groups": []}
    sign_in(Client(), organization, idp)
    assert Membership.objects.get(user__email="hal@example.com").role == Role.VIEWER


def test_no_secret_code_or_token_reaches_the_logs(organization, provider, fake, json_logs):
    fake.claims = {"sub": "u-1", "email": "ada@example.com", "groups": ["everyone"]}
    client = Client()
    url = callback_url(client, organization, provider)
    code = parse_query(url)["code"]
    assert client.get(url).status_code == 302
    assert client.get(url).status_code == 403  # a replay, refused and logged
    lines = [
        line
        for line in json_logs.getvalue().splitlines()
        if '"logger": "werkzeug"' not in line  # the fake provider's own request log
    ]
    text = "\n".join(lines)
    assert "/sso/callback/" in text
    for secret in ("s3cret-value-for-tests", code, "access-"):
        assert secret not in text
    assert "eyJ" not in text  # no JWT


def test_keys_are_cached_and_fetched_again_when_the_provider_rotates(organization, provider, fake):
    fake.claims = {"sub": "u-1", "email": "ada@example.com", "groups": ["everyone"]}
    assert sign_in(Client(), organization, provider).status_code == 302
    assert sign_in(Client(), organization, provider).status_code == 302
    assert fake.jwks_requests == 1
    # A new key, published without kid like the old one: the cached set no longer verifies.
    fake.key = fake.other_key
    assert sign_in(Client(), organization, provider).status_code == 302
    assert fake.jwks_requests == 2


def test_stale_discovery_document_is_fetched_again(organization, provider, fake):
    from datetime import timedelta

    from apps.tenancy.sso.models import IdentityProvider

    fake.claims = {"sub": "u-1", "email": "ada@example.com", "groups": ["everyone"]}
    sign_in(Client(), organization, provider)
    IdentityProvider.objects.filter(pk=provider.pk).update(
        discovery_fetched_at=timezone.now() - timedelta(hours=2)
    )
    sign_in(Client(), organization, provider)
    assert fake.discovery_requests == 2
