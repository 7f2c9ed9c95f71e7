"""``manage.py generate_plan``: a generated plan in the database, consistent and audited once."""

from __future__ import annotations

import io
import itertools
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import audit_chains_settle
from apps.pools import cidr as engine
from apps.pools.generation import pool_plan_generate
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from cloudpam.exceptions import Conflict, QuotaExceeded, ValidationError
from tests.actors import TEST_ACTOR
from tests.pools.tree_check import tree_problems

pytestmark = pytest.mark.django_db


def generate(slug: str, pools: int, seed: int = 0) -> str:
    out = io.StringIO()
    call_command(
        "generate_plan", pools=pools, org=slug, seed=seed, stdout=out, stderr=io.StringIO()
    )
    return out.getvalue()


def check_tree(organization: Organization) -> None:
    """Assert treebeard's bookkeeping and the CIDR invariants of the stored plan."""
    assert tree_problems() == ([], [], [], [], [])
    pools = {pool.pk: pool for pool in Pool.objects.for_organization(organization)}
    children = Counter(pool.parent_id for pool in pools.values())
    for pool in pools.values():
        assert pool.numchild == children[pool.pk]
        if pool.parent_id is None:
            assert pool.depth == 1
            continue
        parent = pools[pool.parent_id]
        assert pool.path[: -Pool.steplen] == parent.path
        assert parent.prefix.contains(pool.prefix)
        assert parent.prefix != pool.prefix
        assert pool.cidr == str(pool.prefix)
        assert pool.last_key == engine.address_key(pool.prefix.last)
    siblings: dict[int | None, list[engine.Prefix]] = {}
    for pool in pools.values():
        siblings.setdefault(pool.parent_id, []).append(pool.prefix)
    for blocks in siblings.values():
        blocks.sort(key=lambda block: (block.family, block.first))
        for left, right in itertools.pairwise(blocks):
            assert left.family != right.family or left.last < right.first


def test_the_command_fills_an_empty_organization(organization: Organization) -> None:
    out = generate("acme", 1_200, seed=3)
    assert out.startswith("Generated 1,200 pools in 'acme' (seed 3) in ")
    live = Pool.objects.for_organization(organization).live()
    assert live.count() == 1_200
    assert max(live.values_list("depth", flat=True)) == 6
    assert set(live.values_list("family", flat=True)) == {4, 6}
    assert set(live.values_list("source", flat=True)) == {"imported"}
    # The hubs: one VPC per family with a twentieth of the plan as children.
    hubs = live.filter(numchild=60, depth=4, type="vpc")
    assert sorted(hubs.values_list("family", flat=True)) == [4, 6]
    assert live.filter(parent__in=hubs).count() == 120
    check_tree(organization)


def test_the_plan_is_audited_as_one_import_event(organization: Organization) -> None:
    audit_chains_settle()
    before = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    generate("acme", 300, seed=1)
    audit_chains_settle()
    events = list(AuditEvent.objects.filter(pk__gt=before).order_by("pk"))
    assert [event.action for event in events] == ["import"]
    roots = list(
        Pool.objects.for_organization(organization).filter(depth=1).values_list("pk", flat=True)
    )
    assert events[0].additional_data == {
        "generated_plan": {"pools": 300, "seed": 1, "roots": roots}
    }
    assert events[0].actor_system == "manage.py generate_plan"
    assert audit_chain_verify(organization_id=organization.pk).intact


def test_a_second_plan_is_refused(organization: Organization) -> None:
    generate("acme", 50)
    with pytest.raises(CommandError, match="'acme' already has 50 pools; a plan is generated"):
        generate("acme", 50)
    assert Pool.objects.for_organization(organization).count() == 50


def test_soft_deleted_pools_count_as_pools(organization: Organization) -> None:
    generate("acme", 10)
    Pool.objects.for_organization(organization).update(deleted_at="2026-01-01T00:00:00Z")
    with pytest.raises(Conflict, match="already has 10 pools"):
        pool_plan_generate(organization=organization, total=10, actor=TEST_ACTOR)


def test_plans_of_two_organizations_take_different_root_paths(
    organization: Organization, other_organization: Organization
) -> None:
    generate("acme", 30)
    generate("globex", 30, seed=9)
    check_tree(organization)
    check_tree(other_organization)
    assert sorted(Pool.objects.filter(depth=1).values_list("path", flat=True)) == [
        "0001",
        "0002",
        "0003",
        "0004",
    ]


def test_the_quota_applies(organization: Organization) -> None:
    organization.quotas = {"max_pools": 100}
    organization.save()
    with pytest.raises(QuotaExceeded, match="Quota max_pools"):
        pool_plan_generate(organization=organization, total=101, actor=TEST_ACTOR)
    assert not Pool.objects.exists()


@pytest.mark.parametrize("total", [1, 0, -5, True, "10"])
def test_a_size_below_two_is_a_validation_error(organization: Organization, total: object) -> None:
    with pytest.raises(ValidationError, match="Must be a whole number from 2 to"):
        pool_plan_generate(organization=organization, total=total, actor=TEST_ACTOR)  # type: ignore[arg-type]


def test_an_unknown_organization_is_named(db: None) -> None:
    with pytest.raises(CommandError, match="No organization with the slug 'nowhere'"):
        generate("nowhere", 10)


def test_generated_pools_work_through_the_api(
    organization: Organization, owner_client: object
) -> None:
    generate("acme", 200)
    leaf = Pool.objects.for_organization(organization).filter(depth=6).first()
    response = owner_client.get(f"/api/v1/ip/{leaf.cidr.split('/')[0]}/")  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.json()["pools"][0]["id"] == leaf.pk
    parent = Pool.objects.get(pk=leaf.parent_id)
    response = owner_client.post(  # type: ignore[attr-defined]
        f"/api/v1/pools/{parent.pk}/allocate/",
        {"prefix_length": leaf.prefix_length, "name": "more"},
        format="json",
    )
    assert response.status_code in (201, 409)
    check_tree(organization)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_plan_goes_in_by_copy(organization: Organization) -> None:
    from apps.pools import generation

    generation_chunk = generation.CHUNK
    generation.CHUNK = 700  # several COPY chunks, parents and children across them
    try:
        generate("acme", 3_000, seed=2)
    finally:
        generation.CHUNK = generation_chunk
    assert Pool.objects.for_organization(organization).count() == 3_000
    check_tree(organization)
