"""The analysis models and vocabulary: constraints, properties, engine and Django agree."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from apps.analysis.choices import RecommendationType, Severity
from apps.analysis.engine import POOL_STATUSES, POOL_TYPES, RECOMMENDATION_TYPES, SEVERITIES
from apps.analysis.models import AnalysisRun, Recommendation, UtilizationSnapshot
from apps.pools.choices import PoolStatus, PoolType

pytestmark = pytest.mark.django_db


def test_engine_vocabulary_matches_the_django_choices():
    assert tuple(PoolType.values) == POOL_TYPES
    assert tuple(PoolStatus.values) == POOL_STATUSES
    assert tuple(Severity.values) == SEVERITIES
    assert tuple(RecommendationType.values) == RECOMMENDATION_TYPES


def recommendation(organization, **fields):
    values = {
        "organization": organization,
        "type": "reclaim",
        "severity": "info",
        "impact": 10,
        "title": "t",
        "rationale": "r",
        "change": {"action": "delete", "pool": 1},
        "fingerprint": "a" * 64,
    }
    values.update(fields)
    return Recommendation.objects.create(**values)


def test_one_pending_recommendation_per_fingerprint(organization, other_organization):
    recommendation(organization)
    recommendation(organization, status="dismissed")
    recommendation(other_organization)
    with pytest.raises(IntegrityError):
        recommendation(organization)


def test_model_properties(organization, plan):
    snapshot = UtilizationSnapshot.objects.create(
        organization=organization, pool=plan["busy"], day="2025-01-01", total=str(2**128), used="5"
    )
    assert (snapshot.total_count, snapshot.used_count) == (2**128, 5)
    assert str(snapshot) == f"pool {plan['busy'].pk} on 2025-01-01: 5/{2**128}"
    run = AnalysisRun.objects.create(organization=organization, all_pools=True)
    assert (run.is_finished, run.duration_seconds) == (False, None)
    assert str(run) == f"analysis run {run.pk} (queued, 0%)"
    rec = recommendation(organization, change={"action": "review", "pool": 1}, title="Plan it")
    assert not rec.is_applicable
    assert str(rec) == "Reclaim unused pool: Plan it"
