"""The digest of what an organization's reconciliation reads and writes.

A reconciliation is a function of the live pools, the resources, the drift findings and
the organization's settings (its rules on resources do not look at the clock). When none of
them changed since a reconciliation that wrote nothing, another one would write nothing
too: ``estate_digest`` tells, reading the three tables in one aggregate each instead of
reconciling 100,000 resources.

The digest is a sum of one 64-bit hash per row over the columns the reconciliation uses,
so it changes with any insert, delete or edit of such a column and not with the rest
(a sync run's ``last_seen_run`` bump, say). PostgreSQL sums the rows itself; elsewhere
(SQLite, for development) the rows are read and hashed here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import connection

from apps.discovery.models import DiscoveredResource, DriftFinding
from apps.pools.models import Pool
from apps.tenancy.models import Organization

# Bumped when what a reconciliation computes from the same rows changes (a full
# reconciliation at least once a day brings any other code change in anyway).
VERSION = "1"
# What the reconciliation reads of a pool (apps.discovery.reconciliation.load_pools).
POOL_COLUMNS = (
    "pk",
    "parent_id",
    "family",
    "first_key",
    "prefix_length",
    "path",
    "separate_routing_domain",
    "source",
    "cloud_resource_id",
    "cloud_account_id",
    "orphaned_at",
    "name",
)
# What the reconciliation reads of a resource (apps.discovery.reconciliation loads the
# same columns), then when it was last reconciled.
RESOURCE_INPUT_COLUMNS = (
    "pk",
    "family",
    "first_key",
    "prefix_length",
    "network_id",
    "state",
    "management_state",
    "account_id",
    "resource_id",
    "name",
    "resource_type",
    "tags",
    "pool_id",
    "overlap_status",
    "overlaps_with",
    "compliance",
)
RESOURCE_COLUMNS = (*RESOURCE_INPUT_COLUMNS, "reconciled_at")
FINDING_COLUMNS = (
    "pk",
    "key",
    "status",
    "kind",
    "severity",
    "account_id",
    "resource_id",
    "pool_id",
    "message",
    "suggestion",
)
_CHUNK = 5_000


def estate_digest(organization: Organization) -> str:
    """Return the digest of ``organization``'s reconciliation inputs and outputs.

    The organization's settings are taken as stored (the compliance rules are resolved
    from them, and the resolved rules hold compiled patterns that spell differently in
    every process).
    """
    parts = [
        VERSION,
        json.dumps(organization.settings or {}, sort_keys=True, default=str),
        _table_digest(Pool.objects.for_organization(organization).live(), POOL_COLUMNS),
        _table_digest(DiscoveredResource.objects.for_organization(organization), RESOURCE_COLUMNS),
        _table_digest(DriftFinding.objects.for_organization(organization), FINDING_COLUMNS),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _table_digest(queryset: Any, columns: tuple[str, ...]) -> str:
    """Return the row count and the sum of the rows' hashes of ``queryset``'s ``columns``."""
    if connection.vendor == "postgresql":
        sql, params = queryset.order_by().values_list(*columns).query.sql_with_params()
        # A row's text spells every column (NULL apart from an empty string), so the hash
        # of one changes with any of them; the sum does not depend on the order.
        # The ORM's own statement, wrapped: no outside text goes into it.
        query = f"SELECT count(*), coalesce(sum(hashtextextended(r::text, 0)), 0)::text FROM ({sql}) AS r"  # noqa: S608, E501
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            count, total = cursor.fetchone()
        return f"{count}:{total}"
    count = total = 0
    # One query, read a chunk at a time: memory stays flat.
    for row in queryset.order_by().values_list(*columns).iterator(chunk_size=_CHUNK):
        total += int.from_bytes(
            hashlib.blake2b(repr(row).encode(), digest_size=8).digest(), "big", signed=True
        )
        count += 1
    return f"{count}:{total}"
