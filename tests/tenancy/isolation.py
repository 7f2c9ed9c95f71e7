"""Isolation factories of tenancy's MFA, session and SSO routes (the rest: tests/isolation.py)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.tenancy.models import UserSession
from apps.tenancy.sso.services import group_mapping_create, identity_provider_create
from tests.actors import TEST_ACTOR
from tests.isolation import World


def session_id(world: World) -> int:
    def make() -> UserSession:
        now = timezone.now()
        return UserSession.objects.create(
            user=world.owner,
            session_key_hash="0" * 64,
            last_organization=world.organization,
            device=f"device {world.marker}",
            user_agent=f"agent {world.marker}",
            created_at=now,
            last_seen_at=now,
        )

    return world.remember("user_session", make).pk


def provider_id(world: World) -> int:
    """Return an identity provider of the world's organization, named with its marker.

    Its issuer is a closed loopback port: a check answers at once that it is unreachable.
    """

    def make() -> Any:
        return identity_provider_create(
            organization=world.organization,
            actor=TEST_ACTOR,
            name=f"idp {world.marker}",
            slug="idp",
            issuer="http://127.0.0.1:9",
            client_id=f"client-{world.marker}",
            client_secret="walk-secret",
        )

    return world.remember("identity_provider", make).pk


def mapping_id(world: World) -> int:
    def make() -> Any:
        provider_id(world)
        provider = world.objects["identity_provider"]
        return group_mapping_create(
            provider=provider, actor=TEST_ACTOR, group=f"group-{world.marker}", role="viewer"
        )

    return world.remember("group_mapping", make).pk


PATH_FACTORIES = {
    "session_id": session_id,
    "api:sso-provider-detail:pk": provider_id,
    "api:sso-provider-check:pk": provider_id,
    "provider_id": provider_id,
    "api:sso-mapping-detail:pk": mapping_id,
}
