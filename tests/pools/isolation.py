"""Path factories of the pool routes for the tenant-isolation walk (tests/isolation.py)."""

from __future__ import annotations

from typing import Any

from apps.pools.services import pool_create
from tests.actors import TEST_ACTOR
from tests.isolation import World


def pool_id(world: World) -> int:
    """Return a pool of the world's organization, named with its marker."""

    def make() -> Any:
        root = pool_create(
            actor=TEST_ACTOR,
            organization=world.organization,
            name=f"root {world.marker}",
            cidr="10.0.0.0/8",
        )
        pool_create(
            actor=TEST_ACTOR,
            organization=world.organization,
            name=f"child {world.marker}",
            cidr="10.1.0.0/16",
            parent=root,
        )
        return root

    return world.remember("pool", make).pk


def address(world: World) -> str:
    """Return an address inside the world's pools: a lookup must find only its own."""
    pool_id(world)
    return "10.1.2.3"


PATH_FACTORIES = {
    **{
        f"api:{name}:pk": pool_id
        for name in (
            "pool-detail",
            "pool-restore",
            "pool-children",
            "pool-available",
            "pool-allocate",
            "pool-utilization",
        )
    },
    "address": address,
}
# An address is a value, not an object of the organization: no 404 expected.
VALUE_PARAMETERS = {"address"}
