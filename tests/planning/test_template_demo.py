"""The wizard's demo data: a saved template and a plan generated from it, seeded once."""

from __future__ import annotations

import pytest

from apps.planning import template_demo
from apps.planning.models import OrganizationTemplate, Plan
from apps.pools import demo as pool_demo
from apps.pools.models import Pool

pytestmark = pytest.mark.django_db


def test_seed_saves_a_template_and_generates_its_plan_once(organization, user):
    pool_demo.seed(organization=organization, user=user)
    template_demo.seed(organization=organization, user=user)
    saved = OrganizationTemplate.objects.get()
    assert saved.name == template_demo.TEMPLATE_NAME
    plan = Plan.objects.get()
    assert plan.source == "template"
    assert plan.source_detail["organization_template"] == saved.pk
    root = Pool.objects.get(organization=organization, cidr="10.0.0.0/8", deleted_at=None)
    assert plan.operations[0]["parent"] == root.pk
    assert plan.operations[0]["cidr"].endswith("/16")
    assert plan.status == "applied"
    apac = Pool.objects.get(organization=organization, name="apac", deleted_at=None)
    assert apac.parent_id == root.pk
    assert len(plan.created_pool_ids) == plan.operation_count == 54

    template_demo.seed(organization=organization, user=user)
    assert OrganizationTemplate.objects.count() == 1
    assert Plan.objects.count() == 1
