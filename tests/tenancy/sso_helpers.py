"""Shared helpers of the SSO tests: a provider row and a sign-in driven through the test client."""

from __future__ import annotations

from typing import Any

import requests
from django.test import Client

from apps.tenancy.models import Organization
from apps.tenancy.sso import services
from apps.tenancy.sso.models import IdentityProvider
from cloudpam.context import Actor

TEST_ACTOR = Actor(system="tests")


def make_provider(
    organization: Organization, issuer: str, *, slug: str = "corp", **options: Any
) -> IdentityProvider:
    options.setdefault("client_secret", "s3cret-value-for-tests")
    options.setdefault("groups_claim", "groups")
    return services.identity_provider_create(
        organization=organization,
        actor=TEST_ACTOR,
        name=options.pop("name", "Corp IdP"),
        slug=slug,
        issuer=issuer,
        client_id=options.pop("client_id", "cloudpam-client"),
        **options,
    )


def map_group(provider: IdentityProvider, group: str, role: str) -> None:
    services.group_mapping_create(provider=provider, actor=TEST_ACTOR, group=group, role=role)


def start(client: Client, organization: Organization, provider: IdentityProvider) -> Any:
    """Start a sign-in; return the response redirecting to the provider."""
    return client.get(f"/sso/{organization.slug}/{provider.slug}/login/")


def callback_url(client: Client, organization: Organization, provider: IdentityProvider) -> str:
    """Start a sign-in and let the fake provider answer: return the callback path with query."""
    response = start(client, organization, provider)
    assert response.status_code == 302, response.content[:500]
    answer = requests.get(response["Location"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith("http://testserver/sso/callback/?")
    return location.removeprefix("http://testserver")


def sign_in(client: Client, organization: Organization, provider: IdentityProvider) -> Any:
    """Run a whole sign-in; return the callback's response."""
    return client.get(callback_url(client, organization, provider))
