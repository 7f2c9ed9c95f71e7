"""
The prompts of the AI planner and the JSON schema of its answers (SPEC.md 7.0, 7.3).

- :func:`system_prompt` gives the model its role, the operations of a plan in short, the
  rules of an answer (one JSON object: ``{"reply", "operations"}`` or ``{"reply",
  "impossible"}``), the spotlighting instruction, then the context.
- :data:`PLAN_JSON_SCHEMA` is that object as a JSON schema: the providers pass it as
  their structured-output schema (OpenAI ``response_format``, Anthropic's tool input).
- :func:`repair_prompt` sends the validator's errors back, one per line.

No Django import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from apps.analysis.engine.data import POOL_STATUSES, POOL_TYPES
from apps.planning.ai.context import Context
from apps.planning.ai.sanitizer import sanitize_text
from apps.planning.ai.spotlight import SPOTLIGHT_INSTRUCTION, spotlight

MAX_OPERATIONS = 20_000
MAX_REPAIR_ERRORS = 50

_POOL_REF = {"type": ["integer", "string", "null"]}

PLAN_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reply": {
            "type": "string",
            "description": "What you propose or why it cannot be done, for the user.",
        },
        "operations": {
            "type": "array",
            "maxItems": MAX_OPERATIONS,
            "description": "The plan's operations, in order (SPEC 7.0).",
            "items": {
                "type": "object",
                "properties": {
                    "op": {"type": "string", "enum": ["create", "update", "delete"]},
                    "ref": {"type": "string", "maxLength": 100},
                    "name": {"type": "string"},
                    "cidr": {"type": "string"},
                    "prefix_length": {"type": "integer", "minimum": 0, "maximum": 128},
                    "within": _POOL_REF,
                    "parent": _POOL_REF,
                    "type": {"type": "string", "enum": list(POOL_TYPES)},
                    "status": {"type": "string", "enum": list(POOL_STATUSES)},
                    "description": {"type": "string"},
                    "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                    "pool": {"type": ["integer", "string"]},
                    "fields": {"type": "object"},
                    "recursive": {"type": "boolean"},
                },
                "required": ["op", "ref"],
                "additionalProperties": False,
            },
        },
        "impossible": {
            "type": "string",
            "description": "Why the request cannot be done (no fit: name the largest free block).",
        },
    },
    "required": ["reply"],
    "additionalProperties": False,
}

ROLE = (
    "You are CloudPAM's address planner. You help one organization plan its IP address "
    "space: you propose plans, which CloudPAM validates and a person reviews and applies. "
    "You never change anything yourself."
)
_TYPES = ", ".join(POOL_TYPES)
_STATUSES = ", ".join(POOL_STATUSES)
OPERATIONS = (
    'A plan is a list of operations, each with a "ref" unique in the plan:\n'
    '- {"op": "create", "ref", "name", "cidr": "10.20.0.0/24"} or {"op": "create", "ref", '
    '"name", "prefix_length": 24, "within": <pool id or ref>} (the first free block of that '
    'size in that pool, resolved in order), with "parent" (a pool id, the ref of an earlier '
    'create, or null for a root; "within" defaults to it), '
    f'"type" ({_TYPES}), "status" ({_STATUSES}), "description", "tags" (an object of strings).\n'
    '- {"op": "update", "ref", "pool": <pool id>, "fields": {"name"|"cidr"|"parent"|"type"|'
    '"status"|"description"|"tags": ...}}\n'
    '- {"op": "delete", "ref", "pool": <pool id>, "recursive": false}\n'
    f"At most {MAX_OPERATIONS} operations."
)
RULES = """\
Rules:
- Answer with exactly one JSON object and nothing else: {"reply": "...", "operations": [...]} \
to propose a plan, or {"reply": "...", "impossible": "..."} when the request cannot be done \
(say why: no fit, and the largest free block), or {"reply": "..."} to ask a question.
- Reference only the pool ids shown in the context; any other id is refused.
- Every CIDR is canonical (no host bits), inside its parent, and overlaps no live pool or \
other create of the plan; prefer "prefix_length" + "within" and let CloudPAM place blocks.
- Never write secrets, credentials or e-mail addresses.
- Keep the reply short: what the plan does and anything the user should check."""


def system_prompt(context: Context) -> str:
    """Return the system prompt: role, operations, rules, spotlighting, then the context."""
    return "\n\n".join(
        (
            ROLE,
            OPERATIONS,
            RULES,
            SPOTLIGHT_INSTRUCTION,
            "The organization's address plan:\n" + context.text,
        )
    )


def _error_line(error: Mapping[str, Any]) -> str:
    index = error.get("index")
    ref = error.get("ref") or ""
    where = "plan" if index is None else f"operation {index}"
    if ref:
        where += f" (ref {spotlight(sanitize_text(str(ref))[:100])})"
    code = sanitize_text(str(error.get("code") or "invalid"))[:40]
    field = error.get("field") or ""
    message = sanitize_text(str(error.get("message") or ""))[:400]
    suffix = f" [field {sanitize_text(str(field))[:40]}]" if field else ""
    return f"- {where}: {code}{suffix}: {spotlight(message)}"


def repair_prompt(errors: Sequence[Mapping[str, Any]]) -> str:
    """Return the message that sends the validator's errors back for a repaired plan.

    One line per error (at most ``MAX_REPAIR_ERRORS``) with the operation's index and ref,
    the error code and field, and the message; everything sanitized, messages spotlighted
    (they quote pool names).
    """
    lines = [_error_line(error) for error in errors[:MAX_REPAIR_ERRORS]]
    if len(errors) > MAX_REPAIR_ERRORS:
        lines.append(f"- and {len(errors) - MAX_REPAIR_ERRORS} more errors.")
    return "\n".join(
        (
            "CloudPAM's dry run rejected the plan:",
            *lines,
            'Answer again with one JSON object: the whole corrected plan in "operations", '
            'or "impossible" with the reason if it cannot be done.',
        )
    )
