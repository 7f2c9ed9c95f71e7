"""The batch write path: ``pool_changes_apply``."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from apps.audit.models import AuditEvent
from apps.pools import services
from apps.pools.changes import PoolCreate, PoolDelete, PoolUpdate
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from cloudpam import context
from cloudpam.context import actor_from
from cloudpam.exceptions import QuotaExceeded
from tests.actors import TEST_ACTOR
from tests.pools.tree_check import tree_problems

pytestmark = pytest.mark.django_db


@pytest.fixture
def corp(organization):
    return services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="corp", cidr="10.0.0.0/8"
    )


def apply(organization, changes, actor=TEST_ACTOR, **kwargs):
    return services.pool_changes_apply(
        organization=organization, actor=actor, changes=changes, **kwargs
    )


def test_a_batch_builds_a_tree_by_refs_and_allocates_within_it(organization, corp):
    applied = apply(
        organization,
        [
            PoolCreate(ref="eu", name="eu", cidr="10.0.0.0/12", parent=corp.pk, type="region"),
            PoolCreate(ref="prod", name="eu-prod", cidr="10.0.0.0/14", parent="eu"),
            PoolCreate(ref="web", name="web", prefix_length=24, within="prod"),
            PoolCreate(ref="db", name="db", prefix_length=24, parent="prod"),
        ],
    )
    assert applied.counts == {"create": 4, "update": 0, "delete": 0}
    pools = applied.pools
    assert pools["prod"].parent_id == pools["eu"].pk
    assert (pools["web"].cidr, pools["db"].cidr) == ("10.0.0.0/24", "10.0.1.0/24")
    assert pools["web"].parent_id == pools["prod"].pk
    # Treebeard's own check of the tree finds nothing wrong with our bookkeeping.
    assert all(problems == [] for problems in tree_problems())
    assert Pool.objects.get(pk=pools["eu"].pk).numchild == 1
    assert Pool.objects.get(pk=pools["prod"].pk).numchild == 2


def test_updates_and_deletes_name_their_events(organization, corp, make_member):
    person = make_member(organization, Role.OPERATOR)
    actor = actor_from(user=person)
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    vpc, old, other = (
        services.pool_create(
            actor=actor, organization=organization, name=name, cidr=cidr, parent=corp
        )
        for name, cidr in [("vpc", "10.1.0.0/16"), ("old", "10.2.0.0/16"), ("o", "10.3.0.0/16")]
    )
    before = AuditEvent.objects.count()
    # Another actor is bound to the context: the explicit one is recorded.
    with context.bound(actor={"system": "somebody else"}):
        apply(
            organization,
            [
                PoolUpdate(ref="grow", pool=vpc.pk, fields={"cidr": "10.0.0.0/15"}),
                PoolUpdate(ref="move", pool=other.pk, fields={"parent": None}),
                PoolUpdate(ref="rename", pool=other.pk, fields={"name": "moved"}),
                PoolDelete(ref="drop", pool=old.pk),
                PoolCreate(ref="new", name="new", prefix_length=24, within=vpc.pk),
            ],
            actor=actor,
            details={"plan": 42},
        )
    events = list(AuditEvent.objects.order_by("pk")[before:])
    assert [(e.action, e.object_id) for e in events] == [
        ("resize", vpc.pk),
        ("move", other.pk),
        ("update", other.pk),
        ("delete", old.pk),
        ("allocate", Pool.objects.get(name="new").pk),
    ]
    assert {(e.actor_id, e.actor_system) for e in events} == {(person.pk, "")}
    assert {e.additional_data["plan"] for e in events} == {42}
    other.refresh_from_db()
    assert (other.parent_id, other.name) == (None, "moved")


def test_every_failing_change_is_reported_and_nothing_is_written(organization, corp):
    taken = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="t", cidr="10.9.0.0/16", parent=corp
    )
    count = Pool.objects.count()
    with pytest.raises(services.ChangesRejected) as caught:
        apply(
            organization,
            [
                PoolCreate(ref="ok", name="ok", cidr="10.1.0.0/16", parent=corp.pk),
                PoolCreate(ref="clash", name="clash", cidr="10.9.0.0/24", parent=corp.pk),
                PoolCreate(ref="under-clash", name="u", cidr="10.9.0.0/25", parent="clash"),
                PoolCreate(ref="outside", name="x", cidr="11.0.0.0/16", parent=corp.pk),
                PoolUpdate(ref="squeeze", pool=corp.pk, fields={"cidr": "10.0.0.0/16"}),
            ],
        )
    error = caught.value
    assert [(e.ref, e.code) for e in error.errors] == [
        ("clash", "overlap"),
        ("under-clash", "conflict"),
        ("outside", "outside_parent"),
        ("squeeze", "conflict"),
    ]
    assert error.status_code == 409
    assert error.code == "conflict"
    assert error.message.startswith("The batch cannot be applied: change 2 (clash): ")
    assert error.message.endswith("(3 more).")
    assert error.errors[1].message == "It depends on 'clash', which failed."
    assert str(taken.pk) in error.fields["clash"][0]
    assert Pool.objects.count() == count


def test_a_batch_with_bad_shapes_is_a_400_before_any_query(organization, corp):
    with (
        CaptureQueriesContext(connection) as queries,
        pytest.raises(services.ChangesRejected) as caught,
    ):
        apply(organization, [PoolCreate(ref="a", name="a", cidr="10.0.0.1/8", parent=corp.pk)])
    assert (caught.value.status_code, caught.value.code) == (400, "validation_error")
    assert [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]] == []


def test_pools_of_another_organization_are_not_found(organization, other_organization):
    foreign = services.pool_create(
        actor=TEST_ACTOR, organization=other_organization, name="f", cidr="10.0.0.0/8"
    )
    with pytest.raises(services.ChangesRejected) as caught:
        apply(organization, [PoolDelete(ref="steal", pool=foreign.pk)])
    assert (caught.value.status_code, caught.value.code) == (404, "not_found")
    assert Pool.objects.get(pk=foreign.pk).deleted_at is None


@pytest.mark.parametrize(("role", "allowed"), [(Role.OPERATOR, True), (Role.VIEWER, False)])
def test_the_service_checks_the_actors_permission(organization, corp, make_member, role, allowed):
    actor = actor_from(user=make_member(organization, role))
    changes = [PoolCreate(ref="a", name="a", cidr="10.1.0.0/16", parent=corp.pk)]
    if allowed:
        apply(organization, changes, actor=actor)
        return
    with pytest.raises(services.ChangesRejected) as caught:
        apply(organization, changes, actor=actor)
    assert (caught.value.status_code, caught.value.code) == (403, "permission_denied")
    assert caught.value.errors[0].message == (
        f"Your role 'viewer' does not have the permission 'pools.change' on pool {corp.pk}."
    )
    assert not Pool.objects.filter(name="a").exists()


def test_a_grant_on_a_subtree_allows_changes_inside_it_only(organization, corp, make_member):
    viewer = make_member(organization, Role.VIEWER)
    lab = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="lab", cidr="10.1.0.0/16", parent=corp
    )
    assign_perm("pools.change_pool", viewer, lab)
    actor = actor_from(user=viewer)
    apply(
        organization,
        [
            PoolCreate(ref="a", name="a", cidr="10.1.1.0/24", parent=lab.pk),
            PoolCreate(ref="b", name="b", cidr="10.1.1.0/25", parent="a"),
        ],
        actor=actor,
    )
    with pytest.raises(services.ChangesRejected) as caught:
        apply(
            organization,
            [PoolCreate(ref="c", name="c", cidr="10.2.0.0/16", parent=corp.pk)],
            actor=actor,
        )
    assert caught.value.code == "permission_denied"


def test_a_read_token_may_not_write_even_for_an_owner(organization, corp, user):
    class Token:
        pk = 7
        name = "ci"
        scopes = ["read"]
        user = None
        membership = None

    token = Token()
    token.user = user
    actor = actor_from(user=user, token=token)
    with pytest.raises(services.ChangesRejected) as caught:
        apply(
            organization,
            [PoolCreate(ref="a", name="a", cidr="10.1.0.0/16", parent=corp.pk)],
            actor=actor,
        )
    assert (
        caught.value.errors[0].message == "This token's scopes (read) do not allow 'pools.change'."
    )


def test_the_quota_is_checked_once_for_the_whole_batch(organization, corp):
    organization.quotas = {"max_pools": 3}
    organization.save()
    changes = [
        PoolCreate(ref=str(n), name=str(n), cidr=f"10.{n}.0.0/16", parent=corp.pk) for n in range(3)
    ]
    with pytest.raises(QuotaExceeded):
        apply(organization, changes)
    assert Pool.objects.count() == 1
    apply(organization, changes[:2])
    assert Pool.objects.count() == 3


def test_a_service_error_keeps_its_own_fields_for_a_single_change(organization, corp):
    with pytest.raises(services.ChangesRejected) as caught:
        apply(organization, [PoolCreate(ref="x", name="x", cidr="11.0.0.0/16", parent=corp.pk)])
    cause = caught.value.first_cause()
    assert cause.code == "outside_parent"
    assert list(cause.fields) == ["cidr"]


@pytest.mark.postgres
def test_stored_pools_are_locked_once_in_primary_key_order(organization, corp):
    pools = [
        services.pool_create(
            actor=TEST_ACTOR,
            organization=organization,
            name=str(n),
            cidr=f"10.{n}.0.0/16",
            parent=corp,
        )
        for n in (3, 1, 2)
    ]
    changes = [
        PoolCreate(ref=f"c{pool.pk}", name="c", prefix_length=24, within=pool.pk)
        for pool in reversed(pools)
    ]
    with CaptureQueriesContext(connection) as queries:
        apply(organization, changes)
    locks = [q["sql"] for q in queries if "FOR UPDATE" in q["sql"] and "pools_pool" in q["sql"]]
    assert len(locks) == 1, locks
    assert "ORDER BY" in locks[0]
    assert locks[0].index("ORDER BY") > locks[0].index("IN (")
