"""Path factories and machine credentials of the discovery routes, for the walks.

Each agent and token is named after the world's marker, so a response that leaks one is
caught. The agents' own routes are called with the world's agent credential (or
provisioning token), never a member's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.discovery import factories
from tests.isolation import World


def _agent(world: World) -> tuple[Any, str]:
    return world.remember(
        "agent", lambda: factories.agent(world.organization, f"agent {world.marker}")
    )


def _pending_agent(world: World) -> Any:
    return world.remember(
        "pending-agent",
        lambda: factories.agent(world.organization, f"pending {world.marker}", approved=False)[0],
    )


def _token(world: World) -> tuple[Any, str]:
    return world.remember(
        "agent-token", lambda: factories.provisioning_token(world.organization, world.marker)
    )


def _account(world: World) -> Any:
    from apps.cloud.services import account_create
    from tests.actors import TEST_ACTOR

    return world.remember(
        "discovery-account",
        lambda: account_create(
            actor=TEST_ACTOR,
            organization=world.organization,
            name=f"account {world.marker}",
            provider="gcp",
            external_id="walk-project",
            auth_method="default_chain",
        ),
    )


def _resource(world: World) -> Any:
    return world.remember(
        "resource",
        lambda: factories.resource(_account(world), name=f"resource {world.marker}"),
    )


def _run(world: World) -> Any:
    # Queued, so that cancelling it is allowed once; the marker is in the account's name.
    return world.remember(
        "sync-run",
        lambda: factories.sync_run(
            _account(world), status="queued", finished_at=None, progress_message=world.marker
        ),
    )


def _drift_finding(world: World) -> Any:
    """Return an open finding of the world, about a resource named with its marker.

    Its suggestion is ``ignore``: applying it touches only the resource, so each role's
    answer says whether the role may, not whether the plan has room.
    """

    def make() -> Any:
        from apps.discovery.models import DriftFinding

        account = _account(world)
        resource = factories.resource(
            account, "10.77.0.0/24", f"vpc-{world.marker}", name=world.marker
        )
        return DriftFinding.objects.create(
            organization=world.organization,
            account=account,
            kind="overlap",
            severity="error",
            key=f"overlap:resource:{resource.pk}",
            resource=resource,
            message=f"{resource.cidr} {world.marker} overlaps something.",
            suggestion={"action": "ignore", "params": {"resource": resource.pk}},
        )

    return world.remember("drift-finding", make)


PATH_FACTORIES: dict[str, Callable[[World], Any]] = {
    "resource_id": lambda world: _resource(world).pk,
    "run_id": lambda world: _run(world).pk,
    "api:drift-detail:pk": lambda world: _drift_finding(world).pk,
    "api:drift-apply:pk": lambda world: _drift_finding(world).pk,
    "api:drift-ignore:pk": lambda world: _drift_finding(world).pk,
    # Decisions are taken on a pending agent, so each role's answer is about its role.
    "agent_id": lambda world: _pending_agent(world).pk,
    "api:agent-heartbeat:agent_id": lambda world: _agent(world)[0].pk,
    "agent_token_id": lambda world: _token(world)[0].pk,
}

MACHINE_CREDENTIALS: dict[str, Callable[[World], str]] = {
    "api:agent-register": lambda world: f"Bearer {_token(world)[1]}",
    "api:agent-heartbeat": lambda world: f"Bearer {_agent(world)[1]}",
    "api:discovery-ingest": lambda world: f"Bearer {_agent(world)[1]}",
}
