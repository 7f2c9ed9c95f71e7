"""Path factories of the analysis routes for the tenant-isolation and permission walks.

Each factory makes an object of the world's organization whose API form shows the
world's marker: a pool named after it (its analysis echoes the name), a run whose message
carries it, a recommendation whose title does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apps.analysis.models import AnalysisRun, Recommendation
from apps.pools.services import pool_create
from tests.actors import TEST_ACTOR
from tests.isolation import World


def _pool(world: World) -> Any:
    return world.remember(
        "analysis-pool",
        lambda: pool_create(
            actor=TEST_ACTOR,
            organization=world.organization,
            name=f"analysed {world.marker}",
            cidr="172.20.0.0/16",
            type="vpc",
        ),
    )


def _run_id(world: World) -> int:
    return world.remember(
        "analysis-run",
        lambda: AnalysisRun.objects.create(
            organization=world.organization, all_pools=True, message=f"run {world.marker}"
        ),
    ).pk


def _recommendation_id(world: World) -> int:
    def make() -> Recommendation:
        pool = _pool(world)
        return Recommendation.objects.create(
            organization=world.organization,
            type="reclaim",
            severity="info",
            impact=10,
            title=f"Reclaim {world.marker}",
            rationale="An isolation probe.",
            change={"action": "delete", "pool": pool.pk},
            fingerprint=world.marker.ljust(64, "0")[:64],
            pool=pool,
        )

    return world.remember("analysis-recommendation", make).pk


PATH_FACTORIES: dict[str, Callable[[World], Any]] = {
    "api:analysis-pool:pk": lambda world: _pool(world).pk,
    "api:analysis-run-detail:pk": _run_id,
    "api:recommendation-detail:pk": _recommendation_id,
    "api:recommendation-apply:pk": _recommendation_id,
    "api:recommendation-dismiss:pk": _recommendation_id,
}
