"""Benchmark the agents' ingest endpoint: full 5,000-record gzip batches, end to end.

Run with ``make bench`` (SQLite), or against PostgreSQL with ``DATABASE_URL=postgres://...``.
It builds a throw-away test database, registers and approves an agent with the production
Argon2id costs, and pushes ``BATCHES`` batches of 5,000 distinct records through the
test client (authentication, gzip inflation, validation of every record, the idempotency
check, compression and the insert). It prints the median time per batch, the records/s,
the bytes stored per record and the time of a resent (duplicate) batch.

Exits non-zero below 5,000 records/s: an agent's 5,000-record batch must take under a
second of server time.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import broken, report

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpam.settings.test")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

BATCHES = 10
RECORDS = 5000
TARGET_RECORDS_PER_SECOND = 5000.0


def _batch(number: int) -> bytes:
    records = []
    for i in range(RECORDS):
        n = number * RECORDS + i
        records.append(
            {
                "provider": "aws",
                "resource_type": "eni_private_ip",
                "resource_id": f"eni-{n:08x}",
                "cidr": f"10.{n // 65536}.{n // 256 % 256}.{n % 256}/32",
                "name": f"app-{n % 97}",
                "region": "eu-west-1",
                "network_id": f"vpc-{n % 40:04x}",
                "parent_resource_id": f"subnet-{n % 400:05x}",
                "account_external_id": "123456789012",
                "state": "in-use",
                "tags": {"team": "network", "env": "prod"},
                "attributes": {"primary": n % 4 == 0, "interface_type": "interface"},
            }
        )
    body = {
        "batch_id": f"bench-{number}",
        "provider": "aws",
        "account_external_id": "123456789012",
        "regions": [{"region": "eu-west-1", "ok": True, "records": RECORDS}],
        "records": records,
    }
    return gzip.compress(json.dumps(body).encode(), compresslevel=6)


def main() -> int:
    logging.getLogger("cloudpam.request").setLevel(logging.WARNING)
    settings.CLOUDPAM_TOKEN_HASH_PARAMS = {}
    settings.ALLOWED_HOSTS = ["testserver"]
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        return run()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run() -> int:
    from rest_framework.test import APIClient

    from apps.discovery import services
    from apps.discovery.models import IngestBatch
    from apps.tenancy.models import Organization
    from apps.tenancy.rls import tenant_context
    from cloudpam.context import system_actor

    actor = system_actor("bench")
    organization = Organization.objects.create(name="Bench", slug="bench")
    with tenant_context(organization):
        token, _value = services.agent_provisioning_token_create(
            organization=organization, name="bench", actor=actor
        )
        agent, credential = services.agent_register(token=token, name="bench")
        services.agent_approve(agent=agent, actor=actor)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")

    def push(body: bytes) -> tuple[float, int]:
        start = time.perf_counter()
        response = client.generic(
            "POST",
            "/api/v1/discovery/ingest/",
            data=body,
            content_type="application/json",
            HTTP_CONTENT_ENCODING="gzip",
        )
        return time.perf_counter() - start, response.status_code

    bodies = [_batch(number) for number in range(BATCHES)]
    timings = []
    for body in bodies:
        elapsed, status = push(body)
        if status != 201:
            broken(f"unexpected status {status}")
        timings.append(elapsed)
    resent, status = push(bodies[0])
    if status != 200:
        broken(f"unexpected status {status} for a resent batch")

    with tenant_context(organization):
        stored = sum(len(bytes(b.payload)) for b in IngestBatch.objects.all())
    median = statistics.median(timings)
    rate = RECORDS / median
    print(f"database            {connection.vendor}")
    print(f"wire size           {statistics.median(len(b) for b in bodies) / 1024:,.0f} KiB gzip")
    print(f"median per batch    {median * 1000:,.0f} ms ({RECORDS:,} records)")
    print(f"records/s           {rate:,.0f}")
    print(f"stored per record   {stored / (BATCHES * RECORDS):,.1f} bytes (gzip JSON)")
    print(f"resent batch        {resent * 1000:,.0f} ms (validated, found, 200)")
    report(
        "ingest records/s",
        rate,
        "/s",
        f">= {TARGET_RECORDS_PER_SECOND:,.0f}",
        rate >= TARGET_RECORDS_PER_SECOND,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
