"""The demo organization's applied import."""

from __future__ import annotations

import pytest

from apps.planning import demo
from apps.planning.models import Plan
from apps.pools import demo as pools_demo
from apps.pools.models import Pool

pytestmark = pytest.mark.django_db


def test_the_demo_import_is_applied_once(organization, user):
    pools_demo.seed(organization=organization, user=user)
    demo.seed_import(organization=organization, user=user)
    plan = Plan.objects.get(organization=organization, source="import")
    assert plan.status == "applied"
    assert plan.source_detail["rows"] == 8
    lan = Pool.objects.get(organization=organization, cidr="192.168.10.0/24")
    assert lan.parent.name == "Lyon"
    assert lan.parent.parent.name == "Branch offices"
    assert lan.source == "imported"
    demo.seed_import(organization=organization, user=user)
    assert Plan.objects.filter(organization=organization, source="import").count() == 1
