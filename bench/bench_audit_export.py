"""
Benchmark: stream audit exports of 10,000 and 100,000 events in constant memory.

Builds a throwaway SQLite database with a valid hash chain of events (written
in bulk), then downloads the CSV and JSON-lines exports through the real view
and prints the time and the peak Python memory (tracemalloc) of each. Fails
when the peak for 100,000 events is not about the same as for 10,000.

    DJANGO_SETTINGS_MODULE=cloudpam.settings.test python bench/bench_audit_export.py
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = tempfile.mkdtemp(prefix="cloudpam-bench-audit-")
# A throwaway database and state directory, before Django reads its settings.
os.environ["DATABASE_URL"] = f"sqlite:///{WORKDIR}/bench.sqlite3"
os.environ["CLOUDPAM_VAR_DIR"] = WORKDIR
os.environ.pop("REDIS_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpam.settings.test")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import django  # noqa: E402
from _report import report  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from apps.audit.hashing import GENESIS_HASH  # noqa: E402
from apps.audit.models import AuditChain, AuditEvent  # noqa: E402
from apps.tenancy.models import Membership, Organization, User  # noqa: E402

SMALL, LARGE = 10_000, 100_000
BATCH = 5_000
# Peak memory for LARGE may exceed SMALL's by this factor plus a fixed slack at most.
MAX_GROWTH, SLACK_MIB = 1.5, 2.0


def add_events(organization: Organization, user: User, count: int) -> None:
    """Append ``count`` chained events to the organization's chain, in bulk."""
    chain, _ = AuditChain.objects.get_or_create(pk=organization.pk)
    sequence, prev_hash = chain.last_sequence, chain.last_hash or GENESIS_HASH
    start = datetime(2030, 1, 1, tzinfo=UTC)
    batch: list[AuditEvent] = []
    for _ in range(count):
        sequence += 1
        event = AuditEvent(
            organization_id=organization.pk,
            sequence=sequence,
            prev_hash=prev_hash,
            timestamp=start + timedelta(seconds=sequence),
            action="update",
            object_type="pool",
            object_pk=str(sequence % 5000),
            object_id=sequence % 5000,
            object_repr=f"pool-{sequence % 5000} 10.{sequence % 256}.0.0/16",
            changes={
                "name": [f"pool-{sequence}", f"pool-{sequence + 1}"],
                "status": ["planned", "active"],
                "tags": [{"env": "dev"}, {"env": "prod", "team": "network"}],
            },
            actor_id=user.pk,
            actor_email=user.email,
            actor_token_name="",
            actor_system="",
            cid=f"req-{sequence:012d}",
            remote_addr="192.0.2.10",
            user_agent="bench/1.0",
        )
        event.hash = event.compute_hash()
        prev_hash = event.hash
        batch.append(event)
        if len(batch) == BATCH:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    AuditEvent.objects.bulk_create(batch)
    AuditChain.objects.filter(pk=chain.pk).update(last_sequence=sequence, last_hash=prev_hash)


def download(client: Client, file_format: str) -> tuple[int, int, float]:
    """Stream one export to nowhere; return (lines, bytes, seconds)."""
    started = time.perf_counter()
    response = client.get(f"/api/v1/audit/events/export/?format={file_format}")
    assert response.status_code == 200, response.status_code
    assert response.streaming
    lines = size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    response.close()
    return lines, size, time.perf_counter() - started


def measure(client: Client, file_format: str) -> dict[str, float]:
    lines, size, seconds = download(client, file_format)  # untraced: the real time
    tracemalloc.start()
    download(client, file_format)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"lines": lines, "mib": size / 2**20, "seconds": seconds, "peak_mib": peak / 2**20}


def main() -> int:
    # Only the figures: the set-up's own audit and access log lines would drown them.
    logging.disable(logging.INFO)
    call_command("migrate", verbosity=0)
    organization = Organization.objects.create(name="Bench", slug="bench")
    user = User.objects.create_user("auditor@bench.example", "bench password 0123")
    Membership.objects.create(user=user, organization=organization, role="auditor")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)

    results: dict[tuple[int, str], dict[str, float]] = {}
    existing = AuditEvent.objects.filter(organization=organization).count()
    for total in (SMALL, LARGE):
        started = time.perf_counter()
        add_events(organization, user, total - existing)
        existing = total
        inserted = time.perf_counter() - started
        print(f"{total:>7} events in the organization (bulk insert {inserted:.1f} s)")
        for file_format in ("csv", "jsonl"):
            result = measure(client, file_format)
            results[(total, file_format)] = result
            print(
                f"  {file_format:<5} {int(result['lines']):>7} lines {result['mib']:7.1f} MiB "
                f"in {result['seconds']:5.2f} s "
                f"({result['lines'] / result['seconds']:,.0f} lines/s), "
                f"peak Python memory {result['peak_mib']:.2f} MiB"
            )

    for file_format in ("csv", "jsonl"):
        small, large = results[(SMALL, file_format)], results[(LARGE, file_format)]
        limit = small["peak_mib"] * MAX_GROWTH + SLACK_MIB
        verdict = "constant" if large["peak_mib"] <= limit else "GROWS"
        report(
            f"{file_format} export peak at {LARGE:,} events",
            large["peak_mib"],
            "MiB",
            f"<= {limit:.2f}",
            verdict == "constant",
        )
        print(
            f"{file_format}: peak {small['peak_mib']:.2f} MiB at {SMALL:,} events, "
            f"{large['peak_mib']:.2f} MiB at {LARGE:,} events (limit {limit:.2f} MiB): {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
