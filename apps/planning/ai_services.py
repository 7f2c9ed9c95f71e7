"""Conversations with the AI planning assistant (SPEC.md section 7.3): the verifier loop.

``ai_session_create`` and ``ai_session_delete`` (events ``create`` and ``delete``);
``ai_message_post`` answers one request of a person:

1. the monthly token quota first (429 ``quota_exceeded`` before any provider call);
2. the organization's facts, built into a context within a token budget, sanitized and
   spotlighted (``apps.planning.ai``), with the session's history (sanitized too);
3. the providers in fallback order, asked for the plan JSON schema;
4. the answer parsed tolerantly; pool ids the context did not show, or of another
   organization, and lists over the plan limit are refused and fed back, never stored;
5. the operations dry-run; the validator's errors fed back for up to two repair rounds;
6. the last proposal stored as a plan of source ``ai`` (a new version of the session's
   previous one), valid or marked invalid with its errors: the verdict of step 5, stored
   in the same transaction as the plan rather than dry-run again (``plan_validate``'s
   ``dry_run``). Nothing is ever applied here:
   only a person with ``plans.apply`` applies a plan, through the plan API.

With no provider configured, or none answering, the deterministic planner answers the
requests it understands; otherwise the answer says plainly that AI is unavailable.

The work is a generator of :class:`AIEvent` (``delta``, ``plan``, ``usage``, ``error``,
``done``) so the API can stream it. It holds no transaction while a provider answers:
every database step is its own short transaction in the organization's tenant context,
so a worker serves several streams at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.planning import engine
from apps.planning.ai import fallback as ai_fallback
from apps.planning.ai import prompts
from apps.planning.ai.context import build_context
from apps.planning.ai.sanitizer import sanitize_text
from apps.planning.ai.selectors import context_facts_for
from apps.planning.ai_models import TITLE_MAX_LENGTH, AIMessage, AISession
from apps.planning.ai_stream import ReplyExtractor
from apps.planning.choices import AIMessageRole, AIMessageStatus, PlanSource, PlanStatus
from apps.planning.llm.base import (
    Attempt,
    ChatMessage,
    FallbackResult,
    LLMError,
    Usage,
    complete_with_fallback,
    cost,
    parse_json,
    stream_with_fallback,
)
from apps.planning.llm_metrics import LLM_CALLS
from apps.planning.llm_models import LLMUsageRecord
from apps.planning.llm_selectors import llm_quota_check, llm_specs_for
from apps.planning.llm_services import llm_usage_record
from apps.planning.models import Plan
from apps.planning.services import DryRun, plan_create, plan_dry_run, plan_validate
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from apps.tenancy.permissions import actor_permission_denial
from apps.tenancy.rls import tenant_context
from cloudpam.context import Actor, operation
from cloudpam.exceptions import ApplicationError, PermissionDenied, ValidationError
from cloudpam.jsonlimits import MAX_JSON_DEPTH, JSONTextError, check_json_text, json_depth_exceeds

TEXT_MAX_LENGTH: Final = 4_000
MAX_REPAIR_ROUNDS: Final = 2
CONTEXT_BUDGET_TOKENS: Final = 6_000
HISTORY_MESSAGES: Final = 10
# The previous proposal shown to the model for a refinement, at most this many operations.
HISTORY_OPERATIONS: Final = 200
# What a person sees of the errors of an invalid plan in the answer.
REPORTED_ERRORS: Final = 5
REPLY_MAX_LENGTH: Final = 20_000


@dataclass(frozen=True)
class AIEvent:
    """One event of an answer: ``delta``, ``plan``, ``usage``, ``error`` or ``done``."""

    name: str
    data: dict[str, Any]


def _require(actor: Actor, organization: Organization, permission: str) -> None:
    reason = actor_permission_denial(actor=actor, organization=organization, permission=permission)
    if reason is not None:
        raise PermissionDenied(reason)


def _clean_title(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(
            "title: Not a valid string.", fields={"title": ["Not a valid string."]}
        )
    value = sanitize_text(value.strip())
    if len(value) > TITLE_MAX_LENGTH:
        message = f"Ensure this field has no more than {TITLE_MAX_LENGTH} characters."
        raise ValidationError(f"title: {message}", fields={"title": [message]})
    return value


def _clean_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        message = "Ask the assistant something."
        raise ValidationError(f"text: {message}", fields={"text": [message]})
    if len(value) > TEXT_MAX_LENGTH:
        message = f"Ensure this field has no more than {TEXT_MAX_LENGTH} characters."
        raise ValidationError(f"text: {message}", fields={"text": [message]})
    return value.strip()


@transaction.atomic
def ai_session_create(*, organization: Organization, actor: Actor, title: Any = "") -> AISession:
    """Start a conversation; an empty title is taken from the first request."""
    _require(actor, organization, "ai.use")
    session = AISession(
        organization=organization, title=_clean_title(title), created_by_id=actor.user_id
    )
    with operation("create", actor=actor):
        session.save()
    return session


@transaction.atomic
def ai_session_delete(*, session: AISession, actor: Actor) -> None:
    """Delete a conversation and its messages; the plans it proposed stay."""
    _require(actor, session.organization, "ai.use")
    with operation("delete", actor=actor):
        session.delete()


# The answer


@dataclass
class _Turn:
    """What one answer has gathered so far."""

    organization: Organization
    session: AISession
    actor: Actor
    text: str
    stream: bool = False
    usage: Usage = field(default_factory=Usage)
    cost: Decimal = Decimal(0)
    latency_ms: int = 0
    attempts: list[dict[str, Any]] = field(default_factory=list)
    record_ids: list[int] = field(default_factory=list)
    provider: str = ""
    model: str = ""
    reply: str = ""
    plan: Plan | None = None
    repair_rounds: int = 0
    valid_first: bool | None = None
    status: str = AIMessageStatus.OK
    error: dict[str, str] = field(default_factory=dict)


def _attempt_row(attempt: Attempt) -> dict[str, Any]:
    return {
        "provider": attempt.provider,
        "model": attempt.model,
        "config": attempt.key,
        "error_code": attempt.error_code,
        "error_message": sanitize_text(attempt.error_message)[:500],
        "latency_ms": attempt.latency_ms,
    }


def ai_message_post(
    *, session: AISession, actor: Actor, text: Any, stream: bool = False
) -> AIMessage | Iterator[AIEvent]:
    """Answer ``text`` in ``session``: the assistant's message, or its events when ``stream``.

    Permission, input and the monthly quota are checked before anything is written or
    sent (403, 400, 429 ``quota_exceeded``); the rest of the answer's failures end in the
    message itself (``status`` ``error`` with the reason), never in an exception.
    """
    organization = Organization.objects.get(pk=session.organization_id)
    _require(actor, organization, "ai.use")
    text = _clean_text(text)
    llm_quota_check(organization=organization)
    turn = _Turn(organization=organization, session=session, actor=actor, text=text, stream=stream)
    events = _answer(turn)
    if stream:
        return events
    message = None
    for event in events:
        if event.name == "done":
            message = event.data["message_id"]
    with tenant_context(organization):
        return AIMessage.objects.select_related("plan", "session").get(pk=message)


def _answer(turn: _Turn) -> Iterator[AIEvent]:
    organization = turn.organization
    with tenant_context(organization):
        history = _history(turn.session)
        _save_user_message(turn)
        specs = llm_specs_for(organization=organization)
        facts = context_facts_for(
            organization, focus=turn.text, budget_tokens=CONTEXT_BUDGET_TOKENS
        )
        context = build_context(facts, focus=turn.text, budget_tokens=CONTEXT_BUDGET_TOKENS)
    messages = [
        ChatMessage("system", prompts.system_prompt(context)),
        *history,
        ChatMessage("user", sanitize_text(turn.text)),
    ]
    allowed_ids = frozenset(context.pool_ids)
    answered = False
    if specs:
        answered = yield from _converse(turn, specs, messages, allowed_ids)
    if not answered:
        with tenant_context(organization):
            _fall_back(turn, facts)
    with tenant_context(organization):
        message = _save_answer(turn)
    if turn.plan is not None:
        yield AIEvent("plan", _plan_event(turn.plan))
    if turn.error:
        yield AIEvent("error", dict(turn.error))
    yield AIEvent("usage", _usage_event(turn, message.session))
    yield AIEvent(
        "done",
        {
            "message_id": message.pk,
            "session_id": turn.session.pk,
            "status": message.status,
            "content": message.content,
        },
    )


def _converse(
    turn: _Turn,
    specs: Sequence[Any],
    messages: list[ChatMessage],
    allowed_ids: frozenset[int],
) -> Iterator[AIEvent]:
    """Ask, verify, repair; return whether a model answered (else the fallback answers)."""
    parent = _previous_plan(turn)
    for round_number in range(MAX_REPAIR_ROUNDS + 1):
        if round_number:
            try:
                with tenant_context(turn.organization):
                    llm_quota_check(organization=turn.organization)
            except ApplicationError as exc:
                turn.error = {"code": exc.code, "message": exc.message}
                break
        result = FallbackResult()
        started = time.monotonic()
        if turn.stream:
            yield from _stream_round(specs, messages, result, show=round_number == 0)
        else:
            result = complete_with_fallback(specs, messages, json_schema=prompts.PLAN_JSON_SCHEMA)
        turn.latency_ms += int((time.monotonic() - started) * 1000)
        _account(turn, result)
        if result.spec is None or result.error is not None:
            error = result.error or LLMError("connection_error", "No provider answered.")
            if round_number == 0:
                turn.error = {"code": error.code, "message": sanitize_text(error.message)}
                return False
            turn.error = {"code": error.code, "message": sanitize_text(error.message)}
            break
        turn.provider, turn.model = result.spec.provider, result.spec.model
        feedback = _verdict(turn, result.text, allowed_ids, parent, round_number)
        if feedback is None:
            return True
        if round_number == MAX_REPAIR_ROUNDS:
            break
        turn.repair_rounds += 1
        messages = [
            *messages,
            ChatMessage("assistant", _clip(result.text, REPLY_MAX_LENGTH)),
            ChatMessage("user", feedback),
        ]
    # Out of repair rounds (or quota) without a plan worth storing: say so, store nothing.
    turn.plan = None
    turn.status = AIMessageStatus.ERROR
    reason = (turn.error or {}).get("message", "")
    turn.error = {
        "code": (turn.error or {}).get("code", "bad_response"),
        "message": f"The model gave no usable proposal; no plan was stored. {reason}".strip(),
    }
    turn.reply = f"{turn.reply}\n\n{turn.error['message']}".strip()
    return True


def _stream_round(
    specs: Sequence[Any], messages: list[ChatMessage], result: FallbackResult, *, show: bool
) -> Iterator[AIEvent]:
    """Stream one call, yielding the reply's words as ``delta`` events when ``show``."""
    extractor = ReplyExtractor()
    try:
        for event in stream_with_fallback(
            specs, messages, json_schema=prompts.PLAN_JSON_SCHEMA, result=result
        ):
            if event.kind == "delta" and show:
                piece = extractor.feed(event.text)
                if piece:
                    yield AIEvent("delta", {"text": piece})
    except LLMError as error:
        # The provider failed mid-answer: what it said so far is not a proposal.
        result.error = error
        result.spec = None


def _account(turn: _Turn, result: FallbackResult) -> None:
    """Record the call's attempts, and its usage in the ledger when a provider answered."""
    turn.attempts += [_attempt_row(attempt) for attempt in result.attempts]
    for attempt in result.attempts:
        if attempt.error_code:
            LLM_CALLS.labels(attempt.provider, attempt.model, attempt.error_code).inc()
    if result.spec is None:
        return
    with tenant_context(turn.organization):
        record = llm_usage_record(
            organization=turn.organization,
            actor=turn.actor,
            spec=result.spec,
            usage=result.usage,
            latency_ms=result.latency_ms,
            purpose="repair" if turn.record_ids else "chat",
        )
    turn.record_ids.append(record.pk)
    turn.usage = turn.usage + result.usage
    turn.cost += cost(result.usage, result.spec)


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


class _Refused(Exception):
    """A proposal refused before any plan is stored; ``feedback`` goes back to the model."""

    def __init__(self, feedback: str) -> None:
        super().__init__(feedback)
        self.feedback = feedback


def _model_text(value: str) -> str:
    """Return the model's text sanitized and storable (no NUL, no unpaired surrogate)."""
    value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return _clip(sanitize_text(value), REPLY_MAX_LENGTH)


def _document(raw: str) -> dict[str, Any]:
    try:
        document = parse_json(raw)
    except RecursionError:
        raise _Refused(
            f"Your JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)."
        ) from None
    except LLMError:
        raise _Refused(
            "Your answer held no JSON document. Answer with one JSON object that follows "
            'the schema: {"reply": ..., "operations": [...]} or '
            '{"reply": ..., "impossible": ...}.'
        ) from None
    if not isinstance(document, dict):
        raise _Refused("Your answer must be one JSON object, not a list or a value.")
    reply = document.get("reply", "")
    if not isinstance(reply, str):
        raise _Refused('"reply" must be a string.')
    impossible = document.get("impossible")
    operations = document.get("operations")
    if impossible is not None and not isinstance(impossible, str):
        raise _Refused('"impossible" must be a string naming why the request cannot be met.')
    if impossible is None and operations is None:
        raise _Refused('Give either "operations" (a list) or "impossible" (a reason).')
    if impossible is None and not isinstance(operations, list):
        raise _Refused('"operations" must be a list of operations.')
    if json_depth_exceeds(operations):
        raise _Refused(f"Your operations are nested too deeply (at most {MAX_JSON_DEPTH} levels).")
    try:
        check_json_text(operations)
    except JSONTextError as exc:
        raise _Refused(f"Your operations hold text no database can store: {exc}") from None
    return document


def _pool_ids(operation_: Any) -> list[Any]:
    """Return the pool ids (integers) an operation names: parent, within, pool."""
    if not isinstance(operation_, dict):
        return []
    values = [operation_.get("parent"), operation_.get("within"), operation_.get("pool")]
    fields_ = operation_.get("fields")
    if isinstance(fields_, dict):
        values.append(fields_.get("parent"))
    return [value for value in values if isinstance(value, int) and not isinstance(value, bool)]


def _check_references(
    organization: Organization, operations: list[Any], allowed_ids: frozenset[int]
) -> None:
    """Refuse operations naming a pool the context did not show or the organization lacks."""
    named = {pool_id for operation_ in operations for pool_id in _pool_ids(operation_)}
    unknown = named - allowed_ids
    if named - unknown:
        with tenant_context(organization):
            ours = set(
                Pool.objects.for_organization(organization)
                .filter(pk__in=named - unknown, deleted_at__isnull=True)
                .values_list("pk", flat=True)
            )
        unknown |= named - unknown - ours
    if unknown:
        shown = ", ".join(str(pool_id) for pool_id in sorted(unknown)[:10])
        raise _Refused(
            f"The operations name pool ids that are not in the organization's tree as given "
            f"to you: {shown}. Use only the pool ids listed in the context, or the ref of "
            "an earlier create."
        )


def _verdict(
    turn: _Turn,
    raw: str,
    allowed_ids: frozenset[int],
    parent: Plan | None,
    round_number: int,
) -> str | None:
    """Judge one answer; return the feedback for a repair round, or None when done."""
    try:
        document = _document(raw)
        turn.reply = _model_text(document.get("reply") or "")
        impossible = document.get("impossible")
        if impossible is not None:
            reason = _model_text(impossible)
            turn.reply = (
                f"{turn.reply}\n\n{reason}".strip() if reason not in turn.reply else turn.reply
            )
            turn.plan = None
            return None
        operations = document["operations"]
        if not operations:
            turn.plan = None
            return None
        if len(operations) > engine.MAX_OPERATIONS:
            raise _Refused(
                f"A plan holds at most {engine.MAX_OPERATIONS} operations; yours has "
                f"{len(operations)}. Propose a smaller plan."
            )
        _check_references(turn.organization, operations, allowed_ids)
    except _Refused as refused:
        turn.error = {"code": "bad_response", "message": refused.feedback}
        if round_number == 0:
            turn.valid_first = False
        return refused.feedback
    # The dry run and, when this proposal is the one kept (valid, or out of repair rounds),
    # the plan stored with that very verdict: one transaction, so the verdict stored is
    # the organization's as the plan is created, and the plan is not dry-run twice.
    with tenant_context(turn.organization), transaction.atomic():
        run = _dry_run(turn, operations)
        keep = run.valid or round_number == MAX_REPAIR_ROUNDS
        if keep:
            turn.plan = _store_plan(turn, operations, parent, run)
    if round_number == 0:
        turn.valid_first = run.valid
    turn.error = {}
    if not keep:
        return prompts.repair_prompt([error.as_dict() for error in run.errors])
    if turn.plan.status != PlanStatus.VALID:
        turn.error = {
            "code": "invalid_plan",
            "message": f"The proposed plan is invalid after {turn.repair_rounds} repair "
            f"round(s); it was not applied.",
        }
        turn.reply = _with_errors(turn.reply, turn.plan)
    return None


def _dry_run(turn: _Turn, operations: list[Any]) -> DryRun:
    """Dry-run the operations as an unsaved plan, with the preview a stored plan keeps."""
    draft = Plan(organization=turn.organization, source=PlanSource.AI, operations=operations)
    try:
        return plan_dry_run(plan=draft, actor=turn.actor)
    except ApplicationError as exc:
        return DryRun(errors=[engine.OperationError(None, "", exc.code, exc.message)])


def _store_plan(
    turn: _Turn, operations: list[Any], parent: Plan | None, run: DryRun | None = None
) -> Plan:
    """Store the proposal as a plan of source ``ai`` with its verdict: ``run``, the dry run
    just made of these operations in this transaction, or a dry run made now.
    """
    title = _clip(f"AI: {turn.session.title or sanitize_text(turn.text)}", 250)
    plan = plan_create(
        organization=turn.organization,
        actor=turn.actor,
        title=title,
        source=PlanSource.AI,
        operations=operations,
        source_detail={
            "session": turn.session.pk,
            "provider": turn.provider,
            "model": turn.model,
            "repair_rounds": turn.repair_rounds,
        },
        parent_plan=parent,
    )
    if plan.status == PlanStatus.DRAFT:
        plan = plan_validate(plan=plan, actor=turn.actor, dry_run=run)
    return plan


def _with_errors(reply: str, plan: Plan) -> str:
    lines = [reply, "", f"The proposed plan has {len(plan.errors)} error(s):"]
    for error in plan.errors[:REPORTED_ERRORS]:
        where = error.get("ref") or "plan"
        lines.append(f"- {where}: {error.get('code')}: {error.get('message')}")
    if len(plan.errors) > REPORTED_ERRORS:
        lines.append(f"- ... and {len(plan.errors) - REPORTED_ERRORS} more on the plan page.")
    return "\n".join(lines).strip()


def _fall_back(turn: _Turn, facts: Any) -> None:
    """Answer with the deterministic planner, or say that AI is unavailable."""
    answer = ai_fallback.plan_request(turn.text, facts)
    reason = (
        turn.error.get("message") if turn.error else "No language model provider is configured."
    )
    if not answer.understood:
        # The planner's own answer says that AI is unavailable and where to turn instead.
        turn.status = AIMessageStatus.ERROR
        turn.reply = answer.reply
        turn.error = {"code": "ai_unavailable", "message": reason or answer.reply}
        return
    turn.status = AIMessageStatus.FALLBACK
    turn.provider, turn.model = "", ""
    turn.reply = sanitize_text(answer.reply)
    turn.error = {}
    if answer.impossible:
        turn.reply = f"{turn.reply}\n\n{sanitize_text(answer.impossible)}".strip()
        return
    if answer.operations:
        turn.plan = _store_plan(turn, list(answer.operations), _previous_plan(turn))
        turn.valid_first = turn.plan.status == PlanStatus.VALID
        if turn.plan.status != PlanStatus.VALID:
            turn.reply = _with_errors(turn.reply, turn.plan)


# Database steps, each short.


def _history(session: AISession) -> list[ChatMessage]:
    """Return the session's last messages for the model, the proposals included."""
    rows = list(
        AIMessage.objects.filter(session=session)
        .select_related("plan")
        .order_by("-created_at", "-id")[:HISTORY_MESSAGES]
    )
    history = []
    for row in reversed(rows):
        content = row.content
        if row.role == AIMessageRole.ASSISTANT and row.plan is not None:
            operations = row.plan.operations[:HISTORY_OPERATIONS]
            proposal = json.dumps({"plan_id": row.plan.pk, "operations": operations})
            content = f"{content}\n\nProposed operations:\n{sanitize_text(proposal)}"
        history.append(ChatMessage(row.role, content))
    return history


def _previous_plan(turn: _Turn) -> Plan | None:
    with tenant_context(turn.organization):
        return (
            Plan.objects.for_organization(turn.organization)
            .filter(ai_messages__session=turn.session)
            .order_by("-created_at", "-id")
            .first()
        )


@transaction.atomic
def _save_user_message(turn: _Turn) -> AIMessage:
    session = AISession.objects.select_for_update().get(pk=turn.session.pk)
    if not session.title:
        session.title = _clip(sanitize_text(turn.text), TITLE_MAX_LENGTH - 1)
    session.message_count += 1
    session.save(update_fields=["title", "message_count", "updated_at"])
    turn.session = session
    return AIMessage.objects.create(
        organization=turn.organization,
        session=session,
        role=AIMessageRole.USER,
        content=sanitize_text(turn.text),
        created_by_id=turn.actor.user_id,
    )


@transaction.atomic
def _save_answer(turn: _Turn) -> AIMessage:
    message = AIMessage.objects.create(
        organization=turn.organization,
        session=turn.session,
        role=AIMessageRole.ASSISTANT,
        content=turn.reply or (turn.error or {}).get("message", ""),
        plan=turn.plan,
        status=turn.status,
        error=turn.error,
        provider=turn.provider,
        model=turn.model,
        attempts=turn.attempts,
        input_tokens=turn.usage.input_tokens,
        cached_input_tokens=turn.usage.cached_input_tokens,
        output_tokens=turn.usage.output_tokens,
        reasoning_tokens=turn.usage.reasoning_tokens,
        cost=turn.cost,
        latency_ms=turn.latency_ms,
        repair_rounds=turn.repair_rounds,
        valid_first=turn.valid_first,
        created_by_id=turn.actor.user_id,
    )
    if turn.record_ids:
        LLMUsageRecord.objects.filter(pk__in=turn.record_ids).update(message=message)
    AISession.objects.filter(pk=turn.session.pk).update(
        message_count=F("message_count") + 1,
        input_tokens=F("input_tokens") + turn.usage.input_tokens,
        cached_input_tokens=F("cached_input_tokens") + turn.usage.cached_input_tokens,
        output_tokens=F("output_tokens") + turn.usage.output_tokens,
        reasoning_tokens=F("reasoning_tokens") + turn.usage.reasoning_tokens,
        cost=F("cost") + turn.cost,
        updated_at=timezone.now(),
    )
    message.session.refresh_from_db()
    return message


def _plan_event(plan: Plan) -> dict[str, Any]:
    return {
        "plan_id": plan.pk,
        "status": plan.status,
        "version": plan.version,
        "operation_count": plan.operation_count,
        "risk_level": plan.risk_level,
        "error_count": len(plan.errors),
    }


def _usage_event(turn: _Turn, session: AISession) -> dict[str, Any]:
    return {
        "provider": turn.provider,
        "model": turn.model,
        "input_tokens": turn.usage.input_tokens,
        "cached_input_tokens": turn.usage.cached_input_tokens,
        "output_tokens": turn.usage.output_tokens,
        "reasoning_tokens": turn.usage.reasoning_tokens,
        "cost": str(turn.cost),
        "latency_ms": turn.latency_ms,
        "repair_rounds": turn.repair_rounds,
        "session": {
            "input_tokens": session.input_tokens,
            "cached_input_tokens": session.cached_input_tokens,
            "output_tokens": session.output_tokens,
            "reasoning_tokens": session.reasoning_tokens,
            "total_tokens": session.total_tokens,
            "cost": str(session.cost),
        },
    }
