"""The system prompt, the answer's JSON schema and the repair prompt.

Pure: ``pytest -p no:django --noconftest tests/planning/ai/test_prompts.py``.
"""

from __future__ import annotations

import jsonschema
import pytest

from apps.planning.ai.context import Context
from apps.planning.ai.prompts import PLAN_JSON_SCHEMA, repair_prompt, system_prompt
from apps.planning.ai.spotlight import SPOTLIGHT_INSTRUCTION


def test_the_system_prompt_holds_rules_spotlighting_and_the_context() -> None:
    context = Context(
        text="Tree:\n- id=7 10.0.0.0/8", tokens=6, pool_ids=frozenset({7}), truncated=False
    )
    prompt = system_prompt(context)
    assert SPOTLIGHT_INSTRUCTION in prompt
    assert prompt.endswith("Tree:\n- id=7 10.0.0.0/8")
    for needle in ('"operations"', '"impossible"', "prefix_length", "within", "Reference only"):
        assert needle in prompt


@pytest.mark.parametrize(
    "answer",
    [
        {"reply": "ok", "operations": []},
        {
            "reply": "Four /24s.",
            "operations": [
                {
                    "op": "create",
                    "ref": "a",
                    "name": "s-1",
                    "prefix_length": 24,
                    "within": 7,
                    "parent": 7,
                },
                {
                    "op": "create",
                    "ref": "b",
                    "name": "s-2",
                    "cidr": "10.0.1.0/24",
                    "parent": "a",
                    "tags": {"env": "x"},
                },
                {"op": "update", "ref": "c", "pool": 7, "fields": {"name": "n"}},
                {"op": "delete", "ref": "d", "pool": 9, "recursive": False},
            ],
        },
        {"reply": "No room.", "impossible": "The largest free block is 10.0.0.0/25."},
        {"reply": "Which pool?"},
    ],
)
def test_valid_answers_follow_the_schema(answer: dict) -> None:
    jsonschema.validate(answer, PLAN_JSON_SCHEMA)


@pytest.mark.parametrize(
    "answer",
    [
        {"operations": []},
        {"reply": 3},
        {"reply": "x", "operations": [{"op": "move", "ref": "a"}]},
        {"reply": "x", "operations": [{"op": "create"}]},
        {"reply": "x", "operations": [{"op": "create", "ref": "a", "sql": "drop"}]},
        {"reply": "x", "extra": True},
    ],
)
def test_invalid_answers_break_the_schema(answer: dict) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(answer, PLAN_JSON_SCHEMA)


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(PLAN_JSON_SCHEMA)
    assert PLAN_JSON_SCHEMA["type"] == "object"  # what Anthropic tools and OpenAI require


def test_the_repair_prompt_lists_each_error_sanitized() -> None:
    prompt = repair_prompt(
        [
            {
                "index": 0,
                "ref": "a",
                "code": "overlap",
                "message": "10.0.0.0/24 overlaps 'web'.",
                "field": "cidr",
            },
            {"index": None, "ref": "", "code": "validation_error", "message": "Too many."},
            {
                "index": 2,
                "ref": "c",
                "code": "no_space",
                "message": "owner bob@example.com password=x",
            },
        ]
    )
    lines = prompt.splitlines()
    assert lines[1] == (
        '- operation 0 (ref «data»"a"«/data»): overlap [field cidr]: '
        "«data»\"10.0.0.0/24 overlaps 'web'.\"«/data»"
    )
    assert lines[2] == '- plan: validation_error: «data»"Too many."«/data»'
    assert "bob@example.com" not in prompt
    assert "password=[redacted]" in prompt
    assert '"operations"' in lines[-1]


def test_the_repair_prompt_caps_the_errors() -> None:
    errors = [{"index": i, "ref": f"r{i}", "code": "overlap", "message": "m"} for i in range(80)]
    prompt = repair_prompt(errors)
    assert prompt.count("- operation") == 50
    assert "- and 30 more errors." in prompt
