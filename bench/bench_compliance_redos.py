"""Benchmark compliance against a hostile naming pattern: 10,000 pools, ``(a|aa)+$``.

Target (issue #9): a compliance run over 10,000 pools named ``"a" * 42 + "!"`` with the
naming pattern ``(a|aa)+$`` finishes in under 1 s, at engine level (no database). In
Python's backtracking ``re`` one such name takes about 41 s; RE2 matches in time linear in
the name. Building the input is not timed. Run ``python bench/bench_compliance_redos.py``;
it prints the figures and exits non-zero when the target is missed.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import broken, report

from apps.analysis.engine import (
    PoolData,
    PoolTree,
    build_tree,
    evaluate_compliance,
    resolve_compliance_settings,
)
from apps.pools.cidr import parse_prefix

POOLS = 10_000
TARGET = 1.0
PATTERN = "(a|aa)+$"
NAME = "a" * 42 + "!"
# Python's re on a shorter name, for comparison: each further "a" multiplies its time by ~1.6.
REFERENCE_NAME = "a" * 26 + "!"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
T = TypeVar("T")

SETTINGS = resolve_compliance_settings({"NAMING": {"params": {"patterns": {"*": PATTERN}}}})


def hostile_organization(count: int = POOLS) -> PoolTree:
    """Return a supernet with ``count - 1`` /24 subnets, every pool named ``NAME``."""
    pools = [PoolData(1, None, parse_prefix("10.0.0.0/8"), name=NAME, type="supernet")]
    for index in range(1, count):
        cidr = parse_prefix(f"10.{index // 256}.{index % 256}.0/24")
        pools.append(PoolData(index + 1, 1, cidr, name=NAME, type="subnet"))
    return build_tree(pools)


def timed(function: Callable[[], T], repeat: int = 3) -> tuple[float, T]:
    """Return the best wall time of ``repeat`` calls and the last result."""
    best = float("inf")
    result: T
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    tree = hostile_organization()
    seconds, findings = timed(lambda: evaluate_compliance(tree, now=NOW, settings=SETTINGS))
    naming = sum(1 for finding in findings if finding.rule == "NAMING")
    ok = seconds < TARGET and naming == len(tree)
    print(
        f"compliance: {len(tree):,} pools named {NAME[:3]}...{NAME[-3:]} ({len(NAME)} characters) "
        f"against {PATTERN} in {seconds:.3f} s (target < {TARGET:.0f} s: "
        f"{'met' if ok else 'MISSED'}); {naming:,} naming findings, {len(findings):,} in all"
    )
    if naming != len(tree):
        broken(f"{naming:,} naming findings for {len(tree):,} pools")
    report("compliance of hostile names", seconds, "s", f"< {TARGET:.0f}", seconds < TARGET)
    backtracking = re.compile(PATTERN)
    reference, _ = timed(lambda: backtracking.fullmatch(REFERENCE_NAME), repeat=1)
    print(
        f"  for comparison, Python's re on one name of {len(REFERENCE_NAME) - 1} a's: "
        f"{reference:.3f} s (about {reference * 1.618 ** (len(NAME) - len(REFERENCE_NAME)):,.0f} s "
        f"for {len(NAME) - 1} a's; no target)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
