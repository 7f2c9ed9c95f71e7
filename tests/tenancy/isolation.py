"""Isolation factories of tenancy's MFA and session routes (the rest are in tests/isolation.py)."""

from __future__ import annotations

from django.utils import timezone

from apps.tenancy.models import UserSession
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


PATH_FACTORIES = {"session_id": session_id}
