"""The bulk creates of ``pool_changes_apply`` against the change-by-change path.

Runs of creates under pools are checked in memory and inserted in bulk; every other change
goes through the single services. Hypothesis builds small random trees and random batches
(creates by prefix or by size, many impossible, mixed with updates and deletes) and applies
each batch both ways: the outcome must be the same — the same errors, or the same tree with
the same tree paths and counters and the same audit events.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import audit_chains_settle
from apps.pools import services
from apps.pools.changes import PoolCreate, PoolDelete, PoolUpdate
from apps.pools.models import Pool
from cloudpam.exceptions import ApplicationError
from tests.actors import TEST_ACTOR
from tests.pools.tree_check import tree_problems

pytestmark = pytest.mark.django_db

BASE = int(ipaddress.IPv4Address("10.0.0.0"))
PER_CHANGE = 10**9


@st.composite
def blocks(draw: Any, low: int = 17, high: int = 27) -> str:
    """Return an aligned IPv4 block inside 10.0.0.0/16 (sometimes just outside it)."""
    length = draw(st.integers(low, high))
    slot = draw(st.integers(0, (1 << (length - 16)) - 1))
    first = BASE + slot * (1 << (32 - length))
    if draw(st.integers(0, 19)) == 0:
        first += 1 << 16
    return f"{ipaddress.IPv4Address(first)}/{length}"


# ("tree", i): the i-th stored pool; ("ref", j): the j-th change, if earlier (else stored).
names = st.one_of(
    st.tuples(st.just("tree"), st.integers(0, 5)), st.tuples(st.just("ref"), st.integers(0, 11))
)
raw_changes = st.lists(
    st.one_of(
        st.fixed_dictionaries({"op": st.just("create"), "parent": names, "cidr": blocks()}),
        st.fixed_dictionaries({"op": st.just("create"), "parent": names, "cidr": blocks()}),
        st.fixed_dictionaries(
            {
                "op": st.just("allocate"),
                "within": names,
                "prefix_length": st.integers(18, 28),
                "name": st.sampled_from(["a", "b", ""]),
            }
        ),
        st.fixed_dictionaries(
            {
                "op": st.just("update"),
                "pool": names,
                "fields": st.one_of(
                    st.fixed_dictionaries({"name": st.just("renamed")}),
                    st.fixed_dictionaries({"cidr": blocks(17, 26)}),
                ),
            }
        ),
        st.fixed_dictionaries({"op": st.just("delete"), "pool": names}),
    ),
    min_size=1,
    max_size=12,
)
trees = st.lists(
    st.tuples(st.integers(-1, 4), blocks(17, 24), st.booleans()), min_size=0, max_size=5
)


def _name(value: tuple[str, int], stored: list[Pool], index: int, refs: list[str]) -> Any:
    kind, number = value
    if kind == "ref" and number < index and refs[number]:
        return refs[number]
    return stored[number % len(stored)].pk


def _batch(raw: list[dict[str, Any]], stored: list[Pool]) -> list[Any]:
    changes: list[Any] = []
    refs: list[str] = []  # the refs of creates, "" for other changes
    for index, item in enumerate(raw):
        ref = f"c{index}"
        if item["op"] == "create":
            parent = _name(item["parent"], stored, index, refs)
            changes.append(PoolCreate(ref=ref, name=ref, cidr=item["cidr"], parent=parent))
        elif item["op"] == "allocate":
            within = _name(item["within"], stored, index, refs)
            changes.append(
                PoolCreate(
                    ref=ref,
                    name=item["name"],
                    prefix_length=item["prefix_length"],
                    within=within,
                    tags={"k": "v"},
                )
            )
        elif item["op"] == "update":
            pool = _name(item["pool"], stored, index, [""] * len(refs))
            changes.append(PoolUpdate(ref=ref, pool=pool, fields=item["fields"]))
        else:
            pool = _name(item["pool"], stored, index, [""] * len(refs))
            changes.append(PoolDelete(ref=ref, pool=pool))
        refs.append(ref if item["op"] in ("create", "allocate") else "")
    return changes


class _Undo(Exception):
    pass


def _outcome(organization: Any, changes: list[Any], stored: dict[int, int]) -> Any:
    """Apply ``changes`` and return what happened, pools named by place, not by id.

    ``stored`` numbers the stored pools: ids differ between two runs on PostgreSQL,
    whose sequences do not roll back.
    """

    def unnumbered(text: str) -> str:
        return re.sub(
            r"\(pool (\d+)\)",
            lambda m: (
                f"(stored {stored[int(m.group(1))]})" if int(m.group(1)) in stored else "(pool new)"
            ),
            text,
        )

    before = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    try:
        applied = services.pool_changes_apply(
            organization=organization, actor=TEST_ACTOR, changes=changes, details={"plan": 7}
        )
    except services.ChangesRejected as exc:
        return (
            "rejected",
            exc.status_code,
            exc.code,
            [(e.index, e.ref, e.code, unnumbered(e.message), e.field) for e in exc.errors],
        )
    ref_of: dict[int, Any] = {pk: f"stored {index}" for pk, index in stored.items()}
    ref_of.update({pool.pk: ref for ref, pool in applied.pools.items()})

    def named(pk: int | None) -> Any:
        return ref_of.get(pk, pk)

    rows = Pool.objects.order_by("path").values_list(
        "pk", "cidr", "name", "parent_id", "path", "depth", "numchild", "deleted_at", "tags"
    )
    tree = [
        (named(pk), cidr, name, named(parent), path, depth, numchild, deleted is None, tags)
        for pk, cidr, name, parent, path, depth, numchild, deleted, tags in rows
    ]
    assert all(problems == [] for problems in tree_problems())
    events = [
        (
            event.action,
            named(event.object_id),
            event.object_repr,
            {
                key: value
                for key, value in event.changes.items()
                if key not in ("id", "parent", "created_at", "updated_at", "deleted_at")
            },
            event.additional_data,
            event.actor_system,
        )
        for event in AuditEvent.objects.filter(pk__gt=before).order_by("pk")
    ]
    return ("applied", tree, events)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=trees, raw=raw_changes)
def test_bulk_creates_do_what_the_single_services_do(organization, monkeypatch, tree, raw):
    outcomes = []
    for min_run in (services.BULK_MIN_RUN, PER_CHANGE):
        monkeypatch.setattr(services, "BULK_MIN_RUN", min_run)
        try:
            with transaction.atomic():
                stored = [
                    services.pool_create(
                        organization=organization, actor=TEST_ACTOR, name="root", cidr="10.0.0.0/16"
                    )
                ]
                for parent_index, cidr, deleted in tree:
                    parent = stored[parent_index % len(stored)] if parent_index >= 0 else stored[0]
                    try:
                        with transaction.atomic():
                            pool = services.pool_create(
                                organization=organization,
                                actor=TEST_ACTOR,
                                name=f"pool {cidr}",
                                cidr=cidr,
                                parent=parent,
                            )
                            if deleted:
                                services.pool_delete(pool=pool, actor=TEST_ACTOR)
                            stored.append(pool)
                    except ApplicationError:
                        pass
                changes = _batch(raw, stored)
                numbers = {pool.pk: index for index, pool in enumerate(stored)}
                outcomes.append(_outcome(organization, changes, numbers))
                raise _Undo
        except _Undo:
            pass
    event(outcomes[0][0])
    assert outcomes[0] == outcomes[1]


def _subnets(parent: Pool, count: int) -> list[PoolCreate]:
    return [
        PoolCreate(ref=f"s{i}", name=f"s{i}", prefix_length=28, within=parent.pk)
        if i % 2
        else PoolCreate(
            ref=f"s{i}",
            name=f"s{i}",
            cidr=f"{ipaddress.IPv4Address(BASE + (1 << 20) + i * 16)}/28",
            parent=parent.pk,
        )
        for i in range(count)
    ]


def test_the_statements_of_a_batch_of_creates_do_not_grow_with_it(organization):
    counts = {}
    for size in (200, 2_000):
        try:
            with transaction.atomic():
                corp = services.pool_create(
                    organization=organization, actor=TEST_ACTOR, name="corp", cidr="10.0.0.0/8"
                )
                with CaptureQueriesContext(connection) as queries:
                    applied = services.pool_changes_apply(
                        organization=organization, actor=TEST_ACTOR, changes=_subnets(corp, size)
                    )
                assert len(applied.pools) == size
                assert AuditEvent.objects.filter(action="allocate").count() == size // 2
                inserts = sum(query["sql"].startswith("INSERT") for query in queries)
                counts[size] = (len(queries) - inserts, inserts)
                raise _Undo
        except _Undo:
            pass
    # Other statements: only the inline chaining of SQLite, 500 events a round of six
    # statements, adds any.
    assert counts[2_000][0] <= counts[200][0] + 6 * (2_000 // 500), counts
    # Rows go in as many per INSERT as the database takes (SQLite: 999 parameters).
    assert counts[2_000][1] <= 2 * 2_000 // 40 + 2, counts


def test_a_bulk_batch_keeps_the_tree_and_the_audit_chain_whole(organization):
    corp = services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="corp", cidr="10.0.0.0/8"
    )
    changes: list[Any] = [
        PoolCreate(ref="eu", name="eu", cidr="10.0.0.0/12", parent=corp.pk),
        PoolCreate(ref="us", name="us", cidr="10.16.0.0/12", parent=corp.pk),
        *[
            PoolCreate(ref=f"{region}{i}", name=f"{region}{i}", prefix_length=20, within=region)
            for i in range(40)
            for region in ("eu", "us")
        ],
        PoolUpdate(ref="rename", pool="eu", fields={"name": "europe"}),
        PoolCreate(ref="late", name="late", prefix_length=16, within=corp.pk),
        PoolCreate(ref="later", name="later", prefix_length=24, within="late"),
    ]
    applied = services.pool_changes_apply(
        organization=organization, actor=TEST_ACTOR, changes=changes, details={"plan": 3}
    )
    assert applied.pools["eu0"].cidr == "10.0.0.0/20"
    assert applied.pools["us39"].cidr == "10.18.112.0/20"
    assert applied.pools["late"].cidr == "10.32.0.0/16"
    assert all(problems == [] for problems in tree_problems())
    eu = Pool.objects.get(pk=applied.pools["eu"].pk)
    assert (eu.name, eu.numchild) == ("europe", 40)
    assert Pool.objects.get(pk=corp.pk).numchild == 3
    events = AuditEvent.objects.filter(additional_data__plan=3).order_by("pk")
    assert [e.action for e in events] == ["create"] * 2 + ["allocate"] * 80 + [
        "update",
        "allocate",
        "allocate",
    ]
    assert [e.object_id for e in events[:3]] == [
        applied.pools["eu"].pk,
        applied.pools["us"].pk,
        applied.pools["eu0"].pk,
    ]
    audit_chains_settle()
    assert audit_chain_verify(organization_id=organization.pk).intact


def test_a_bulk_create_under_a_deleted_parent_names_it(organization):
    corp = services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="corp", cidr="10.0.0.0/8"
    )
    gone = services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="gone", cidr="10.1.0.0/16", parent=corp
    )
    services.pool_delete(pool=gone, actor=TEST_ACTOR)
    with pytest.raises(services.ChangesRejected) as caught:
        services.pool_changes_apply(
            organization=organization,
            actor=TEST_ACTOR,
            changes=[
                PoolCreate(ref="a", name="a", cidr="10.1.0.0/24", parent=gone.pk),
                PoolCreate(ref="b", name="b", prefix_length=24, within=gone.pk),
                PoolCreate(ref="c", name="c", prefix_length=4, within=corp.pk),
                PoolCreate(ref="d", name="d", prefix_length=24, within="c"),
            ],
        )
    assert [(e.ref, e.code, e.message) for e in caught.value.errors] == [
        (
            "a",
            "conflict",
            f'Pool 10.1.0.0/16 "gone" (pool {gone.pk}) is deleted; '
            "restore it before adding pools to it.",
        ),
        (
            "b",
            "conflict",
            f'Pool 10.1.0.0/16 "gone" (pool {gone.pk}) is deleted; '
            "restore it before allocating from it.",
        ),
        ("c", "validation_error", "10.0.0.0/8 has room for prefix lengths 9 to 32, not 4."),
        ("d", "conflict", "It depends on 'c', which failed."),
    ]
