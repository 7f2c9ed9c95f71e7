"""The analysis services: snapshots, runs, recommendations and their apply, settings, cache."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.analysis import selectors, services
from apps.analysis.choices import RecommendationStatus, RunStatus
from apps.analysis.models import AnalysisRun, Recommendation, UtilizationSnapshot
from apps.planning.models import Plan
from apps.pools import services as pool_services
from apps.pools.models import Pool
from apps.pools.selectors import pool_free_blocks
from cloudpam.context import actor_from
from cloudpam.exceptions import Conflict, ValidationError
from tests.actors import TEST_ACTOR
from tests.analysis.conftest import add_history, age

pytestmark = pytest.mark.django_db


def pending(organization, kind: str | None = None) -> list[Recommendation]:
    recs = Recommendation.objects.for_organization(organization).filter(
        status=RecommendationStatus.PENDING
    )
    if kind:
        recs = recs.filter(type=kind)
    return list(recs.order_by("-impact", "pk"))


# Snapshots


def test_snapshot_take_records_every_live_pool_once_a_day(organization, plan, make_pool):
    v6 = make_pool("fd00::/8", name="v6", type="supernet")
    make_pool("fd00::/9", parent=v6, name="half")
    gone = make_pool("10.0.9.0/24", parent=plan["region"], name="gone")
    pool_services.pool_delete(actor=TEST_ACTOR, pool=gone)

    assert services.snapshot_take(organization=organization) == 8
    today = timezone.now().date()
    rows = {
        row.pool_id: row
        for row in UtilizationSnapshot.objects.for_organization(organization).filter(day=today)
    }
    assert gone.pk not in rows
    busy = rows[plan["busy"].pk]
    assert (busy.total, busy.used, busy.percent) == ("256", "224", 87.5)
    assert (rows[v6.pk].total, rows[v6.pk].used) == (str(2**120), str(2**119))
    assert rows[v6.pk].used_count == 2**119

    make_pool("10.0.0.224/28", parent=plan["busy"], name="more")
    assert services.snapshot_take(organization=organization) == 9
    assert UtilizationSnapshot.objects.filter(day=today).count() == 9
    assert UtilizationSnapshot.objects.get(pool=plan["busy"], day=today).used == "240"


def test_snapshot_take_of_an_empty_organization(organization):
    assert services.snapshot_take(organization=organization) == 0


# Analysis runs


def test_run_create_validates_the_request(organization, other_organization, plan, make_pool):
    foreign = make_pool("10.0.0.0/8", organization=other_organization)
    cases = [
        ({}, "Pass either a non-empty list of pools or all=true."),
        ({"pools": [], "all_pools": False}, "Pass either a non-empty list of pools or all=true."),
        (
            {"pools": [plan["busy"].pk], "all_pools": True},
            "Pass either a non-empty list of pools or all=true.",
        ),
        ({"pools": [foreign.pk]}, f"No live pool with id {foreign.pk} in this organization."),
        ({"pools": ["1"]}, "pools: Expected a list of pool ids."),
        ({"all_pools": "yes"}, "all: Must be true or false."),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValidationError) as caught:
            services.analysis_run_create(organization=organization, **kwargs)
        assert caught.value.message == message
    assert not AnalysisRun.objects.exists()


def test_run_create_queues_and_execute_completes_with_progress(
    organization, plan, user, django_capture_on_commit_callbacks, monkeypatch
):
    sent: list[dict] = []
    monkeypatch.setattr("apps.analysis.tasks.run_analysis.delay", lambda **kw: sent.append(kw))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.analysis_run_create(
            organization=organization, pools=[plan["busy"].pk, plan["busy"].pk], user=user
        )
        assert sent == []
    for callback in callbacks:
        callback()
    # The task is sent once the transaction commits, with ids only.
    assert sent == [{"run_id": run.pk, "organization_id": organization.pk}]
    assert (run.status, run.progress, run.pools, run.all_pools, run.created_by) == (
        RunStatus.QUEUED,
        0,
        [plan["busy"].pk],
        False,
        user,
    )
    seen: list[tuple[int, str]] = []
    run = services.analysis_run_execute(run=run, on_progress=lambda p, m: seen.append((p, m)))
    assert run.status == RunStatus.COMPLETED
    assert run.progress == 100
    assert run.message == "Analysed 4 pools."
    progress = [value for value, _ in seen]
    assert progress == sorted(progress)
    assert progress[0] == 1
    assert progress[-1] == 100
    assert seen[0][1] == "Loading the address plan."
    assert "Analysed 4 of 4 pools." in [message for _, message in seen]
    assert run.summary["pools"] == 4
    assert run.summary["findings_by_rule"] == {"OVER_UTILIZED": 1}
    assert run.summary["most_utilized"][0] == {
        "id": plan["busy"].pk,
        "name": "busy",
        "cidr": "10.0.0.0/24",
        "type": "vpc",
        "percent": 87.5,
    }
    assert run.started_at <= run.finished_at
    stored = AnalysisRun.objects.get(pk=run.pk)
    assert (stored.status, stored.progress, stored.summary) == (
        RunStatus.COMPLETED,
        100,
        run.summary,
    )
    # Running a finished run again changes nothing.
    assert services.analysis_run_execute(run=stored).finished_at == stored.finished_at


def test_run_of_a_pool_deleted_meanwhile_fails_with_the_reason(organization, plan):
    run = services.analysis_run_create(organization=organization, pools=[plan["idle"].pk])
    pool_services.pool_delete(actor=TEST_ACTOR, pool=plan["idle"])
    run = services.analysis_run_execute(run=run)
    assert run.status == RunStatus.FAILED
    assert run.message == f"No live pool with id {plan['idle'].pk} in this organization."
    assert run.finished_at is not None


def test_run_of_the_whole_plan(organization, plan):
    run = services.analysis_run_create(organization=organization, all_pools=True)
    run = services.analysis_run_execute(run=run)
    assert run.status == RunStatus.COMPLETED
    assert run.summary["pools"] == 6
    assert run.summary["recommendations"] >= 1


# Generating recommendations


def test_generate_stores_ranked_recommendations_once(organization, plan):
    age(plan["idle"], 40)
    result = services.recommendation_generate(organization=organization)
    recs = pending(organization)
    assert (result.created, result.updated, result.removed, result.pending) == (
        len(recs),
        0,
        0,
        len(recs),
    )
    kinds = {rec.type: rec for rec in recs}
    assert kinds["capacity"].change == {
        "action": "update",
        "pool": plan["busy"].pk,
        "fields": {"cidr": "10.0.0.0/23"},
        "expect": {"cidr": "10.0.0.0/24"},
    }
    assert kinds["capacity"].pool == plan["busy"]
    assert kinds["reclaim"].change == {"action": "delete", "pool": plan["idle"].pk}
    assert [rec.impact for rec in recs] == sorted((rec.impact for rec in recs), reverse=True)

    again = services.recommendation_generate(organization=organization)
    assert (again.created, again.updated, again.removed, again.pending) == (
        0,
        len(recs),
        0,
        len(recs),
    )
    assert {rec.pk for rec in pending(organization)} == {rec.pk for rec in recs}


def test_generate_does_not_offer_a_dismissed_recommendation_again(organization, plan):
    services.recommendation_generate(organization=organization)
    capacity = pending(organization, "capacity")[0]
    services.recommendation_dismiss(
        actor=TEST_ACTOR, recommendation=capacity, reason="Planned for Q3"
    )
    result = services.recommendation_generate(organization=organization)
    assert result.created == 0
    assert pending(organization, "capacity") == []
    assert Recommendation.objects.filter(fingerprint=capacity.fingerprint).count() == 1


def test_generate_withdraws_advice_the_plan_no_longer_calls_for(organization, plan, make_pool):
    services.recommendation_generate(organization=organization)
    (capacity,) = pending(organization, "capacity")
    # The busy VPC's subnets are deleted: it is no longer under pressure.
    for subnet in plan["subnets"]:
        pool_services.pool_delete(actor=TEST_ACTOR, pool=subnet)
    result = services.recommendation_generate(organization=organization)
    assert result.removed == 1
    assert not Recommendation.objects.filter(pk=capacity.pk).exists()


def test_partial_generation_leaves_other_advice_alone(organization, plan, make_pool):
    age(plan["idle"], 40)
    services.recommendation_generate(organization=organization)
    reclaim = pending(organization, "reclaim")[0]
    for subnet in plan["subnets"]:
        pool_services.pool_delete(actor=TEST_ACTOR, pool=subnet)
    result = services.recommendation_generate(organization=organization, pools=[plan["idle"].pk])
    assert result.removed == 0
    assert pending(organization, "reclaim") == [reclaim]
    assert len(pending(organization, "capacity")) == 1


def test_generate_rejects_unknown_pools(organization, plan):
    with pytest.raises(ValidationError) as caught:
        services.recommendation_generate(organization=organization, pools=[987654])
    assert caught.value.message == "No live pool with id 987654 in this organization."


# Applying recommendations


@pytest.fixture
def crowded(organization, plan, make_pool):
    """The busy VPC cannot grow in place: 10.0.1.0/24 is taken by a neighbour."""
    make_pool("10.0.1.0/24", parent=plan["region"], name="neighbour", type="vpc")
    services.recommendation_generate(organization=organization)
    return plan


def test_apply_allocation_creates_exactly_the_described_pool(organization, crowded, user):
    (allocation,) = pending(organization, "allocation")
    assert allocation.change == {
        "action": "allocate",
        "parent": crowded["region"].pk,
        "cidr": "10.0.9.0/24",
        "prefix_length": 24,
        "name": "busy-expansion",
        "type": "vpc",
        "status": "planned",
    }
    before = Pool.objects.count()
    applied = services.recommendation_apply(recommendation=allocation, actor=actor_from(user=user))
    assert Pool.objects.count() == before + 1
    created = Pool.objects.get(pk=applied.result["pool"])
    assert (
        created.cidr,
        created.parent_id,
        created.name,
        created.type,
        created.status,
        created.source,
        created.created_by,
    ) == (
        "10.0.9.0/24",
        crowded["region"].pk,
        "busy-expansion",
        "vpc",
        "planned",
        "recommendation",
        user,
    )
    assert applied.status == RecommendationStatus.APPLIED
    assert applied.applied_by == user
    assert applied.applied_at is not None
    assert applied.result == {"pool": created.pk, "cidr": "10.0.9.0/24"}


def test_apply_allocation_whose_block_was_taken_answers_overlap_and_writes_nothing(
    organization, crowded, make_pool
):
    (allocation,) = pending(organization, "allocation")
    make_pool("10.0.9.0/25", parent=crowded["region"], name="squatter")
    before = Pool.objects.count()
    with pytest.raises(Conflict) as caught:
        services.recommendation_apply(actor=TEST_ACTOR, recommendation=allocation)
    assert caught.value.code == "overlap"
    assert caught.value.message == (
        '10.0.9.0/24 is no longer free in 10.0.0.0/16 "region"; '
        "generate recommendations again for another block."
    )
    assert Pool.objects.count() == before
    allocation.refresh_from_db()
    assert allocation.status == RecommendationStatus.PENDING


def test_apply_allocation_without_any_room_left_answers_no_space(organization, crowded, make_pool):
    (allocation,) = pending(organization, "allocation")
    for index, block in enumerate(pool_free_blocks(crowded["region"])):
        make_pool(str(block), parent=crowded["region"], name=f"filler-{index}")
    before = Pool.objects.count()
    with pytest.raises(Conflict) as caught:
        services.recommendation_apply(actor=TEST_ACTOR, recommendation=allocation)
    assert (caught.value.code, caught.value.message) == (
        "no_space",
        "No free /24 in 10.0.0.0/16; it has no free space.",
    )
    assert Pool.objects.count() == before
    allocation.refresh_from_db()
    assert allocation.status == RecommendationStatus.PENDING


def test_apply_expansion_and_refuse_it_when_the_pool_changed(organization, plan, user):
    services.recommendation_generate(organization=organization)
    (capacity,) = pending(organization, "capacity")
    applied = services.recommendation_apply(recommendation=capacity, actor=actor_from(user=user))
    plan["busy"].refresh_from_db()
    assert plan["busy"].cidr == "10.0.0.0/23"
    assert applied.result == {"pool": plan["busy"].pk, "cidr": "10.0.0.0/23"}


def test_apply_update_refuses_to_overwrite_a_change_made_meanwhile(organization, plan):
    services.recommendation_generate(organization=organization)
    (capacity,) = pending(organization, "capacity")
    pool_services.pool_update(actor=TEST_ACTOR, pool=plan["busy"], cidr="10.0.0.0/22")
    with pytest.raises(Conflict) as caught:
        services.recommendation_apply(actor=TEST_ACTOR, recommendation=capacity)
    assert caught.value.message == (
        f"The cidr of pool {plan['busy'].pk} changed since this recommendation was made "
        "('10.0.0.0/24' then, '10.0.0.0/22' now); generate recommendations again."
    )
    capacity.refresh_from_db()
    assert capacity.status == RecommendationStatus.PENDING


def test_apply_expansion_into_space_taken_meanwhile_answers_overlap(organization, plan, make_pool):
    services.recommendation_generate(organization=organization)
    (capacity,) = pending(organization, "capacity")
    make_pool("10.0.1.0/26", parent=plan["region"], name="late")
    with pytest.raises(Conflict) as caught:
        services.recommendation_apply(actor=TEST_ACTOR, recommendation=capacity)
    assert caught.value.code == "overlap"
    plan["busy"].refresh_from_db()
    assert plan["busy"].cidr == "10.0.0.0/24"


def test_apply_reclaim_deletes_the_pool_unless_it_gained_children(organization, plan, make_pool):
    age(plan["idle"], 40)
    services.recommendation_generate(organization=organization)
    (reclaim,) = pending(organization, "reclaim")
    child = make_pool("10.0.8.0/25", parent=plan["idle"], name="new")
    with pytest.raises(Conflict) as caught:
        services.recommendation_apply(actor=TEST_ACTOR, recommendation=reclaim)
    assert caught.value.code == "conflict"
    assert "has 1 live child" in caught.value.message
    pool_services.pool_delete(actor=TEST_ACTOR, pool=child)
    applied = services.recommendation_apply(actor=TEST_ACTOR, recommendation=reclaim)
    plan["idle"].refresh_from_db()
    assert plan["idle"].deleted_at is not None
    assert applied.result == {"pool": plan["idle"].pk, "deleted": True}


def test_apply_reclaim_of_a_pool_deleted_meanwhile_is_a_conflict(organization, plan):
    age(plan["idle"], 40)
    services.recommendation_generate(organization=organization)
    (reclaim,) = pending(organization, "reclaim")
    pool_services.pool_delete(actor=TEST_ACTOR, pool=plan["idle"])
    with pytest.raises(Conflict) as caught:
        services.recommendation_apply(actor=TEST_ACTOR, recommendation=reclaim)
    assert caught.value.message == (
        f"Pool {plan['idle'].pk} no longer exists or is deleted; generate recommendations again."
    )


def test_apply_merge_deletes_the_others_and_widens_the_kept_pool(organization, make_pool):
    vpc = make_pool("10.0.0.0/16", name="vpc", type="vpc")
    low = make_pool("10.0.0.0/25", parent=vpc, name="low", type="subnet", status="planned")
    high = make_pool("10.0.0.128/25", parent=vpc, name="high", type="subnet", status="planned")
    child = make_pool("10.0.0.128/26", parent=high, name="inner", type="subnet")
    services.recommendation_generate(organization=organization)
    (merge,) = pending(organization, "consolidation")
    assert merge.change == {
        "action": "merge",
        "pools": [low.pk, high.pk],
        "keep": high.pk,
        "cidr": "10.0.0.0/24",
    }
    applied = services.recommendation_apply(actor=TEST_ACTOR, recommendation=merge)
    low.refresh_from_db()
    high.refresh_from_db()
    child.refresh_from_db()
    assert low.deleted_at is not None
    assert (high.cidr, high.deleted_at, child.parent_id) == ("10.0.0.0/24", None, high.pk)
    plan = Plan.objects.get(pk=applied.result["plan"])
    assert applied.result == {
        "pool": high.pk,
        "cidr": "10.0.0.0/24",
        "deleted": [low.pk],
        "plan": plan.pk,
    }
    # A change spanning several pools is applied as a plan of source rule.
    assert (plan.source, plan.status, plan.source_detail) == (
        "rule",
        "applied",
        {"recommendation": merge.pk, "action": "merge"},
    )
    assert [operation["op"] for operation in plan.operations] == ["delete", "update"]


def test_apply_a_review_or_twice_is_a_conflict(organization, crowded, user):
    (capacity,) = pending(organization, "capacity")
    assert capacity.change == {"action": "review", "pool": crowded["busy"].pk}
    assert not capacity.is_applicable
    with pytest.raises(Conflict) as caught:
        services.recommendation_apply(actor=TEST_ACTOR, recommendation=capacity)
    assert (caught.value.code, caught.value.message) == (
        "not_applicable",
        "This recommendation has no automatic change; dismiss it once it is handled.",
    )
    (allocation,) = pending(organization, "allocation")
    services.recommendation_apply(recommendation=allocation, actor=actor_from(user=user))
    with pytest.raises(Conflict) as caught:
        services.recommendation_apply(actor=TEST_ACTOR, recommendation=allocation)
    assert caught.value.message == (
        "This recommendation is applied; only a pending one can be applied or dismissed."
    )


def test_dismiss_needs_a_reason_and_a_pending_recommendation(organization, plan, user):
    services.recommendation_generate(organization=organization)
    (capacity,) = pending(organization, "capacity")
    for reason, message in [
        ("", "Say why the recommendation is dismissed."),
        ("   ", "Say why the recommendation is dismissed."),
        (None, "Say why the recommendation is dismissed."),
        ("x" * 1001, "reason: Ensure this field has no more than 1000 characters."),
    ]:
        with pytest.raises(ValidationError) as caught:
            services.recommendation_dismiss(
                actor=TEST_ACTOR, recommendation=capacity, reason=reason
            )
        assert caught.value.message == message
    dismissed = services.recommendation_dismiss(
        recommendation=capacity, reason="  Moving to IPv6  ", actor=actor_from(user=user)
    )
    assert (dismissed.status, dismissed.dismiss_reason, dismissed.dismissed_by) == (
        RecommendationStatus.DISMISSED,
        "Moving to IPv6",
        user,
    )
    with pytest.raises(Conflict):
        services.recommendation_dismiss(actor=TEST_ACTOR, recommendation=capacity, reason="again")


# Compliance settings and the cache


def test_compliance_settings_update_validates_and_invalidates(organization, plan):
    before = selectors.pool_analysis(organization=organization, pool=plan["busy"])
    assert [f["rule"] for f in before["findings"]] == ["OVER_UTILIZED"]
    with pytest.raises(ValidationError) as caught:
        services.compliance_settings_update(
            organization=organization, compliance={"OVER_UTILIZED": {"severity": "fatal"}}
        )
    assert (
        caught.value.message
        == "OVER_UTILIZED: severity: must be one of ['error', 'warning', 'info']"
    )
    assert caught.value.fields == {
        "OVER_UTILIZED": ["severity: must be one of ['error', 'warning', 'info']"]
    }
    services.compliance_settings_update(
        organization=organization, compliance={"OVER_UTILIZED": {"params": {"threshold": 90}}}
    )
    organization.refresh_from_db()
    assert organization.settings["compliance"] == {"OVER_UTILIZED": {"params": {"threshold": 90}}}
    after = selectors.pool_analysis(organization=organization, pool=plan["busy"])
    assert after["findings"] == []


def test_pool_analysis_is_cached_until_a_pool_changes(
    organization, plan, make_pool, django_assert_num_queries
):
    first = selectors.pool_analysis(organization=organization, pool=plan["busy"])
    with django_assert_num_queries(0):
        assert selectors.pool_analysis(organization=organization, pool=plan["busy"]) == first
    make_pool("10.0.0.224/28", parent=plan["busy"], name="more")
    second = selectors.pool_analysis(organization=organization, pool=plan["busy"])
    assert second["utilization"]["used"] == "240"


def test_private_space_setting_switches_public_space_findings(organization, make_pool):
    make_pool("8.8.0.0/16", name="public")
    assert [f["rule"] for f in selectors.finding_list(organization=organization)] == [
        "PUBLIC_SPACE"
    ]
    organization.settings = {**organization.settings, "plans_private_space": False}
    organization.save()
    assert selectors.finding_list(organization=organization) == []


def test_runway_comes_from_the_snapshots(organization, plan):
    add_history(plan["busy"], [200, 204, 208, 212, 216, 220, 224])
    analysis = selectors.pool_analysis(organization=organization, pool=plan["busy"])
    runway = analysis["runway"]
    assert runway["status"] == "ok"
    assert runway["growth_per_day"] == 4.0
    assert runway["days_until_exhaustion"] == 8
    assert runway["exhaustion_date"] == (timezone.now().date() + timedelta(days=8)).isoformat()
    assert runway["latest"] == {"date": timezone.now().date().isoformat(), "used": "224"}
    assert [p["months"] for p in runway["projections"]] == [3, 6, 12]


def test_a_run_that_crashes_is_marked_failed_and_the_error_raised(organization, plan, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("apps.analysis.selectors.organization_analysis", crash)
    # A run of the whole plan goes in parts (apps.analysis.parts).
    monkeypatch.setattr("apps.analysis.services.organization_summary_in_parts", crash)
    run = services.analysis_run_create(organization=organization, all_pools=True)
    with pytest.raises(RuntimeError, match="disk on fire"):
        services.analysis_run_execute(run=run)
    run.refresh_from_db()
    assert (run.status, run.progress, run.message) == (
        RunStatus.FAILED,
        1,
        "The analysis failed unexpectedly; see the worker log.",
    )
