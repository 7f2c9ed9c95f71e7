"""The demo plans: one applied, one open and validated; seeding twice adds nothing."""

from __future__ import annotations

import pytest

from apps.planning import demo
from apps.planning.models import Plan
from apps.pools import demo as pool_demo
from apps.pools.models import Pool

pytestmark = pytest.mark.django_db


def test_seed_adds_an_applied_and_an_open_plan_once(organization, user) -> None:
    pool_demo.seed(organization=organization, user=user)
    demo.seed(organization=organization, user=user)
    demo.seed(organization=organization, user=user)
    plans = {plan.title: plan for plan in Plan.objects.filter(organization=organization)}
    # Two hand-written plans, the one the schema wizard's demo generates, and the import of
    # branch offices (tests/planning/test_io_demo.py).
    assert len(plans) == 4
    assert len([plan for plan in plans.values() if plan.source == "template"]) == 1
    assert plans[demo.IMPORT_TITLE].source == "import"
    applied = plans[demo.APPLIED_TITLE]
    proposal = plans[demo.OPEN_TITLE]
    assert (applied.status, proposal.status) == ("applied", "valid")
    created = Pool.objects.filter(pk__in=applied.created_pool_ids).order_by("path")
    assert [(pool.name, pool.prefix_length) for pool in created] == [
        ("staging-web", 16),
        ("staging-web-private-a", 20),
        ("staging-web-private-b", 20),
    ]
    assert proposal.preview["counts"] == {"added": 3, "changed": 0, "removed": 0}
