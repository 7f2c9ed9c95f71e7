"""Tests for the pure analysis engine: worked examples, rules, and properties against a model.

The brute-force model enumerates addresses, which the engine never does, so the generated
plans are small: a root of IPv4 /22 to /32 or IPv6 /118 to /128 (at most 1,024 addresses)
with up to a dozen pools nested inside, sometimes overlapping as imported data can.

No database and no Django: ``pytest -p no:django --noconftest tests/analysis/test_engine.py``
runs this module on its own (the suite's conftest needs Django; nothing here does).
"""

from __future__ import annotations

import ast
import doctest
import importlib
import json
import pkgutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import apps.analysis.engine as engine_package
from apps.analysis.engine import (
    RULE_IDS,
    RULES,
    AnalysisSettings,
    PoolData,
    Recommendation,
    Snapshot,
    TreeError,
    analyze_pool,
    analyze_tree,
    build_tree,
    evaluate_compliance,
    fingerprint_of,
    fragmentation_of,
    gap_analysis,
    generate_recommendations,
    impact_score,
    pool_utilization,
    rank_free_blocks,
    resolve_analysis_settings,
    resolve_compliance_settings,
    runway_of,
    scope_of,
    subtree_utilizations,
    suggest_allocations,
    validate_analysis_settings,
    validate_compliance_settings,
)
from apps.analysis.engine.fragmentation import fragmentation_from, round_half_up
from apps.analysis.engine.gaps import best_free_block
from apps.analysis.engine.spaces import PRIVATE_SPACE, SPECIAL_PURPOSE, is_private
from apps.analysis.engine.utilization import subtree_utilization
from apps.pools.cidr import CidrError, Prefix, best_fit, free_blocks, parse_prefix

ROOT = Path(__file__).resolve().parents[2]
BITS = {4: 32, 6: 128}
SMALLEST_ROOT_LENGTH = {4: 22, 6: 118}
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=400)

PROPERTY = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def P(text: str) -> Prefix:  # noqa: N802 - reads like a literal in the examples
    """Return the prefix spelled by ``text``."""
    return parse_prefix(text)


def pool(pool_id: int, parent: int | None, cidr: str, **fields: object) -> PoolData:
    """Return a PoolData with readable defaults for the examples."""
    fields.setdefault("name", f"pool-{pool_id}")
    fields.setdefault("created_at", LONG_AGO)
    return PoolData(pool_id, parent, P(cidr), **fields)


def strs(prefixes: Iterable[Prefix]) -> list[str]:
    """Return the canonical text of each prefix."""
    return [str(prefix) for prefix in prefixes]


# Module boundaries


def _engine_modules() -> list[str]:
    names = [engine_package.__name__]
    names.extend(
        f"{engine_package.__name__}.{info.name}"
        for info in pkgutil.iter_modules(engine_package.__path__)
    )
    return sorted(names)


def test_engine_imports_only_the_standard_library_and_the_pure_pool_modules() -> None:
    """Walk the imports of every engine module and of what they import, transitively."""
    allowed_first_party = {"apps.pools.cidr", "apps.pools.utilization"}
    # RE2 runs the users' naming patterns in linear time (no Django either).
    allowed_third_party = {"re2"}
    pending = _engine_modules()
    seen: set[str] = set()
    third_party: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        module = importlib.import_module(name)
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{name} uses a relative import"
                imported = [node.module or ""]
            else:
                continue
            for target in imported:
                root = target.split(".")[0]
                if root == "apps":
                    assert (
                        target.startswith("apps.analysis.engine") or target in allowed_first_party
                    ), f"{name} imports {target}"
                    pending.append(target)
                elif (
                    root not in sys.stdlib_module_names
                    and root != "__future__"
                    and root not in allowed_third_party
                ):
                    third_party.add(f"{name}: {target}")
    assert not third_party
    assert "apps.pools.cidr" in seen


def test_importing_the_engine_loads_no_django() -> None:
    code = (
        "import sys, apps.analysis.engine\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("module_name", _engine_modules())
def test_worked_examples_in_docstrings(module_name: str) -> None:
    module = importlib.import_module(module_name)
    failures, _attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


def test_engine_vocabulary_is_documented_in_every_public_function() -> None:
    for name in _engine_modules():
        module = importlib.import_module(name)
        assert module.__doc__, name
        for exported in getattr(module, "__all__", ()):
            value = getattr(module, exported)
            if callable(value) and getattr(value, "__module__", "") == name:
                assert value.__doc__, f"{name}.{exported} has no docstring"


# The tree


def test_build_tree_orders_children_by_address_and_drops_deleted_pools() -> None:
    tree = build_tree(
        [
            pool(1, None, "10.0.0.0/16"),
            pool(2, 1, "10.0.2.0/24"),
            pool(3, 1, "10.0.1.0/24"),
            pool(4, 1, "10.0.0.0/24", deleted=True),
            pool(5, None, "2001:db8::/32"),
            pool(6, None, "192.168.0.0/16"),
        ]
    )
    assert tree.roots == (1, 6, 5)
    assert tree.children_of(1) == (3, 2)
    assert 4 not in tree
    assert len(tree) == 5
    assert tree.orphans == ()
    assert list(tree.walk()) == [1, 3, 2, 6, 5]
    assert tree.post_order(1) == [2, 3, 1]
    assert [ancestor.id for ancestor in tree.ancestors(3)] == [1]
    assert tree.siblings_of(3) == (3, 2)


def test_live_pool_under_a_deleted_parent_becomes_an_orphan_root() -> None:
    tree = build_tree(
        [
            pool(1, None, "10.0.0.0/16", deleted=True),
            pool(2, 1, "10.0.1.0/24"),
            pool(3, 99, "10.9.0.0/24"),
        ]
    )
    assert tree.roots == (2, 3)
    assert tree.orphans == (2, 3)
    assert tree.parent_of(2) is None


def test_build_tree_rejects_duplicate_ids_and_cycles() -> None:
    with pytest.raises(TreeError, match="pool id 1 appears twice"):
        build_tree([pool(1, None, "10.0.0.0/8"), pool(1, None, "10.0.0.0/9")])
    with pytest.raises(TreeError, match=r"pools \[2, 3\] have parent links that form a cycle"):
        build_tree(
            [pool(1, None, "10.0.0.0/8"), pool(2, 3, "10.0.0.0/9"), pool(3, 2, "10.0.0.0/10")]
        )


def test_walk_of_a_deep_tree_does_not_recurse() -> None:
    pools = [pool(1, None, "10.0.0.0/8")]
    pools.extend(pool(length - 7, length - 8, f"10.0.0.0/{length}") for length in range(9, 33))
    chain = build_tree(pools)
    assert len(list(chain.walk())) == 25
    assert subtree_utilizations(chain)[1].used == 1


# Gap analysis


def test_gap_analysis_example() -> None:
    gaps = gap_analysis(P("10.0.0.0/24"), [P("10.0.0.0/26"), P("10.0.0.128/27")])
    assert strs(gaps.free_blocks) == ["10.0.0.64/26", "10.0.0.160/27", "10.0.0.192/26"]
    assert gaps.ranges == ((0x0A000040, 0x0A00007F), (0x0A0000A0, 0x0A0000FF))
    assert (gaps.count, gaps.total_free, str(gaps.largest_free_block)) == (3, 160, "10.0.0.64/26")
    assert strs(gaps.blocks(limit=2)) == ["10.0.0.64/26", "10.0.0.160/27"]
    assert gaps.blocks(limit=0) == []
    assert gaps.is_free(P("10.0.0.224/27"))
    assert not gaps.is_free(P("10.0.0.128/26"))
    assert not gaps.is_free(P("10.0.0.0/32"))
    assert not gaps.is_free(P("2001:db8::/64"))


def test_gap_analysis_of_a_full_and_of_an_empty_pool() -> None:
    full = gap_analysis(P("10.0.0.0/24"), [P("10.0.0.0/25"), P("10.0.0.128/25")])
    assert (full.count, full.total_free, full.largest_free_block, full.free_blocks) == (
        0,
        0,
        None,
        (),
    )
    empty = gap_analysis(P("2001:db8::/32"), [])
    assert (empty.count, empty.total_free, str(empty.largest_free_block)) == (
        1,
        2**96,
        "2001:db8::/32",
    )
    # A list of no children takes a short path; an iterator of none, the general one.
    for cidr in ("2001:db8::/32", "10.0.0.0/8", "0.0.0.0/0", "10.1.2.3/32"):
        assert gap_analysis(P(cidr), []) == gap_analysis(P(cidr), iter(()))


def test_gap_analysis_ignores_the_other_family_and_clips_enclosing_children() -> None:
    gaps = gap_analysis(P("10.0.0.0/24"), [P("::/0"), P("10.0.0.0/8")])
    assert gaps.total_free == 0
    gaps = gap_analysis(P("10.0.0.0/24"), [P("::/0")])
    assert gaps.total_free == 256


def test_ranking_puts_exact_blocks_first_then_smallest_then_lowest_address() -> None:
    blocks = [
        P("10.0.0.0/25"),
        P("10.0.0.128/27"),
        P("10.0.0.192/26"),
        P("10.0.1.0/27"),
        P("10.0.1.64/28"),
    ]
    ranked = rank_free_blocks(blocks, 27)
    assert [(str(r.block), str(r.candidate), r.exact) for r in ranked] == [
        ("10.0.0.128/27", "10.0.0.128/27", True),
        ("10.0.1.0/27", "10.0.1.0/27", True),
        ("10.0.0.192/26", "10.0.0.192/27", False),
        ("10.0.0.0/25", "10.0.0.0/27", False),
    ]
    best = best_free_block(blocks, 27)
    assert best == ranked[0]
    assert rank_free_blocks(blocks, 24) == ()
    assert best_free_block(blocks, 24) is None
    assert rank_free_blocks([], 24) == ()
    with pytest.raises(CidrError, match="prefix length 33 is out of range for IPv4"):
        rank_free_blocks(blocks, 33)


# Fragmentation (the SPEC.md examples)


@pytest.mark.parametrize(
    ("children", "expected"),
    [
        ([], (0.0, 1, 1, "10.0.0.0/24", 100.0)),
        (["10.0.0.0/25"], (0.0, 1, 1, "10.0.0.128/25", 100.0)),
        (["10.0.0.64/26"], (0.0, 2, 2, "10.0.0.128/25", 66.7)),
        (["10.0.0.0/26", "10.0.0.128/26"], (50.0, 2, 1, "10.0.0.64/26", 50.0)),
        (["10.0.0.0/32", "10.0.0.255/32"], (50.0, 14, 7, "10.0.0.64/26", 25.2)),
        (["10.0.0.1/32"], (0.0, 8, 8, "10.0.0.128/25", 50.2)),
        (
            ["10.0.0.0/26", "10.0.0.64/27", "10.0.0.128/27", "10.0.0.192/26"],
            (50.0, 2, 1, "10.0.0.96/27", 50.0),
        ),
        (["10.0.0.0/24"], (0.0, 0, 0, None, 0.0)),
        # Free .64/27, .128/27 and .192/26: 128 addresses one /25 could hold, 1 of 3 blocks.
        (["10.0.0.0/26", "10.0.0.96/27", "10.0.0.160/27"], (66.7, 3, 1, "10.0.0.192/26", 50.0)),
    ],
)
def test_fragmentation_examples(children: list[str], expected: tuple[object, ...]) -> None:
    blocks = free_blocks(P("10.0.0.0/24"), [P(child) for child in children])
    result = fragmentation_of(blocks)
    largest = str(result.largest_free_block) if result.largest_free_block else None
    assert (result.score, result.actual, result.ideal, largest, result.largest_share) == expected


def test_fragmentation_of_ipv6_counts_stay_exact() -> None:
    blocks = free_blocks(P("2001:db8::/32"), [P("2001:db8::/64"), P("2001:db8:8000::/33")])
    result = fragmentation_of(blocks)
    assert result.total_free == 2**95 - 2**64
    assert result.ideal == 31
    assert result.actual == 31
    assert result.score == 0.0
    assert fragmentation_from(0, 0, None) == fragmentation_of([])


def test_round_half_up_rounds_exact_halves_up() -> None:
    assert round_half_up(125, 1000) == 0.1
    assert round_half_up(15, 100) == 0.2
    assert round_half_up(25, 100) == 0.3
    assert round_half_up(1, 3) == 0.3
    assert round_half_up(0, 7) == 0.0


# Utilization


def test_pool_and_subtree_utilization_example() -> None:
    tree = build_tree(
        [
            pool(1, None, "10.0.0.0/16", type="region"),
            pool(2, 1, "10.0.0.0/20", type="vpc"),
            pool(3, 2, "10.0.0.0/24", type="subnet"),
            pool(4, 2, "10.0.1.0/24", type="subnet"),
            pool(5, 2, "10.0.2.0/24", type="subnet"),
            pool(6, 1, "10.0.16.0/20", type="vpc"),
        ]
    )
    region = pool_utilization(tree, 1)
    assert (region.total, region.used, region.free, region.percent) == (65536, 8192, 57344, 12.5)
    assert region.in_use is None
    assert region.in_use_percent is None
    subtree = subtree_utilizations(tree, in_use={3: 10, 4: 300, 6: 5})
    # Leaves: the three /24 subnets and the empty /20 VPC.
    assert (subtree[1].used, subtree[1].descendants, subtree[1].in_use) == (768 + 4096, 5, 271)
    assert (subtree[2].used, subtree[2].percent, subtree[2].in_use) == (768, 18.75, 266)
    assert (subtree[3].used, subtree[3].descendants, subtree[3].in_use) == (0, 0, 10)
    assert subtree[5].in_use is None
    assert subtree_utilization(tree, 1, in_use={3: 10, 4: 300, 6: 5}) == subtree[1]
    with_use = pool_utilization(tree, 3, in_use={3: 1000})
    assert (with_use.in_use, with_use.in_use_percent, with_use.effective_used) == (256, 100.0, 256)


def test_utilization_of_ipv6_is_exact() -> None:
    tree = build_tree([pool(1, None, "fd00::/8"), pool(2, 1, "fd00::/9"), pool(3, 1, "fd80::/64")])
    usage = pool_utilization(tree, 1)
    assert usage.total == 2**120
    assert usage.used == 2**119 + 2**64
    assert usage.free == 2**119 - 2**64
    assert usage.percent == 50.0


# Property tests against the brute-force model


def aligned(value: int, bits: int, length: int) -> int:
    """Return ``value`` with the host bits of a ``length`` prefix cleared."""
    return value >> (bits - length) << (bits - length)


@st.composite
def small_roots(draw: st.DrawFn) -> Prefix:
    """Draw a root small enough to enumerate, often at the edges of the address space."""
    family = draw(st.sampled_from([4, 6]))
    bits = BITS[family]
    length = draw(st.integers(SMALLEST_ROOT_LENGTH[family], bits))
    raw = draw(st.one_of(st.integers(0, (1 << bits) - 1), st.sampled_from([0, (1 << bits) - 1])))
    return Prefix(family, aligned(raw, bits, length), length)


@st.composite
def small_plans(draw: st.DrawFn) -> tuple[list[PoolData], dict[int, int]]:
    """Draw a plan under one small root and discovered use for some of its pools.

    Each new block is filed under the deepest pool that strictly contains it, like an
    import; a block equal to or enclosing an existing pool becomes its sibling, so plans
    sometimes hold overlapping siblings. Some pools are deleted.
    """
    root = draw(small_roots())
    bits = root.bits
    pools = [PoolData(1, None, root, name="root", type="supernet")]
    for pool_id in range(2, draw(st.integers(1, 12)) + 2):
        length = draw(st.integers(root.length, bits))
        offset = draw(st.integers(0, root.size - 1))
        cidr = Prefix(root.family, aligned(root.first + offset, bits, length), length)
        parent = max(
            (
                candidate
                for candidate in pools
                if not candidate.deleted
                and candidate.cidr.contains(cidr)
                and candidate.cidr != cidr
            ),
            key=lambda candidate: candidate.cidr.length,
            default=pools[0],
        )
        deleted = draw(st.integers(0, 9)) == 0
        pools.append(PoolData(pool_id, parent.id, cidr, deleted=deleted, type="subnet"))
    in_use = {
        candidate.id: draw(st.integers(0, candidate.cidr.size + 2))
        for candidate in pools
        if draw(st.booleans())
    }
    return pools, in_use


def model_addresses(prefix: Prefix) -> set[int]:
    return set(range(prefix.first, prefix.last + 1))


def model_free(parent: Prefix, children: list[Prefix]) -> set[int]:
    """Return the addresses of ``parent`` that no child of its family covers."""
    free = model_addresses(parent)
    for child in children:
        if child.family == parent.family:
            free -= model_addresses(child)
    return free


def model_maximal_blocks(parent: Prefix, free: set[int]) -> list[Prefix]:
    """Return the wholly free aligned blocks of ``parent`` not inside a larger such block.

    Top-down over every aligned block of every length in the parent: a different route
    from the engine's sweep over gaps.
    """
    chosen: list[Prefix] = []
    covered: set[int] = set()
    for length in range(parent.length, parent.bits + 1):
        size = 1 << (parent.bits - length)
        for start in range(parent.first, parent.last + 1, size):
            block = set(range(start, start + size))
            if start not in covered and block <= free:
                chosen.append(Prefix(parent.family, start, length))
                covered |= block
    return sorted(chosen)


def model_fragmentation(actual: int, free_count: int) -> float:
    """Return SPEC.md's score with Decimal arithmetic and a greedy count of ideal blocks."""
    if not actual:
        return 0.0
    ideal, rest = 0, free_count
    while rest:
        rest -= 1 << (rest.bit_length() - 1)
        ideal += 1
    score = Decimal(100) * (1 - Decimal(ideal) / Decimal(actual))
    return float(score.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def model_children(pools: list[PoolData], pool_id: int) -> list[PoolData]:
    live = {candidate.id for candidate in pools if not candidate.deleted}
    return [
        candidate
        for candidate in pools
        if not candidate.deleted and candidate.parent_id == pool_id and candidate.id in live
    ]


def model_subtree(pools: list[PoolData], pool_id: int) -> list[PoolData]:
    """Return the live pools below ``pool_id`` by following parent links upwards."""
    by_id = {candidate.id: candidate for candidate in pools}
    below = []
    for candidate in pools:
        if candidate.deleted or candidate.id == pool_id:
            continue
        parent_id = candidate.parent_id
        while parent_id is not None and not by_id[parent_id].deleted:
            if parent_id == pool_id:
                below.append(candidate)
                break
            parent_id = by_id[parent_id].parent_id
    return below


@PROPERTY
@given(small_plans())
def test_free_space_utilization_and_fragmentation_agree_with_the_model(
    plan: tuple[list[PoolData], dict[int, int]],
) -> None:
    pools, in_use = plan
    tree = build_tree(pools)
    for pool_id in tree.walk():
        cidr = tree.get(pool_id).cidr
        children = [child.cidr for child in model_children(pools, pool_id)]
        free = model_free(cidr, children)
        blocks = model_maximal_blocks(cidr, free)
        result = analyze_pool(tree, pool_id, now=NOW, in_use=in_use)

        assert list(result.gaps.free_blocks) == blocks
        assert result.gaps.count == len(blocks)
        assert result.gaps.total_free == len(free)
        largest = min(blocks, key=lambda block: (block.length, block.first)) if blocks else None
        assert result.gaps.largest_free_block == largest

        assert result.utilization.total == cidr.size
        assert result.utilization.used == cidr.size - len(free)
        assert pool_utilization(tree, pool_id) == replace(result.utilization, in_use=None)
        expected_use = in_use.get(pool_id)
        if expected_use is not None:
            expected_use = min(expected_use, cidr.size)
        assert result.utilization.in_use == expected_use

        fragmentation = result.fragmentation
        assert fragmentation.actual == len(blocks)
        assert fragmentation.score == model_fragmentation(len(blocks), len(free))
        assert 0.0 <= fragmentation.score < 100.0 or len(blocks) > 1000
        if largest is not None:
            share = Decimal(100 * largest.size) / Decimal(len(free))
            expected_share = float(share.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
            assert fragmentation.largest_share == expected_share


@PROPERTY
@given(small_plans())
def test_subtree_utilization_agrees_with_the_model(
    plan: tuple[list[PoolData], dict[int, int]],
) -> None:
    pools, in_use = plan
    tree = build_tree(pools)
    everything = subtree_utilizations(tree, in_use=in_use)
    for pool_id in tree.walk():
        cidr = tree.get(pool_id).cidr
        below = model_subtree(pools, pool_id)
        parents = {candidate.parent_id for candidate in below}
        leaves = [candidate for candidate in below if candidate.id not in parents]
        covered: set[int] = set()
        for leaf in leaves:
            covered |= model_addresses(leaf.cidr)
        covered &= model_addresses(cidr)
        uses = [
            min(in_use[member.id], member.cidr.size)
            for member in [tree.get(pool_id), *below]
            if member.id in in_use
        ]
        expected_use = min(sum(uses), cidr.size) if uses else None
        result = everything[pool_id]
        assert (result.used, result.descendants, result.in_use) == (
            len(covered),
            len(below),
            expected_use,
        )
        assert subtree_utilization(tree, pool_id, in_use=in_use) == result
        assert subtree_utilizations(tree, pool_id, in_use=in_use)[pool_id] == result


@PROPERTY
@given(small_plans(), st.data())
def test_ranking_agrees_with_the_model_and_with_best_fit(
    plan: tuple[list[PoolData], dict[int, int]], data: st.DataObject
) -> None:
    pools, _ = plan
    tree = build_tree(pools)
    root = tree.get(1).cidr
    children = [tree.get(kid).cidr for kid in tree.children_of(1)]
    blocks = model_maximal_blocks(root, model_free(root, children))
    wanted = data.draw(st.integers(root.length, root.bits))
    ranked = rank_free_blocks(blocks, wanted)
    fitting = [block for block in blocks if block.length <= wanted]
    assert [r.block for r in ranked] == sorted(fitting, key=lambda b: (b.bits - b.length, b.first))
    for entry in ranked:
        assert entry.candidate.length == wanted
        assert entry.block.contains(entry.candidate)
        assert entry.exact == (entry.block.length == wanted)
    chosen = best_fit(root, children, wanted)
    assert (ranked[0].candidate if ranked else None) == chosen
    assert best_free_block(blocks, wanted) == (ranked[0] if ranked else None)


@PROPERTY
@given(small_plans())
def test_overlap_findings_agree_with_the_model(
    plan: tuple[list[PoolData], dict[int, int]],
) -> None:
    pools, _ = plan
    tree = build_tree(pools)
    findings = evaluate_compliance(tree, now=NOW)
    overlapping = {finding.pool for finding in findings if finding.rule == "OVERLAP"}
    expected = set()
    for pool_id in tree.walk():
        parent_id = tree.effective_parent_id(pool_id)
        mine = model_addresses(tree.get(pool_id).cidr)
        for sibling in tree.children_of(parent_id):
            if sibling != pool_id and mine & model_addresses(tree.get(sibling).cidr):
                expected.add(pool_id)
    assert overlapping == expected
    for finding in findings:
        if finding.rule == "OVERLAP":
            (partner,) = finding.related
            assert tree.get(partner).cidr.overlaps(tree.get(finding.pool).cidr)
            assert tree.effective_parent_id(partner) == tree.effective_parent_id(finding.pool)


# Compliance rules: one hit and one miss each, and the settings


def evaluate(pools: list[PoolData], raw: object = None, **kwargs: Any) -> list[tuple[str, int]]:
    """Return ``(rule, pool)`` of the findings of ``pools`` under ``raw`` settings."""
    tree = build_tree(pools)
    findings = evaluate_compliance(
        tree,
        now=NOW,
        settings=resolve_compliance_settings(raw),
        **kwargs,
    )
    return [(finding.rule, finding.pool) for finding in findings]


def only(
    rule: str, params: dict[str, object] | None = None, **overrides: object
) -> dict[str, object]:
    """Return settings enabling ``rule`` alone, with ``params`` and other overrides."""
    raw: dict[str, object] = {rule_id: {"enabled": False} for rule_id in RULE_IDS}
    raw[rule] = {"params": params or {}, **overrides}
    return raw


def test_overlap_hit_and_miss() -> None:
    pools = [
        pool(1, None, "10.0.0.0/8"),
        pool(2, 1, "10.1.0.0/16", name="a"),
        pool(3, 1, "10.1.128.0/17", name="b"),
        pool(4, 1, "10.2.0.0/16"),
    ]
    tree = build_tree(pools)
    findings = evaluate_compliance(
        tree, now=NOW, settings=resolve_compliance_settings(only("OVERLAP"))
    )
    assert [(f.rule, f.severity, f.pool, f.related) for f in findings] == [
        ("OVERLAP", "error", 2, (3,)),
        ("OVERLAP", "error", 3, (2,)),
    ]
    assert (
        findings[1].message == "custom 'b' (10.1.128.0/17) overlaps its sibling 'a' (10.1.0.0/16)."
    )
    assert findings[1].remediation.startswith("Renumber or move one of the two pools")
    assert (
        evaluate(
            [pool(1, None, "10.0.0.0/8"), pool(2, 1, "10.1.0.0/16"), pool(3, 1, "10.2.0.0/16")],
            only("OVERLAP"),
        )
        == []
    )


def test_overlap_of_roots_can_be_switched_off() -> None:
    roots = [pool(1, None, "10.0.0.0/8"), pool(2, None, "10.0.0.0/16"), pool(3, None, "fd00::/8")]
    assert evaluate(roots, only("OVERLAP")) == [("OVERLAP", 1), ("OVERLAP", 2)]
    tree = build_tree(roots)
    message = evaluate_compliance(
        tree, now=NOW, settings=resolve_compliance_settings(only("OVERLAP"))
    )[0].message
    assert message == "custom 'pool-1' (10.0.0.0/8) overlaps its root pool 'pool-2' (10.0.0.0/16)."
    assert evaluate(roots, only("OVERLAP", {"roots": False})) == []


def test_public_space_hit_reports_the_topmost_public_pool_only() -> None:
    pools = [
        pool(1, None, "8.0.0.0/8", name="public"),
        pool(2, 1, "8.8.0.0/16"),
        pool(3, None, "10.0.0.0/8"),
        pool(4, 3, "10.1.0.0/16"),
        pool(5, None, "2600::/16"),
    ]
    assert evaluate(pools, only("PUBLIC_SPACE")) == [("PUBLIC_SPACE", 1), ("PUBLIC_SPACE", 5)]
    tree = build_tree(pools)
    findings = evaluate_compliance(
        tree, now=NOW, settings=resolve_compliance_settings(only("PUBLIC_SPACE"))
    )
    assert findings[0].message == (
        "custom 'public' (8.0.0.0/8) lies outside private address space (RFC 1918 or RFC 6598)."
    )
    assert findings[0].severity == "warning"
    assert "unique local (fc00::/7)" in findings[1].message


def test_public_space_miss_for_private_shared_ula_and_allowed_space() -> None:
    pools = [
        pool(1, None, "10.0.0.0/8"),
        pool(2, None, "172.16.0.0/12"),
        pool(3, None, "192.168.0.0/16"),
        pool(4, None, "100.64.0.0/10"),
        pool(5, None, "fd12:3456::/32"),
        pool(6, None, "198.51.100.0/24"),
        pool(7, None, "203.0.113.0/24"),
        pool(8, None, "192.88.0.0/16"),
    ]
    allowed = only("PUBLIC_SPACE", {"allowed": ["192.88.0.0/16"]})
    # Documentation space is SPECIAL_PURPOSE's business, not PUBLIC_SPACE's.
    assert evaluate(pools, allowed) == []
    assert evaluate(pools, only("PUBLIC_SPACE")) == [("PUBLIC_SPACE", 8)]


def test_special_purpose_hits_each_category_and_misses_ordinary_space() -> None:
    pools = [
        pool(1, None, "127.0.0.0/16", name="lo"),
        pool(2, None, "169.254.10.0/24"),
        pool(3, None, "239.0.0.0/8"),
        pool(4, None, "2001:db8:1::/48"),
        pool(5, None, "240.0.0.0/8"),
        pool(6, None, "fe80::/64"),
        pool(7, None, "10.0.0.0/8"),
        pool(8, None, "2600::/16"),
    ]
    assert evaluate(pools, only("SPECIAL_PURPOSE")) == [
        ("SPECIAL_PURPOSE", i) for i in (1, 2, 3, 5, 4, 6)
    ]
    tree = build_tree(pools)
    finding = evaluate_compliance(
        tree, now=NOW, settings=resolve_compliance_settings(only("SPECIAL_PURPOSE"))
    )[0]
    assert finding.message == (
        "custom 'lo' (127.0.0.0/16) overlaps special-purpose space: "
        "127.0.0.0/8 (loopback (RFC 1122))."
    )
    assert finding.severity == "error"
    assert evaluate(pools, only("SPECIAL_PURPOSE", {"categories": ["multicast"]})) == [
        ("SPECIAL_PURPOSE", 3)
    ]


def test_special_purpose_is_reported_on_the_topmost_overlapping_pool() -> None:
    pools = [
        pool(1, None, "0.0.0.0/0"),
        pool(2, 1, "127.0.0.0/8"),
        pool(3, 1, "192.0.2.0/24"),
    ]
    found = evaluate(pools, only("SPECIAL_PURPOSE"))
    assert found == [("SPECIAL_PURPOSE", 1)]
    tree = build_tree(pools)
    message = evaluate_compliance(
        tree, now=NOW, settings=resolve_compliance_settings(only("SPECIAL_PURPOSE"))
    )[0].message
    assert message.count("(RFC") == 11


def test_prefix_bounds_hit_and_miss_with_defaults_and_overrides() -> None:
    pools = [
        pool(1, None, "10.0.0.0/8", type="supernet"),
        pool(2, 1, "10.0.0.0/12", type="vpc", name="big"),
        pool(3, 1, "10.16.0.0/16", type="vpc"),
        pool(4, 3, "10.16.0.0/30", type="subnet"),
        pool(5, None, "fd00::/56", type="vpc"),
    ]
    assert evaluate(pools, only("PREFIX_BOUNDS")) == [("PREFIX_BOUNDS", 2), ("PREFIX_BOUNDS", 4)]
    tree = build_tree(pools)
    finding = evaluate_compliance(
        tree, now=NOW, settings=resolve_compliance_settings(only("PREFIX_BOUNDS"))
    )[0]
    assert (
        finding.message == "vpc 'big' (10.0.0.0/12) is a /12; vpc pools of IPv4 must be /16 to /28."
    )
    assert finding.remediation == "Resize the pool to a prefix length between /16 and /28."
    relaxed = only("PREFIX_BOUNDS", {"bounds": {"vpc": {"ipv4": [8, 28]}, "subnet": None}})
    assert evaluate(pools, relaxed) == []
    everything = only("PREFIX_BOUNDS", {"bounds": {"*": {"ipv6": [48, 64]}}})
    assert evaluate(pools, everything) == [("PREFIX_BOUNDS", 2), ("PREFIX_BOUNDS", 4)]


def test_naming_hit_and_miss() -> None:
    pools = [
        pool(1, None, "10.0.0.0/16", type="vpc", name="vpc-prod"),
        pool(2, None, "10.1.0.0/16", type="vpc", name="Prod VPC"),
        pool(3, None, "10.2.0.0/16", type="subnet", name="Anything Goes"),
    ]
    assert evaluate(pools, only("NAMING")) == []
    naming = only("NAMING", {"patterns": {"vpc": "vpc-[a-z]+"}})
    assert evaluate(pools, naming) == [("NAMING", 2)]
    tree = build_tree(pools)
    finding = evaluate_compliance(tree, now=NOW, settings=resolve_compliance_settings(naming))[0]
    assert finding.message == (
        "vpc 'Prod VPC' (10.1.0.0/16) does not match the naming pattern 'vpc-[a-z]+' for vpc pools."
    )
    assert finding.severity == "info"
    # The pattern must match the whole name, and "*" applies to types without their own.
    assert evaluate(pools, only("NAMING", {"patterns": {"*": "[a-z-]+", "vpc": "vpc-.*"}})) == [
        ("NAMING", 2),
        ("NAMING", 3),
    ]
    assert evaluate(pools, only("NAMING", {"patterns": {"*": ".+", "vpc": None}})) == []


def test_required_tags_hit_and_miss() -> None:
    pools = [
        pool(1, None, "10.0.0.0/16", type="vpc", tags={"owner": "net", "env": "prod"}),
        pool(2, None, "10.1.0.0/16", type="vpc", tags={"owner": ""}),
        pool(3, None, "10.2.0.0/16", type="subnet", tags={}),
    ]
    assert evaluate(pools, only("REQUIRED_TAGS")) == []
    required = only("REQUIRED_TAGS", {"keys": ["owner", "env"], "types": ["vpc"]})
    assert evaluate(pools, required) == [("REQUIRED_TAGS", 2)]
    tree = build_tree(pools)
    finding = evaluate_compliance(tree, now=NOW, settings=resolve_compliance_settings(required))[0]
    assert finding.message == "vpc 'pool-2' (10.1.0.0/16) is missing required tags: owner, env."
    assert evaluate(pools, only("REQUIRED_TAGS", {"keys": ["owner"]})) == [
        ("REQUIRED_TAGS", 2),
        ("REQUIRED_TAGS", 3),
    ]


def test_empty_pool_hit_and_miss() -> None:
    pools = [
        pool(1, None, "10.0.0.0/16", type="vpc", name="old"),
        pool(2, None, "10.1.0.0/16", type="vpc", created_at=NOW - timedelta(days=29)),
        pool(3, None, "10.2.0.0/16", type="vpc"),
        pool(4, 3, "10.2.0.0/24", type="subnet"),
        pool(5, None, "10.3.0.0/16", type="vpc", status="reserved"),
        pool(6, None, "10.4.0.0/24", type="subnet"),
        pool(7, None, "10.5.0.0/16", type="vpc", created_at=None),
        pool(8, None, "10.6.0.0/16", type="vpc"),
    ]
    assert evaluate(pools, only("EMPTY_POOL"), in_use={8: 3}) == [("EMPTY_POOL", 1)]
    tree = build_tree(pools)
    finding = evaluate_compliance(
        tree, now=NOW, settings=resolve_compliance_settings(only("EMPTY_POOL"))
    )[0]
    assert finding.message == "vpc 'old' (10.0.0.0/16) has had no children for 400 days."
    assert evaluate(
        pools, only("EMPTY_POOL", {"min_age_days": 10, "types": ["vpc", "subnet"]})
    ) == [
        ("EMPTY_POOL", 1),
        ("EMPTY_POOL", 2),
        ("EMPTY_POOL", 4),
        ("EMPTY_POOL", 6),
        ("EMPTY_POOL", 8),
    ]


def test_over_utilized_hit_and_miss() -> None:
    pools = [
        pool(1, None, "10.0.0.0/24", name="busy"),
        pool(2, 1, "10.0.0.0/25"),
        pool(3, 1, "10.0.0.128/26"),
        pool(4, 1, "10.0.0.192/28"),
        pool(5, None, "10.1.0.0/24", name="half"),
        pool(6, 5, "10.1.0.0/25"),
        pool(7, None, "10.2.0.0/24", type="subnet"),
    ]
    # 208 of 256 = 81.25 %; 128 of 256 = 50 %; the subnet is 90 % in use by discovery.
    assert evaluate(pools, only("OVER_UTILIZED"), in_use={7: 231}) == [
        ("OVER_UTILIZED", 1),
        ("OVER_UTILIZED", 7),
    ]
    tree = build_tree(pools)
    findings = evaluate_compliance(
        tree, now=NOW, settings=resolve_compliance_settings(only("OVER_UTILIZED")), in_use={7: 231}
    )
    assert (
        findings[0].message
        == "custom 'busy' (10.0.0.0/24) is 81.2% allocated, at or above the 80% threshold."
    )
    assert findings[1].message.endswith("is 90.2% in use, at or above the 80% threshold.")
    assert evaluate(pools, only("OVER_UTILIZED", {"threshold": 82})) == []
    assert evaluate(pools, only("OVER_UTILIZED", {"threshold": 50})) == [
        ("OVER_UTILIZED", 1),
        ("OVER_UTILIZED", 5),
    ]
    assert evaluate(pools, only("OVER_UTILIZED", {"threshold": 81.25})) == [("OVER_UTILIZED", 1)]


def test_deprecated_in_use_hit_and_miss() -> None:
    pools = [
        pool(1, None, "10.0.0.0/16", status="deprecated", name="legacy"),
        pool(2, 1, "10.0.0.0/24"),
        pool(3, None, "10.1.0.0/16", status="deprecated"),
        pool(4, None, "10.2.0.0/16", status="deprecated"),
        pool(5, None, "10.3.0.0/16", status="active"),
        pool(6, 5, "10.3.0.0/24"),
    ]
    assert evaluate(pools, only("DEPRECATED_IN_USE"), in_use={3: 12, 4: 0}) == [
        ("DEPRECATED_IN_USE", 1),
        ("DEPRECATED_IN_USE", 3),
    ]
    tree = build_tree(pools)
    findings = evaluate_compliance(
        tree,
        now=NOW,
        settings=resolve_compliance_settings(only("DEPRECATED_IN_USE")),
        in_use={3: 12},
    )
    assert (
        findings[0].message
        == "custom 'legacy' (10.0.0.0/16) is deprecated but still has 1 live child pool."
    )
    assert findings[1].message.endswith("is deprecated but still has 12 addresses in use.")


def test_every_rule_is_tested_and_has_a_default_severity() -> None:
    assert RULE_IDS == (
        "OVERLAP",
        "PUBLIC_SPACE",
        "SPECIAL_PURPOSE",
        "PREFIX_BOUNDS",
        "NAMING",
        "REQUIRED_TAGS",
        "EMPTY_POOL",
        "OVER_UTILIZED",
        "DEPRECATED_IN_USE",
    )
    defaults = resolve_compliance_settings()
    assert {rule_id: defaults[rule_id].severity for rule_id in RULE_IDS} == {
        rule_id: RULES[rule_id].default_severity for rule_id in RULE_IDS
    }
    assert defaults.enabled() == RULE_IDS
    names = {name for name in globals() if name.startswith("test_")}
    for rule_id in RULE_IDS:
        assert f"test_{rule_id.lower()}_hit_and_miss" in names or any(
            name.startswith(f"test_{rule_id.lower()}_hit") for name in names
        ), rule_id


def test_settings_override_enabled_and_severity() -> None:
    pools = [pool(1, None, "8.8.8.0/24")]
    assert evaluate(pools, {"PUBLIC_SPACE": {"enabled": False}}) == []
    tree = build_tree(pools)
    settings_ = resolve_compliance_settings({"PUBLIC_SPACE": {"severity": "error"}})
    (finding,) = evaluate_compliance(tree, now=NOW, settings=settings_)
    assert (finding.rule, finding.severity) == ("PUBLIC_SPACE", "error")


def test_findings_are_ordered_by_severity_rule_and_address() -> None:
    pools = [
        pool(1, None, "10.0.0.0/8", type="supernet"),
        pool(2, 1, "10.0.0.0/12", type="vpc"),
        pool(3, 1, "10.0.0.0/16", type="vpc", status="deprecated"),
        pool(4, 3, "10.0.0.0/24", type="subnet"),
        pool(5, None, "127.0.0.0/16"),
    ]
    found = evaluate(pools)
    assert found == [
        ("OVERLAP", 2),
        ("OVERLAP", 3),
        ("SPECIAL_PURPOSE", 5),
        ("PREFIX_BOUNDS", 2),
        ("DEPRECATED_IN_USE", 3),
        ("EMPTY_POOL", 2),
    ]
    assert evaluate(pools, pool_ids=[4, 5]) == [("SPECIAL_PURPOSE", 5)]


def test_invalid_settings_are_reported_and_ignored() -> None:
    raw = {
        "NAMING": {"params": {"patterns": {"planet": "x"}}},
        "OVER_UTILIZED": {"severity": "fatal", "params": {"threshold": 0}},
        "EMPTY_POOL": {"enabled": "yes", "params": {"min_age_days": -1, "colour": 1}},
        "PREFIX_BOUNDS": {"params": {"bounds": {"vpc": {"ipv4": [28, 16]}}}},
        "REQUIRED_TAGS": {"params": {"keys": "owner", "types": ["galaxy"]}},
        "PUBLIC_SPACE": {"params": {"allowed": ["10.0.0.1/8"]}, "mode": 1},
        "SPECIAL_PURPOSE": {"params": {"categories": ["bogus"]}},
        "OVERLAP": "on",
        "DEPRECATED_IN_USE": {"params": []},
        "MADE_UP": {},
    }
    problems = validate_compliance_settings(raw)
    assert problems == {
        "MADE_UP": ["unknown rule; expected one of " + str(RULE_IDS)],
        "OVERLAP": ["must be an object with enabled, severity and params"],
        "PUBLIC_SPACE": [
            "mode: unknown setting",
            "params.allowed: 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?",
        ],
        "SPECIAL_PURPOSE": [
            "params.categories: unknown categories ['bogus']; expected some of "
            "('loopback', 'link_local', 'multicast', 'documentation', 'reserved')"
        ],
        "PREFIX_BOUNDS": [
            "params.bounds: vpc.ipv4: expected [min, max] with 0 <= min <= max <= 32"
        ],
        "NAMING": ["params.patterns: 'planet' is not a pool type (or '*')"],
        "REQUIRED_TAGS": [
            "params.keys: must be a list of non-empty strings",
            "params.types: unknown pool types ['galaxy']; expected some of "
            "['supernet', 'region', 'environment', 'vpc', 'subnet', 'reserved', 'custom']",
        ],
        "EMPTY_POOL": [
            "enabled: must be true or false",
            "params.min_age_days: must be a whole number of 0 or more",
            "params.colour: unknown parameter",
        ],
        "OVER_UTILIZED": [
            "severity: must be one of ['error', 'warning', 'info']",
            "params.threshold: must be a number between 0 and 100",
        ],
        "DEPRECATED_IN_USE": ["params: must be an object"],
    }
    resolved = resolve_compliance_settings(raw)
    defaults = resolve_compliance_settings()
    assert resolved == defaults
    assert validate_compliance_settings({"NAMING": {"params": {"patterns": {"vpc": "("}}}}) == {
        "NAMING": [
            "params.patterns: vpc: '(' is not a regular expression RE2 accepts (missing ): ()"
        ]
    }
    assert validate_compliance_settings([]) == {
        "compliance": ["must be an object keyed by rule id"]
    }
    assert validate_compliance_settings(None) == {}
    assert (
        validate_compliance_settings(
            {"OVER_UTILIZED": {"enabled": False, "severity": "info", "params": {"threshold": 90}}}
        )
        == {}
    )


def test_analysis_settings_resolve_and_validate() -> None:
    resolved = resolve_analysis_settings(
        {"OVERLAP": {"enabled": False}}, {"runway_warning_days": 30}
    )
    assert resolved.runway_warning_days == 30
    assert resolved.runway_window == 30
    assert "OVERLAP" not in resolved.compliance.enabled()
    assert validate_analysis_settings({"runway_window": 2, "speed": 1}) == {
        "runway_window": ["must be a whole number from 3 to 3650"],
        "speed": ["unknown setting"],
    }
    assert validate_analysis_settings("x") == {"analysis": ["must be an object"]}
    assert resolve_analysis_settings(None, {"runway_window": True}).runway_window == 30


def test_address_spaces_use_integer_prefixes() -> None:
    assert all(isinstance(space, Prefix) for space in PRIVATE_SPACE)
    assert {special.category for special in SPECIAL_PURPOSE} == {
        "loopback",
        "link_local",
        "multicast",
        "documentation",
        "reserved",
    }
    assert is_private(P("10.0.0.0/8"))
    assert not is_private(P("10.0.0.0/7"))
    assert is_private(P("fc00::/7"))
    assert not is_private(P("fe00::/7"))
    assert is_private(P("8.8.8.0/24"), extra=[P("8.8.0.0/16")])


# Runway


def history(start: date, values: list[int]) -> list[Snapshot]:
    """Return one snapshot a day from ``start`` with ``values``."""
    return [Snapshot(start + timedelta(days=offset), value) for offset, value in enumerate(values)]


def test_runway_of_linear_growth() -> None:
    runway = runway_of(history(date(2025, 1, 1), [100, 110, 120, 130]), total=1000)
    assert runway.status == "ok"
    assert runway.growth_per_day == 10.0
    assert runway.days_until_exhaustion == 87
    assert runway.exhaustion_date == date(2025, 4, 1)
    assert runway.latest == Snapshot(date(2025, 1, 4), 130)
    assert (runway.points, runway.span_days) == (4, 3)
    assert [(p.months, p.day, p.used, p.percent) for p in runway.projections] == [
        (3, date(2025, 4, 4), 1000, 100.0),
        (6, date(2025, 7, 3), 1000, 100.0),
        (12, date(2026, 1, 4), 1000, 100.0),
    ]


def test_runway_least_squares_on_noisy_data() -> None:
    # x = 0, 1, 2, 4; y = 10, 14, 15, 22: slope (4*132 - 7*61) / (4*21 - 7*7) = 101/35.
    runway = runway_of(
        [
            Snapshot(date(2025, 1, 1), 10),
            Snapshot(date(2025, 1, 2), 14),
            Snapshot(date(2025, 1, 3), 15),
            Snapshot(date(2025, 1, 5), 22),
        ],
        total=100,
    )
    assert runway.growth_per_day == 101 / 35
    # (100 - 22) / (101/35) = 27.03
    assert runway.days_until_exhaustion == 27
    assert [p.used for p in runway.projections] == [100, 100, 100]


def test_runway_without_growth_or_shrinking() -> None:
    flat = runway_of(history(date(2025, 1, 1), [50, 50, 50]), total=100)
    assert (flat.status, flat.growth_per_day, flat.days_until_exhaustion, flat.exhaustion_date) == (
        "no_growth",
        0.0,
        None,
        None,
    )
    assert [p.used for p in flat.projections] == [50, 50, 50]
    shrinking = runway_of(history(date(2025, 1, 1), [90, 60, 30]), total=100)
    assert shrinking.status == "no_growth"
    assert shrinking.growth_per_day == -30.0
    assert [(p.used, p.percent) for p in shrinking.projections] == [(0, 0.0), (0, 0.0), (0, 0.0)]


def test_runway_needs_three_points_over_two_days() -> None:
    start = date(2025, 1, 1)
    assert runway_of([], total=10).status == "insufficient_history"
    two = runway_of(history(start, [1, 2]), total=10)
    assert (two.status, two.growth_per_day, two.projections, two.points) == (
        "insufficient_history",
        None,
        (),
        2,
    )
    # Three snapshots, but two of them on the same day: the later one wins, two points remain.
    same_day = [Snapshot(start, 1), Snapshot(start, 5), Snapshot(start + timedelta(days=1), 6)]
    assert runway_of(same_day, total=10).points == 2
    assert runway_of(history(start, [1, 2, 3]), total=10).status == "ok"


def test_runway_when_already_exhausted() -> None:
    runway = runway_of(history(date(2025, 1, 1), [90, 95, 100]), total=100)
    assert (runway.status, runway.days_until_exhaustion, runway.exhaustion_date) == (
        "exhausted",
        0,
        date(2025, 1, 3),
    )


def test_runway_window_keeps_the_most_recent_snapshots() -> None:
    # Fast growth long ago, flat since: a window of 5 sees no growth.
    values = [10 * day for day in range(20)] + [200] * 5
    assert runway_of(history(date(2025, 1, 1), values), total=1000, window=5).status == "no_growth"
    assert runway_of(history(date(2025, 1, 1), values), total=1000).status == "ok"
    assert runway_of(history(date(2025, 1, 1), values), total=1000, window=0).status == (
        "insufficient_history"
    )


def test_runway_of_ipv6_counts_is_exact_and_survives_calendar_overflow() -> None:
    total = 2**96
    used = [2**64 * day for day in range(1, 6)]
    runway = runway_of(history(date(2025, 1, 1), used), total=total)
    assert runway.growth_per_day == float(2**64)
    assert runway.days_until_exhaustion == (total - 5 * 2**64) // 2**64
    assert runway.exhaustion_date is None
    assert runway.projections[0].used == 95 * 2**64


# Recommendations


def recommend(pools: list[PoolData], **kwargs: Any) -> list[Recommendation]:
    """Return the ranked recommendations of a whole analysis of ``pools``."""
    return list(analyze_tree(build_tree(pools), now=NOW, **kwargs).recommendations)


def test_capacity_expands_into_a_free_buddy_block() -> None:
    pools = [
        pool(1, None, "10.0.0.0/16", type="region"),
        pool(2, 1, "10.0.0.0/24", type="vpc", name="busy"),
        pool(3, 2, "10.0.0.0/25", type="subnet"),
        pool(4, 2, "10.0.0.128/26", type="subnet"),
        pool(5, 2, "10.0.0.192/27", type="subnet"),
    ]
    recs = recommend(pools)
    capacity = [rec for rec in recs if rec.type == "capacity"]
    assert len(capacity) == 1
    (rec,) = capacity
    assert rec.change == {
        "action": "update",
        "pool": 2,
        "fields": {"cidr": "10.0.0.0/23"},
        "expect": {"cidr": "10.0.0.0/24"},
    }
    assert (rec.severity, rec.pool, rec.title) == (
        "warning",
        2,
        "Expand 'busy' (10.0.0.0/24) to 10.0.0.0/23",
    )
    # 87.5 % used, threshold 80: pressure (87.5 - 80) / 20 = 0.375 -> 35 + 15.
    assert rec.impact == 50
    assert "87.5% of its addresses are used" in rec.rationale
    assert not [r for r in recs if r.type == "allocation"]


def test_capacity_without_room_to_expand_suggests_a_sibling_allocation() -> None:
    pools = [
        pool(1, None, "10.0.0.0/22", type="region"),
        pool(2, 1, "10.0.0.0/24", type="vpc", name="busy"),
        pool(3, 2, "10.0.0.0/25"),
        pool(4, 2, "10.0.0.128/25"),
        pool(5, 1, "10.0.1.0/24", type="vpc"),
        pool(6, 5, "10.0.1.0/28"),
        pool(7, 1, "10.0.3.0/25", type="vpc"),
        pool(8, 7, "10.0.3.0/26"),
    ]
    recs = recommend(pools)
    capacity = next(rec for rec in recs if rec.type == "capacity")
    allocation = next(rec for rec in recs if rec.type == "allocation")
    assert capacity.change == {"action": "review", "pool": 2}
    assert (capacity.severity, capacity.impact) == ("error", 100)
    assert allocation.change == {
        "action": "allocate",
        "parent": 1,
        "cidr": "10.0.2.0/24",
        "prefix_length": 24,
        "name": "busy-expansion",
        "type": "vpc",
        "status": "planned",
    }
    assert allocation.pool == 2
    assert allocation.rationale.endswith(
        "10.0.2.0/24 is taken from an exact-size free block, which keeps larger blocks whole."
    )


def test_capacity_from_a_short_runway() -> None:
    pools = [pool(1, None, "10.0.0.0/16", type="region"), pool(2, 1, "10.0.0.0/24", type="vpc")]
    snapshots = {2: history(NOW.date() - timedelta(days=4), [100, 110, 120, 130, 140])}
    recs = recommend(pools, snapshots=snapshots, in_use={2: 140})
    (rec,) = [rec for rec in recs if rec.type == "capacity"]
    # 116 addresses left at 10 a day: 11 days, 30 or fewer is an error; 1 - 11/90 = 0.88.
    assert rec.severity == "error"
    assert rec.impact == 60 + round(40 * (1 - 11 / 90))
    assert "runs out in 11 days" in rec.rationale
    quiet = {2: history(NOW.date() - timedelta(days=4), [100] * 5)}
    recs = recommend(pools, snapshots=quiet, in_use={2: 100})
    assert [rec for rec in recs if rec.type == "capacity"] == []


def test_reclaim_recommendations() -> None:
    pools = [
        pool(1, None, "10.0.0.0/16", type="region"),
        pool(2, 1, "10.0.0.0/20", type="vpc", name="empty"),
        pool(3, 1, "10.0.16.0/24", type="subnet", status="deprecated", name="old"),
        pool(4, 1, "10.0.17.0/24", type="subnet", name="idle"),
        pool(5, 1, "10.0.18.0/24", type="subnet", name="busy"),
        pool(6, 1, "10.0.19.0/24", type="subnet", status="reserved"),
        pool(7, 1, "10.0.32.0/20", type="vpc", created_at=NOW - timedelta(days=3)),
    ]
    recs = recommend(pools, in_use={4: 0, 5: 9, 6: 0})
    reclaim = [(rec.pool, rec.severity, rec.change) for rec in recs if rec.type == "reclaim"]
    assert reclaim == [
        (3, "warning", {"action": "delete", "pool": 3}),
        (2, "info", {"action": "delete", "pool": 2}),
        (4, "info", {"action": "delete", "pool": 4}),
    ]
    deprecated = next(rec for rec in recs if rec.pool == 3)
    assert deprecated.rationale == (
        "subnet 'old' (10.0.16.0/24) is deprecated, has no children and no discovered use; "
        "deleting it returns 256 addresses to 'pool-1' (10.0.0.0/16)."
    )
    assert deprecated.impact == 35 + round(40 * 256 / 65536)


def test_consolidation_merges_siblings_that_summarize_into_one_block() -> None:
    pools = [
        pool(1, None, "10.0.0.0/16", type="vpc"),
        pool(2, 1, "10.0.0.0/25", type="subnet", status="planned"),
        pool(3, 1, "10.0.0.128/26", type="subnet", status="planned"),
        pool(4, 1, "10.0.0.192/26", type="subnet", status="planned"),
        pool(5, 4, "10.0.0.192/28", type="subnet"),
        pool(6, 1, "10.0.1.0/24", type="subnet", status="active"),
        pool(7, 1, "10.0.2.0/24", type="subnet", status="planned"),
        pool(8, 1, "10.0.4.0/24", type="subnet", status="planned"),
        pool(9, 1, "10.0.5.0/24", type="subnet", status="planned"),
    ]
    recs = recommend(pools, in_use={9: 5})
    merges = [rec for rec in recs if rec.type == "consolidation"]
    assert [rec.change for rec in merges] == [
        {"action": "merge", "pools": [2, 3, 4], "keep": 4, "cidr": "10.0.0.0/24"}
    ]
    (merge,) = merges
    assert (merge.severity, merge.pool, merge.impact) == ("info", 4, 10 + round(40 * 2 / 3))
    assert merge.title == "Merge 3 subnet pools into 10.0.0.0/24"


def test_consolidation_skips_groups_with_two_parents_and_active_pools() -> None:
    pools = [
        pool(1, None, "10.0.0.0/16", type="vpc"),
        pool(2, 1, "10.0.0.0/25", type="subnet", status="reserved"),
        pool(3, 2, "10.0.0.0/26", type="subnet"),
        pool(4, 1, "10.0.0.128/25", type="subnet", status="reserved"),
        pool(5, 4, "10.0.0.128/26", type="subnet"),
        # Active subnets are real networks: two empty neighbours are not merged.
        pool(6, 1, "10.0.1.0/25", type="subnet"),
        pool(7, 1, "10.0.1.128/25", type="subnet"),
    ]
    recs = recommend(pools)
    assert [rec for rec in recs if rec.type == "consolidation"] == []
    pools[5:7] = [replace(candidate, status="planned") for candidate in pools[5:7]]
    merges = [rec.change for rec in recommend(pools) if rec.type == "consolidation"]
    assert merges == [{"action": "merge", "pools": [6, 7], "keep": 6, "cidr": "10.0.1.0/24"}]


def test_compliance_fixes_rename_and_inherit_tags() -> None:
    pools = [
        pool(
            1,
            None,
            "10.0.0.0/16",
            type="vpc",
            name="Prod_VPC",
            tags={"owner": "net", "env": "prod"},
        ),
        pool(2, 1, "10.0.0.0/24", type="subnet", name="web", tags={}),
        pool(3, 1, "10.0.1.0/24", type="subnet", name="db", tags={"cost": "x"}),
        pool(4, None, "10.1.0.0/16", type="vpc", name="Nope!", tags={"owner": "a", "env": "b"}),
    ]
    raw = {
        "NAMING": {"params": {"patterns": {"vpc": "[a-z]+-[a-z]+"}}},
        "REQUIRED_TAGS": {"params": {"keys": ["owner", "env"]}},
        "EMPTY_POOL": {"enabled": False},
    }
    recs = recommend(pools, settings=resolve_analysis_settings(raw))
    fixes = sorted(
        ((rec.pool, rec.change) for rec in recs if rec.type == "compliance"),
        key=lambda item: item[0],
    )
    assert fixes == [
        (
            1,
            {
                "action": "update",
                "pool": 1,
                "fields": {"name": "prod-vpc"},
                "expect": {"name": "Prod_VPC"},
            },
        ),
        (
            2,
            {
                "action": "update",
                "pool": 2,
                "fields": {"tags": {"owner": "net", "env": "prod"}},
                "expect": {"tags": {}},
            },
        ),
        (
            3,
            {
                "action": "update",
                "pool": 3,
                "fields": {"tags": {"cost": "x", "owner": "net", "env": "prod"}},
                "expect": {"tags": {"cost": "x"}},
            },
        ),
    ]


def test_generate_recommendations_for_some_analysed_pools() -> None:
    pools = [
        pool(1, None, "10.0.0.0/22", type="region"),
        pool(2, 1, "10.0.0.0/24", type="vpc", status="deprecated"),
        pool(3, 1, "10.0.1.0/24", type="vpc", status="deprecated"),
    ]
    tree = build_tree(pools)
    whole = analyze_tree(tree, now=NOW)
    assert generate_recommendations(tree, whole.pools, now=NOW) == whole.recommendations
    part = analyze_tree(tree, now=NOW, pool_ids=[3], recommendations=False)
    only_three = generate_recommendations(tree, part.pools, now=NOW)
    assert [(rec.type, rec.pool) for rec in only_three] == [("reclaim", 3)]
    assert generate_recommendations(tree, {}, now=NOW) == ()


def test_recommendations_are_ranked_by_impact_and_fingerprinted_stably() -> None:
    pools = [
        pool(1, None, "10.0.0.0/22", type="region"),
        pool(2, 1, "10.0.0.0/24", type="vpc", name="full"),
        pool(3, 2, "10.0.0.0/24", type="subnet"),
        pool(4, 1, "10.0.1.0/24", type="vpc", status="deprecated"),
        pool(5, 1, "10.0.2.0/24", type="vpc", created_at=LONG_AGO),
    ]
    recs = recommend(pools)
    impacts = [rec.impact for rec in recs]
    assert impacts == sorted(impacts, reverse=True)
    assert [rec.type for rec in recs][:2] == ["capacity", "allocation"]
    fingerprints = [rec.fingerprint for rec in recs]
    assert len(set(fingerprints)) == len(fingerprints)
    assert all(len(fingerprint) == 64 for fingerprint in fingerprints)
    # Regenerating yields the same fingerprints in the same order.
    again = recommend(pools)
    assert [rec.fingerprint for rec in again] == fingerprints
    # Wording and scores are not part of the fingerprint; the change is.
    first = recs[0]
    assert first.fingerprint == fingerprint_of(first.type, dict(first.change))
    assert fingerprint_of("capacity", {"pool": 2, "action": "review"}) == fingerprint_of(
        "capacity", {"action": "review", "pool": 2}
    )
    assert fingerprint_of("capacity", {"action": "review", "pool": 2}) != fingerprint_of(
        "allocation", {"action": "review", "pool": 2}
    )
    json.dumps([dict(rec.change) for rec in recs])


def test_impact_score_formula() -> None:
    assert impact_score("error", 1) == 100
    assert impact_score("error", 0) == 60
    assert impact_score("warning", 0.5) == 55
    assert impact_score("info", 2) == 50
    assert impact_score("info", -1) == 10


def test_suggest_allocations_ranks_parents() -> None:
    pools = [
        pool(1, None, "10.0.0.0/16", type="region"),
        pool(2, 1, "10.0.0.0/20", type="vpc"),
        pool(3, 2, "10.0.0.0/24", type="subnet"),
        pool(4, 1, "10.0.16.0/24", type="vpc"),
        pool(5, 4, "10.0.16.0/25"),
        pool(6, None, "fd00::/48"),
        pool(7, 1, "10.0.32.0/24", type="vpc", status="deprecated"),
    ]
    tree = build_tree(pools)
    suggestions = suggest_allocations(
        tree, prefix_length=25, family=4, name="app", pool_type="subnet"
    )
    assert [(rec.pool, rec.change["cidr"]) for rec in suggestions] == [
        (4, "10.0.16.128/25"),
        (2, "10.0.1.0/25"),
        (1, "10.0.17.0/25"),
    ]
    assert suggestions[0].impact == 50
    assert suggestions[0].change == {
        "action": "allocate",
        "parent": 4,
        "cidr": "10.0.16.128/25",
        "prefix_length": 25,
        "name": "app",
        "type": "subnet",
        "status": "planned",
    }
    assert [
        rec.pool
        for rec in suggest_allocations(tree, prefix_length=25, family=4, parents=[2], limit=1)
    ] == [2]
    assert suggest_allocations(tree, prefix_length=8, family=4) == ()
    assert suggest_allocations(tree, prefix_length=64, family=6)[0].change["cidr"] == "fd00::/64"
    with pytest.raises(CidrError):
        suggest_allocations(tree, prefix_length=33, family=4)


# Whole analyses


def test_analyze_tree_scope_progress_and_summary() -> None:
    pools = [
        pool(1, None, "10.0.0.0/16", type="region"),
        pool(2, 1, "10.0.0.0/24", type="vpc"),
        pool(3, 2, "10.0.0.0/25"),
        pool(4, 2, "10.0.0.128/26"),
        pool(5, 2, "10.0.0.192/27"),
        pool(6, None, "127.0.0.0/24", type="vpc"),
    ]
    tree = build_tree(pools)
    calls: list[tuple[int, int]] = []
    result = analyze_tree(tree, now=NOW, progress=lambda done, total: calls.append((done, total)))
    assert set(result.pools) == {1, 2, 3, 4, 5, 6}
    assert calls[-1] == (6, 6)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert result.summary.pools == 6
    assert result.summary.findings_by_severity == {"error": 1, "warning": 1, "info": 1}
    assert result.summary.findings_by_rule == {
        "SPECIAL_PURPOSE": 1,
        "EMPTY_POOL": 1,
        "OVER_UTILIZED": 1,
    }
    assert result.summary.most_utilized == (2, 1)
    assert result.summary.recommendations_by_type == {"capacity": 1, "reclaim": 1}

    part = analyze_tree(tree, now=NOW, pool_ids=[2, 3], recommendations=False)
    assert list(part.pools) == [2, 3, 4, 5]
    assert part.recommendations == ()
    assert part.pools[2].subtree.used == 224
    assert scope_of(tree, [3, 2]) == [3, 2, 4, 5]
    with pytest.raises(KeyError):
        analyze_tree(tree, now=NOW, pool_ids=[99])
    with pytest.raises(KeyError):
        analyze_pool(tree, 99, now=NOW)


def test_analyze_pool_runway_and_in_use() -> None:
    tree = build_tree([pool(1, None, "10.0.0.0/24", type="subnet")])
    result = analyze_pool(
        tree,
        1,
        now=NOW,
        snapshots=history(date(2025, 5, 1), [10, 20, 30]),
        in_use={1: 30},
        settings=AnalysisSettings(runway_window=30),
    )
    assert result.runway.status == "ok"
    assert result.runway.days_until_exhaustion == 22
    assert result.utilization.in_use == 30
    assert result.subtree.in_use == 30
    assert result.fragmentation.score == 0.0


def test_soonest_exhaustion_in_summary() -> None:
    pools = [
        pool(1, None, "10.0.0.0/24"),
        pool(2, None, "10.0.1.0/24"),
        pool(3, None, "10.0.2.0/24"),
    ]
    tree = build_tree(pools)
    start = NOW.date() - timedelta(days=2)
    snapshots = {
        1: history(start, [0, 10, 20]),
        2: history(start, [0, 50, 100]),
        3: history(start, [5, 5, 5]),
    }
    result = analyze_tree(tree, now=NOW, snapshots=snapshots)
    assert result.summary.soonest_exhaustion == (2, 1)


def test_runway_of_one_snapshot_is_the_general_fit() -> None:
    # A list of at most one snapshot takes a short path; a generator of the same takes the
    # general one: both agree.
    start = date(2025, 1, 1)
    for snapshots in ([], [Snapshot(start, 7)]):
        for window in (0, 1, 30):
            assert runway_of(snapshots, total=10, window=window) == runway_of(
                iter(snapshots), total=10, window=window
            )


@given(
    family=st.sampled_from([4, 6]),
    data=st.data(),
)
@settings(max_examples=300, deadline=None)
def test_is_private_is_containment_in_a_private_block(family: int, data: st.DataObject) -> None:
    bits = 32 if family == 4 else 128
    near = data.draw(st.sampled_from([space for space in PRIVATE_SPACE if space.family == family]))
    length = data.draw(st.integers(0, bits))
    # Addresses around the private blocks' edges as well as anywhere.
    around = st.integers(
        max(near.first - (1 << 20), 0), min(near.last + (1 << 20), (1 << bits) - 1)
    )
    address = data.draw(st.one_of(around, st.integers(0, (1 << bits) - 1)))
    block = Prefix(family, address >> (bits - length) << (bits - length), length)
    assert is_private(block) == any(space.contains(block) for space in PRIVATE_SPACE)


def test_over_utilized_at_a_fractional_threshold() -> None:
    # 206 of 256 is 80.46875 %: over 80.4, under 80.5, and equal counts as over.
    pools = [pool(1, None, "10.0.0.0/24"), pool(2, 1, "10.0.0.0/25"), pool(3, 1, "10.0.0.128/27")]
    in_use = {1: 206}
    assert evaluate(pools, only("OVER_UTILIZED", {"threshold": 80.4}), in_use=in_use) == [
        ("OVER_UTILIZED", 1)
    ]
    assert evaluate(pools, only("OVER_UTILIZED", {"threshold": 80.5}), in_use=in_use) == []
    assert evaluate(pools, only("OVER_UTILIZED", {"threshold": 80.46875}), in_use=in_use) == [
        ("OVER_UTILIZED", 1)
    ]
