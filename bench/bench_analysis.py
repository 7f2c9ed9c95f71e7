"""Benchmark the analysis engine: a 10,000-pool organization and a pool with 100,000 children.

Targets (issue #6): the whole organization analysed in at most 5 s, the single pool in at
most 1 s, both at engine level (no database). Building the input data is not timed. Run
``python bench/bench_analysis.py``; it prints the figures and exits non-zero when a target
is missed.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

from apps.analysis.engine import (
    PoolData,
    PoolTree,
    Snapshot,
    analyze_pool,
    analyze_tree,
    build_tree,
    resolve_analysis_settings,
)
from apps.pools.cidr import Prefix, parse_prefix

ORGANIZATION_POOLS = 10_000
ORGANIZATION_TARGET = 5.0
CHILDREN = 100_000
POOL_TARGET = 1.0
NOW = datetime(2025, 6, 1, tzinfo=UTC)
T = TypeVar("T")

SETTINGS = resolve_analysis_settings(
    {
        "NAMING": {"params": {"patterns": {"vpc": "vpc-[a-z0-9-]+", "subnet": "[a-z0-9-]+"}}},
        "REQUIRED_TAGS": {"params": {"keys": ["owner", "env"], "types": ["vpc"]}},
    }
)


class _Ids:
    """Hand out increasing pool ids."""

    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


def _split(prefix: Prefix, length: int) -> list[Prefix]:
    """Return the blocks of ``length`` inside ``prefix``, in address order."""
    step = 1 << (prefix.bits - length)
    count = 1 << (length - prefix.length)
    return [Prefix(prefix.family, prefix.first + index * step, length) for index in range(count)]


def synthetic_organization(
    total: int = ORGANIZATION_POOLS, seed: int = 6
) -> tuple[list[PoolData], dict[int, list[Snapshot]], dict[int, int]]:
    """Return a realistic plan of ``total`` pools, with 30 days of history and discovered use.

    IPv4 10.0.0.0/8 and IPv6 fd00::/8: regions, environments, VPCs with a random number of
    subnets (some slots left free to fragment the space), tags, statuses and ages.
    """
    rng = random.Random(seed)
    ids = _Ids()
    pools: list[PoolData] = []
    snapshots: dict[int, list[Snapshot]] = {}
    in_use: dict[int, int] = {}
    start = NOW.date() - timedelta(days=30)

    def add(parent: int | None, cidr: Prefix, name: str, kind: str, **extra: object) -> int:
        pool_id = ids.next()
        created = NOW - timedelta(days=rng.randint(1, 400))
        pools.append(
            PoolData(pool_id, parent, cidr, name=name, type=kind, created_at=created, **extra)  # type: ignore[arg-type]
        )
        return pool_id

    def history(pool_id: int, size: int, used: int) -> None:
        growth = rng.randint(0, max(size // 400, 1))
        base = max(used - growth * 30, 0)
        snapshots[pool_id] = [
            Snapshot(start + timedelta(days=day), min(base + growth * day, size))
            for day in range(31)
        ]

    roots = [
        (parse_prefix("10.0.0.0/8"), (12, 14, 18, 24)),
        (parse_prefix("fd00::/8"), (16, 24, 48, 64)),
    ]
    while len(pools) < total:
        for root_cidr, (region_len, env_len, vpc_len, subnet_len) in roots:
            root = add(None, root_cidr, f"corp-v{root_cidr.family}", "supernet")
            for region_index, region_cidr in enumerate(_split(root_cidr, region_len)[:8]):
                region = add(root, region_cidr, f"region-{region_index}", "region")
                for env_index, env_cidr in enumerate(_split(region_cidr, env_len)[:3]):
                    env = add(region, env_cidr, f"env-{env_index}", "environment")
                    vpc_slots = [
                        Prefix(
                            env_cidr.family,
                            env_cidr.first + index * (1 << (env_cidr.bits - vpc_len)),
                            vpc_len,
                        )
                        for index in range(16)
                    ]
                    for vpc_index, vpc_cidr in enumerate(vpc_slots):
                        if rng.random() < 0.2:
                            continue
                        tags = {"owner": "netops", "env": f"env-{env_index}"}
                        if rng.random() < 0.1:
                            tags.pop("owner")
                        vpc = add(
                            env,
                            vpc_cidr,
                            f"vpc-{region_index}-{env_index}-{vpc_index}",
                            "vpc",
                            tags=tags,
                            status="deprecated" if rng.random() < 0.02 else "active",
                        )
                        used = 0
                        subnet_slots = [
                            Prefix(
                                vpc_cidr.family,
                                vpc_cidr.first + index * (1 << (vpc_cidr.bits - subnet_len)),
                                subnet_len,
                            )
                            for index in range(64)
                        ]
                        for subnet_index, subnet_cidr in enumerate(
                            subnet_slots[: rng.randint(0, 60)]
                        ):
                            if rng.random() < 0.25:
                                continue
                            subnet = add(vpc, subnet_cidr, f"subnet-{subnet_index}", "subnet")
                            used += subnet_cidr.size
                            if subnet_cidr.family == 4:
                                in_use[subnet] = rng.randint(0, 256)
                            if len(pools) >= total:
                                break
                        history(vpc, vpc_cidr.size, used)
                        if len(pools) >= total:
                            return pools[:total], snapshots, in_use
    return pools[:total], snapshots, in_use


def crowded_pool(children: int = CHILDREN, seed: int = 6) -> list[PoolData]:
    """Return a /8 with ``children`` children of /26 to /30 scattered through it."""
    rng = random.Random(seed)
    parent = parse_prefix("10.0.0.0/8")
    pools = [PoolData(1, None, parent, name="crowded", type="supernet")]
    # Slots of /26 hold children of /26 to /30 at their start: heavy fragmentation.
    slots = rng.sample(range(1 << 18), children)
    for offset, slot in enumerate(slots, start=2):
        length = rng.choice((26, 27, 28, 29, 30))
        cidr = Prefix(4, parent.first + (slot << 6), length)
        pools.append(PoolData(offset, 1, cidr, name=f"s{offset}", type="subnet"))
    return pools


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
    pools, snapshots, in_use = synthetic_organization()
    tree: PoolTree = build_tree(pools)
    seconds, analysis = timed(
        lambda: analyze_tree(tree, now=NOW, settings=SETTINGS, snapshots=snapshots, in_use=in_use)
    )
    org_ok = seconds <= ORGANIZATION_TARGET
    print(
        f"organization: {len(tree):,} pools analysed in {seconds:.3f} s "
        f"(target <= {ORGANIZATION_TARGET:.0f} s: {'met' if org_ok else 'MISSED'}); "
        f"{len(analysis.findings):,} findings, {len(analysis.recommendations):,} recommendations"
    )
    report("organization analysis", seconds, "s", f"<= {ORGANIZATION_TARGET:.0f}", org_ok)
    build_seconds, _ = timed(lambda: build_tree(pools))
    print(f"  building the tree from {len(pools):,} PoolData values: {build_seconds:.3f} s")

    crowded = build_tree(crowded_pool())
    seconds, result = timed(lambda: analyze_pool(crowded, 1, now=NOW, settings=SETTINGS))
    pool_ok = seconds <= POOL_TARGET
    print(
        f"pool with {len(crowded.children_of(1)):,} children analysed in {seconds:.3f} s "
        f"(target <= {POOL_TARGET:.0f} s: {'met' if pool_ok else 'MISSED'}); "
        f"{result.gaps.count:,} free blocks, fragmentation {result.fragmentation.score}, "
        f"utilization {result.utilization.percent} %"
    )
    report("crowded pool analysis", seconds, "s", f"<= {POOL_TARGET:.0f}", pool_ok)
    seconds, whole = timed(lambda: analyze_tree(crowded, now=NOW, settings=SETTINGS), repeat=1)
    print(
        f"  the same tree analysed pool by pool with recommendations: {seconds:.3f} s "
        f"({len(whole.recommendations):,} recommendations; no target)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
