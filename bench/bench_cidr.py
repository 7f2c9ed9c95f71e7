"""Benchmark the CIDR engine against the netaddr IPSet method that NetBox uses for free space.

Run from the repository root::

    python bench/bench_cidr.py

Both methods get the same parent and the same 100,000 children, already parsed (Prefix
objects for the engine, IPNetwork objects for netaddr, as each would come from its model
field) and in no particular order, so the engine's timing includes its sort. The script
checks that both find the same free blocks, prints the timings and exits non-zero when a
target is missed.
"""

from __future__ import annotations

import functools
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import netaddr
from _report import broken, report

from apps.pools.cidr import Prefix, best_fit, first_fit, free_blocks, parse_prefix

CHILDREN = 100_000
SEED = 20_241_125
RUNS = 5
NETADDR_RUNS = 2
# Targets for free space in a /8 with 100,000 children, from the pools issue.
TIME_TARGET = 0.3
RATIO_TARGET = 10.0

T = TypeVar("T")


def best_of(runs: int, function: Callable[[], T]) -> tuple[float, T]:
    """Return the shortest wall time of ``runs`` calls of ``function``, and its result."""
    best = float("inf")
    result: T
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def carve(rng: random.Random, first: int, length: int, out: list[Prefix]) -> None:
    """Fill the IPv4 block ``first/length`` (a /24 to /28) like a real address plan.

    A block is allocated whole, left free, or split in two halves that are carved in
    turn, which gives nested free space of every size from /24 to /28.
    """
    roll = rng.random()
    allocate, leave = (0.10, 0.15) if length == 24 else (0.35, 0.20)
    if length == 28:
        allocate, leave = 0.70, 0.30
    if roll < allocate:
        out.append(Prefix(4, first, length))
    elif roll >= allocate + leave:
        half = 1 << (32 - length - 1)
        carve(rng, first, length + 1, out)
        carve(rng, first + half, length + 1, out)


def ipv4_plan(rng: random.Random) -> tuple[Prefix, list[Prefix]]:
    """Return 10.0.0.0/8 and 100,000 non-overlapping /24 to /28 children with gaps."""
    parent = parse_prefix("10.0.0.0/8")
    children: list[Prefix] = []
    for slot in range(1 << 16):
        carve(rng, parent.first + (slot << 8), 24, children)
        if len(children) >= CHILDREN:
            break
    del children[CHILDREN:]
    rng.shuffle(children)
    return parent, children


def ipv6_plan(rng: random.Random) -> tuple[Prefix, list[Prefix]]:
    """Return 2001:db8::/32 and 100,000 /64 children grouped in /56 VPCs of /48 sites.

    Each site uses a few /56s, each filled with /64 subnets from its start, with the odd
    subnet left out, as cloud VPCs are.
    """
    parent = parse_prefix("2001:db8::/32")
    children: list[Prefix] = []
    sites = rng.sample(range(1 << 16), 4_000)
    for site in sites:
        site_first = parent.first | site << 80
        for vpc in rng.sample(range(256), rng.randint(1, 4)):
            vpc_first = site_first | vpc << 72
            children.extend(
                Prefix(6, vpc_first | subnet << 64, 64)
                for subnet in range(rng.randint(4, 24))
                if rng.random() < 0.9
            )
        if len(children) >= CHILDREN:
            break
    del children[CHILDREN:]
    rng.shuffle(children)
    return parent, children


def correct(ok: bool, what: str) -> None:
    """Stop with a broken result unless ``ok``: a wrong answer makes the timing moot."""
    if not ok:
        broken(what)


def bench_case(label: str, parent: Prefix, children: list[Prefix], prefix_length: int) -> bool:
    """Time free space and allocation on one plan; return whether every target is met."""
    networks = [netaddr.IPNetwork(str(child)) for child in children]
    parent_network = netaddr.IPNetwork(str(parent))

    def with_netaddr() -> list[netaddr.IPNetwork]:
        return list((netaddr.IPSet([parent_network]) - netaddr.IPSet(networks)).iter_cidrs())

    engine_time, blocks = best_of(RUNS, lambda: free_blocks(parent, children))
    netaddr_time, expected = best_of(NETADDR_RUNS, with_netaddr)
    ratio = netaddr_time / engine_time
    print(
        f"free_blocks {label} with {len(children)} children: cidr.py {engine_time:.3f} s, "
        f"netaddr IPSet {netaddr_time:.2f} s, ratio {ratio:.1f}x ({len(blocks)} free blocks)"
    )
    same = [(block.first, block.length) for block in blocks] == [
        (int(network.first), network.prefixlen) for network in expected
    ]
    correct(same, f"free_blocks {label}: not the free blocks netaddr finds")
    met = engine_time <= TIME_TARGET and ratio >= RATIO_TARGET
    report(
        f"free_blocks {label}", engine_time, "s", f"<= {TIME_TARGET}", engine_time <= TIME_TARGET
    )
    report(
        f"free_blocks {label} vs netaddr",
        ratio,
        "x",
        f">= {RATIO_TARGET:.0f}",
        ratio >= RATIO_TARGET,
    )

    # Cross-check the allocators with the free blocks just verified against netaddr.
    holders = [block for block in blocks if block.length <= prefix_length]
    lowest = min(holders, key=lambda block: block.first)
    smallest = min(holders, key=lambda block: (-block.length, block.first))
    for name, function, block in (
        ("first_fit", first_fit, lowest),
        ("best_fit", best_fit, smallest),
    ):
        elapsed, chosen = best_of(
            RUNS, functools.partial(function, parent, children, prefix_length)
        )
        print(f"{name} /{prefix_length} in {label}: cidr.py {elapsed:.3f} s -> {chosen}")
        correct(
            chosen == Prefix(parent.family, block.first, prefix_length),
            f"{name} {label}: not the right block",
        )
        met &= elapsed <= TIME_TARGET
        report(f"{name} /{prefix_length} in {label}", elapsed, "s", f"<= {TIME_TARGET}", met)
    return met


def main() -> int:
    """Run every case and return the exit status."""
    rng = random.Random(SEED)
    met = bench_case("/8", *ipv4_plan(rng), prefix_length=25)
    met &= bench_case("IPv6 /32 (/64 children)", *ipv6_plan(rng), prefix_length=60)
    print("all targets met" if met else "SOME TARGETS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
