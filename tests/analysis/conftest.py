"""Fixtures of the analysis tests: a small plan made through the pool services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.analysis.models import UtilizationSnapshot
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from tests.pools.factories import PoolFactory


@pytest.fixture
def make_pool(organization: Organization) -> Callable[..., Pool]:
    """Return a maker of pools in ``organization`` (or the parent's organization)."""

    def make(cidr: str, parent: Pool | None = None, **kwargs: Any) -> Pool:
        kwargs.setdefault("organization", organization)
        return PoolFactory(cidr=cidr, parent=parent, **kwargs)

    return make


@pytest.fixture
def plan(make_pool: Callable[..., Pool]) -> dict[str, Pool]:
    """A region with a busy VPC (87.5 % used), a room next to it, and an empty VPC.

    10.0.0.0/16 region
      10.0.0.0/24 vpc "busy": 10.0.0.0/25, 10.0.0.128/26, 10.0.0.192/27 subnets
      10.0.8.0/24 vpc "idle" (no children)
    """
    region = make_pool("10.0.0.0/16", name="region", type="region")
    busy = make_pool("10.0.0.0/24", parent=region, name="busy", type="vpc")
    subnets = [
        make_pool(cidr, parent=busy, name=f"subnet-{index}", type="subnet")
        for index, cidr in enumerate(["10.0.0.0/25", "10.0.0.128/26", "10.0.0.192/27"])
    ]
    idle = make_pool("10.0.8.0/24", parent=region, name="idle", type="vpc")
    return {"region": region, "busy": busy, "idle": idle, "subnets": subnets}


def age(pool: Pool, days: int) -> Pool:
    """Make ``pool`` look ``days`` old (creation times are set by the database)."""
    Pool.objects.filter(pk=pool.pk).update(created_at=timezone.now() - timedelta(days=days))
    pool.refresh_from_db()
    return pool


def add_history(pool: Pool, values: list[int], *, total: int | None = None) -> None:
    """Store one snapshot a day for ``pool``, the last value being today's."""
    today = timezone.now().date()
    size = total if total is not None else pool.size
    for offset, used in enumerate(reversed(values)):
        UtilizationSnapshot.objects.update_or_create(
            organization_id=pool.organization_id,
            pool=pool,
            day=today - timedelta(days=offset),
            defaults={"total": str(size), "used": str(used), "percent": used * 100 / size},
        )
