"""What only PostgreSQL does: the exclusion constraints and row locks under concurrency."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.pools import cidr as engine
from apps.pools import services
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from cloudpam.exceptions import Conflict
from tests.actors import TEST_ACTOR
from tests.pools.tree_check import tree_problems

pytestmark = pytest.mark.postgres


def insert_raw(organization: Organization, parent: Pool | None, cidr: str, **extra: Any) -> None:
    """Insert a pool row by hand, as a careless script would: no service, no checks."""
    prefix = engine.parse_prefix(cidr)
    path = extra.get("path") or (parent.path if parent else "") + "ZZZZ"
    columns = {
        "path": path,
        "depth": (parent.depth + 1) if parent else 1,
        "numchild": 0,
        "organization_id": organization.pk,
        "name": "raw",
        "cidr": str(prefix),
        "family": prefix.family,
        "prefix_length": prefix.length,
        "first_key": engine.address_key(prefix.first),
        "last_key": engine.address_key(prefix.last),
        "parent_id": parent.pk if parent else None,
        "type": "custom",
        "status": "active",
        "description": "",
        "tags": "{}",
        "source": "manual",
        "separate_routing_domain": extra.get("separate_routing_domain", False),
        "created_at": "2030-01-01T00:00:00Z",
        "updated_at": "2030-01-01T00:00:00Z",
        "deleted_at": extra.get("deleted_at"),
    }
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO pools_pool ({names}) VALUES ({marks})", list(columns.values()))  # noqa: S608


@pytest.mark.django_db
def test_raw_sql_cannot_insert_an_overlapping_live_sibling(organization, root, make_pool):
    make_pool("10.0.0.0/16", parent=root)
    with pytest.raises(IntegrityError, match="pools_pool_live_siblings_disjoint"):
        insert_raw(organization, root, "10.0.128.0/17")
    with pytest.raises(IntegrityError, match="pools_pool_live_siblings_disjoint"):
        insert_raw(organization, root, "10.0.0.0/12", path=root.path + "ZZZY")
    # Clear space, a deleted row and a grandchild are fine.
    insert_raw(organization, root, "10.1.0.0/16")
    insert_raw(
        organization,
        root,
        "10.0.0.0/24",
        path=root.path + "ZZZX",
        deleted_at="2030-01-01T00:00:00Z",
    )
    assert Pool.objects.filter(parent=root, cidr="10.1.0.0/16").exists()


@pytest.mark.django_db
def test_raw_sql_cannot_insert_an_overlapping_root_or_update_into_overlap(
    organization, root, make_pool
):
    with pytest.raises(IntegrityError, match="pools_pool_live_roots_disjoint"):
        insert_raw(organization, None, "10.128.0.0/9", path="ZZZZ")
    # A root that is its own routing domain may overlap; so may another organization's.
    insert_raw(organization, None, "10.0.0.0/8", path="ZZZY", separate_routing_domain=True)
    other = Organization.objects.create(name="Other", slug="other")
    insert_raw(other, None, "10.0.0.0/8", path="ZZZX")
    a = make_pool("10.0.0.0/16", parent=root)
    make_pool("10.1.0.0/16", parent=root)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE pools_pool SET cidr = '10.0.0.0/15' WHERE id = %s", [a.pk])
    with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
        # Host bits set: not even a valid cidr value.
        cursor.execute("UPDATE pools_pool SET cidr = '10.0.0.1/16' WHERE id = %s", [a.pk])


def run_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads started together, each on its own connection."""
    barrier = threading.Barrier(count)

    def run(index: int) -> Any:
        try:
            barrier.wait(timeout=30)
            return work(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as executor:
        return list(executor.map(run, range(count)))


@pytest.mark.django_db(transaction=True)
def test_eight_clients_get_64_distinct_blocks_then_no_space(organization):
    root = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="corp", cidr="10.0.0.0/8"
    )
    parent = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="vpc", cidr="10.0.0.0/22", parent=root
    )

    def allocate(index: int) -> tuple[list[str], list[str]]:
        taken, refused = [], []
        while True:
            try:
                child = services.pool_allocate(
                    actor=TEST_ACTOR,
                    parent=parent,
                    prefix_length=28,
                    name=f"client-{index}",
                    type="subnet",
                )
            except Conflict as exc:
                refused.append(exc.code)
                return taken, refused
            taken.append(child.cidr)

    outcomes = run_threads(8, allocate)
    blocks = [cidr for taken, _refused in outcomes for cidr in taken]
    assert len(blocks) == 64
    assert len(set(blocks)) == 64
    prefixes = sorted(engine.parse_prefix(cidr) for cidr in blocks)
    assert all(not a.overlaps(b) for a, b in itertools.pairwise(prefixes))
    assert engine.summarize(prefixes) == [engine.parse_prefix("10.0.0.0/22")]
    assert [refused for _taken, refused in outcomes] == [["no_space"]] * 8
    # Every client got a share: the lock queues them, it does not starve them.
    assert sum(1 for taken, _refused in outcomes if taken) >= 2
    assert Pool.objects.filter(parent=parent).count() == 64
    assert tree_problems() == ([], [], [], [], [])


@pytest.mark.django_db(transaction=True)
def test_allocations_in_different_parents_do_not_wait(organization):
    root = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="corp", cidr="10.0.0.0/8"
    )
    busy = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="busy", cidr="10.0.0.0/16", parent=root
    )
    free = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="free", cidr="10.1.0.0/16", parent=root
    )
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic():
                Pool.objects.select_for_update().get(pk=busy.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def allocate(parent: Pool) -> tuple[str, float]:
        try:
            started = time.monotonic()
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '20s'")
            child = services.pool_allocate(
                actor=TEST_ACTOR, parent=parent, prefix_length=24, name="x"
            )
            return child.cidr, time.monotonic() - started
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(timeout=30)
    with ThreadPoolExecutor(max_workers=2) as executor:
        other_parent = executor.submit(allocate, free)
        cidr, seconds = other_parent.result(timeout=15)
        assert cidr == "10.1.0.0/24"
        same_parent = executor.submit(allocate, busy)
        time.sleep(1.0)
        # Still queued behind the lock on its parent.
        assert not same_parent.done()
        release.set()
        cidr_same, waited = same_parent.result(timeout=30)
    holder.join(timeout=30)
    assert seconds < 1.0
    assert cidr_same == "10.0.0.0/24"
    assert waited >= 1.0


@pytest.mark.django_db(transaction=True)
def test_roots_of_two_organizations_created_at_once_both_succeed(organization, other_organization):
    inserted, release = threading.Event(), threading.Event()

    def first() -> str:
        try:
            with transaction.atomic():
                pool = services.pool_create(
                    actor=TEST_ACTOR, organization=organization, name="a", cidr="10.0.0.0/8"
                )
                inserted.set()
                release.wait(timeout=30)
            return pool.path
        finally:
            connection.close()

    def second() -> str:
        try:
            assert inserted.wait(timeout=30)
            return services.pool_create(
                actor=TEST_ACTOR, organization=other_organization, name="b", cidr="10.0.0.0/8"
            ).path
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as executor:
        a = executor.submit(first)
        b = executor.submit(second)
        time.sleep(0.5)
        # Treebeard numbers roots across organizations: the second waits on the first's
        # path, then takes the next one.
        release.set()
        paths = {a.result(timeout=30), b.result(timeout=30)}
    assert len(paths) == 2
    assert Pool.objects.filter(depth=1).count() == 2


@pytest.mark.django_db
def test_roots_and_allocations_under_row_level_security(organization, other_organization):
    """As an ordinary role, each organization sees only its own rows; root paths stay global."""
    import uuid

    from apps.tenancy.rls import tenant_context

    role = f"cloudpam_pools_probe_{uuid.uuid4().hex[:12]}"
    quoted = connection.ops.quote_name(role)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {quoted} NOLOGIN NOSUPERUSER NOBYPASSRLS")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {quoted}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
        cursor.execute(f"SET LOCAL ROLE {quoted}")
    with tenant_context(organization):
        acme = services.pool_create(
            actor=TEST_ACTOR, organization=organization, name="a", cidr="10.0.0.0/8"
        )
        services.pool_allocate(actor=TEST_ACTOR, parent=acme, prefix_length=16, name="a1")
    with tenant_context(other_organization):
        # Row-level security hides acme's root; its path must not be reused.
        globex = services.pool_create(
            actor=TEST_ACTOR, organization=other_organization, name="g", cidr="10.0.0.0/8"
        )
        child = services.pool_allocate(actor=TEST_ACTOR, parent=globex, prefix_length=16, name="g1")
        assert child.cidr == "10.0.0.0/16"
        assert list(Pool.objects.values_list("name", flat=True).order_by("name")) == ["g", "g1"]
        with pytest.raises(Conflict) as caught:
            services.pool_create(
                actor=TEST_ACTOR, organization=other_organization, name="x", cidr="10.1.0.0/16"
            )
        assert caught.value.code == "overlap"
        moved = services.pool_update(
            actor=TEST_ACTOR, pool=child, parent=None, cidr="172.16.0.0/16"
        )
        assert moved.depth == 1
    assert acme.path != globex.path
    assert len({acme.path, globex.path, moved.path}) == 3


@pytest.mark.django_db(transaction=True)
def test_a_child_added_while_a_recursive_delete_waits_goes_with_the_subtree(organization):
    root = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="corp", cidr="10.0.0.0/8"
    )
    vpc = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="vpc", cidr="10.0.0.0/16", parent=root
    )
    subnet = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="s", cidr="10.0.0.0/24", parent=vpc
    )
    locked, add = threading.Event(), threading.Event()

    def add_a_child_late() -> None:
        try:
            with transaction.atomic():
                Pool.objects.select_for_update().get(pk=subnet.pk)
                locked.set()
                add.wait(timeout=30)
                services.pool_create(
                    actor=TEST_ACTOR,
                    organization=organization,
                    name="late",
                    cidr="10.0.0.0/28",
                    parent=subnet,
                )
        finally:
            connection.close()

    def delete_the_vpc() -> int:
        try:
            return services.pool_delete(actor=TEST_ACTOR, pool=vpc, recursive=True)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as executor:
        adder = executor.submit(add_a_child_late)
        assert locked.wait(timeout=30)
        deleter = executor.submit(delete_the_vpc)
        time.sleep(0.5)  # the delete now waits for the subnet's lock
        add.set()
        adder.result(timeout=30)
        assert deleter.result(timeout=30) == 3
    assert not Pool.objects.live().filter(path__startswith=vpc.path).exists()
    assert Pool.objects.get(name="late").deleted_at == Pool.objects.get(pk=vpc.pk).deleted_at


@pytest.mark.django_db(transaction=True)
def test_a_child_added_while_a_move_waits_moves_with_the_subtree(organization):
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    a = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="a", cidr="10.0.0.0/8"
    )
    b = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="b", cidr="10.0.0.0/8"
    )
    vpc = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="vpc", cidr="10.0.0.0/16", parent=a
    )
    subnet = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="s", cidr="10.0.0.0/24", parent=vpc
    )
    locked, add = threading.Event(), threading.Event()

    def add_a_child_late() -> None:
        try:
            with transaction.atomic():
                Pool.objects.select_for_update().get(pk=subnet.pk)
                locked.set()
                add.wait(timeout=30)
                services.pool_allocate(
                    actor=TEST_ACTOR, parent=subnet, prefix_length=28, name="late"
                )
        finally:
            connection.close()

    def move_the_vpc() -> None:
        try:
            services.pool_move(actor=TEST_ACTOR, pool=vpc, parent=b)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as executor:
        adder = executor.submit(add_a_child_late)
        assert locked.wait(timeout=30)
        mover = executor.submit(move_the_vpc)
        time.sleep(0.5)
        add.set()
        adder.result(timeout=30)
        mover.result(timeout=30)
    late = Pool.objects.get(name="late")
    assert late.path.startswith(Pool.objects.get(pk=vpc.pk).path)
    assert late.path.startswith(b.path)
    assert tree_problems() == ([], [], [], [], [])


# The statements of one allocation with the audit on, pinned (issue 16): its transaction
# (lock the parent counting the child, read the children in one row, insert the pool,
# insert its event), then the after-commit chainer's (lock the head reading the pending
# events, place them, and the recheck once the head is let go): seven. Before issue 16:
# nine with the audit log lines on (the head and the pending events were two statements,
# and the organization's slug was read after the chainer's commit), a chainer that found
# the head held spent one more (an existence check), and reading the children returned
# a row per child.
ALLOCATION_STATEMENTS = [
    "UPDATE pools_pool",
    "SELECT string_agg",
    'INSERT INTO "pools_pool"',
    'INSERT INTO "audit_auditevent"',
    "WITH head AS",
    "WITH placed AS",
    "SELECT 1 FROM audit_auditevent",
]


@pytest.mark.django_db(transaction=True)
def test_an_allocation_takes_a_fixed_number_of_statements_whatever_its_children(organization):
    root = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="corp", cidr="10.0.0.0/8"
    )
    parent = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="vpc", cidr="10.0.0.0/16", parent=root
    )
    for few_or_many in (1, 40):
        while parent.numchild < few_or_many:
            services.pool_allocate(actor=TEST_ACTOR, parent=parent, prefix_length=28, name="x")
            parent.numchild += 1
        with CaptureQueriesContext(connection) as queries:
            services.pool_allocate(actor=TEST_ACTOR, parent=parent, prefix_length=28, name="y")
        statements = [q["sql"] for q in queries if q["sql"] not in ("BEGIN", "COMMIT")]
        assert len(statements) == len(ALLOCATION_STATEMENTS), statements
        for sql, start in zip(statements, ALLOCATION_STATEMENTS, strict=True):
            assert sql.startswith(start), (sql, start)
        # Two transactions: the allocation's, then the chainer's.
        assert [q["sql"] for q in queries].count("COMMIT") == 2
