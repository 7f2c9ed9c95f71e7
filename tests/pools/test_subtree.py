"""Acceptance (issue 16): the subtree services work in sets, audited per pool.

A recursive delete, restore and purge of a subtree, a move and the subtree lock are a
fixed number of statements whatever the size of the subtree; each pool still gets its
own event, with the changes django-auditlog's diff of the row gives, and the chain
verifies. Treebeard's bookkeeping stays consistent on random trees and operations.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from auditlog.diff import model_instance_diff
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import _field_changes
from apps.pools import services
from apps.pools.models import Pool
from cloudpam.exceptions import ApplicationError
from tests.actors import TEST_ACTOR
from tests.pools.bulk import bulk_children
from tests.pools.tree_check import tree_problems

pytestmark = pytest.mark.django_db

# Statements of each service on a subtree of any size, on SQLite and PostgreSQL, besides
# the single events' INSERTs (``bulk_create``). The per-pool events go in one statement per
# 5,000 (``EVENTS_INSERT_BATCH``), counted: SQLite's is one ``executemany``, and chains the
# events inline, in the writing transaction; PostgreSQL's inserts them already chained (the
# head taken, what is pending placed first, the head moved by the same statement), and
# leaves the single events to the chainer after commit.
PINNED_QUERIES = {
    "sqlite": {"delete": 14, "restore": 27, "purge": 19, "move": 30},
    "postgresql": {"delete": 13, "restore": 18, "purge": 15, "move": 24},
}
EVENTS_INSERT = 'INSERT INTO "audit_auditevent"'


def _subtree(organization: Any, descendants: int) -> tuple[Pool, Pool, Pool]:
    """Return two overlapping roots and a /12 under the first with ``descendants`` pools."""
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    first = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="a", cidr="10.0.0.0/8"
    )
    second = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="b", cidr="10.0.0.0/8"
    )
    top = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="top", cidr="10.0.0.0/12", parent=first
    )
    children = bulk_children(top, min(descendants, 100), 20)
    rest = descendants - len(children)
    for index, child in enumerate(children):
        share = rest // len(children) + (1 if index < rest % len(children) else 0)
        if share:
            bulk_children(child, share, 30, name=f"g{index}-")
    top.refresh_from_db()
    return first, second, top


def _count(call: Callable[[], Any]) -> int:
    """Return the statements ``call`` runs, the INSERTs of audit events aside."""
    with CaptureQueriesContext(connection) as queries:
        call()
    return sum(1 for query in queries if not query["sql"].startswith(EVENTS_INSERT))


def _operations(organization: Any, descendants: int) -> dict[str, int]:
    """Return the statements of a move, delete, restore and purge of one subtree."""
    with transaction.atomic():
        _first, second, top = _subtree(organization, descendants)
        counts = {
            "move": _count(lambda: services.pool_move(actor=TEST_ACTOR, pool=top, parent=second)),
            "delete": _count(
                lambda: services.pool_delete(actor=TEST_ACTOR, pool=top, recursive=True)
            ),
            "restore": _count(lambda: services.pool_restore(actor=TEST_ACTOR, pool=top)),
        }
        services.pool_delete(actor=TEST_ACTOR, pool=top, recursive=True)
        counts["purge"] = _count(lambda: services.pool_purge(actor=TEST_ACTOR, pool=top))
        transaction.set_rollback(True)
    return counts


def test_statements_do_not_grow_with_the_subtree(organization):
    small = _operations(organization, 10)
    large = _operations(organization, 998)
    assert small == large == PINNED_QUERIES[connection.vendor]


def test_a_recursive_delete_of_10000_pools_is_audited_per_pool(organization, settle_chains):
    _first, _second, top = _subtree(organization, 9_999)
    pools = set(Pool.objects.in_subtree(top.path).values_list("pk", flat=True))
    assert len(pools) == 10_000
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    count = services.pool_delete(actor=TEST_ACTOR, pool=top, recursive=True)
    assert count == 10_000
    settle_chains()
    events = AuditEvent.objects.filter(pk__gt=last)
    assert sorted(events.values_list("object_id", flat=True)) == sorted(pools)
    assert set(events.values_list("action", "actor_system").distinct()) == {("delete", "tests")}
    assert not Pool.objects.live().in_subtree(top.path).exists()
    verification = audit_chain_verify(organization_id=organization.pk)
    assert verification.intact, verification.problem
    assert verification.verified >= 10_000


# Random trees and operations against a model of the rules


def _overlaps(a: str, b: str) -> bool:
    return ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))


class _Model:
    """The pools by name: parent name, CIDR and deletion stamp (None when live)."""

    def __init__(self) -> None:
        self.parent: dict[str, str | None] = {}
        self.cidr: dict[str, str] = {}
        self.stamp: dict[str, int | None] = {}
        self.stamps = 0

    def subtree(self, name: str) -> list[str]:
        found = [name]
        for member in found:
            found.extend(n for n, parent in self.parent.items() if parent == member)
        return found

    def clear(self, name: str, parent: str | None) -> bool:
        return not any(
            self.parent[other] == parent
            and other != name
            and self.stamp[other] is None
            and _overlaps(self.cidr[other], self.cidr[name])
            for other in self.parent
        )

    def delete(self, name: str, recursive: bool) -> set[str] | None:
        if self.stamp[name] is not None:
            return set()
        live = [n for n in self.subtree(name) if self.stamp[n] is None]
        if not recursive and len(live) > 1:
            return None
        self.stamps += 1
        for member in live:
            self.stamp[member] = self.stamps
        return set(live)

    def restore(self, name: str) -> set[str] | None:
        stamp = self.stamp[name]
        if stamp is None:
            return set()
        parent = self.parent[name]
        if parent is not None and self.stamp[parent] is not None:
            return None
        if not self.clear(name, parent):
            return None
        back = {n for n in self.subtree(name) if self.stamp[n] == stamp}
        for member in back:
            self.stamp[member] = None
        return back

    def purge(self, name: str) -> set[str] | None:
        members = self.subtree(name)
        if any(self.stamp[n] is None for n in members):
            return None
        for member in members:
            del self.parent[member], self.cidr[member], self.stamp[member]
        return set(members)

    def move(self, name: str, parent: str) -> set[str] | None:
        if self.stamp[name] is not None or self.stamp[parent] is not None:
            return None
        if parent in self.subtree(name):
            return None
        if self.parent[name] == parent:
            return set()
        inner, outer = (
            ipaddress.ip_network(self.cidr[name]),
            ipaddress.ip_network(self.cidr[parent]),
        )
        if not (inner.subnet_of(outer) and inner.prefixlen > outer.prefixlen):
            return None
        old = self.parent[name]
        self.parent[name] = parent
        if not self.clear(name, parent):
            self.parent[name] = old
            return None
        return {name}


def _state(model: _Model) -> dict[str, tuple[str | None, bool]]:
    return {name: (model.parent[name], model.stamp[name] is None) for name in model.parent}


def _stored(organization: Any) -> tuple[dict[str, tuple[str | None, bool]], set[frozenset[str]]]:
    rows = list(Pool.objects.for_organization(organization).select_related("parent"))
    by_path = {row.path: row.name for row in rows}
    state, groups = {}, {}
    for row in rows:
        parent = by_path.get(row.path[: -Pool.steplen]) if row.depth > 1 else None
        assert parent == (row.parent.name if row.parent else None)
        state[row.name] = (parent, row.deleted_at is None)
        if row.deleted_at is not None:
            groups.setdefault(row.deleted_at, set()).add(row.name)
    return state, {frozenset(group) for group in groups.values()}


def _model_groups(model: _Model) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for name, stamp in model.stamp.items():
        if stamp is not None:
            groups.setdefault(stamp, set()).add(name)
    return {frozenset(group) for group in groups.values()}


trees = st.lists(
    st.tuples(st.integers(0, 30), st.integers(1, 4), st.integers(0, 15)), min_size=1, max_size=14
)
operations = st.lists(
    st.tuples(
        st.sampled_from(["delete", "delete-recursive", "restore", "purge", "move"]),
        st.integers(0, 30),
        st.integers(0, 30),
    ),
    min_size=1,
    max_size=8,
)


def _step(
    model: _Model, organization: Any, kind: str, pool: Pool, name: str, other: str
) -> tuple[Callable[[], Any], set[str] | None]:
    """Return the service call of one step and what the model expects of it."""
    if kind == "move":
        target = Pool.objects.get(organization=organization, name=other)
        return (
            lambda: services.pool_move(actor=TEST_ACTOR, pool=pool, parent=target),
            model.move(name, other),
        )
    if kind == "restore":
        return lambda: services.pool_restore(actor=TEST_ACTOR, pool=pool), model.restore(name)
    if kind == "purge":
        return lambda: services.pool_purge(actor=TEST_ACTOR, pool=pool), model.purge(name)
    recursive = kind == "delete-recursive"
    return (
        lambda: services.pool_delete(actor=TEST_ACTOR, pool=pool, recursive=recursive),
        model.delete(name, recursive=recursive),
    )


EXPECTED_ACTION = {
    "delete": "delete",
    "delete-recursive": "delete",
    "restore": "restore",
    "purge": "purge",
    "move": "move",
}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=trees, steps=operations)
def test_random_subtree_operations_keep_the_tree_and_audit_each_pool(organization, tree, steps):
    with transaction.atomic():
        model = _Model()
        root = services.pool_create(
            actor=TEST_ACTOR, organization=organization, name="p0", cidr="10.0.0.0/16"
        )
        model.parent["p0"], model.cidr["p0"], model.stamp["p0"] = None, "10.0.0.0/16", None
        for index, (parent_index, extra, position) in enumerate(tree, start=1):
            names = sorted(model.parent)
            parent = names[parent_index % len(names)]
            network = ipaddress.ip_network(model.cidr[parent])
            length = min(network.prefixlen + extra, 30)
            subnets = list(network.subnets(new_prefix=length))
            cidr = str(subnets[position % len(subnets)])
            name = f"p{index}"
            try:
                services.pool_create(
                    actor=TEST_ACTOR,
                    organization=organization,
                    name=name,
                    cidr=cidr,
                    parent=Pool.objects.get(organization=organization, name=parent),
                )
            except ApplicationError:
                continue
            model.parent[name], model.cidr[name], model.stamp[name] = parent, cidr, None

        for kind, first, second in steps:
            names = sorted(model.parent)
            if not names:
                break
            name = names[first % len(names)]
            other = names[second % len(names)]
            pool = Pool.objects.get(organization=organization, name=name)
            before = {row.pk: row for row in Pool.objects.in_subtree(pool.path).order_by("pk")}
            last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            call, expected = _step(model, organization, kind, pool, name, other)
            try:
                with transaction.atomic():
                    call()
                refused = False
            except ApplicationError:
                refused = True
            assert refused == (expected is None), (kind, name, other)

            events = list(AuditEvent.objects.filter(pk__gt=last).order_by("pk"))
            assert {(event.action, event.object_repr.split()[-1]) for event in events} == {
                (EXPECTED_ACTION[kind], member) for member in (expected or set())
            }
            assert len(events) == len(expected or ())
            if kind != "move":
                for event in events:
                    old = before[event.object_id]
                    new = Pool.objects.filter(pk=old.pk).first()
                    diff = model_instance_diff(old, new, use_json_for_changes=True) or {}
                    if new is not None:
                        # auto_now sets it after django-auditlog's pre_save diff.
                        diff.pop("updated_at", None)
                    assert event.changes == _field_changes(old, diff), kind
            stored, groups = _stored(organization)
            assert stored == _state(model)
            assert groups == _model_groups(model)
            assert tree_problems(parent=root) == ([], [], [], [], [])
        transaction.set_rollback(True)
