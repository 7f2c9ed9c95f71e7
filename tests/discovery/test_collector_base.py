"""The collector interface: records, per-region outcomes, pacing. No database, no Django."""

from __future__ import annotations

import doctest
import importlib
import itertools
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import apps.discovery.collectors as collectors
from apps.discovery.collectors import Collection, ProviderError, RetryPolicy, record
from apps.discovery.collectors.base import canonical_cidr, failing
from apps.discovery.collectors.pacing import FakeClock, TokenBucket

ROOT = Path(__file__).resolve().parents[2]


def _modules() -> list[str]:
    return [
        f"{collectors.__name__}.{info.name}" for info in pkgutil.iter_modules(collectors.__path__)
    ]


@pytest.mark.parametrize("name", _modules())
def test_worked_examples_in_docstrings(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0


def test_importing_every_collector_loads_no_django() -> None:
    names = ", ".join(_modules())
    code = (
        f"import sys, {names}\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_cidrs_are_canonical() -> None:
    assert canonical_cidr("10.0.0.7") == "10.0.0.7/32"
    assert canonical_cidr("10.0.1.9/16") == "10.0.0.0/16"
    assert canonical_cidr("2600:1F18:0:0::/56") == "2600:1f18::/56"
    assert canonical_cidr("fd00::1") == "fd00::1/128"
    with pytest.raises(ValueError):
        canonical_cidr("10.0.0.0/33")


def test_a_region_failing_midway_keeps_what_it_yielded_and_is_not_complete() -> None:
    def half_then_boom():
        yield record("subnet-1", "10.0.0.0/24", region="b")
        raise ProviderError("throttled", "Rate exceeded")

    def bug():
        raise KeyError("VpcId")
        yield

    collection = Collection(
        [
            ("a", iter([record("vpc-1", "10.0.0.0/16", region="a")])),
            ("b", half_then_boom()),
            ("c", bug()),
            ("d", failing(ProviderError("access_denied", "not authorized"))),
            ("e", iter([])),
        ]
    )
    assert [found.key for found in collection] == [
        ("vpc-1", "10.0.0.0/16"),
        ("subnet-1", "10.0.0.0/24"),
    ]
    assert collection.complete_regions == ("a", "e")
    assert collection.failed_regions == ("b", "c", "d")
    assert [o.as_dict() for o in collection.outcomes][1:4] == [
        {
            "region": "b",
            "ok": False,
            "records": 1,
            "error_code": "throttled",
            "error_message": "Rate exceeded",
        },
        {
            "region": "c",
            "ok": False,
            "records": 0,
            "error_code": "provider_error",
            "error_message": "KeyError",
        },
        {
            "region": "d",
            "ok": False,
            "records": 0,
            "error_code": "access_denied",
            "error_message": "not authorized",
        },
    ]


def test_retries_stop_after_five_tries_and_honour_retry_after() -> None:
    clock = FakeClock()
    calls = []

    def always_throttled():
        calls.append(clock.time)
        raise ProviderError("throttled", "429", retry_after=2)

    policy = RetryPolicy(sleep=clock.sleep, random=lambda: 1.0)
    with pytest.raises(ProviderError) as raised:
        policy.call(always_throttled)
    assert raised.value.code == "throttled"
    assert len(calls) == 5
    # Backoff 0.5, 1, 2, 4 with full jitter at its top, never under Retry-After's 2 s.
    assert [round(b - a, 3) for a, b in itertools.pairwise(calls)] == [2, 2, 2, 4]


def test_errors_that_are_not_transient_are_not_retried() -> None:
    calls = []

    def denied():
        calls.append(1)
        raise ProviderError("access_denied", "no")

    with pytest.raises(ProviderError):
        RetryPolicy(sleep=lambda _: None).call(denied)
    assert len(calls) == 1


def test_the_bucket_bounds_the_rate_over_time() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, clock=clock.now, sleep=clock.sleep)
    for _ in range(110):
        bucket.acquire()
    # A burst of 10, then 100 more at 10 a second.
    assert clock.time == pytest.approx(10.0)
    with pytest.raises(ValueError):
        TokenBucket(rate=0)
