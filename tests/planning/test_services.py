"""Plan services: creation, the dry run, apply, discard and rollback."""

from __future__ import annotations

import pytest

from apps.planning.choices import PlanSource, PlanStatus
from apps.planning.models import Plan
from apps.planning.services import plan_create
from apps.tenancy.models import Organization
from cloudpam.exceptions import ValidationError
from tests.actors import TEST_ACTOR

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
