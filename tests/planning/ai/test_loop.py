"""The assistant's conversation loop against the fake model server (SPEC.md section 7.3).

The production path end to end: the provider SDKs over HTTP to the loopback fake, the
structured output, the dry run, the repair rounds, the ledger, the fallback chain and
the deterministic planner.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from apps.planning.ai_models import AIMessage, AISession
from apps.planning.choices import AIMessageStatus, PlanStatus
from apps.planning.llm_models import LLMUsageRecord
from apps.planning.models import Plan
from apps.planning.services import PlanConflict, plan_apply, plan_dry_run, plan_validate
from apps.pools.models import Pool
from cloudpam.exceptions import QuotaExceeded
from tests.actors import TEST_ACTOR
from tests.fakes.llm import Script
from tests.planning.ai.conftest import creates, provider_on

pytestmark = pytest.mark.django_db

REPLY = "Two /24s for staging, at the start of 10.20.0.0/16."


def proposal(parent: int, *cidrs: str, reply: str = REPLY) -> dict:
    return {"reply": reply, "operations": creates(parent, *cidrs)}


def answer_of(events):
    """Return the deltas' text, the events by name and the final message of a stream."""
    names = [event.name for event in events]
    text = "".join(event.data["text"] for event in events if event.name == "delta")
    by_name = {event.name: event.data for event in events}
    message = AIMessage.objects.get(pk=by_name["done"]["message_id"])
    return text, names, by_name, message


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_valid_proposal_becomes_a_valid_ai_plan(fake, organization, staging, chat, kind, stream):
    provider_on(fake, organization, kind)
    usage = (
        {
            "prompt_tokens": 1000,
            "completion_tokens": 200,
            "total_tokens": 1200,
            "prompt_tokens_details": {"cached_tokens": 400},
        }
        if kind == "openai"
        else {"input_tokens": 600, "cache_read_input_tokens": 400, "output_tokens": 200}
    )
    fake.script(Script(json=proposal(staging.pk, "10.20.0.0/24", "10.20.1.0/24"), usage=usage))
    result = chat("allocate two /24s for staging", stream=stream)
    if stream:
        text, names, by_name, message = answer_of(result)
        assert text == REPLY
        assert names[-3:] == ["plan", "usage", "done"]
        # Word by word from OpenAI; the fake sends Anthropic's tool input in four pieces.
        assert names.count("delta") > (1 if kind == "openai" else 0)
        assert by_name["plan"] == {
            "plan_id": message.plan_id,
            "status": "valid",
            "version": 1,
            "operation_count": 2,
            "risk_level": message.plan.risk_level,
            "error_count": 0,
        }
        assert by_name["usage"]["input_tokens"] == 1000
    else:
        message = result
    assert message.status == AIMessageStatus.OK
    assert message.content == REPLY
    assert (message.provider, message.model) == (kind, "model-x")
    assert message.repair_rounds == 0
    assert message.valid_first is True
    plan = message.plan
    assert plan.source == "ai"
    assert plan.status == PlanStatus.VALID
    assert [op["cidr"] for op in plan.operations] == ["10.20.0.0/24", "10.20.1.0/24"]
    assert plan.applied_at is None
    # Both providers' usage shapes normalise to 1000 input (400 cached) and 200 output:
    # 600 * 2.5 + 400 * 1.25 + 200 * 10 per million = 0.004 exactly.
    assert (message.input_tokens, message.cached_input_tokens, message.output_tokens) == (
        1000,
        400,
        200,
    )
    assert message.cost == Decimal("0.004000")
    record = LLMUsageRecord.objects.get(message=message)
    assert record.cost == Decimal("0.004000")
    assert record.purpose == "chat"
    session = AISession.objects.get(pk=message.session_id)
    assert (session.input_tokens, session.output_tokens, session.cost) == (
        1000,
        200,
        Decimal("0.004000"),
    )
    assert session.message_count == 2
    assert session.title == "allocate two /24s for staging"
    body = fake.requests[-1].payload
    assert bool(body.get("stream")) is stream
    if kind == "openai":
        assert body["response_format"]["type"] == "json_schema"
    else:
        assert body["tools"][0]["input_schema"]
        assert body["tool_choice"]["type"] == "tool"


def test_an_overlapping_plan_is_repaired_in_one_round(fake, organization, staging, chat):
    provider_on(fake, organization)
    fake.script(
        Script(json=proposal(staging.pk, "10.20.0.0/24", "10.20.0.0/24")),
        Script(json=proposal(staging.pk, "10.20.0.0/24", "10.20.1.0/24", reply="Fixed.")),
    )
    message = chat("allocate two /24s for staging")
    assert len(fake.requests) == 2
    feedback = fake.requests[1].payload["messages"][-1]["content"]
    assert "overlap" in feedback.lower()
    # The model sees its own earlier answer before the validator's errors.
    assert fake.requests[1].payload["messages"][-2]["role"] == "assistant"
    assert message.repair_rounds == 1
    assert message.valid_first is False
    assert message.plan.status == PlanStatus.VALID
    assert message.content == "Fixed."
    assert Plan.objects.filter(organization=organization).count() == 1
    purposes = sorted(
        LLMUsageRecord.objects.filter(message=message).values_list("purpose", flat=True)
    )
    assert purposes == ["chat", "repair"]
    assert message.input_tokens == 24
    assert message.output_tokens == 10


def test_a_model_that_never_repairs_ends_with_an_invalid_plan_never_applied(
    fake, organization, staging, chat
):
    provider_on(fake, organization)
    fake.default = Script(json=proposal(staging.pk, "10.20.0.0/24", "10.20.0.0/24"))
    message = chat("allocate two /24s for staging")
    assert len(fake.requests) == 3  # the answer and two repair rounds
    assert message.repair_rounds == 2
    plan = message.plan
    assert plan.status == PlanStatus.INVALID
    assert plan.applied_at is None
    assert plan.errors
    assert plan.errors[0]["code"] == "overlap"
    assert message.error["code"] == "invalid_plan"
    assert "The proposed plan has 1 error(s):" in message.content
    assert "overlap" in message.content
    assert not staging.get_children().exists()


def _counted_dry_runs(monkeypatch) -> tuple[list[int | None], object]:
    """Count the dry runs (by the pk of the plan run: None for the loop's unsaved one)."""
    from apps.planning import ai_services, services

    real = services.plan_dry_run
    calls: list[int | None] = []

    def counted(**kwargs):
        calls.append(kwargs["plan"].pk)
        return real(**kwargs)

    monkeypatch.setattr(services, "plan_dry_run", counted)
    monkeypatch.setattr(ai_services, "plan_dry_run", counted)
    return calls, real


def _as_stored(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _timeless(preview: dict) -> dict:
    assert preview["computed_at"]
    return {key: value for key, value in preview.items() if key != "computed_at"}


def test_the_stored_verdict_is_the_loops_dry_run_and_a_fresh_one_agrees(
    fake, organization, staging, chat, monkeypatch
):
    calls, real = _counted_dry_runs(monkeypatch)
    provider_on(fake, organization)
    fake.script(Script(json=proposal(staging.pk, "10.20.0.0/24", "10.20.1.0/24")))
    plan = chat("allocate two /24s for staging").plan
    # One dry run: the verifier's, of the unsaved plan; the stored plan keeps its verdict.
    assert calls == [None]
    assert plan.status == PlanStatus.VALID
    assert plan.validation["dry_run"] is True
    assert plan.validated_at is not None
    fresh = real(plan=Plan.objects.get(pk=plan.pk), actor=TEST_ACTOR)
    assert fresh.valid
    assert plan.validation["errors"] == []
    # The same preview, but for when each was computed.
    assert _timeless(plan.preview) == _timeless(_as_stored(fresh.preview))
    assert plan.risk_level == fresh.preview["risk"]["level"]


def test_an_invalid_last_proposal_keeps_the_verdict_of_its_own_dry_run(
    fake, organization, staging, chat, make_pool, monkeypatch
):
    make_pool("10.20.0.0/24", staging, name="taken")
    calls, real = _counted_dry_runs(monkeypatch)
    provider_on(fake, organization)
    # Passes the pure checks, fails the dry run (the /24 is taken), every round.
    fake.default = Script(json=proposal(staging.pk, "10.20.0.0/24", "10.20.1.0/24"))
    plan = chat("allocate two /24s for staging").plan
    assert calls == [None, None, None]  # one per round, none more for the stored plan
    assert plan.status == PlanStatus.INVALID
    fresh = real(plan=Plan.objects.get(pk=plan.pk), actor=TEST_ACTOR)
    assert plan.validation["errors"] == [error.as_dict() for error in fresh.errors]
    assert [error["code"] for error in plan.errors] == ["overlap"]
    # Even a person with plans.apply cannot apply it: the apply runs it again.
    with pytest.raises(PlanConflict):
        plan_apply(plan=plan, actor=TEST_ACTOR)
    plan.refresh_from_db()
    assert plan.applied_at is None
    assert not Pool.objects.filter(cidr="10.20.1.0/24").exists()


def test_plan_validate_dry_runs_a_plan_whose_given_verdict_is_of_other_operations(
    organization, staging, make_plan
):
    plan = make_plan(creates(staging.pk, "10.20.0.0/24"))
    other = Plan(
        organization=organization,
        source="ai",
        operations=creates(staging.pk, "10.20.0.0/24", "10.20.0.0/24"),
    )
    stale = plan_dry_run(plan=other, actor=TEST_ACTOR)
    assert not stale.valid
    without_preview = plan_dry_run(plan=Plan(**_fields(plan)), actor=TEST_ACTOR, preview=False)
    assert plan_validate(plan=plan, actor=TEST_ACTOR, dry_run=stale).status == PlanStatus.VALID
    plan.refresh_from_db()
    assert plan.preview  # a verdict without the preview is not stored either
    plan.status = PlanStatus.DRAFT
    plan.save()
    stored = plan_validate(plan=plan, actor=TEST_ACTOR, dry_run=without_preview)
    assert stored.preview


def _fields(plan: Plan) -> dict:
    return {
        "organization": plan.organization,
        "source": plan.source,
        "operations": plan.operations,
    }


def test_a_refinement_is_a_new_version_of_the_previous_plan(fake, organization, staging, chat):
    provider_on(fake, organization)
    fake.script(
        Script(json=proposal(staging.pk, "10.20.0.0/24", "10.20.1.0/24")),
        Script(json=proposal(staging.pk, "10.20.0.0/23", "10.20.2.0/23", reply="Now /23s.")),
    )
    first = chat("allocate two /24s for staging")
    second = chat("make them /23s", session=first.session)
    assert second.plan.parent_plan_id == first.plan_id
    assert second.plan.version == 2
    sent = fake.requests[-1].payload["messages"]
    history = json.dumps(sent)
    assert "10.20.1.0/24" in history  # the previous proposal went along
    assert sent[-1] == {"role": "user", "content": "make them /23s"}


def test_impossible_requests_are_answered_with_the_reason_and_no_plan(
    fake, organization, staging, chat
):
    provider_on(fake, organization)
    reason = "A /8 does not fit: the largest free block of 10.20.0.0/16 is a /16."
    fake.script(Script(json={"reply": "That cannot be done.", "impossible": reason}))
    message = chat("allocate a /8 in staging")
    assert message.plan is None
    assert message.status == AIMessageStatus.OK
    assert reason in message.content


@pytest.mark.parametrize(
    "failure",
    [
        Script(status=500),
        Script(status=429, retry_after=1),
        Script(delay=3.0),  # past the first provider's 2 s timeout
    ],
    ids=["500", "429", "timeout"],
)
def test_fallback_moves_to_the_next_provider_and_records_why(
    fake, organization, staging, chat, failure
):
    provider_on(fake, organization, "openai", name="first", priority=1)
    provider_on(fake, organization, "anthropic", name="second", priority=2)
    fake.script(failure, Script(json=proposal(staging.pk, "10.20.0.0/24")))
    message = chat("allocate a /24 for staging")
    assert message.provider == "anthropic"
    assert message.plan.status == PlanStatus.VALID
    codes = [attempt["error_code"] for attempt in message.attempts]
    expected = {500: "provider_error", 429: "rate_limited"}.get(failure.status, "timeout")
    assert codes == [expected, ""]
    assert [attempt["provider"] for attempt in message.attempts] == ["openai", "anthropic"]


def test_the_quota_refuses_before_any_request_reaches_the_model(fake, organization, staging, chat):
    provider_on(fake, organization)
    organization.quotas = {"max_llm_tokens_per_month": 10}
    organization.save()
    LLMUsageRecord.objects.create(
        organization=organization, provider="openai", model="m", input_tokens=8, output_tokens=2
    )
    with pytest.raises(QuotaExceeded) as caught:
        chat("allocate a /24 for staging")
    assert caught.value.code == "quota_exceeded"
    assert fake.requests == []
    assert not AIMessage.objects.exists()


def test_with_no_provider_the_deterministic_planner_answers(organization, staging, chat):
    message = chat("allocate four /24s for staging in 10.20.0.0/16")
    assert message.status == AIMessageStatus.FALLBACK
    plan = message.plan
    assert plan.status == PlanStatus.VALID
    assert plan.source == "ai"
    cidrs = [op.get("cidr") for op in plan.operations if op.get("op") == "create"]
    prefixes = [op.get("prefix_length") for op in plan.operations if op.get("op") == "create"]
    assert len(plan.operations) == 4
    assert all(c is None or c.endswith("/24") for c in cidrs)
    assert all(c is not None or p == 24 for c, p in zip(cidrs, prefixes, strict=True))
    assert message.input_tokens == 0
    assert not LLMUsageRecord.objects.exists()


def test_when_every_provider_fails_the_planner_answers_and_the_attempts_stay(
    fake, organization, staging, chat
):
    provider_on(fake, organization)
    fake.default = Script(status=503)
    message = chat("allocate four /24s for staging in 10.20.0.0/16")
    assert message.status == AIMessageStatus.FALLBACK
    assert message.plan.status == PlanStatus.VALID
    assert message.attempts[0]["error_code"] == "provider_error"


def test_a_request_nobody_understands_says_ai_is_unavailable(organization, staging, chat):
    events = chat("write me a poem about subnets", stream=True)
    _text, names, by_name, message = answer_of(events)
    assert message.status == AIMessageStatus.ERROR
    assert "unavailable" in message.content
    assert "wizard" in message.content
    assert by_name["error"]["code"] == "ai_unavailable"
    assert names[-2:] == ["usage", "done"]
    assert message.plan is None
