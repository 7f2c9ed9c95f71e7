"""Console pages of plans, signed in as every role (and as a non-member)."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.planning.choices import PlanStatus
from apps.planning.services import plan_apply, plan_validate
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from apps.tenancy.roles import role_has
from tests.actors import TEST_ACTOR
from tests.planning.conftest import create

pytestmark = pytest.mark.django_db

ROLES = [role.value for role in Role]


@pytest.fixture
def console_for(organization, make_member):
    def make(role: str) -> Client:
        client = Client()
        client.force_login(make_member(organization, role, email=f"{role}-console@example.com"))
        return client

    return make


@pytest.fixture
def root(make_pool):
    return make_pool("10.0.0.0/16", name="corp", type="supernet")


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_that_reads_plans_sees_the_list_and_the_plan_page(
    role, console_for, root, make_plan
) -> None:
    client = console_for(role)
    plan = plan_validate(
        plan=make_plan([create("vpc", "10.0.16.0/20", root.pk, type="vpc")], title="Grow corp"),
        actor=TEST_ACTOR,
    )
    listing = client.get("/plans/")
    detail = client.get(f"/plans/{plan.pk}/")
    if not role_has(role, "plans.view"):
        assert (listing.status_code, detail.status_code) == (403, 403)
        return
    assert listing.status_code == 200
    assert f'href="/plans/{plan.pk}/"' in listing.content.decode()
    html = detail.content.decode()
    assert detail.status_code == 200
    assert "What-if utilization" in html
    assert "10.0.16.0/20" in html
    assert 'class="address-map"' in html
    assert "+ 10.0.16.0/20  vpc  (vpc, active)" in html
    can_apply = role_has(role, "plans.apply")
    assert (f'action="/plans/{plan.pk}/apply/"' in html) == can_apply
    assert ("data-confirm=" in html) == (can_apply or role_has(role, "plans.change"))


@pytest.mark.parametrize("role", ROLES)
def test_apply_and_rollback_from_the_console_follow_the_roles(
    role, console_for, root, make_plan
) -> None:
    client = console_for(role)
    plan = make_plan([create("vpc", "10.0.16.0/20", root.pk)])
    response = client.post(f"/plans/{plan.pk}/apply/", follow=True)
    plan.refresh_from_db()
    if not role_has(role, "plans.apply"):
        assert response.status_code == 403
        assert plan.status == PlanStatus.DRAFT
        return
    assert response.status_code == 200
    assert messages_of(response) == ["Plan applied."]
    assert plan.status == PlanStatus.APPLIED
    response = client.post(f"/plans/{plan.pk}/rollback/", follow=True)
    assert messages_of(response) == ["Plan rolled back."]
    assert not Pool.objects.live().filter(cidr="10.0.16.0/20").exists()


def test_a_blocked_rollback_shows_the_blocker(console_for, root, make_plan, make_pool) -> None:
    client = console_for(Role.OPERATOR)
    plan = plan_apply(plan=make_plan([create("vpc", "10.0.16.0/20", root.pk)]), actor=TEST_ACTOR)
    vpc = Pool.objects.get(pk=plan.created_pool_ids[0])
    make_pool("10.0.16.0/24", parent=vpc, name="later")
    response = client.post(f"/plans/{plan.pk}/rollback/", follow=True)
    shown = messages_of(response)
    assert shown[0].startswith('The plan cannot be rolled back: 10.0.16.0/24 "later"')
    assert shown[1].startswith('blockers: 10.0.16.0/24 "later"')


def test_validate_and_discard_from_the_console(console_for, root, make_plan) -> None:
    client = console_for(Role.OPERATOR)
    plan = make_plan([create("a", "10.1.0.0/24", root.pk)])
    response = client.post(f"/plans/{plan.pk}/validate/", follow=True)
    assert messages_of(response) == ["The plan is invalid: 1 error(s)."]
    assert "outside_parent" in response.content.decode()
    response = client.post(f"/plans/{plan.pk}/discard/", follow=True)
    assert messages_of(response) == ["Plan discarded."]
    assert client.post(f"/plans/{plan.pk}/explode/").status_code == 404


def test_the_list_filters_and_another_organizations_plan_is_404(
    console_for, make_plan, other_organization
) -> None:
    client = console_for(Role.VIEWER)
    make_plan([], title="From a template", source="template")
    make_plan([], title="From an import", source="import")
    html = client.get("/plans/", {"source": "import"}).content.decode()
    assert "From an import" in html
    assert "From a template" not in html
    other = make_plan([], organization=other_organization, title="secret")
    assert client.get(f"/plans/{other.pk}/").status_code == 404
    assert client.post(f"/plans/{other.pk}/validate/").status_code in (403, 404)


def test_a_non_member_is_sent_to_create_an_organization(make_plan, django_user_model) -> None:
    plan = make_plan([])
    client = Client()
    client.force_login(django_user_model.objects.create_user("stranger@example.com", "x"))
    response = client.get(f"/plans/{plan.pk}/")
    assert response.status_code == 302
