"""The demo address plan of `make run`."""

from __future__ import annotations

import pytest

from apps.pools import demo
from apps.pools.models import Pool
from tests.pools.tree_check import tree_problems

pytestmark = pytest.mark.django_db


def test_seed_builds_a_realistic_plan_and_is_idempotent(organization, user):
    demo.seed(organization=organization, user=user)
    pools = Pool.objects.for_organization(organization)
    count = pools.count()
    assert count > 60
    assert set(pools.values_list("family", flat=True)) == {4, 6}
    assert set(pools.values_list("type", flat=True)) >= {
        "supernet",
        "region",
        "environment",
        "vpc",
        "subnet",
        "reserved",
    }
    assert pools.filter(parent__isnull=True).count() == 3
    assert pools.filter(family=6, type="subnet").exists()
    assert tree_problems() == ([], [], [], [], [])
    demo.seed(organization=organization, user=user)
    assert pools.count() == count


def test_seed_adds_only_what_is_missing(organization, user):
    demo.seed(organization=organization, user=user)
    vpc = Pool.objects.get(organization=organization, name="vpc-prod-core", family=4)
    Pool.objects.filter(parent=vpc).update(deleted_at="2030-01-01T00:00:00Z")
    demo.seed(organization=organization, user=user)
    assert Pool.objects.live().filter(parent=vpc).count() == 6
