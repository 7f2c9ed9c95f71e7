"""Naming patterns run in RE2: linear time whatever the pattern, checked when saved."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from apps.analysis.engine import (
    PoolData,
    build_tree,
    evaluate_compliance,
    resolve_compliance_settings,
    validate_compliance_settings,
)
from apps.analysis.engine.compliance import MAX_PATTERN_LENGTH
from apps.pools import services as pool_services
from apps.pools.cidr import parse_prefix
from tests.actors import TEST_ACTOR

HOSTILE_PATTERN = "(a|aa)+$"
# Python's re tries every way of splitting 42 a's between the branches: 41 s on one core.
HOSTILE_NAME = "a" * 42 + "!"
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def naming(patterns: dict[str, object]) -> dict[str, object]:
    return {"NAMING": {"params": {"patterns": patterns}}}


def test_naming_patterns_are_compiled_by_re2():
    settings = resolve_compliance_settings(naming({"vpc": "vpc-[a-z]+"}))
    pattern = settings["NAMING"].params["patterns"]["vpc"]
    assert type(pattern).__module__.startswith("re2")
    assert pattern.fullmatch("vpc-prod")
    assert not pattern.fullmatch("vpc-prod-")


def test_a_backtracking_pattern_answers_in_linear_time():
    settings = resolve_compliance_settings(naming({"*": HOSTILE_PATTERN}))
    assert type(settings["NAMING"].params["patterns"]["*"]).__module__.startswith("re2")
    tree = build_tree(
        [
            PoolData(index, None, parse_prefix(f"10.{index}.0.0/16"), name=HOSTILE_NAME, type="vpc")
            for index in range(1, 201)
        ]
    )
    started = time.perf_counter()
    findings = evaluate_compliance(tree, settings=settings, now=NOW)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert [f.pool for f in findings if f.rule == "NAMING"] == list(range(1, 201))


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("(a)\\1", "invalid escape sequence: \\1"),
        ("vpc-(?=prod)", "invalid perl operator: (?="),
        ("(", "missing ): ("),
        ("a" * (MAX_PATTERN_LENGTH + 1), f"longer than {MAX_PATTERN_LENGTH} characters"),
    ],
)
def test_patterns_re2_cannot_run_or_too_long_are_refused(pattern, problem):
    problems = validate_compliance_settings(naming({"subnet": pattern}))
    assert list(problems) == ["NAMING"]
    assert problems["NAMING"][0].startswith("params.patterns: subnet: ")
    assert problem in problems["NAMING"][0]


def test_the_longest_pattern_is_accepted():
    pattern = "a" * MAX_PATTERN_LENGTH
    assert validate_compliance_settings(naming({"vpc": pattern})) == {}


@pytest.mark.django_db
def test_the_compliance_endpoint_survives_a_hostile_pattern(owner_client, organization):
    settings_url = "/api/v1/organizations/acme/settings/"
    refused = owner_client.patch(
        settings_url, {"settings": {"compliance": naming({"vpc": "(a)\\1"})}}, format="json"
    )
    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == ["settings.compliance.NAMING"]

    saved = owner_client.patch(
        settings_url, {"settings": {"compliance": naming({"*": HOSTILE_PATTERN})}}, format="json"
    )
    assert saved.status_code == 200
    pool_services.pool_create(
        organization=organization, name=HOSTILE_NAME, cidr="10.0.0.0/16", actor=TEST_ACTOR
    )
    started = time.perf_counter()
    response = owner_client.get("/api/v1/analysis/compliance/?rule=NAMING")
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 200
    assert [finding["rule"] for finding in response.json()["results"]] == ["NAMING"]
