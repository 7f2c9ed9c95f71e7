"""The deterministic planner: the common requests as plans, or why they cannot be done.

Pure: ``pytest -p no:django --noconftest tests/planning/ai/test_fallback.py``. That the
plans it makes pass the dry run is tested in ``test_selectors.py`` against a database.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.planning import engine
from apps.planning.ai.context import ContextFacts, PoolFacts
from apps.planning.ai.fallback import UNAVAILABLE, plan_request
from apps.pools import cidr


def pool(pool_id: int, cidr: str, name: str, parent: int | None, **extra) -> PoolFacts:
    values = {
        "type": "custom",
        "status": "active",
        "depth": 1 if parent is None else 2,
        "utilization_percent": 0.0,
        "free_addresses": 0,
        "largest_free": None,
        "children": 0,
    }
    values.update(extra)
    return PoolFacts(id=pool_id, cidr=cidr, name=name, parent_id=parent, **values)


FACTS = ContextFacts(
    organization="Acme",
    pools=[
        pool(1, "10.0.0.0/8", "corp", None, type="supernet"),
        pool(2, "10.20.0.0/16", "staging-vpc", 1, type="vpc"),
        pool(3, "10.20.1.0/24", "staging-1", 2, type="subnet"),
        pool(4, "10.30.0.0/22", "prod", 1, type="vpc"),
        pool(5, "10.30.0.0/23", "prod-app", 4, type="subnet"),
        pool(6, "10.30.2.0/24", "prod-db", 4, type="subnet"),
    ],
)


def names(answer) -> list[str]:
    return [operation["name"] for operation in answer.operations]


def test_allocate_four_24s_for_staging_in_a_cidr() -> None:
    answer = plan_request("Allocate four /24s for staging in 10.20.0.0/16", FACTS)
    assert answer.understood
    assert answer.impossible is None
    # staging-1 exists under that pool: numbering goes on after it.
    assert names(answer) == ["staging-2", "staging-3", "staging-4", "staging-5"]
    assert answer.operations[0] == {
        "op": "create",
        "ref": "b1",
        "name": "staging-2",
        "prefix_length": 24,
        "within": 2,
        "parent": 2,
        "type": "subnet",
        "status": "active",
        "description": "",
        "tags": {"env": "staging"},
    }
    assert engine.validate_operations(answer.operations).ok
    assert "4 /24 blocks" in answer.reply


@pytest.mark.parametrize(
    ("text", "count", "length", "target"),
    [
        ("give me a dozen /28s in prod-db", 12, 28, 6),
        ("allocate 3 /26 in the staging-vpc pool", 3, 26, 2),
        ("I need two subnets with room for 500 hosts in staging-vpc", 2, 23, 2),
        ("carve a /20 out of corp", 1, 20, 1),
        ("create sixteen x /24 in 10.20.0.0/16", 16, 24, 2),
        ("allocate a block with space for 4,000 hosts in 10.0.0.0/8", 1, 20, 1),
    ],
)
def test_counts_sizes_and_targets(text: str, count: int, length: int, target: int) -> None:
    answer = plan_request(text, FACTS)
    assert answer.impossible is None, answer.reply
    assert len(answer.operations) == count
    assert {op["prefix_length"] for op in answer.operations} == {length}
    assert {op["within"] for op in answer.operations} == {target}
    assert len({op["ref"] for op in answer.operations}) == count


def test_named_blocks_take_the_given_name() -> None:
    answer = plan_request("allocate two /24s named web in staging-vpc", FACTS)
    assert names(answer) == ["web-1", "web-2"]


def test_no_fit_names_the_largest_free_block() -> None:
    answer = plan_request("allocate two /24s in prod", FACTS)
    assert answer.operations is None
    assert answer.impossible == (
        "2 /24 blocks do not fit in 'prod' (10.30.0.0/22): it has only 1 free /24 block, and "
        "the largest free block is 10.30.3.0/24."
    )
    assert answer.reply == answer.impossible


def test_a_block_as_large_as_its_pool_does_not_fit() -> None:
    answer = plan_request("allocate a /22 in prod", FACTS)
    assert answer.impossible == (
        "A /22 does not fit in 'prod' (10.30.0.0/22): the largest free block is 10.30.3.0/24."
    )


def test_an_unknown_cidr_is_impossible_and_a_missing_pool_is_asked_for() -> None:
    answer = plan_request("allocate a /24 in 192.168.0.0/16", FACTS)
    assert answer.impossible == "No pool of this organization is 192.168.0.0/16; create it first."
    inside = plan_request("allocate 2 /26s in 10.20.5.0/24", FACTS)
    assert inside.impossible == (
        "No pool of this organization is 10.20.5.0/24; it lies in 'staging-vpc' (10.20.0.0/16)."
    )
    asked = plan_request("allocate four /24s", FACTS)
    assert asked.understood
    assert asked.operations is None
    assert asked.impossible is None
    assert "Which pool" in asked.reply


def test_reserve_a_block() -> None:
    answer = plan_request("reserve a /20 in corp", FACTS)
    assert answer.operations == [
        {
            "op": "create",
            "ref": "b1",
            "name": "growth-reserve-1",
            "prefix_length": 20,
            "within": 1,
            "parent": 1,
            "type": "reserved",
            "status": "reserved",
            "description": "Reserved for growth.",
            "tags": {"purpose": "growth"},
        }
    ]


def test_reserve_room_for_growth_takes_a_quarter_or_the_largest_free_block() -> None:
    quarter = plan_request("reserve room for growth in staging-vpc", FACTS)
    assert quarter.operations[0]["prefix_length"] == 18
    largest = plan_request("please reserve room for growth in prod", FACTS)
    assert largest.operations[0]["prefix_length"] == 24  # a /24 is all prod has left
    full = ContextFacts(
        "Acme",
        [
            pool(1, "10.0.0.0/30", "tiny", None),
            pool(2, "10.0.0.0/31", "a", 1),
            pool(3, "10.0.0.2/31", "b", 1),
        ],
    )
    assert plan_request("reserve room for growth in tiny", full).impossible == (
        "'tiny' (10.0.0.0/30) has no free space left."
    )


def test_a_template_in_a_new_cidr() -> None:
    answer = plan_request(
        "Generate a template with regions us-east,eu-west and environments prod,dev "
        "in 172.16.0.0/12",
        FACTS,
    )
    assert answer.impossible is None
    first = answer.operations[0]
    assert first["cidr"] == "172.16.0.0/12"
    assert first["parent"] is None
    regions = [op["name"] for op in answer.operations if op["type"] == "region"]
    assert regions == ["us-east", "eu-west"]
    vpcs = [op["name"] for op in answer.operations if op["type"] == "vpc"]
    assert len(vpcs) == 4
    assert engine.validate_operations(answer.operations).ok


def test_a_template_in_an_existing_pool_takes_the_smallest_free_block_that_holds_it() -> None:
    answer = plan_request(
        "generate a template with regions us-east and eu-west and environments prod and dev "
        "and tiers web, app, db in corp with 0% headroom",
        FACTS,
    )
    first = answer.operations[0]
    assert first["parent"] == 1
    assert first["cidr"] == "10.0.0.0/19"
    tiers = {op["tags"]["level"] for op in answer.operations}
    assert tiers == {"supernet", "region", "environment", "vpc", "subnet"}
    subnets = [op["name"] for op in answer.operations if op["type"] == "subnet"]
    assert "us-east-prod-web-1" in subnets
    assert len(subnets) == 12


def test_a_template_that_does_not_fit() -> None:
    answer = plan_request(
        "generate a template with regions a,b,c,d,e and environments prod,dev,test in prod",
        FACTS,
    )
    assert answer.operations is None
    assert answer.impossible.startswith("The template does not fit in 'prod' (10.30.0.0/22)")


@pytest.mark.parametrize(
    "text", ["what's the weather?", "", "delete everything", "summarize my findings"]
)
def test_anything_else_says_ai_is_unavailable(text: str) -> None:
    answer = plan_request(text, FACTS)
    assert not answer.understood
    assert answer.operations is None
    assert answer.impossible is None
    assert answer.reply == UNAVAILABLE
    assert "/plans/wizard/" in answer.reply
    assert "recommendations" in answer.reply


# Property: an allocation is planned exactly when the blocks fit, as the dry run places them.


@st.composite
def _layouts(draw: st.DrawFn) -> tuple[ContextFacts, int, int]:
    """Return a /24 with random aligned children, a block length and a count."""
    children: list[cidr.Prefix] = []
    for _ in range(draw(st.integers(0, 8))):
        length = draw(st.integers(25, 30))
        offset = draw(st.integers(0, (1 << (length - 24)) - 1))
        prefix = cidr.Prefix(4, (10 << 24) | (offset << (32 - length)), length)
        if not any(prefix.overlaps(other) for other in children):
            children.append(prefix)
    pools = [pool(1, "10.0.0.0/24", "lab", None)]
    pools += [pool(index + 2, str(c), f"c{index}", 1) for index, c in enumerate(children)]
    return ContextFacts("Acme", pools), draw(st.integers(25, 30)), draw(st.integers(1, 12))


@settings(max_examples=150, deadline=None)
@given(layout=_layouts())
def test_an_allocation_is_planned_exactly_when_first_fit_places_every_block(layout) -> None:
    facts, length, count = layout
    answer = plan_request(f"allocate {count} /{length}s in 10.0.0.0/24", facts)
    parent = cidr.parse_prefix("10.0.0.0/24")
    taken = [cidr.parse_prefix(p.cidr) for p in facts.pools if p.parent_id == 1]
    placed = 0
    for _ in range(count):
        block = cidr.first_fit(parent, taken, length)
        if block is None:
            break
        taken.append(block)
        placed += 1
    if placed == count:
        assert answer.impossible is None
        assert len(answer.operations) == count
        assert engine.validate_operations(answer.operations).ok
    else:
        assert answer.operations is None
        assert re.search(r"do(es)? not fit|no free space left", answer.impossible)
