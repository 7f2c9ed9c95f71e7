"""Benchmark the GCP and Azure collectors on 2,500- and 10,000-resource estates.

Run from the repository root::

    python bench/bench_collectors_gcp_azure.py

Each estate is served by the loopback fake of its cloud (tests/fakes) in a child process,
so the memory measured is the collector's alone, and read through the real SDK clients
with the production pacing (the account's token bucket at its default 10 requests a
second, the APIs' largest pages). Each collection runs twice: once timed (records/s) and
once under tracemalloc (peak memory). Records are consumed as they stream, as the sync
engine and the agent do. The script prints the figures and exits non-zero when a target
is missed: at least 1,000 records/s at 10,000 resources, and a peak memory flat in the
estate size (10,000 resources within 1.2 times the 2,500-resource peak, under 64 MiB).
"""

from __future__ import annotations

import multiprocessing
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

from apps.cloud.providers import ProviderConfig
from apps.discovery.collectors import AccountRef

SIZES = (2_500, 10_000)
RATE_TARGET = 1_000.0
FLAT_TARGET = 1.2
PEAK_TARGET = 64 * 1024 * 1024
# Two regions, so that even the smaller estate fills the APIs' largest pages (500 items for
# GCP, 1,000 rows for Resource Graph) and the peaks compare like with like.
GCP_REGIONS = ("europe-west1", "us-central1")
AZURE_LOCATIONS = ("westeurope", "eastus")


def gcp_estate(size: int) -> Any:
    """Return a fake project of ``size`` resources: half subnetworks, half addresses."""
    from tests.fakes.gcp import FakeCompute

    fake = FakeCompute("bench-project", GCP_REGIONS)
    network = fake.add_network("prod")
    per_region = size // len(GCP_REGIONS)
    for r, region in enumerate(GCP_REGIONS):
        for i in range(per_region // 2):
            n = r * per_region + i
            fake.add_subnetwork(
                region,
                f"s{i}",
                network,
                f"10.{n // 256}.{n % 256}.0/24",
                secondary={
                    "pods": f"100.{64 + n // 65536}.{n // 256 % 256}.{n % 256 // 16 * 16}/28"
                },
            )
        for i in range(per_region - per_region // 2):
            n = r * per_region + i
            fake.add_address(f"a{i}", f"34.{n // 65536}.{n // 256 % 256}.{n % 256}", region=region)
    return fake


def azure_estate(size: int) -> Any:
    """Return a fake subscription of ``size`` resources in two locations.

    Resources come in resource groups of ten, as applications are deployed: one VNet (two
    prefixes, four subnets), six NICs in its subnets and three public IPs.
    """
    from tests.fakes.azure import FakeArm

    fake = FakeArm("00000000-0000-0000-0000-0000000be0c4")
    for n in range(size // 10):
        location = AZURE_LOCATIONS[n % len(AZURE_LOCATIONS)]
        group = f"app-{n:05d}"
        block = f"172.{16 + n // 256}.{n % 256}"
        vnet = fake.add_vnet(
            group,
            "vnet",
            location,
            [f"{block}.0/24", f"fd00:{n:x}::/48"],
            {f"s{s}": [f"{block}.{s * 64}/26"] for s in range(4)},
        )
        subnets = [subnet["id"] for subnet in vnet["properties"]["subnets"]]
        for i in range(6):
            fake.add_nic(
                group, f"nic{i}", location, [(subnets[i % 4], f"{block}.{i % 4 * 64 + 4 + i}")]
            )
        for i in range(3):
            m = n * 3 + i
            fake.add_public_ip(
                group, f"pip{i}", location, f"20.{m // 65536}.{m // 256 % 256}.{m % 256}"
            )
    return fake


def serve(build: str, size: int, urls: Any, stop: Any) -> None:
    """Serve one estate until told to stop (the child process)."""
    fake = globals()[build](size)
    fake.record_requests = False
    with fake:
        urls.put(fake.url)
        stop.wait()


def run(provider: str, url: str) -> int:
    """Collect the estate behind ``url``; return the number of records streamed."""
    if provider == "gcp":
        from apps.cloud.providers import gcp as providers
        from apps.discovery.collectors import gcp as collector

        config = ProviderConfig("gcp", "bench-project", "service_account_key", endpoint_url=url)
    else:
        from apps.cloud.providers import azure as providers
        from apps.discovery.collectors import azure as collector

        config = ProviderConfig(
            "azure", "00000000-0000-0000-0000-0000000be0c4", "client_secret", endpoint_url=url
        )
    collection = collector.collect(
        providers.client_factory(config), AccountRef(provider, config.external_id)
    )
    count = sum(1 for _ in collection)
    failed = collection.failed_regions
    if failed:
        raise SystemExit(f"{provider}: regions failed: {failed}")
    return count


def measure(provider: str, url: str) -> tuple[int, float, int]:
    start = time.perf_counter()
    count = run(provider, url)
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    run(provider, url)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return count, elapsed, peak


def main() -> int:
    # Load the SDKs once, so that their import is not counted as the collector's memory.
    import azure.mgmt.network
    import azure.mgmt.resourcegraph
    import google.cloud.compute_v1

    del azure, google
    context = multiprocessing.get_context("spawn")
    print("provider resources  records  seconds  records/s  peak MiB")
    for provider, build in (("gcp", "gcp_estate"), ("azure", "azure_estate")):
        peaks = {}
        for size in SIZES:
            urls, stop = context.Queue(), context.Event()
            child = context.Process(target=serve, args=(build, size, urls, stop), daemon=True)
            child.start()
            try:
                url = urls.get(timeout=120)
                count, elapsed, peak = measure(provider, url)
            finally:
                stop.set()
                child.join(timeout=10)
            rate = count / elapsed
            peaks[size] = peak
            print(
                f"{provider:8} {size:>9,} {count:>8,} {elapsed:>8.2f} {rate:>10,.0f} "
                f"{peak / 2**20:>9.1f}"
            )
            if size == SIZES[-1]:
                report(
                    f"{provider} records/s at {size:,}",
                    rate,
                    "/s",
                    f">= {RATE_TARGET:,.0f}",
                    rate >= RATE_TARGET,
                )
        ratio = peaks[SIZES[-1]] / peaks[SIZES[0]]
        print(f"{provider:8} peak memory {SIZES[-1]:,} / {SIZES[0]:,} resources: x{ratio:.2f}")
        report(
            f"{provider} peak memory growth", ratio, "x", f"<= {FLAT_TARGET}", ratio <= FLAT_TARGET
        )
        top = peaks[SIZES[-1]]
        report(f"{provider} peak memory", top / 2**20, "MiB", "<= 64", top <= PEAK_TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
