"""The tests' set-based tree check reports what treebeard's ``find_problems`` reports."""

from __future__ import annotations

import pytest

from apps.pools import services
from apps.pools.models import Pool
from tests.actors import TEST_ACTOR
from tests.pools.tree_check import tree_problems

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(organization):
    def create(cidr, parent=None):
        return services.pool_create(
            actor=TEST_ACTOR,
            organization=organization,
            name=cidr,
            cidr=cidr,
            parent=parent.pk if parent else None,
        )

    root = create("10.0.0.0/8")
    regions = [create(f"10.{n}.0.0/16", root) for n in range(3)]
    leaves = [
        create(f"10.{n}.{m}.0/24", region) for n, region in enumerate(regions) for m in range(2)
    ]
    return root, regions, leaves


def agree(parent=None):
    expected = Pool.objects.find_problems(parent=parent)
    assert tree_problems(parent) == expected
    return expected


def test_a_sound_tree_has_no_problems(tree):
    _, regions, _ = tree
    assert agree() == ([], [], [], [], [])
    assert agree(regions[1]) == ([], [], [], [], [])


def test_each_kind_of_damage_is_reported_like_treebeard(tree):
    root, regions, leaves = tree
    Pool.objects.filter(pk=leaves[0].pk).update(path=leaves[0].path[:-1] + "a")
    Pool.objects.filter(pk=leaves[1].pk).update(path=leaves[1].path + "1")
    Pool.objects.filter(pk=regions[2].pk).update(path=regions[2].path[:-1] + "Z")
    Pool.objects.filter(pk=regions[1].pk).update(depth=5)
    Pool.objects.filter(pk=root.pk).update(numchild=7)
    evil, steplen, orphans, depth, numchild = agree()
    assert evil == [leaves[0].pk]
    assert steplen == [leaves[1].pk]
    assert set(orphans) == {leaves[4].pk, leaves[5].pk}
    assert depth == [regions[1].pk]
    assert root.pk in numchild
    agree(regions[0])
    agree(regions[1])
