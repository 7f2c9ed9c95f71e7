"""The facts of an organization for the AI context, and the fallback's plans in a dry run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.analysis.engine.data import POOL_STATUSES, POOL_TYPES
from apps.analysis.models import UtilizationSnapshot
from apps.cloud.services import account_create
from apps.planning.ai.context import build_context
from apps.planning.ai.fallback import plan_request
from apps.planning.ai.selectors import context_facts_for
from apps.planning.models import Plan
from apps.planning.services import plan_validate
from apps.pools.choices import PoolStatus, PoolType
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from tests.actors import TEST_ACTOR
from tests.discovery import factories as discovery

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(make_pool: Callable[..., Pool]) -> dict[str, Pool]:
    corp = make_pool("10.0.0.0/8", name="corp", type="supernet")
    staging = make_pool(
        "10.20.0.0/16",
        corp,
        name="staging-vpc",
        type="vpc",
        description="Staging; owner ops@example.com",
        tags={"env": "staging", "api_token": "t0ps3cret"},
    )
    first = make_pool("10.20.1.0/24", staging, name="staging-1", type="subnet")
    full = make_pool("10.30.0.0/30", corp, name="tiny", type="vpc")
    make_pool("10.30.0.0/31", full, name="tiny-a", type="subnet")
    make_pool("10.30.0.2/31", full, name="tiny-b", type="subnet")
    return {"corp": corp, "staging": staging, "first": first, "tiny": full}


def test_facts_carry_the_analysis_of_each_pool(organization: Organization, tree) -> None:
    facts = context_facts_for(organization)
    by_name = {pool.name: pool for pool in facts.pools}
    assert facts.organization == "Acme Networks"
    assert facts.total_pools == 6
    assert [pool.name for pool in facts.pools][:3] == ["corp", "staging-vpc", "staging-1"]
    staging = by_name["staging-vpc"]
    assert (staging.id, staging.cidr, staging.type, staging.parent_id, staging.depth) == (
        tree["staging"].pk,
        "10.20.0.0/16",
        "vpc",
        tree["corp"].pk,
        2,
    )
    assert staging.utilization_percent == pytest.approx(100 * 256 / 65536, abs=0.01)
    assert staging.free_addresses == 65536 - 256
    assert staging.largest_free == "10.20.128.0/17"
    assert staging.children == 1
    assert staging.description == "Staging; owner ops@example.com"  # sanitized when rendered
    tiny = by_name["tiny"]
    assert (tiny.utilization_percent, tiny.free_addresses, tiny.largest_free) == (100.0, 0, None)
    # The full /30 is over the 80 % threshold: a finding, as the compliance list has it.
    rules = {(finding["rule"], finding["pool"]) for finding in facts.findings}
    assert ("OVER_UTILIZED", tree["tiny"].pk) in rules


def test_runway_discovered_usage_and_naming_patterns(organization: Organization, tree) -> None:
    today = timezone.now().date()
    for days_ago, used in ((4, 100), (3, 600), (2, 1100), (1, 1600)):
        UtilizationSnapshot.objects.create(
            organization=organization,
            pool=tree["staging"],
            day=today - timedelta(days=days_ago),
            total=str(65536),
            used=str(used),
        )
    account = account_create(
        actor=TEST_ACTOR,
        organization=organization,
        name="gcp",
        provider="gcp",
        external_id="project",
        auth_method="default_chain",
    )
    discovery.resource(account, "10.20.1.0/25", "subnet-a", pool=tree["first"])
    discovery.resource(account, "192.168.0.0/24", "subnet-b")
    organization.settings = {
        "compliance": {"NAMING": {"params": {"patterns": {"vpc": "[a-z]+-vpc"}}}}
    }
    organization.save()
    facts = context_facts_for(organization)
    staging = next(pool for pool in facts.pools if pool.name == "staging-vpc")
    assert staging.runway_days == (65536 - 1600) // 500
    assert facts.discovered == [
        {"pool": tree["first"].pk, "addresses_in_use": 128, "percent_in_use": 50.0},
        {"pool": None, "resources_in_no_pool": 1},
    ]
    assert "vpc names must match [a-z]+-vpc" in facts.naming_patterns


def test_a_fixed_number_of_queries(
    organization: Organization, tree, make_pool, django_assert_max_num_queries
) -> None:
    for index in range(30):
        make_pool(f"10.20.{index + 10}.0/24", tree["staging"], name=f"extra-{index}")
    with django_assert_max_num_queries(9):
        facts = context_facts_for(organization, focus="in 10.20.0.0/16")
    assert facts.total_pools == 36
    for index in range(30):
        make_pool(f"10.40.{index}.0/24", tree["corp"], name=f"more-{index}")
    with django_assert_max_num_queries(9):
        facts = context_facts_for(organization, focus="in 10.20.0.0/16", budget_tokens=6_000)
    assert facts.total_pools == 66


def test_another_organizations_pools_never_appear(
    organization: Organization, other_organization: Organization, tree
) -> None:
    other = Pool.objects.filter(organization=other_organization)
    assert not other.exists()
    from tests.pools.factories import PoolFactory

    secret = PoolFactory(organization=other_organization, cidr="10.20.0.0/16", name="their-vpc")
    facts = context_facts_for(organization, focus="their-vpc 10.20.0.0/16")
    assert secret.pk not in {pool.id for pool in facts.pools}
    context = build_context(facts, focus="their-vpc", budget_tokens=4_000)
    assert "their-vpc" not in context.text
    assert secret.pk not in context.pool_ids


def test_the_context_of_real_facts_is_sanitized(organization: Organization, tree) -> None:
    context = build_context(
        context_facts_for(organization), focus="staging-vpc", budget_tokens=4_000
    )
    assert "ops@example.com" not in context.text
    assert "t0ps3cret" not in context.text
    assert "api_token" not in context.text
    assert tree["staging"].pk in context.pool_ids
    assert "[focus]" in context.text


def test_the_focus_subtree_is_loaded_beyond_the_depth_limit(
    organization: Organization, make_pool
) -> None:
    parent = None
    chain = []
    for depth in range(8):
        parent = make_pool(f"10.{depth}.0.0/{16 + depth}" if depth == 0 else _sub(parent), parent)
        chain.append(parent)
    deep = chain[-1]
    unfocused = context_facts_for(organization)
    assert deep.pk not in {pool.id for pool in unfocused.pools}
    focused = context_facts_for(organization, focus=f"split {deep.cidr}")
    assert deep.pk in {pool.id for pool in focused.pools}


def _sub(pool: Pool) -> str:
    network, length = pool.cidr.split("/")
    return f"{network}/{int(length) + 1}"


def test_allocate_four_24s_for_staging_is_a_valid_plan(
    organization: Organization, make_pool
) -> None:
    """Acceptance: with no provider, the deterministic planner's plan passes the dry run."""
    corp = make_pool("10.0.0.0/8", name="corp", type="supernet")
    make_pool("10.20.0.0/16", corp, name="staging", type="vpc")
    text = "allocate four /24s for staging in 10.20.0.0/16"
    answer = plan_request(text, context_facts_for(organization, focus=text))
    from apps.planning.services import plan_create

    plan = plan_create(
        organization=organization,
        actor=TEST_ACTOR,
        title="AI: staging",
        source="ai",
        operations=answer.operations,
    )
    plan = plan_validate(plan=plan, actor=TEST_ACTOR)
    assert plan.status == "valid", plan.validation
    cidrs = [row["cidr"] for row in plan.preview["diff"] if row["kind"] == "added"]
    assert cidrs == ["10.20.0.0/24", "10.20.1.0/24", "10.20.2.0/24", "10.20.3.0/24"]
    assert Plan.objects.filter(pk=plan.pk, source="ai").exists()


@pytest.mark.parametrize(
    "text",
    [
        "reserve room for growth in corp",
        "three subnets with room for 500 hosts in 10.20.0.0/16",
        "generate a template with regions us-east,eu-west and environments prod,dev in corp",
    ],
)
def test_other_fallback_plans_pass_the_dry_run(
    organization: Organization, make_pool, text: str
) -> None:
    corp = make_pool("10.0.0.0/8", name="corp", type="supernet")
    make_pool("10.20.0.0/16", corp, name="staging", type="vpc")
    make_pool("10.0.0.0/16", corp, name="used", type="vpc")
    answer = plan_request(text, context_facts_for(organization, focus=text))
    assert answer.operations, answer.reply
    from apps.planning.services import plan_create

    plan = plan_create(
        organization=organization,
        actor=TEST_ACTOR,
        title=text,
        source="ai",
        operations=answer.operations,
    )
    assert plan_validate(plan=plan, actor=TEST_ACTOR).status == "valid"


def test_the_prompt_choices_are_the_pool_choices() -> None:
    assert set(POOL_TYPES) == set(PoolType.values)
    assert set(POOL_STATUSES) == set(PoolStatus.values)


def test_the_children_limit_leaves_out_pools_but_never_the_focus_or_the_roots(
    organization: Organization, make_pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.planning.ai import selectors

    monkeypatch.setattr(selectors, "CHILDREN_LIMIT", 5)
    monkeypatch.setattr(selectors, "MAX_DEPTH", 2)
    root = make_pool("10.0.0.0/8", name="corp")
    vpcs = [make_pool(f"10.{i}.0.0/16", root, name=f"vpc-{i}") for i in range(4)]
    for vpc in vpcs:
        for k in range(3):
            make_pool(f"{vpc.cidr.split('/')[0][:-3]}{k}.0/24", vpc, name=f"{vpc.name}-s{k}")
    other_root = make_pool("172.16.0.0/12", name="lab")
    facts = context_facts_for(organization)
    loaded = {pool.name for pool in facts.pools}
    # Roots always; vpc-0's 3 children (its largest free block needs their places) fit
    # in 5, vpc-1's would not, so vpc-1 to vpc-3 are left out.
    assert loaded == {"corp", "lab", "vpc-0"}
    corp = next(pool for pool in facts.pools if pool.name == "corp")
    assert corp.children == 4  # its figures still count every child
    assert corp.utilization_percent == pytest.approx(4 * 100 / 256, abs=0.01)
    vpc0 = next(pool for pool in facts.pools if pool.name == "vpc-0")
    assert (vpc0.children, vpc0.largest_free) == (3, "10.0.128.0/17")
    # A named pool comes with its ancestors and children whatever the limit.
    focused = context_facts_for(organization, focus="split vpc-3 please")
    names = {pool.name for pool in focused.pools}
    assert {"corp", "vpc-3", "lab", "vpc-3-s0", "vpc-3-s2"} <= names
    vpc3 = next(pool for pool in focused.pools if pool.name == "vpc-3")
    assert vpc3.children == 3
    assert other_root.pk in {pool.id for pool in focused.pools}


def test_the_budget_bounds_the_pools_loaded(organization: Organization, make_pool) -> None:
    root = make_pool("10.0.0.0/8", name="corp")
    for i in range(40):
        make_pool(f"10.{i}.0.0/16", root, name=f"vpc-{i}")
    everything = context_facts_for(organization)
    small = context_facts_for(organization, budget_tokens=500)
    assert len(everything.pools) == 41
    # 2,000 characters hold about 20 lines of at least 90 characters: the rest would not
    # be shown, so they are not loaded.
    assert 10 < len(small.pools) < 41
    assert small.total_pools == 41
    shown = build_context(small, focus=None, budget_tokens=500).pool_ids
    assert shown == build_context(everything, focus=None, budget_tokens=500).pool_ids


@pytest.mark.parametrize(("budget_tokens", "max_depth"), [(None, 4), (700, 4), (None, 2)])
def test_the_figures_and_findings_are_the_engines_over_the_whole_tree(
    organization: Organization,
    make_pool,
    monkeypatch: pytest.MonkeyPatch,
    budget_tokens: int | None,
    max_depth: int,
) -> None:
    """Pools computed from grouped counts, from their children's places or from the tree
    agree with the analysis engine run over every pool of the organization.
    """
    from apps.analysis import engine
    from apps.analysis.selectors import analysis_settings, analysis_tree, finding_data
    from apps.planning.ai import selectors

    monkeypatch.setattr(selectors, "MAX_DEPTH", max_depth)

    old = timezone.now() - timedelta(days=400)
    root = make_pool("10.0.0.0/8", name="corp", type="supernet")
    full = make_pool("10.1.0.0/16", root, name="full", type="vpc")
    for k in range(4):
        make_pool(f"10.1.{k * 64}.0/18", full, name=f"full-{k}", type="subnet")
    part = make_pool("10.2.0.0/16", root, name="part", type="vpc")
    make_pool("10.2.0.0/24", part, name="part-a", type="subnet")
    make_pool("10.2.64.0/18", part, name="part-b", type="subnet")
    old_one = make_pool("10.3.0.0/16", root, name="old", type="vpc", status=PoolStatus.DEPRECATED)
    make_pool("10.3.0.0/24", old_one, name="old-a", type="subnet")
    empty = make_pool("10.4.0.0/16", root, name="empty", type="vpc")
    Pool.objects.filter(pk=empty.pk).update(created_at=old)
    for k in range(30):
        make_pool(f"10.2.{128 + k}.0/24", part, name=f"part-n{k}", type="subnet")
    facts = context_facts_for(organization, budget_tokens=budget_tokens)
    whole = analysis_tree(organization=organization)
    loaded = {pool.id: pool for pool in facts.pools}
    assert {root.pk, full.pk, part.pk, old_one.pk, empty.pk} <= set(loaded)
    for pool_id, pool in loaded.items():
        usage, gaps, _fragmentation = engine.pool_core(whole, pool_id, {})
        largest = gaps.largest_free_block
        assert (
            pool.utilization_percent,
            pool.free_addresses,
            pool.largest_free,
            pool.children,
        ) == (
            usage.percent,
            gaps.total_free,
            str(largest) if largest else None,
            len(whole.children_of(pool_id)),
        ), pool.name
    settings = analysis_settings(organization=organization)
    expected = engine.evaluate_compliance(
        whole, now=timezone.now(), settings=settings.compliance, pool_ids=list(loaded)
    )
    assert facts.findings == [
        {key: value for key, value in finding_data(finding).items() if key != "related"}
        for finding in expected
    ]
    rules = {(finding["rule"], finding["pool"]) for finding in facts.findings}
    assert ("DEPRECATED_IN_USE", old_one.pk) in rules
    assert ("EMPTY_POOL", empty.pk) in rules
    assert not {("EMPTY_POOL", full.pk), ("EMPTY_POOL", part.pk)} & rules
    if max_depth == 2:  # The full and the partly used pool without their children.
        assert {pool.parent_id for pool in facts.pools} == {None, root.pk}
