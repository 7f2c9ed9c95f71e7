"""Plan services: creation, the dry run, apply, discard and rollback."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.planning.choices import PlanSource, PlanStatus
from apps.planning.models import Plan
from apps.planning.services import (
    PlanConflict,
    plan_apply,
    plan_create,
    plan_discard,
    plan_rollback,
    plan_validate,
)
from apps.pools.models import Pool
from apps.pools.services import pool_update
from apps.tenancy.models import Organization
from cloudpam.exceptions import Conflict, ValidationError
from tests.actors import TEST_ACTOR
from tests.planning.conftest import create

pytestmark = pytest.mark.django_db


def test_plan_create_stores_a_draft_when_the_pure_checks_pass(organization: Organization) -> None:
    plan = plan_create(
        organization=organization,
        actor=TEST_ACTOR,
        title="  Two VPCs ",
        source=PlanSource.TEMPLATE,
        operations=[{"op": "create", "ref": "a", "name": "a", "cidr": "10.0.0.0/16"}],
        source_detail={"template": "flat"},
    )
    plan.refresh_from_db()
    assert (plan.title, plan.status, plan.operation_count) == ("Two VPCs", PlanStatus.DRAFT, 1)
    assert plan.validation["errors"] == []
    assert plan.validation["dry_run"] is False
    assert plan.source_detail == {"template": "flat"}


def test_plan_create_stores_an_invalid_plan_with_its_errors(organization: Organization) -> None:
    plan = plan_create(
        organization=organization,
        actor=TEST_ACTOR,
        title="bad",
        source=PlanSource.IMPORT,
        operations=[{"op": "create", "ref": "a", "name": "a", "cidr": "10.0.0.1/16"}],
    )
    assert plan.status == PlanStatus.INVALID
    assert [(e["index"], e["ref"], e["code"], e["field"]) for e in plan.errors] == [
        (0, "a", "validation_error", "cidr")
    ]


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"title": " "}, "title", "This field may not be blank."),
        (
            {"source": "magic"},
            "source",
            "'magic' is not a valid source; choose one of template, import, ai, rule.",
        ),
        ({"operations": {"op": "create"}}, "operations", "A JSON list of operations is required."),
    ],
)
def test_plan_create_refuses_bad_input(
    organization: Organization, kwargs: dict, field: str, message: str
) -> None:
    arguments = {"title": "t", "source": "ai", "operations": [], **kwargs}
    with pytest.raises(ValidationError) as caught:
        plan_create(organization=organization, actor=TEST_ACTOR, **arguments)
    assert caught.value.fields == {field: [message]}
    assert not Plan.objects.exists()


# The dry run


def test_a_valid_plan_validates_writes_nothing_and_previews(make_pool, make_plan) -> None:
    root = make_pool("10.0.0.0/16", name="corp", type="supernet")
    make_pool("10.0.0.0/24", parent=root, name="old", type="vpc")
    plan = make_plan(
        [
            create("vpc", "10.0.16.0/20", root.pk, type="vpc"),
            create("web", None, "vpc", prefix_length=24, type="subnet"),
            {"op": "update", "ref": "ren", "pool": root.pk, "fields": {"name": "corporate"}},
        ]
    )
    pools_before = list(Pool.objects.values_list("pk", "cidr", "name", "numchild"))
    events_before = AuditEvent.objects.exclude(object_type="plan").count()
    plan = plan_validate(plan=plan, actor=TEST_ACTOR)
    assert list(Pool.objects.values_list("pk", "cidr", "name", "numchild")) == pools_before
    assert AuditEvent.objects.exclude(object_type="plan").count() == events_before
    assert AuditEvent.objects.filter(object_type="plan", action="plan_validate").count() == 1
    assert plan.status == PlanStatus.VALID
    assert plan.validation["errors"] == []
    preview = plan.preview
    assert preview["counts"] == {"added": 2, "changed": 1, "removed": 0}
    assert [(row["kind"], row["ref"], row["cidr"], row["depth"]) for row in preview["diff"]] == [
        ("changed", "ren", "10.0.0.0/16", 0),
        ("added", "vpc", "10.0.16.0/20", 1),
        ("added", "web", "10.0.16.0/24", 2),
    ]
    assert preview["diff"][0]["fields"] == {"name": ["corp", "corporate"]}
    (corp, vpc) = preview["what_if"]
    assert (corp["pool"], corp["before_percent"], corp["after_percent"]) == (root.pk, 0.39, 6.64)
    assert (corp["free_after"], corp["largest_free_after"]) == ("61184", "10.0.128.0/17")
    assert (vpc["pool"], vpc["ref"], vpc["before_percent"], vpc["after_percent"]) == (
        None,
        "vpc",
        None,
        6.25,
    )
    assert preview["risk"]["level"] == "low"
    assert "+   10.0.16.0/20  vpc  (vpc, active)" in preview["ascii"]
    kinds = [segment["kind"] for segment in preview["pictures"][0]["segments"]]
    assert kinds == ["existing", "free", "added", "free"]


def test_the_dry_run_reports_every_failing_operation_with_the_service_code(
    make_pool, make_plan
) -> None:
    root = make_pool("10.0.0.0/16", name="corp")
    taken = make_pool("10.0.0.0/24", parent=root, name="taken")
    plan = make_plan(
        [
            create("a", "10.0.0.0/25", root.pk),
            create("b", "10.1.0.0/24", root.pk),
            create("c", "10.0.1.0/24", root.pk),
            create("d", "10.0.2.0/33", root.pk),
            create("e", "10.0.2.0/26", "d"),
            {"op": "delete", "ref": "gone", "pool": 999_999},
        ]
    )
    plan = plan_validate(plan=plan, actor=TEST_ACTOR)
    assert plan.status == PlanStatus.INVALID
    assert [(e["index"], e["ref"], e["code"]) for e in plan.errors] == [
        (3, "d", "validation_error"),
        (4, "e", "conflict"),
        (5, "gone", "not_found"),
    ]
    # Pool ids unknown here stop the batch before the stored checks: once fixed, the
    # stored tree's refusals are all reported too.
    plan = make_plan(
        [
            create("a", "10.0.0.0/25", root.pk),
            create("b", "10.1.0.0/24", root.pk),
            create("c", "10.0.1.0/24", root.pk),
            create("x", "10.0.0.0/28", "a"),
        ]
    )
    plan = plan_validate(plan=plan, actor=TEST_ACTOR)
    assert [(e["index"], e["ref"], e["code"]) for e in plan.errors] == [
        (0, "a", "overlap"),
        (1, "b", "outside_parent"),
        (3, "x", "conflict"),
    ]
    assert plan.errors[0]["message"] == (
        f'10.0.0.0/25 overlaps 10.0.0.0/24 "taken" (pool {taken.pk}) in 10.0.0.0/16 "corp" '
        f"(pool {root.pk})."
    )
    assert plan.preview == {}


# Apply


def test_apply_writes_the_plan_with_the_plan_id_on_every_pool_event(
    make_pool, make_plan, settle_chains
) -> None:
    root = make_pool("10.0.0.0/16", name="corp")
    plan = make_plan(
        [create("a", "10.0.1.0/24", root.pk), create("b", None, "a", prefix_length=26)]
    )
    plan = plan_apply(plan=plan, actor=TEST_ACTOR)
    assert plan.status == PlanStatus.APPLIED
    created = list(Pool.objects.filter(pk__in=plan.created_pool_ids).order_by("pk"))
    assert [(pool.cidr, pool.source) for pool in created] == [
        ("10.0.1.0/24", "plan"),
        ("10.0.1.0/26", "plan"),
    ]
    settle_chains()
    events = AuditEvent.objects.filter(object_type="pool", object_id__in=plan.created_pool_ids)
    assert sorted((e.action, e.additional_data["plan"]) for e in events) == [
        ("allocate", plan.pk),
        ("create", plan.pk),
    ]
    assert AuditEvent.objects.filter(object_type="plan", action="plan_apply").count() == 1
    with pytest.raises(Conflict) as caught:
        plan_apply(plan=plan, actor=TEST_ACTOR)
    assert caught.value.message == (
        "This plan is applied; it cannot be applied. A plan applies once."
    )


def test_a_plan_that_stopped_being_valid_is_a_409_and_writes_nothing(
    make_pool, make_plan, settle_chains
) -> None:
    root = make_pool("10.0.0.0/16", name="corp")
    plan = plan_validate(
        plan=make_plan([create("a", "10.0.1.0/24", root.pk), create("b", "10.0.2.0/24", root.pk)]),
        actor=TEST_ACTOR,
    )
    assert plan.status == PlanStatus.VALID
    meanwhile = make_pool("10.0.2.0/23", parent=root, name="meanwhile")
    settle_chains()
    pools = list(Pool.objects.values_list("pk", "cidr", "numchild", "updated_at"))
    events = AuditEvent.objects.count()
    with pytest.raises(PlanConflict) as caught:
        plan_apply(plan=plan, actor=TEST_ACTOR)
    assert (caught.value.status_code, caught.value.code) == (409, "conflict")
    assert caught.value.fields == {
        "b": [
            f'overlap: 10.0.2.0/24 overlaps 10.0.2.0/23 "meanwhile" (pool {meanwhile.pk}) in '
            f'10.0.0.0/16 "corp" (pool {root.pk}).'
        ]
    }
    settle_chains()
    assert list(Pool.objects.values_list("pk", "cidr", "numchild", "updated_at")) == pools
    assert AuditEvent.objects.count() == events
    plan.refresh_from_db()
    assert plan.status == PlanStatus.VALID


def test_discard_ends_an_open_plan(make_plan) -> None:
    plan = plan_discard(plan=make_plan([]), actor=TEST_ACTOR)
    assert plan.status == PlanStatus.DISCARDED
    with pytest.raises(Conflict):
        plan_apply(plan=plan, actor=TEST_ACTOR)


# Rollback


def test_rollback_removes_what_was_created_and_restores_what_changed(make_pool, make_plan) -> None:
    root = make_pool("10.0.0.0/16", name="corp")
    old = make_pool("10.0.0.0/24", parent=root, name="old", type="vpc")
    doomed = make_pool("10.0.8.0/24", parent=root, name="doomed")
    inner = make_pool("10.0.8.0/26", parent=doomed, name="inner")
    plan = make_plan(
        [
            create("vpc", "10.0.16.0/20", root.pk),
            create("web", "10.0.16.0/24", "vpc"),
            {"op": "update", "ref": "grow", "pool": old.pk, "fields": {"cidr": "10.0.0.0/23"}},
            {
                "op": "update",
                "ref": "move",
                "pool": old.pk,
                "fields": {"parent": "vpc", "cidr": "10.0.17.0/24", "name": "moved"},
            },
            {"op": "delete", "ref": "del", "pool": doomed.pk, "recursive": True},
            create("reuse", "10.0.8.0/22", root.pk),
        ]
    )
    plan = plan_apply(plan=plan, actor=TEST_ACTOR)
    old.refresh_from_db()
    assert (old.cidr, old.parent_id) == ("10.0.17.0/24", plan.created_pool_ids[0])
    created = set(plan.created_pool_ids)
    plan = plan_rollback(plan=plan, actor=TEST_ACTOR)
    assert plan.status == PlanStatus.ROLLED_BACK
    assert set(Pool.objects.live().values_list("pk", flat=True)) == {
        root.pk,
        old.pk,
        doomed.pk,
        inner.pk,
    }
    assert not Pool.objects.live().filter(pk__in=created).exists()
    old.refresh_from_db()
    assert (old.cidr, old.parent_id, old.name) == ("10.0.0.0/24", root.pk, "old")


def test_rollback_blocked_by_a_later_change_names_it(make_pool, make_plan) -> None:
    root = make_pool("10.0.0.0/16", name="corp")
    plan = plan_apply(plan=make_plan([create("vpc", "10.0.16.0/20", root.pk)]), actor=TEST_ACTOR)
    vpc = Pool.objects.get(pk=plan.created_pool_ids[0])
    later = make_pool("10.0.16.0/24", parent=vpc, name="later")
    with pytest.raises(Conflict) as caught:
        plan_rollback(plan=plan, actor=TEST_ACTOR)
    assert caught.value.status_code == 409
    assert caught.value.fields == {
        "blockers": [
            f'10.0.16.0/24 "later" (pool {later.pk}) was added under 10.0.16.0/20 "vpc" '
            f"(pool {vpc.pk}) after the plan was applied."
        ]
    }
    plan.refresh_from_db()
    assert plan.status == PlanStatus.APPLIED
    vpc.refresh_from_db()
    vpc.name = "renamed"
    pool_update(pool=vpc, name="renamed", actor=TEST_ACTOR)
    with pytest.raises(Conflict) as caught:
        plan_rollback(plan=plan, actor=TEST_ACTOR)
    assert caught.value.fields["blockers"][0] == (
        f'10.0.16.0/20 "renamed" (pool {vpc.pk}) was changed after the plan was applied.'
    )


# Risk from discovered usage


@pytest.fixture
def cloud_account(organization):
    from apps.cloud.services import account_create

    return account_create(
        organization=organization,
        actor=TEST_ACTOR,
        name="prod",
        provider="aws",
        external_id="123456789012",
        auth_method="access_keys",
    )


def test_a_new_pool_cutting_through_discovered_usage_is_high_risk(
    make_pool, make_plan, cloud_account
) -> None:
    from tests.discovery.factories import resource

    root = make_pool("10.0.0.0/16", name="corp")
    resource(cloud_account, "10.0.16.0/22", resource_id="vpc-9")
    resource(cloud_account, "10.0.40.0/24", resource_id="vpc-inside")
    plan = plan_validate(
        plan=make_plan(
            [create("cut", "10.0.18.0/23", root.pk), create("holds", "10.0.32.0/20", root.pk)]
        ),
        actor=TEST_ACTOR,
    )
    assert plan.status == PlanStatus.VALID
    risk = plan.preview["risk"]
    assert risk["level"] == "high"
    assert [(f["rule"], f["ref"], f["level"]) for f in risk["findings"]] == [
        ("DISCOVERED_OVERLAP", "cut", "high")
    ]
    assert risk["findings"][0]["message"] == (
        "10.0.18.0/23 'cut' overlaps the discovered 10.0.16.0/22 (vpc vpc-9) without containing it."
    )


def test_discovered_usage_is_read_once_whatever_the_number_of_new_pools(
    make_pool, make_plan, cloud_account
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.discovery.factories import resource

    root = make_pool("10.0.0.0/8", name="corp")
    resource(cloud_account, "10.1.0.0/16", resource_id="vpc-outer")
    resource(cloud_account, "10.1.4.0/22", resource_id="subnet-inner")
    resource(cloud_account, "10.2.0.0/16", resource_id="vpc-gone", state="gone")
    resource(cloud_account, "10.3.0.0/24", resource_id="same-block")
    operations = [create(f"s{i}", f"10.1.{4 + i}.0/24", root.pk) for i in range(3)]
    operations += [create("gone", "10.2.1.0/24", root.pk), create("same", "10.3.0.0/24", root.pk)]
    operations += [create(f"free{i}", f"10.9.{i}.0/24", root.pk) for i in range(40)]
    plan = make_plan(operations)
    with CaptureQueriesContext(connection) as queries:
        plan = plan_validate(plan=plan, actor=TEST_ACTOR)
    reads = [q for q in queries if 'FROM "discovery_discoveredresource"' in q["sql"]]
    overlap_reads = [q for q in reads if '"prefix_length" <' in q["sql"]]
    assert len(overlap_reads) == 1  # one read for 45 new pools, not one per pool
    findings = [f for f in plan.preview["risk"]["findings"] if f["rule"] == "DISCOVERED_OVERLAP"]
    # The outermost containing resource is named; a gone one and an equal block are not.
    assert [(f["ref"], f["message"]) for f in findings] == [
        (
            f"s{i}",
            f"10.1.{4 + i}.0/24 's{i}' overlaps the discovered 10.1.0.0/16 (vpc vpc-outer) "
            "without containing it.",
        )
        for i in range(3)
    ]


def test_changing_a_pool_with_children_and_resources_is_flagged(
    make_pool, make_plan, cloud_account
) -> None:
    from tests.discovery.factories import resource

    root = make_pool("10.0.0.0/16", name="corp")
    vpc = make_pool("10.0.0.0/20", parent=root, name="vpc")
    make_pool("10.0.0.0/24", parent=vpc, name="subnet")
    resource(cloud_account, "10.0.0.0/24", resource_id="subnet-1", pool=vpc)
    plan = plan_validate(
        plan=make_plan([{"op": "delete", "ref": "drop", "pool": vpc.pk, "recursive": True}]),
        actor=TEST_ACTOR,
    )
    assert [(f["rule"], f["pool"], f["level"]) for f in plan.preview["risk"]["findings"]] == [
        ("CHANGED_IN_USE", vpc.pk, "high"),
        ("CHANGED_WITH_CHILDREN", vpc.pk, "medium"),
    ]
    assert plan.preview["diff"][0]["detail"] == "with 1 live children"


def test_rollback_is_blocked_by_discovered_use_of_a_created_pool(
    make_pool, make_plan, cloud_account
) -> None:
    from tests.discovery.factories import resource

    root = make_pool("10.0.0.0/16", name="corp")
    plan = plan_apply(plan=make_plan([create("vpc", "10.0.16.0/20", root.pk)]), actor=TEST_ACTOR)
    vpc = Pool.objects.get(pk=plan.created_pool_ids[0])
    resource(cloud_account, "10.0.16.0/24", resource_id="subnet-7", pool=vpc)
    with pytest.raises(Conflict) as caught:
        plan_rollback(plan=plan, actor=TEST_ACTOR)
    assert caught.value.fields == {
        "blockers": [
            f'10.0.16.0/20 "vpc" (pool {vpc.pk}) is used by the discovered 10.0.16.0/24 '
            "(vpc subnet-7)."
        ]
    }
