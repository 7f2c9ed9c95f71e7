"""The demo history: ninety days of snapshots for the demo plan, seeded idempotently."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.analysis import demo, selectors
from apps.analysis.models import Recommendation, UtilizationSnapshot

pytestmark = pytest.mark.django_db


def test_seed_adds_history_and_advice_once(organization, user, plan):
    demo.seed(organization=organization, user=user)
    count = UtilizationSnapshot.objects.count()
    assert count == 6 * (demo.HISTORY_DAYS + 1)
    today = timezone.now().date()
    busy = UtilizationSnapshot.objects.filter(pool=plan["busy"]).order_by("day")
    assert busy.first().day == today - timedelta(days=demo.HISTORY_DAYS)
    assert busy.last().day == today
    assert busy.last().used == "224"
    assert all(int(row.used) <= 256 for row in busy)
    recommendations = Recommendation.objects.count()
    assert recommendations >= 1

    demo.seed(organization=organization, user=user)
    assert UtilizationSnapshot.objects.count() == count
    assert Recommendation.objects.count() == recommendations
    runway = selectors.pool_analysis(organization=organization, pool=plan["busy"])["runway"]
    assert runway["status"] == "ok"
    assert runway["points"] == 30
