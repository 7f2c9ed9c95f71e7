"""Benchmark the collectors: records per second and peak memory against local emulators.

Run from the repository root::

    python bench/bench_collectors.py

AWS: moto's server (behind the test proxy that pages EC2 lists as AWS does, at most 1,000
items a page) runs in a child process on loopback, so the memory measured here is the
collector's alone. Estates of 2,500 and 10,000 records (VPCs with two IPv4 blocks and an
IPv6 block, subnets, interfaces with four private addresses, Elastic IPs) are collected
through the production provider and collector; records are counted, not kept, as the
sync engine streams them. Each estate is collected twice: once timed (wall time, which is
mostly the emulator's, and this process's CPU time, which is the collector's), once under
tracemalloc for the peak memory. The script checks each collection is complete and exact
in size, prints the figures, and exits non-zero when the peak at 10,000 records reaches
twice the peak at 2,500 (memory must not grow with the estate) or 64 MiB, or when the
collector's rate falls under the target. The account's token bucket runs at its default
10 requests a second, as in production.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3
from _report import broken, report

from apps.cloud.providers import ProviderConfig
from apps.cloud.providers.aws import client_factory
from apps.discovery.collectors import AccountRef
from apps.discovery.collectors.aws import collect
from tests.discovery.aws_fake import ACCOUNT, build_estate

ROOT = Path(__file__).resolve().parent.parent

REGION = "us-east-1"
# (VPCs, Elastic IPs) giving exactly 2,500 and 10,000 records with 10 subnets a VPC and
# 11 interfaces of 4 addresses a subnet: 513 records a VPC.
ESTATES = {2_500: (4, 448), 10_000: (19, 253)}
MEMORY_RATIO = 2.0
MEMORY_CAP = 64 * 2**20
# Records per CPU second of this process: the collector's own cost (parsing the answers,
# building records), apart from the emulator's, which runs in its own process.
RATE_TARGET = 2_000.0

SERVER = """
import json, sys
from tests.discovery.aws_fake import FakeAws
with FakeAws() as fake:
    print(json.dumps({"url": fake.url, "moto": "http://%s:%d" % fake.moto_address}), flush=True)
    sys.stdin.read()
"""


def main() -> int:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's dummy key
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        AWS_EC2_METADATA_DISABLED="true",
    )
    peaks: dict[int, int] = {}
    for size, (vpcs, eips) in ESTATES.items():
        with subprocess.Popen(
            [sys.executable, "-c", SERVER],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as server:
            assert server.stdout is not None
            assert server.stdin is not None
            urls = json.loads(server.stdout.readline())
            started = time.perf_counter()
            ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=urls["moto"])
            want = build_estate(
                ec2, REGION, vpcs=vpcs, subnets=10, interfaces=11, addresses=4, eips=eips
            )
            built = time.perf_counter() - started
            assert len(want) == size, len(want)

            seconds, cpu, count, peak, complete = measure(urls["url"])
            server.stdin.close()
            server.wait(timeout=30)

        peaks[size] = peak
        rate = count / cpu
        print(
            f"aws {size:>6,} records: built in {built:5.1f} s, collected in {seconds:5.2f} s "
            f"({count / seconds:6,.0f} records/s end to end, {rate:6,.0f} records per CPU "
            f"second of the collector), peak {peak / 2**20:5.2f} MiB"
        )
        if count != size or not complete:
            broken(f"{count} records of {size}, complete={complete}")
        report(
            f"aws {size:,} records per CPU second",
            rate,
            "/s",
            f">= {RATE_TARGET:,.0f}",
            rate >= RATE_TARGET,
        )
    ratio = peaks[10_000] / peaks[2_500]
    print(f"aws peak memory 10,000 / 2,500 records: {ratio:.2f} (target < {MEMORY_RATIO})")
    report("aws peak memory 10,000 / 2,500", ratio, "x", f"< {MEMORY_RATIO}", ratio < MEMORY_RATIO)
    top = max(peaks.values())
    report(
        "aws peak memory",
        top / 2**20,
        "MiB",
        f"< {MEMORY_CAP / 2**20:.0f}",
        top < MEMORY_CAP,
    )
    return 0


def measure(url: str) -> tuple[float, float, int, int, bool]:
    """Collect the account twice: return wall and CPU seconds, records and completeness of
    a plain collection, and the peak traced bytes of a second one under tracemalloc
    (which slows Python down too much to time the same run)."""
    config = ProviderConfig(
        provider="aws",
        external_id=ACCOUNT,
        auth_method="access_keys",
        options={"access_key_id": "testing"},
        secrets={"secret_access_key": "testing"},
        endpoint_url=url,
    )
    # The production pacing: the token bucket at its default 10 requests a second.
    account = AccountRef("aws", ACCOUNT)

    started, cpu = time.perf_counter(), time.process_time()
    collection = collect(client_factory(config), account, [REGION])
    count = sum(1 for _ in collection)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    complete = collection.complete_regions == (REGION,)

    tracemalloc.start()
    traced = collect(client_factory(config), account, [REGION])
    complete = complete and sum(1 for _ in traced) == count
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, cpu, count, peak, complete


if __name__ == "__main__":
    sys.exit(main())
