"""Acceptance: a plan is valid exactly when applying it succeeds (SPEC.md section 7.0).

Hypothesis builds small random trees and random operation lists over them (creates by
prefix or by size, updates of names, prefixes and parents, deletes, references to pools
and to earlier creates, many of them impossible); for each, the dry run's verdict must
equal what apply does, and a refused apply must leave the pool table and the audit trail
exactly as they were.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.audit.models import AuditEvent
from apps.planning.choices import PlanStatus
from apps.planning.services import PlanConflict, plan_apply, plan_create, plan_validate
from apps.pools.models import Pool
from apps.pools.services import pool_create
from cloudpam.exceptions import ApplicationError
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db

BASE = int(ipaddress.IPv4Address("10.0.0.0"))


@st.composite
def blocks(draw: Any, low: int = 17, high: int = 27) -> str:
    """Return an aligned IPv4 block inside 10.0.0.0/16 (sometimes just outside it)."""
    length = draw(st.integers(low, high))
    slot = draw(st.integers(0, (1 << (length - 16)) - 1))
    first = BASE + slot * (1 << (32 - length))
    if draw(st.integers(0, 19)) == 0:
        first += 1 << 16  # outside the root
    return f"{ipaddress.IPv4Address(first)}/{length}"


# A pool is named by ("tree", i) for the i-th stored pool, ("ref", j) for the j-th operation.
pool_names = st.one_of(
    st.tuples(st.just("tree"), st.integers(0, 5)), st.tuples(st.just("ref"), st.integers(0, 7))
)

operations = st.lists(
    st.one_of(
        st.fixed_dictionaries({"op": st.just("create"), "parent": pool_names, "cidr": blocks()}),
        st.fixed_dictionaries(
            {
                "op": st.just("create"),
                "parent": pool_names,
                "prefix_length": st.integers(18, 28),
            }
        ),
        st.fixed_dictionaries(
            {
                "op": st.just("update"),
                "pool": pool_names,
                "fields": st.one_of(
                    st.fixed_dictionaries({"name": st.sampled_from(["renamed", ""])}),
                    st.fixed_dictionaries({"cidr": blocks(17, 26)}),
                    st.fixed_dictionaries({"parent": pool_names}),
                ),
            }
        ),
        st.fixed_dictionaries(
            {"op": st.just("delete"), "pool": pool_names, "recursive": st.booleans()}
        ),
    ),
    min_size=1,
    max_size=8,
)

trees = st.lists(st.tuples(st.integers(-1, 4), blocks(17, 24)), min_size=0, max_size=5)


def _name(value: tuple[str, int], stored: list[Pool], index: int) -> Any:
    kind, number = value
    if kind == "tree":
        return stored[number % len(stored)].pk
    return f"op{number}" if number < index else stored[number % len(stored)].pk


def _operations(raw: list[dict[str, Any]], stored: list[Pool]) -> list[dict[str, Any]]:
    result = []
    for index, item in enumerate(raw):
        operation: dict[str, Any] = {"op": item["op"], "ref": f"op{index}"}
        if item["op"] == "create":
            operation.update(name=f"new {index}", parent=_name(item["parent"], stored, index))
            if "cidr" in item:
                operation["cidr"] = item["cidr"]
            else:
                operation["prefix_length"] = item["prefix_length"]
        else:
            operation["pool"] = _name(item["pool"], stored, index)
            if item["op"] == "update":
                fields = dict(item["fields"])
                if "parent" in fields:
                    fields["parent"] = _name(fields["parent"], stored, index)
                operation["fields"] = fields
            else:
                operation["recursive"] = item["recursive"]
        result.append(operation)
    return result


def _state() -> tuple[list[tuple[Any, ...]], int]:
    pools = list(
        Pool.objects.order_by("pk").values_list(
            "pk", "cidr", "name", "parent_id", "path", "numchild", "deleted_at", "updated_at"
        )
    )
    return pools, AuditEvent.objects.count()


class _Undo(Exception):
    pass


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=trees, raw=operations)
def test_the_dry_run_verdict_is_what_apply_does(organization, tree, raw) -> None:
    try:
        with transaction.atomic():
            stored = [
                pool_create(
                    organization=organization, actor=TEST_ACTOR, name="root", cidr="10.0.0.0/16"
                )
            ]
            for parent_index, cidr in tree:
                parent = stored[parent_index % len(stored)] if parent_index >= 0 else stored[0]
                try:
                    with transaction.atomic():
                        stored.append(
                            pool_create(
                                organization=organization,
                                actor=TEST_ACTOR,
                                name=f"pool {cidr}",
                                cidr=cidr,
                                parent=parent,
                            )
                        )
                except ApplicationError:
                    pass
            plan = plan_create(
                organization=organization,
                actor=TEST_ACTOR,
                title="random",
                source="ai",
                operations=_operations(raw, stored),
            )
            if plan.status == PlanStatus.DRAFT:
                plan = plan_validate(plan=plan, actor=TEST_ACTOR)
            valid = plan.status == PlanStatus.VALID
            before = _state()
            try:
                plan_apply(plan=plan, actor=TEST_ACTOR)
                applied = True
            except PlanConflict:
                applied = False
                assert _state() == before, "a refused apply wrote something"
            event(f"valid={valid}")
            assert valid == applied, (plan.operations, plan.validation)
            raise _Undo
    except _Undo:
        pass
