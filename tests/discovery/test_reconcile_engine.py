"""Tests for the pure reconciliation engine, against a brute-force model on generated data.

The model compares every pair (every pool with every resource, every resource with every
other), which the engine never does. No database and no Django:
``pytest -p no:django --noconftest tests/discovery/test_reconcile_engine.py`` runs alone.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.analysis.engine import resolve_compliance_settings
from apps.discovery.reconcile import (
    DEFAULT_DOMAIN,
    OVERLAPS_SHOWN,
    PoolItem,
    ResourceFacts,
    ResourceItem,
    reconcile,
    resource_compliance,
)
from apps.pools.cidr import Prefix, parse_prefix

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
V4 = parse_prefix("10.0.0.0/24")
V6 = parse_prefix("fd00::/120")
SEPARATE_DOMAIN = 900


def p(text: str) -> Prefix:
    return parse_prefix(text)


# Generated data


@st.composite
def prefixes_in(draw: st.DrawFn, space: Prefix, longest: int) -> Prefix:
    length = draw(st.integers(space.length, space.length + longest))
    offset = draw(st.integers(0, (1 << (length - space.length)) - 1))
    return Prefix(space.family, space.first + (offset << (space.bits - length)), length)


def any_prefix(longest: int) -> st.SearchStrategy[Prefix]:
    return st.one_of(prefixes_in(V4, longest), prefixes_in(V6, longest))


@st.composite
def estates(draw: st.DrawFn) -> tuple[list[PoolItem], list[ResourceItem]]:
    """Return live pools (a valid plan) and resources (any estate) in a tiny space.

    Distinct prefixes always nest or are disjoint, so any set of them is a valid tree.
    Sometimes a second routing domain (a separate root) overlaps the first.
    """
    default = draw(st.sets(any_prefix(6), max_size=12))
    separate: set[Prefix] = set()
    if draw(st.booleans()):
        root = draw(prefixes_in(V4, 2))
        separate = {root} | draw(st.sets(prefixes_in(root, 4), max_size=5))
    resources_cidrs = draw(st.lists(any_prefix(8), max_size=16))
    networks = st.sampled_from(["", "net-a", "net-b", "net-c"])
    states = st.sampled_from(["present", "present", "missing", "gone"])
    resources = [
        ResourceItem(
            id=index + 1,
            cidr=cidr,
            network_id=draw(networks),
            state=draw(states),
            ignored=draw(st.integers(0, 5)) == 0,
        )
        for index, cidr in enumerate(resources_cidrs)
    ]
    # Some pools were linked before, to resources that may still qualify or not.
    ids = st.none() | st.integers(1, max(1, len(resources) + 2))
    pools = []
    next_id = 1
    for domain, members in ((DEFAULT_DOMAIN, default), (SEPARATE_DOMAIN, separate)):
        for cidr in sorted(members):
            linked = draw(ids)
            pools.append(
                PoolItem(
                    id=next_id,
                    cidr=cidr,
                    domain=domain,
                    linked_resource=linked,
                    was_linked=linked is not None or draw(st.integers(0, 4)) == 0,
                )
            )
            next_id += 1
    draw(st.randoms()).shuffle(pools)
    return pools, resources


# The brute-force model


def contains(outer: Prefix, inner: Prefix) -> bool:
    return outer.family == inner.family and outer.first <= inner.first <= inner.last <= outer.last


def model(pools: list[PoolItem], resources: list[ResourceItem]) -> dict:
    live = [r for r in resources if r.state != "gone"]
    narrowest = {}
    domain = {}
    for r in live:
        holders = [pool for pool in pools if contains(pool.cidr, r.cidr)]
        best = min(holders, key=lambda pool: (-pool.cidr.length, pool.id), default=None)
        narrowest[r.id] = best.id if best else None
        domain[r.id] = best.domain if best else DEFAULT_DOMAIN
    links = {}
    orphaned = {}
    for pool in pools:
        matches = [
            r.id
            for r in live
            if not r.ignored and domain[r.id] == pool.domain and r.cidr == pool.cidr
        ]
        if matches:
            link = pool.linked_resource if pool.linked_resource in matches else min(matches)
            links[pool.id], orphaned[pool.id] = link, False
        else:
            links[pool.id] = pool.linked_resource
            orphaned[pool.id] = pool.was_linked or pool.linked_resource is not None
    managed = {links[pool.id] for pool in pools if not orphaned[pool.id]}
    out = {}
    for r in live:
        exact = [pool for pool in pools if pool.domain == domain[r.id] and pool.cidr == r.cidr]
        pool_sides = {
            pool.id
            for pool in pools
            if not exact
            and pool.domain == domain[r.id]
            and contains(r.cidr, pool.cidr)
            and pool.cidr != r.cidr
        }
        resource_sides = {
            s.id
            for s in live
            if r.network_id
            and s.network_id
            and s.network_id != r.network_id
            and domain[s.id] == domain[r.id]
            and s.cidr != r.cidr
            and (contains(s.cidr, r.cidr) or contains(r.cidr, s.cidr))
        }
        duplicates = {
            s.id
            for s in live
            if r.network_id
            and s.network_id
            and s.network_id != r.network_id
            and domain[s.id] == domain[r.id]
            and s.cidr == r.cidr
        }
        if r.ignored:
            state = "ignored"
        elif r.id in managed:
            state = "managed"
        elif narrowest[r.id] is not None:
            state = "unmanaged"
        else:
            state = "outside"
        out[r.id] = {
            "pool": narrowest[r.id],
            "state": state,
            "pool_sides": pool_sides,
            "resource_sides": resource_sides,
            "duplicates": duplicates,
            "exact": min((pool.id for pool in exact), default=None),
        }
    return {"resources": out, "links": links, "orphaned": orphaned}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates())
def test_reconciliation_agrees_with_the_model(estate) -> None:
    pools, resources = estate
    result = reconcile(pools, resources)
    expected = model(pools, resources)

    assert set(result.resources) == set(expected["resources"])
    for resource_id, want in expected["resources"].items():
        got = result.resources[resource_id]
        assert got.pool == want["pool"], resource_id
        assert got.management_state == want["state"], resource_id
        assert got.exact_pool == want["exact"], resource_id
        overlapping = bool(want["pool_sides"] or want["resource_sides"])
        assert got.overlapping is overlapping, resource_id
        assert got.overlap_status == ("overlapping" if overlapping else "nonoverlapping")
        named_pools = {side.id for side in got.overlaps_with if side.kind == "pool"}
        named_resources = {side.id for side in got.overlaps_with if side.kind == "resource"}
        assert named_pools <= want["pool_sides"]
        assert named_resources <= want["resource_sides"]
        if want["pool_sides"]:
            # The outermost pools inside it are named, in address order.
            outermost = {
                pool.id
                for pool in pools
                if pool.id in want["pool_sides"]
                and not any(
                    other.id in want["pool_sides"]
                    and other.id != pool.id
                    and contains(other.cidr, pool.cidr)
                    for other in pools
                )
            }
            assert named_pools == set(sorted(outermost)[:OVERLAPS_SHOWN]) or len(
                named_pools
            ) == min(len(outermost), OVERLAPS_SHOWN)
        if want["resource_sides"]:
            assert named_resources
        duplicates = {side.id for side in got.duplicates}
        assert duplicates == set(sorted(want["duplicates"])[:OVERLAPS_SHOWN])
    for pool in pools:
        outcome = result.pools[pool.id]
        assert outcome.linked_resource == expected["links"][pool.id], pool.id
        assert outcome.orphaned is expected["orphaned"][pool.id], pool.id


# Worked cases


def test_a_subnet_inside_its_own_vpc_does_not_overlap_but_another_network_does() -> None:
    pools = [PoolItem(1, p("10.0.0.0/8")), PoolItem(2, p("10.1.0.0/16"), 1)]
    resources = [
        ResourceItem(1, p("10.1.0.0/16"), "vpc-a"),
        ResourceItem(2, p("10.1.1.0/24"), "vpc-a"),
        ResourceItem(3, p("10.1.2.0/24"), "vpc-b"),
    ]
    result = reconcile(pools, resources).resources
    assert result[1].management_state == "managed"
    assert result[2].management_state == "unmanaged"
    assert result[2].pool == 2
    assert not result[2].overlapping
    assert result[3].overlapping
    assert [(side.kind, side.id) for side in result[3].overlaps_with] == [("resource", 1)]
    assert [(side.kind, side.id) for side in result[1].overlaps_with] == [("resource", 3)]


def test_an_unplanned_resource_spanning_planned_pools_overlaps_them() -> None:
    pools = [
        PoolItem(1, p("10.0.0.0/8")),
        PoolItem(2, p("10.1.0.0/24"), 1),
        PoolItem(3, p("10.1.1.0/24"), 1),
    ]
    result = reconcile(pools, [ResourceItem(7, p("10.1.0.0/16"), "vpc")]).resources[7]
    assert result.management_state == "unmanaged"
    assert result.pool == 1
    assert [(side.kind, side.id) for side in result.overlaps_with] == [("pool", 2), ("pool", 3)]


def test_identical_blocks_in_two_networks_are_duplicates_and_one_is_linked() -> None:
    pools = [PoolItem(1, p("10.0.0.0/16"))]
    resources = [
        ResourceItem(5, p("10.0.0.0/16"), "vpc-a"),
        ResourceItem(4, p("10.0.0.0/16"), "vpc-b"),
    ]
    result = reconcile(pools, resources)
    assert result.pools[1].linked_resource == 4
    assert result.resources[4].management_state == "managed"
    assert result.resources[5].management_state == "unmanaged"
    assert not result.resources[5].overlapping
    assert [side.id for side in result.resources[5].duplicates] == [4]


def test_a_pool_keeps_its_link_and_is_orphaned_when_the_resource_is_gone() -> None:
    pools = [PoolItem(1, p("10.0.0.0/16"), linked_resource=9, was_linked=True)]
    gone = reconcile(pools, [ResourceItem(9, p("10.0.0.0/16"), "vpc", state="gone")])
    assert gone.pools[1].orphaned
    assert gone.pools[1].linked_resource == 9
    assert gone.resources == {}
    missing = reconcile(pools, [ResourceItem(9, p("10.0.0.0/16"), "vpc", state="missing")])
    assert not missing.pools[1].orphaned
    # A new resource with the same block takes the link over.
    back = reconcile(
        pools,
        [
            ResourceItem(9, p("10.0.0.0/16"), "vpc", state="gone"),
            ResourceItem(12, p("10.0.0.0/16"), "vpc-new"),
        ],
    )
    assert back.pools[1] == back.pools[1].__class__(1, 12, orphaned=False)


def test_separate_routing_domains_do_not_see_each_other() -> None:
    pools = [
        PoolItem(1, p("10.0.0.0/8")),
        PoolItem(2, p("10.0.0.0/16"), domain=2),
        PoolItem(3, p("10.0.1.0/24"), 2, domain=2),
    ]
    resources = [ResourceItem(1, p("10.0.1.0/24"), "a"), ResourceItem(2, p("10.0.0.0/12"), "b")]
    result = reconcile(pools, resources).resources
    assert result[1].pool == 3
    assert result[1].domain == 2
    assert result[1].management_state == "managed"
    # The /12 lies in the default domain, where no pool and no resource is inside it.
    assert result[2].domain == DEFAULT_DOMAIN
    assert not result[2].overlapping
    forced = reconcile(pools, [ResourceItem(1, p("10.0.1.0/24"), "a", domain=DEFAULT_DOMAIN)])
    assert forced.resources[1].pool == 1
    assert forced.resources[1].management_state == "unmanaged"


def test_ignored_resources_are_never_linked() -> None:
    pools = [PoolItem(1, p("10.0.0.0/16"))]
    result = reconcile(pools, [ResourceItem(1, p("10.0.0.0/16"), "a", ignored=True)])
    assert result.resources[1].management_state == "ignored"
    assert result.pools[1].linked_resource is None
    assert not result.pools[1].orphaned


def test_ipv6_and_host_prefixes() -> None:
    pools = [PoolItem(1, p("2001:db8::/32")), PoolItem(2, p("2001:db8::/64"), 1)]
    resources = [
        ResourceItem(1, p("2001:db8::5/128"), "vpc"),
        ResourceItem(2, p("2001:db8:1::/48"), "other"),
    ]
    result = reconcile(pools, resources).resources
    assert result[1].pool == 2
    assert result[1].management_state == "unmanaged"
    assert result[2].pool == 1
    assert not result[2].overlapping


# Compliance


def test_resources_are_checked_by_the_analysis_rules_as_pools() -> None:
    compliance = resolve_compliance_settings(
        {"NAMING": {"params": {"patterns": {"vpc": "vpc-[a-z]+"}}}}
    )
    pools = {1: p("10.0.0.0/8")}
    facts = [
        ResourceFacts(1, p("10.1.0.0/16"), "Prod", "vpc", pool=1),
        ResourceFacts(2, p("10.2.0.0/30"), "vpc-ok", "vpc", pool=1),
        ResourceFacts(3, p("8.8.8.8/32"), "eip", "eip", public=True),
        ResourceFacts(4, p("8.8.4.0/24"), "web", "subnet"),
        ResourceFacts(5, p("169.254.0.0/24"), "odd", "subnet"),
        ResourceFacts(6, p("10.3.0.0/16"), "vpc-fine", "vpc", pool=1),
    ]
    found = resource_compliance(facts, pools, settings=compliance, now=NOW)
    rules = {resource_id: [f.rule for f in findings] for resource_id, findings in found.items()}
    assert rules == {
        1: ["NAMING"],
        2: ["PREFIX_BOUNDS"],
        4: ["PUBLIC_SPACE"],
        5: ["SPECIAL_PURPOSE"],
    }
    assert found[1][0].pool == 1
    assert found[1][0].message == (
        "vpc 'Prod' (10.1.0.0/16) does not match the naming pattern 'vpc-[a-z]+' for vpc pools."
    )


def test_importing_the_engine_loads_no_django() -> None:
    code = (
        "import sys, apps.discovery.reconcile\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
