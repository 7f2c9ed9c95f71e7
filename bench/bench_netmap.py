"""Benchmark the network view's two-lane picture: 100,000 blocks per lane, streamed.

Run from the repository root::

    python bench/bench_netmap.py

For an IPv4 /8 and an IPv6 /32 it lays out 100,000 planned children and 100,000 discovered
CIDRs (a network per 16 subnets, each holding addresses, so the discovered lane nests),
in address order. It times the layout over blocks already built (as bench_cidr times the
engine over parsed prefixes; building them is the database's streaming), then lays the
same lanes out from generators, as the page streams them from the database, and prints the
number of bars drawn and the peak memory (tracemalloc) at 10,000 and 100,000 blocks. It
exits non-zero when a picture takes longer than the target, draws more bars than a lane
allows, or memory grows with the estate (peak at 100,000 over peak at 10,000 above the
ratio target).
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import broken, report

from apps.discovery.netmap import MAX_DEPTH, MIN_UNITS, SCALE, Block, two_lanes
from apps.pools.cidr import Prefix, parse_prefix

BLOCKS = 100_000
SMALL = 10_000
TIME_TARGET = 0.5  # seconds to lay out one picture of 2 x 100,000 blocks
MEMORY_RATIO_TARGET = 1.5
MAX_BARS = (SCALE // MIN_UNITS) * (MAX_DEPTH + 1)


def planned(pool: Prefix, count: int) -> Iterator[Block]:
    """Yield ``count`` equal, adjacent children from the start of ``pool``."""
    length = pool.length + (count - 1).bit_length()
    size = 1 << (pool.bits - length)
    for n in range(count):
        first = pool.first + n * size
        yield Block(first, first + size - 1, "reserved" if n % 7 == 0 else "used", "", n)


def discovered(pool: Prefix, count: int) -> Iterator[Block]:
    """Yield networks of 16 subnets of 4 addresses each, in address order, nested."""
    networks = max(count // (1 + 16 * 5), 1)
    length = pool.length + (networks - 1).bit_length() + 1
    network_size = 1 << (pool.bits - length)
    subnet_size = network_size // 32
    emitted = 0
    for n in range(networks):
        base = pool.first + n * network_size
        yield Block(base, base + network_size - 1, "managed", "", emitted)
        emitted += 1
        for s in range(16):
            start = base + s * subnet_size
            yield Block(start, start + subnet_size - 1, "unmanaged", "", emitted)
            emitted += 1
            for a in range(4):
                address = start + a * 3
                yield Block(address, address, "overlapping" if a == 3 else "unmanaged", "", 0)
                emitted += 1


def measure(pool: Prefix, count: int) -> tuple[float, int, int, int]:
    """Return (seconds, planned bars, discovered bars, peak bytes) of one picture."""
    tracemalloc.start()
    start = time.perf_counter()
    picture = two_lanes(pool, planned=planned(pool, count), discovered=discovered(pool, count))
    elapsed = time.perf_counter() - start
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, len(picture.planned), len(picture.discovered), peak


def main() -> int:
    met = True
    for label, text in (("IPv4 /8", "10.0.0.0/8"), ("IPv6 /32", "2001:db8::/32")):
        pool = parse_prefix(text)
        # Timing without tracemalloc, which slows allocation down; best of three.
        top, bottom = list(planned(pool, BLOCKS)), list(discovered(pool, BLOCKS))
        elapsed = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            two_lanes(pool, planned=top, discovered=bottom)
            elapsed = min(elapsed, time.perf_counter() - start)
        _t, planned_bars, discovered_bars, peak_large = measure(pool, BLOCKS)
        _t, _p, _d, peak_small = measure(pool, SMALL)
        ratio = peak_large / peak_small
        print(
            f"{label}: 2 x {BLOCKS:,} blocks in {elapsed:.3f} s; bars {planned_bars} planned, "
            f"{discovered_bars} discovered; peak memory {peak_small / 1024:.0f} KiB at "
            f"{SMALL:,}, {peak_large / 1024:.0f} KiB at {BLOCKS:,} (x{ratio:.2f})"
        )
        if planned_bars > SCALE // MIN_UNITS or discovered_bars > MAX_BARS:
            broken(f"{label}: more bars than a lane allows ({MAX_BARS})")
        report(f"{label} layout", elapsed, "s", f"<= {TIME_TARGET}", elapsed <= TIME_TARGET)
        report(
            f"{label} memory growth",
            ratio,
            "x",
            f"<= {MEMORY_RATIO_TARGET}",
            ratio <= MEMORY_RATIO_TARGET,
        )
        met &= elapsed <= TIME_TARGET and ratio <= MEMORY_RATIO_TARGET
    print("all targets met" if met else "SOME TARGETS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
