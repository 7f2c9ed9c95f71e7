"""Demo history for ``make run``: ninety days of utilization snapshots, then advice.

The history of each demo pool climbs to its utilization of today along a curve of its own
(seeded by the pool's id, so seeding twice writes the same numbers), which gives the
runway projections and the dashboard something to show. Seeding again adds only missing
days; today's snapshot is the real one.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.utils import timezone

from apps.analysis import services
from apps.analysis.models import UtilizationSnapshot
from apps.pools.models import Pool
from apps.pools.selectors import pool_utilization_map
from apps.tenancy.models import Organization

HISTORY_DAYS = 90


def _history(pool: Pool, used_today: int, total: int) -> list[tuple[int, int]]:
    """Return ``(days ago, used)`` for the pool's past, rising to ``used_today``."""
    # Reproducible demo numbers, not security: the same pool gets the same history.
    rng = random.Random(pool.pk)  # noqa: S311
    start = used_today * rng.uniform(0.45, 0.9)
    points = []
    for days_ago in range(HISTORY_DAYS, 0, -1):
        progress = (HISTORY_DAYS - days_ago) / HISTORY_DAYS
        noise = rng.uniform(-0.01, 0.01) * used_today
        used = round(start + (used_today - start) * progress + noise)
        points.append((days_ago, min(max(used, 0), total)))
    return points


def seed(*, organization: Organization, user: Any) -> None:
    """Add ninety days of snapshot history to the demo plan and generate recommendations."""
    today = timezone.now().date()
    pools = list(Pool.objects.for_organization(organization).live().order_by("pk"))
    usage = pool_utilization_map(pools)
    rows = []
    for pool in pools:
        total = usage[pool.pk].total
        for days_ago, used in _history(pool, usage[pool.pk].used, total):
            rows.append(
                UtilizationSnapshot(
                    organization=organization,
                    pool=pool,
                    day=today - timedelta(days=days_ago),
                    total=str(total),
                    used=str(used),
                    percent=round(used * 100 / total, 2) if total else 0.0,
                )
            )
    UtilizationSnapshot.objects.bulk_create(rows, batch_size=1_000, ignore_conflicts=True)
    services.snapshot_take(organization=organization, day=today)
    services.recommendation_generate(organization=organization)
