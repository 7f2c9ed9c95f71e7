"""The pool services: every invariant of SPEC.md section 2, and what a refused write leaves."""

from __future__ import annotations

import pytest

from apps.pools import services
from apps.pools.models import Pool
from cloudpam.context import actor_from
from cloudpam.exceptions import Conflict, NotFound, ValidationError
from tests.actors import TEST_ACTOR
from tests.pools.tree_check import tree_problems

pytestmark = pytest.mark.django_db


def live_cidrs(organization) -> list[str]:
    return sorted(Pool.objects.for_organization(organization).live().values_list("cidr", flat=True))


# Creation and input


def test_create_root_and_child_store_canonical_prefix_and_keys(organization, user):
    root = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name=" corp ", cidr="10.0.0.0/8"
    )
    child = services.pool_create(
        organization=organization,
        name="v6",
        cidr=" 2001:DB8:0:0::/32 ",
        actor=actor_from(user=user),
        tags={"team": "net"},
    )
    assert (root.name, root.cidr, root.family, root.prefix_length) == ("corp", "10.0.0.0/8", 4, 8)
    assert root.first_key == "0000000000000000000000000a000000"
    assert root.last_key == "0000000000000000000000000affffff"
    assert root.depth == 1
    assert root.parent is None
    assert child.cidr == "2001:db8::/32"
    assert child.family == 6
    assert child.created_by == user
    assert child.tags == {"team": "net"}
    sub = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="a", cidr="10.1.0.0/16", parent=root
    )
    assert (sub.parent_id, sub.depth, sub.path[:4]) == (root.pk, 2, root.path)


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("10.0.0.1/16", "10.0.0.1/16 has host bits set; did you mean 10.0.0.0/16?"),
        ("not-a-prefix", "'not-a-prefix' is not a valid IPv4 or IPv6 prefix"),
        (
            "10.0.0.0/33",
            "'10.0.0.0/33' is not a valid IPv4 or IPv6 prefix: "
            "the prefix length must be between 0 and 32",
        ),
        ("10.0.0.0", "'10.0.0.0' has no prefix length; write it as 10.0.0.0/32."),
        ("2001:db8::1/32", "2001:db8::1/32 has host bits set; did you mean 2001:db8::/32?"),
    ],
)
def test_bad_cidr_is_a_validation_error_that_writes_nothing(organization, cidr, message):
    with pytest.raises(ValidationError) as caught:
        services.pool_create(actor=TEST_ACTOR, organization=organization, name="x", cidr=cidr)
    assert caught.value.code == "validation_error"
    assert caught.value.message == message
    assert caught.value.fields == {"cidr": [message]}
    assert Pool.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "  ", "This field may not be blank."),
        ("name", "x" * 256, "Ensure this field has no more than 255 characters."),
        (
            "type",
            "galaxy",
            "'galaxy' is not a valid type; choose one of supernet, region, environment, vpc, "
            "subnet, reserved, custom.",
        ),
        (
            "status",
            "gone",
            "'gone' is not a valid status; choose one of planned, active, reserved, deprecated.",
        ),
        ("tags", ["a"], "Tags must be an object of string keys and string values."),
        ("tags", {"a": 1}, "The value of tag 'a' must be a string of at most 512 characters."),
        ("tags", {"": "x"}, "Tag keys are strings of 1 to 128 characters."),
        ("tags", {str(n): "v" for n in range(51)}, "A pool has at most 50 tags."),
        ("description", 5, "Not a valid string."),
    ],
)
def test_bad_attributes_are_refused(organization, field, value, message):
    kwargs = {"organization": organization, "name": "x", "cidr": "10.0.0.0/8", field: value}
    kwargs["actor"] = TEST_ACTOR
    with pytest.raises(ValidationError) as caught:
        services.pool_create(**kwargs)
    assert caught.value.fields == {field: [message]}
    assert Pool.objects.count() == 0


def test_parent_of_another_organization_is_not_found(organization, other_organization):
    foreign = services.pool_create(
        actor=TEST_ACTOR, organization=other_organization, name="x", cidr="10.0.0.0/8"
    )
    for parent in (foreign, foreign.pk, 10**12):
        with pytest.raises(NotFound) as caught:
            services.pool_create(
                actor=TEST_ACTOR,
                organization=organization,
                name="y",
                cidr="10.1.0.0/16",
                parent=parent,
            )
        pk = parent.pk if isinstance(parent, Pool) else parent
        assert caught.value.message == f"No pool with id {pk} in this organization."
        assert caught.value.fields == {"parent": [caught.value.message]}
    assert Pool.objects.for_organization(organization).count() == 0


# Rule 1: a child lies strictly inside its parent, of the same family


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("11.0.0.0/16", '11.0.0.0/16 is not inside its parent 10.0.0.0/8 "corp" (pool {pk}).'),
        ("8.0.0.0/6", '8.0.0.0/6 is not inside its parent 10.0.0.0/8 "corp" (pool {pk}).'),
        (
            "10.0.0.0/8",
            '10.0.0.0/8 is as large as its parent 10.0.0.0/8 "corp" (pool {pk}); '
            "a child must be smaller.",
        ),
        (
            "2001:db8::/64",
            '2001:db8::/64 is IPv6 but its parent 10.0.0.0/8 "corp" (pool {pk}) is IPv4.',
        ),
    ],
)
def test_rule_1_child_strictly_inside_parent_same_family(organization, root, cidr, message):
    with pytest.raises(ValidationError) as caught:
        services.pool_create(
            actor=TEST_ACTOR, organization=organization, name="x", cidr=cidr, parent=root
        )
    assert caught.value.code == "outside_parent"
    assert caught.value.status_code == 400
    assert caught.value.message == message.format(pk=root.pk)
    assert live_cidrs(organization) == ["10.0.0.0/8"]


# Rule 2: live siblings never overlap; roots neither unless allowed


def test_rule_2_overlapping_sibling_is_refused(organization, root, make_pool):
    web = make_pool("10.0.0.0/23", parent=root, name="web")
    make_pool("10.0.4.0/24", parent=root)
    for cidr in ("10.0.1.0/24", "10.0.0.0/16", "10.0.0.0/23", "10.0.0.0/22"):
        with pytest.raises(Conflict) as caught:
            services.pool_create(
                actor=TEST_ACTOR, organization=organization, name="x", cidr=cidr, parent=root
            )
        assert caught.value.code == "overlap"
        assert caught.value.message == (
            f'{cidr} overlaps 10.0.0.0/23 "web" (pool {web.pk}) '
            f'in 10.0.0.0/8 "corp" (pool {root.pk}).'
        )
    # A block between the two, and nested blocks under a sibling, are fine.
    make_pool("10.0.2.0/23", parent=root)
    make_pool("10.0.1.0/24", parent=web)
    assert live_cidrs(organization) == [
        "10.0.0.0/23",
        "10.0.0.0/8",
        "10.0.1.0/24",
        "10.0.2.0/23",
        "10.0.4.0/24",
    ]


def test_rule_2_overlap_found_before_the_new_block(organization, root, make_pool):
    big = make_pool("10.0.0.0/16", parent=root, name="big")
    with pytest.raises(Conflict) as caught:
        services.pool_create(
            actor=TEST_ACTOR, organization=organization, name="x", cidr="10.0.200.0/24", parent=root
        )
    assert caught.value.message.startswith(
        f'10.0.200.0/24 overlaps 10.0.0.0/16 "big" (pool {big.pk})'
    )


def test_rule_2_roots_never_overlap_unless_allowed(organization, root):
    with pytest.raises(Conflict) as caught:
        services.pool_create(
            actor=TEST_ACTOR, organization=organization, name="x", cidr="10.1.0.0/16"
        )
    assert caught.value.code == "overlap"
    assert caught.value.message == (
        f'10.1.0.0/16 overlaps 10.0.0.0/8 "corp" (pool {root.pk}) among the root pools.'
    )
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    other = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="vrf-b", cidr="10.0.0.0/8"
    )
    assert other.separate_routing_domain is True
    assert live_cidrs(organization) == ["10.0.0.0/8", "10.0.0.0/8"]


def test_rule_2_roots_of_other_organizations_do_not_matter(organization, other_organization, root):
    services.pool_create(
        actor=TEST_ACTOR, organization=other_organization, name="x", cidr="10.0.0.0/8"
    )
    assert Pool.objects.filter(cidr="10.0.0.0/8").count() == 2


def test_deleted_sibling_does_not_block(organization, root, make_pool):
    old = make_pool("10.0.0.0/16", parent=root)
    services.pool_delete(actor=TEST_ACTOR, pool=old)
    new = make_pool("10.0.0.0/16", parent=root)
    assert new.deleted_at is None


def test_children_of_a_deleted_parent_cannot_be_added(organization, root, make_pool):
    services.pool_delete(actor=TEST_ACTOR, pool=root)
    with pytest.raises(Conflict) as caught:
        services.pool_create(
            actor=TEST_ACTOR, organization=organization, name="x", cidr="10.1.0.0/16", parent=root
        )
    assert caught.value.message == (
        f'Pool 10.0.0.0/8 "corp" (pool {root.pk}) is deleted; restore it before adding pools to it.'
    )


# Rule 3: prefix changes and moves


def test_rule_3_prefix_change_keeps_children_inside(organization, root, make_pool):
    vpc = make_pool("10.0.0.0/16", parent=root, name="vpc")
    child = make_pool("10.0.128.0/24", parent=vpc, name="late")
    with pytest.raises(Conflict) as caught:
        services.pool_update(actor=TEST_ACTOR, pool=vpc, cidr="10.0.0.0/17")
    assert caught.value.code == "conflict"
    assert caught.value.message == (
        f'10.0.0.0/17 would leave the child 10.0.128.0/24 "late" (pool {child.pk}) '
        "outside its parent."
    )
    with pytest.raises(Conflict) as caught:
        services.pool_update(actor=TEST_ACTOR, pool=vpc, cidr="10.0.128.0/24")
    assert "would leave the child" in caught.value.message
    grown = services.pool_update(actor=TEST_ACTOR, pool=vpc, cidr="10.0.0.0/15", name="vpc-2")
    assert (grown.cidr, grown.name, grown.last_key[-8:]) == ("10.0.0.0/15", "vpc-2", "0a01ffff")
    vpc.refresh_from_db()
    assert vpc.cidr == "10.0.0.0/15"


def test_rule_3_prefix_change_keeps_siblings_clear_and_inside_parent(organization, root, make_pool):
    a = make_pool("10.0.0.0/16", parent=root, name="a")
    b = make_pool("10.1.0.0/16", parent=root, name="b")
    with pytest.raises(Conflict) as caught:
        services.pool_update(actor=TEST_ACTOR, pool=b, cidr="10.0.0.0/15")
    assert caught.value.message == (
        f'10.0.0.0/15 overlaps 10.0.0.0/16 "a" (pool {a.pk}) in 10.0.0.0/8 "corp" (pool {root.pk}).'
    )
    with pytest.raises(ValidationError) as caught:
        services.pool_update(actor=TEST_ACTOR, pool=b, cidr="11.0.0.0/16")
    assert caught.value.code == "outside_parent"
    b.refresh_from_db()
    assert b.cidr == "10.1.0.0/16"


def test_rule_3_root_prefix_change_checks_other_roots(organization, root, make_pool):
    other = make_pool("192.168.0.0/16", name="lab")
    with pytest.raises(Conflict) as caught:
        services.pool_update(actor=TEST_ACTOR, pool=other, cidr="10.0.0.0/7")
    assert caught.value.code == "overlap"
    assert (
        services.pool_update(actor=TEST_ACTOR, pool=other, cidr="192.168.0.0/17").cidr
        == "192.168.0.0/17"
    )


def test_rule_3_move_moves_the_subtree(organization, make_pool):
    # Inside one tree a pool's only containers are its ancestors, so moves happen between
    # routing domains (overlapping roots) or together with a new prefix.
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    vrf_a = make_pool("10.0.0.0/8", name="vrf-a")
    vrf_b = make_pool("10.0.0.0/8", name="vrf-b")
    region = make_pool("10.0.0.0/12", parent=vrf_a, name="region")
    vpc = make_pool("10.1.0.0/16", parent=region, name="vpc")
    subnet = make_pool("10.1.0.0/24", parent=vpc, name="subnet")
    far = make_pool("10.16.0.0/12", parent=vrf_b, name="far")
    target = make_pool("10.0.0.0/12", parent=vrf_b, name="target")
    with pytest.raises(ValidationError) as caught:
        services.pool_move(actor=TEST_ACTOR, pool=vpc, parent=far)
    assert caught.value.code == "outside_parent"
    moved = services.pool_move(actor=TEST_ACTOR, pool=vpc, parent=target)
    assert (moved.parent_id, moved.depth) == (target.pk, 3)
    subnet.refresh_from_db()
    assert (subnet.depth, subnet.parent_id, subnet.path[:-4]) == (3 + 1, vpc.pk, moved.path)
    assert Pool.objects.filter(parent=region).count() == 0
    as_root = services.pool_move(actor=TEST_ACTOR, pool=vpc, parent=None)
    assert (as_root.parent_id, as_root.depth, as_root.separate_routing_domain) == (None, 1, True)
    subnet.refresh_from_db()
    assert subnet.depth == 2
    back = services.pool_move(actor=TEST_ACTOR, pool=vpc, parent=region)
    assert (back.parent_id, back.depth, back.separate_routing_domain) == (region.pk, 3, False)
    assert tree_problems() == ([], [], [], [], [])


def test_rule_3_move_with_a_new_prefix(organization, root, make_pool):
    us = make_pool("10.0.0.0/12", parent=root, name="us")
    eu = make_pool("10.16.0.0/12", parent=root, name="eu")
    vpc = make_pool("10.1.0.0/16", parent=us, name="vpc")
    with pytest.raises(ValidationError) as caught:
        services.pool_move(actor=TEST_ACTOR, pool=vpc, parent=eu)
    assert caught.value.message == (
        f'10.1.0.0/16 is not inside its parent 10.16.0.0/12 "eu" (pool {eu.pk}).'
    )
    moved = services.pool_update(actor=TEST_ACTOR, pool=vpc, parent=eu.pk, cidr="10.17.0.0/16")
    assert (moved.parent_id, moved.cidr, moved.depth) == (eu.pk, "10.17.0.0/16", 3)
    assert Pool.objects.get(pk=us.pk).numchild == 0
    assert Pool.objects.get(pk=eu.pk).numchild == 1


def test_rule_3_move_checks_new_siblings_and_refuses_own_subtree(organization, root, make_pool):
    a = make_pool("10.0.0.0/16", parent=root, name="a")
    b = make_pool("10.1.0.0/16", parent=root, name="b")
    inner = make_pool("10.0.0.0/24", parent=a, name="inner")
    clash = make_pool("10.1.0.0/24", parent=b, name="clash")
    with pytest.raises(ValidationError) as caught:
        services.pool_move(actor=TEST_ACTOR, pool=a, parent=inner)
    assert caught.value.message == "A pool cannot be moved under itself or one of its descendants."
    with pytest.raises(ValidationError):
        services.pool_move(actor=TEST_ACTOR, pool=a, parent=a)
    with pytest.raises(ValidationError) as caught:
        services.pool_move(actor=TEST_ACTOR, pool=clash, parent=a)
    assert caught.value.code == "outside_parent"
    lone = make_pool("10.2.0.0/24", parent=root, name="lone")
    services.pool_update(actor=TEST_ACTOR, pool=inner, cidr="10.0.0.0/24")
    with pytest.raises(Conflict) as caught:
        services.pool_update(actor=TEST_ACTOR, pool=lone, parent=a, cidr="10.0.0.0/24")
    assert caught.value.code == "overlap"
    moved = services.pool_update(actor=TEST_ACTOR, pool=lone, parent=a, cidr="10.0.1.0/24")
    assert (moved.parent_id, moved.cidr) == (a.pk, "10.0.1.0/24")


def test_rule_3_move_of_a_root_checks_other_roots_when_it_becomes_one(
    organization, root, make_pool
):
    child = make_pool("10.0.0.0/16", parent=root)
    with pytest.raises(Conflict) as caught:
        services.pool_move(actor=TEST_ACTOR, pool=child, parent=None)
    assert caught.value.message.endswith("among the root pools.")


def test_update_of_a_deleted_pool_is_a_conflict(organization, root):
    services.pool_delete(actor=TEST_ACTOR, pool=root)
    with pytest.raises(Conflict) as caught:
        services.pool_update(actor=TEST_ACTOR, pool=root, name="again")
    assert caught.value.message.endswith("is deleted; restore it before changing it.")


# Rule 4: delete, restore, purge


def test_rule_4_delete_with_live_children_needs_recursive(organization, root, make_pool):
    vpc = make_pool("10.0.0.0/16", parent=root)
    make_pool("10.0.0.0/24", parent=vpc)
    with pytest.raises(Conflict) as caught:
        services.pool_delete(actor=TEST_ACTOR, pool=root)
    assert caught.value.code == "conflict"
    assert caught.value.message == (
        f'10.0.0.0/8 "corp" (pool {root.pk}) has 1 live child; delete them first or delete '
        "recursively."
    )
    assert live_cidrs(organization) == ["10.0.0.0/16", "10.0.0.0/24", "10.0.0.0/8"]
    assert services.pool_delete(actor=TEST_ACTOR, pool=root, recursive=True) == 3
    assert live_cidrs(organization) == []
    assert (
        Pool.objects.filter(deleted_at__isnull=False).values("deleted_at").distinct().count() == 1
    )
    assert services.pool_delete(actor=TEST_ACTOR, pool=root) == 0


def test_rule_4_restore_brings_back_the_subtree_deleted_with_it(organization, root, make_pool):
    vpc = make_pool("10.0.0.0/16", parent=root)
    early = make_pool("10.0.1.0/24", parent=vpc)
    make_pool("10.0.0.0/24", parent=vpc)
    services.pool_delete(actor=TEST_ACTOR, pool=early)
    services.pool_delete(actor=TEST_ACTOR, pool=vpc, recursive=True)
    with pytest.raises(Conflict):
        services.pool_restore(actor=TEST_ACTOR, pool=early)
    restored = services.pool_restore(actor=TEST_ACTOR, pool=vpc)
    assert restored.deleted_at is None
    # The child deleted on its own earlier stays deleted.
    assert live_cidrs(organization) == ["10.0.0.0/16", "10.0.0.0/24", "10.0.0.0/8"]
    assert services.pool_restore(actor=TEST_ACTOR, pool=vpc).deleted_at is None


def test_rule_4_restore_refused_when_its_place_is_taken(organization, root, make_pool):
    old = make_pool("10.0.0.0/16", parent=root, name="old")
    services.pool_delete(actor=TEST_ACTOR, pool=old)
    new = make_pool("10.0.0.0/17", parent=root, name="new")
    with pytest.raises(Conflict) as caught:
        services.pool_restore(actor=TEST_ACTOR, pool=old)
    assert caught.value.code == "overlap"
    assert caught.value.message == (
        f'10.0.0.0/16 overlaps 10.0.0.0/17 "new" (pool {new.pk}) '
        f'in 10.0.0.0/8 "corp" (pool {root.pk}).'
    )
    old.refresh_from_db()
    assert old.deleted_at is not None


def test_rule_4_restore_refused_under_a_deleted_or_shrunk_parent(organization, root, make_pool):
    vpc = make_pool("10.0.0.0/16", parent=root, name="vpc")
    child = make_pool("10.0.200.0/24", parent=vpc, name="child")
    services.pool_delete(actor=TEST_ACTOR, pool=child)
    services.pool_update(actor=TEST_ACTOR, pool=vpc, cidr="10.0.0.0/17")
    with pytest.raises(Conflict) as caught:
        services.pool_restore(actor=TEST_ACTOR, pool=child)
    assert caught.value.code == "outside_parent"
    assert caught.value.status_code == 409
    services.pool_delete(actor=TEST_ACTOR, pool=vpc)
    with pytest.raises(Conflict) as caught:
        services.pool_restore(actor=TEST_ACTOR, pool=child)
    assert caught.value.message == (
        f'The parent 10.0.0.0/17 "vpc" (pool {vpc.pk}) is deleted; restore it first.'
    )


def test_rule_4_purge_only_deleted_pools(organization, root, make_pool):
    vpc = make_pool("10.0.0.0/16", parent=root)
    make_pool("10.0.0.0/24", parent=vpc)
    with pytest.raises(Conflict) as caught:
        services.pool_purge(actor=TEST_ACTOR, pool=vpc)
    assert caught.value.message.endswith("is live; delete it before purging it.")
    services.pool_delete(actor=TEST_ACTOR, pool=vpc, recursive=True)
    assert services.pool_purge(actor=TEST_ACTOR, pool=vpc) == 2
    assert list(Pool.objects.values_list("cidr", flat=True)) == ["10.0.0.0/8"]
    root.refresh_from_db()
    assert root.numchild == 0


# Allocation


def test_allocate_first_fit_and_best_fit(organization, root, make_pool):
    vpc = make_pool("10.0.0.0/16", parent=root)
    make_pool("10.0.0.0/24", parent=vpc)
    make_pool("10.0.2.0/24", parent=vpc)
    make_pool("10.0.4.0/22", parent=vpc)
    first = services.pool_allocate(actor=TEST_ACTOR, parent=vpc, prefix_length=25, name="a")
    assert first.cidr == "10.0.1.0/25"
    # Free now: 10.0.1.128/25 and 10.0.3.0/24, then 10.0.8.0/21 ...
    best = services.pool_allocate(
        actor=TEST_ACTOR, parent=vpc, prefix_length=24, name="b", strategy="best_fit"
    )
    assert best.cidr == "10.0.3.0/24"
    tiny = services.pool_allocate(
        actor=TEST_ACTOR, parent=vpc, prefix_length=26, name="c", strategy="best_fit"
    )
    assert tiny.cidr == "10.0.1.128/26"
    assert (tiny.parent_id, tiny.depth, tiny.source) == (vpc.pk, 3, "manual")


def test_allocate_no_space_names_the_largest_free_block(organization, root, make_pool):
    vpc = make_pool("10.0.0.0/22", parent=root, name="vpc")
    make_pool("10.0.0.0/23", parent=vpc)
    make_pool("10.0.2.0/24", parent=vpc)
    make_pool("10.0.3.0/26", parent=vpc)
    with pytest.raises(Conflict) as caught:
        services.pool_allocate(actor=TEST_ACTOR, parent=vpc, prefix_length=24, name="x")
    assert caught.value.code == "no_space"
    assert caught.value.message == (
        "No free /24 in 10.0.0.0/22; the largest free block is 10.0.3.128/25."
    )
    services.pool_allocate(actor=TEST_ACTOR, parent=vpc, prefix_length=25, name="y")
    services.pool_allocate(actor=TEST_ACTOR, parent=vpc, prefix_length=26, name="z")
    with pytest.raises(Conflict) as caught:
        services.pool_allocate(actor=TEST_ACTOR, parent=vpc, prefix_length=32, name="x")
    assert caught.value.message == "No free /32 in 10.0.0.0/22; it has no free space."


@pytest.mark.parametrize(
    ("length", "message"),
    [
        (8, "10.0.0.0/16 has room for prefix lengths 17 to 32, not 8."),
        (16, "10.0.0.0/16 has room for prefix lengths 17 to 32, not 16."),
        (33, "10.0.0.0/16 has room for prefix lengths 17 to 32, not 33."),
        ("24", "prefix_length: A valid integer is required."),
    ],
)
def test_allocate_bad_prefix_length(organization, root, make_pool, length, message):
    vpc = make_pool("10.0.0.0/16", parent=root)
    with pytest.raises(ValidationError) as caught:
        services.pool_allocate(actor=TEST_ACTOR, parent=vpc, prefix_length=length, name="x")
    assert caught.value.message == message
    assert Pool.objects.filter(parent=vpc).count() == 0


def test_allocate_ipv6(organization, make_pool):
    space = make_pool("2001:db8::/32", name="v6")
    first = services.pool_allocate(actor=TEST_ACTOR, parent=space, prefix_length=48, name="a")
    second = services.pool_allocate(actor=TEST_ACTOR, parent=space, prefix_length=64, name="b")
    assert (first.cidr, second.cidr) == ("2001:db8::/48", "2001:db8:1::/64")


def test_allocate_in_a_deleted_pool_is_a_conflict(organization, root):
    services.pool_delete(actor=TEST_ACTOR, pool=root)
    with pytest.raises(Conflict) as caught:
        services.pool_allocate(actor=TEST_ACTOR, parent=root, prefix_length=16, name="x")
    assert caught.value.message.endswith("is deleted; restore it before allocating from it.")


def test_allocate_refuses_a_bad_strategy(organization, root):
    with pytest.raises(ValidationError) as caught:
        services.pool_allocate(
            actor=TEST_ACTOR, parent=root, prefix_length=16, name="x", strategy="worst_fit"
        )
    assert caught.value.fields == {
        "strategy": ["'worst_fit' is not a valid strategy; choose one of first_fit, best_fit."]
    }


def test_max_pools_counts_near_the_limit_and_trusts_a_cached_count_far_from_it(
    organization, root, monkeypatch
):
    from django.core.cache import cache

    from cloudpam.exceptions import QuotaExceeded

    counted: list[int] = []
    real_count = services.pool_count

    def counting(**kwargs):
        counted.append(1)
        return real_count(**kwargs)

    monkeypatch.setattr(services, "pool_count", counting)
    organization.quotas = {"max_pools": 1000}
    organization.save()
    root = Pool.objects.get(pk=root.pk)  # with the organization as it is now
    cache.clear()
    for _ in range(5):
        services.pool_allocate(actor=TEST_ACTOR, parent=root, prefix_length=16, name="x")
    assert len(counted) == 1
    assert cache.get(f"pools:live-count:{organization.pk}") == 6
    # Near the limit, every creation counts.
    cache.set(f"pools:live-count:{organization.pk}", 995)
    services.pool_allocate(actor=TEST_ACTOR, parent=root, prefix_length=16, name="x")
    assert len(counted) == 2
    organization.quotas = {"max_pools": 7}
    organization.save()
    with pytest.raises(QuotaExceeded) as caught:
        services.pool_create(
            actor=TEST_ACTOR, organization=organization, name="y", cidr="192.168.0.0/16"
        )
    assert caught.value.message == "Quota max_pools (7) reached."
    assert len(counted) == 3
