"""One utilization: the pool selectors and the analysis engine agree on every pool."""

from __future__ import annotations

import doctest
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from apps.analysis import engine
from apps.analysis.selectors import analysis_tree
from apps.pools import selectors, utilization
from apps.pools.cidr import parse_prefix
from apps.pools.models import Pool
from apps.pools.utilization import Utilization, count_children, covered_children
from apps.tenancy.models import Organization

ROOT = Path(__file__).resolve().parents[2]


def test_worked_examples_in_docstrings() -> None:
    result = doctest.testmod(utilization)
    assert result.attempted > 0
    assert result.failed == 0


def test_importing_the_module_loads_no_django() -> None:
    code = (
        "import sys, apps.pools.utilization\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_counts_are_exact_for_ipv6() -> None:
    used, children = count_children(128, [(9, 1), (64, 3)])
    usage = utilization.utilization(total=2**120, used=used, children=children)
    assert (usage.used, usage.children, usage.free) == (2**119 + 3 * 2**64, 4, 2**119 - 3 * 2**64)
    assert usage.percent == 50.0


def test_overlapping_children_count_once_and_outsiders_not_at_all() -> None:
    parent = parse_prefix("10.0.0.0/16")
    children = [parse_prefix(c) for c in ("10.0.0.0/20", "10.0.0.0/24", "192.168.0.0/24")]
    assert covered_children(parent, children) == (4096, 2)


def test_clamping_keeps_broken_input_within_the_pool() -> None:
    usage = utilization.utilization(total=256, used=300, in_use=-5)
    assert (usage.used, usage.in_use, usage.percent, usage.in_use_percent) == (256, 0, 100.0, 0.0)
    assert utilization.utilization(total=256, used=10, in_use=900).effective_used == 256


def test_there_is_one_utilization_type() -> None:
    assert selectors.Utilization is Utilization
    assert engine.Utilization is Utilization


@pytest.mark.django_db
def test_selectors_and_engine_agree_on_every_pool(
    organization: Organization, make_pool: Callable[..., Pool]
) -> None:
    corp = make_pool("10.0.0.0/8", name="corp")
    region = make_pool("10.1.0.0/16", parent=corp, name="region")
    make_pool("10.1.0.0/20", parent=region, name="vpc-a", status="reserved")
    vpc = make_pool("10.1.16.0/20", parent=region, name="vpc-b")
    for third in range(16, 20):
        make_pool(f"10.1.{third}.0/24", parent=vpc, name=f"subnet-{third}")
    gone = make_pool("10.2.0.0/16", parent=corp, name="gone")
    Pool.objects.filter(pk=gone.pk).update(deleted_at="2026-01-01T00:00:00Z")
    v6 = make_pool("fd00::/8", name="ula")
    make_pool("fd00::/9", parent=v6, name="half")
    make_pool("fd80::/64", parent=v6, name="lan")

    pools = list(Pool.objects.filter(organization=organization, deleted_at__isnull=True))
    by_map = selectors.pool_utilization_map(pools)
    tree = analysis_tree(organization=organization)
    for pool in pools:
        from_engine = engine.pool_utilization(tree, pool.pk)
        detail = selectors.pool_utilization(pool)
        assert by_map[pool.pk] == from_engine == detail.utilization, pool.name
    assert by_map[region.pk].used == 8192
    assert by_map[region.pk].children == 2
    assert by_map[corp.pk].children == 1
    assert selectors.pool_utilization(region).by_status["reserved"] == {
        "children": 1,
        "addresses": "4096",
    }
    assert by_map[v6.pk].used == 2**119 + 2**64
