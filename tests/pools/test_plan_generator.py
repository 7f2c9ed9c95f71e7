"""The pure plan generator: shape, invariants and treebeard bookkeeping, with no database.

``pytest -p no:django --noconftest tests/pools/test_plan_generator.py`` runs alone.
"""

from __future__ import annotations

import itertools
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from apps.pools.cidr import Prefix
from apps.pools.plan_generator import (
    MAX_DEPTH,
    STEPLEN,
    PlannedPool,
    generate_plan,
    path_step,
)

ROOT = Path(__file__).resolve().parents[2]


def check_plan(plan: list[PlannedPool]) -> None:
    """Assert every invariant of a pool tree on ``plan``."""
    by_index = {pool.index: pool for pool in plan}
    assert [pool.index for pool in plan] == list(range(len(plan)))
    assert len({pool.path for pool in plan}) == len(plan)
    # Path order, which is treebeard's order: every parent comes before its children.
    assert [pool.path for pool in plan] == sorted(pool.path for pool in plan)
    children: dict[int | None, list[PlannedPool]] = {}
    for pool in plan:
        children.setdefault(pool.parent, []).append(pool)
        assert len(pool.path) == STEPLEN * pool.depth
        if pool.parent is None:
            assert pool.depth == 1
            continue
        parent = by_index[pool.parent]
        assert parent.index < pool.index
        assert pool.path[:-STEPLEN] == parent.path
        assert pool.depth == parent.depth + 1
        # Rule 1: strictly inside the parent, of the same family.
        assert pool.prefix.family == parent.prefix.family
        assert parent.prefix.contains(pool.prefix)
        assert pool.prefix != parent.prefix
    for parent, kids in children.items():
        if parent is not None:
            assert by_index[parent].numchild == len(kids)
        # Rule 2: siblings (and roots) never overlap.
        blocks: list[Prefix] = sorted(
            (kid.prefix for kid in kids), key=lambda p: (p.family, p.first)
        )
        for left, right in itertools.pairwise(blocks):
            assert left.family != right.family or left.last < right.first
    assert all(pool.numchild == 0 for pool in plan if pool.index not in children)


@pytest.mark.parametrize(("total", "seed"), [(2, 0), (3, 1), (40, 2), (777, 3), (5_000, 4)])
def test_a_plan_keeps_every_tree_invariant(total: int, seed: int) -> None:
    plan = list(generate_plan(total, seed=seed))
    assert len(plan) == total
    check_plan(plan)


def test_a_plan_is_six_levels_deep_in_both_families() -> None:
    plan = list(generate_plan(20_000, seed=7))
    depths = Counter(pool.depth for pool in plan)
    assert max(depths) == MAX_DEPTH
    assert set(depths) == set(range(1, MAX_DEPTH + 1))
    families = Counter(pool.prefix.family for pool in plan)
    assert families[4] == 3_000
    assert families[6] == 17_000
    roots = [pool for pool in plan if pool.depth == 1]
    assert [str(pool.prefix) for pool in roots] == ["10.0.0.0/8", "fd00::/8"]
    assert [pool.type for pool in plan if pool.depth == 4][:1] == ["vpc"]


def test_the_fan_out_is_uneven_with_a_hub_per_family() -> None:
    plan = list(generate_plan(20_000, seed=7, hub_children=900))
    fan_out = sorted(pool.numchild for pool in plan if pool.numchild)
    hubs = [pool for pool in plan if pool.numchild == 900]
    assert sorted(pool.prefix.family for pool in hubs) == [4, 6]
    assert all(pool.depth == 4 and pool.type == "vpc" for pool in hubs)
    # Heavy-tailed: the median parent is small, the largest ones are orders bigger.
    assert statistics.median(fan_out) <= 10
    assert fan_out[-1] >= 50 * statistics.median(fan_out)


def test_a_hub_has_50000_children_in_a_million_pool_plan() -> None:
    # Only the first pools are read: the generator yields in path order, so the IPv4 hub
    # (region, environment and VPC first under 10.0.0.0/8) comes right after the root.
    plan = generate_plan(1_000_000, seed=0)
    first = [next(plan) for _ in range(4)]
    assert [pool.depth for pool in first] == [1, 2, 3, 4]
    assert first[3].numchild == 50_000


def test_the_same_seed_gives_the_same_plan() -> None:
    first = list(generate_plan(3_000, seed=11))
    assert first == list(generate_plan(3_000, seed=11))
    assert first != list(generate_plan(3_000, seed=12))


def test_root_paths_start_where_asked() -> None:
    plan = list(generate_plan(10, seed=0, first_root_step=37))
    assert [pool.path for pool in plan if pool.depth == 1] == ["0011", "0012"]


def test_path_steps_are_treebeards() -> None:
    assert path_step(1) == "0001"
    assert path_step(35) == "000Z"
    assert path_step(36) == "0010"
    with pytest.raises(ValueError, match="does not fit"):
        path_step(36**4)


def test_a_plan_has_at_least_two_pools() -> None:
    with pytest.raises(ValueError, match="at least 2 pools"):
        list(generate_plan(1))


def test_importing_the_generator_loads_no_django() -> None:
    code = (
        "import sys, apps.pools.plan_generator\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
