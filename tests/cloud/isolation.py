"""Path factories of the cloud account routes for the tenant-isolation walk."""

from __future__ import annotations

from typing import Any

from apps.cloud.services import account_create
from tests.actors import TEST_ACTOR
from tests.isolation import World


def account_id(world: World) -> int:
    """Return an AWS account of the world's organization, named with its marker.

    Access keys without a stored secret: the test, discover-members and sync actions then
    answer from the database alone, never reaching a cloud.
    """

    def make() -> Any:
        return account_create(
            actor=TEST_ACTOR,
            organization=world.organization,
            name=f"account {world.marker}",
            provider="aws",
            external_id="123456789012",
            auth_method="access_keys",
            access_key_id="AKIAEXAMPLE00000001",
        )

    return world.remember("account", make).pk


PATH_FACTORIES = {
    f"api:{name}:pk": account_id
    for name in (
        "account-detail",
        "account-credentials",
        "account-test",
        "account-discover-members",
        "account-sync",
    )
}
