"""Drift findings against an independent model, on generated plans and estates (no database).

The brute-force model of ``test_reconcile_engine`` decides each resource's and pool's
standing by comparing every pair; the kinds of drift follow from it by the rules of
``apps.discovery.drift`` (one finding per resource or pool, the first kind that applies).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.discovery import reconcile as engine
from apps.discovery.drift import drift_compute
from apps.discovery.reconciliation import Computed, PoolRow, ResourceRow
from tests.discovery.test_reconcile_engine import estates, model


def rows(pools, resources, resource_ids, account_of=lambda item: 1):
    pool_rows = [
        PoolRow(item=pool, name=f"p{pool.id}", cloud_account_id=None, orphaned=False)
        for pool in pools
    ]
    resource_rows = [
        ResourceRow(
            item=item,
            account_id=account_of(item),
            resource_id=resource_ids[item.id],
            name="",
            resource_type="subnet",
            tags={},
            pool_id=None,
            management_state="",
            overlap_status="",
            overlaps_with=[],
            compliance=[],
            reconciled=True,
        )
        for item in resources
    ]
    return pool_rows, resource_rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates(), st.data())
def test_drift_agrees_with_the_model(estate, data) -> None:
    pools, resources = estate
    # A few resources share a cloud id: a changed CIDR shows as a new row of the same id.
    resource_ids = {
        item.id: f"r-{data.draw(st.integers(1, max(1, len(resources))))}" for item in resources
    }
    pool_rows, resource_rows = rows(pools, resources, resource_ids)
    result = engine.reconcile(pools, resources)
    found = {f["key"]: f for f in drift_compute(Computed(pool_rows, resource_rows, result))}
    expected = model(pools, resources)

    want: dict[str, str] = {}
    for item in resources:
        standing = expected["resources"].get(item.id)
        if standing is None or item.state != "present":
            continue
        if standing["state"] in ("ignored", "managed"):
            continue
        if standing["pool_sides"] or standing["resource_sides"]:
            kind = "overlap"
        elif standing["duplicates"]:
            kind = "duplicate"
        elif standing["state"] == "outside":
            kind = "outside"
        elif standing["exact"] is None:
            kind = "unmanaged"
        else:
            continue
        want[f"{kind}:resource:{item.id}"] = kind
    by_id = {item.id: item for item in resources}
    for pool in pools:
        if not expected["orphaned"][pool.id]:
            continue
        was = by_id.get(expected["links"][pool.id])
        changed = was is not None and any(
            other.state == "present"
            and resource_ids[other.id] == resource_ids[was.id]
            and other.cidr != pool.cidr
            and other.cidr.family == pool.cidr.family
            for other in resources
        )
        kind = "cidr_changed" if changed else "orphaned_pool"
        want[f"{kind}:pool:{pool.id}"] = kind

    assert {key: f["kind"] for key, f in found.items()} == want
    for finding in found.values():
        action = finding["suggestion"]["action"]
        assert (
            action
            == {
                "overlap": "ignore",
                "duplicate": "ignore",
                "outside": "create_parent",
                "unmanaged": "import_as_pool",
                "orphaned_pool": "retire_pool",
                "cidr_changed": "link_to_pool",
            }[finding["kind"]]
        )
        if finding["kind"] == "unmanaged":
            assert finding["suggestion"]["params"]["parent"] == finding["pool_id"]
            assert finding["pool_id"] == expected["resources"][finding["resource_id"]]["pool"]
