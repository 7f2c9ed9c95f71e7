"""Plans on PostgreSQL as the application role: row-level security holds, the life works."""

from __future__ import annotations

import pytest

from apps.planning.models import Plan
from apps.pools.models import Pool
from apps.tenancy import rls
from apps.tenancy.choices import Role
from apps.tenancy.rls import tenant_context
from tests.planning.conftest import create
from tests.rls import become

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_the_plan_table_is_protected():
    assert rls.table_protection()["planning_plan"] == {
        "enabled": True,
        "forced": True,
        "policy": True,
    }


def test_a_forgotten_filter_sees_one_organizations_plans(
    make_plan, organization, other_organization, app_role
):
    make_plan([], title="ours")
    make_plan([], title="theirs", organization=other_organization)
    become(app_role)
    assert Plan.objects.count() == 0
    with tenant_context(organization):
        assert [plan.title for plan in Plan.objects.all()] == ["ours"]


def test_validate_apply_and_rollback_through_the_api_as_the_application_role(
    make_pool, make_plan, token_client, organization, other_organization, app_role
):
    root = make_pool("10.0.0.0/16", name="corp")
    theirs = make_plan([], organization=other_organization, title="theirs")
    plan = make_plan([create("root", "10.9.0.0/16", None), create("vpc", "10.0.16.0/20", root.pk)])
    client = token_client(organization, Role.OPERATOR)
    become(app_role)
    response = client.post(f"/api/v1/plans/{plan.pk}/validate/")
    assert response.json()["status"] == "valid", response.json()
    assert client.post(f"/api/v1/plans/{plan.pk}/apply/").json()["status"] == "applied"
    with tenant_context(organization):
        assert Pool.objects.live().filter(cidr__in=["10.9.0.0/16", "10.0.16.0/20"]).count() == 2
    assert client.post(f"/api/v1/plans/{plan.pk}/rollback/").json()["status"] == "rolled_back"
    assert client.get(f"/api/v1/plans/{theirs.pk}/").status_code == 404
    with tenant_context(organization):
        assert not Pool.objects.live().filter(cidr__in=["10.9.0.0/16", "10.0.16.0/20"]).exists()
