"""How reconciliation writes: record sets, windows and chunks, stored JSON compared."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.discovery import drift, reconciliation
from apps.discovery.models import DiscoveredResource, DriftFinding
from apps.discovery.reconciliation import _same_json, resources_reconcile
from apps.pools.models import Pool
from apps.pools.services import pool_create
from cloudpam.db import bulk
from tests.actors import TEST_ACTOR
from tests.discovery import factories
from tests.discovery.test_reconciliation import make_account

pytestmark = pytest.mark.django_db


def test_insert_values_and_update_rows_keep_json_text_and_timestamps(organization) -> None:
    account = make_account(organization)
    detected = timezone.now() - timedelta(days=2)
    suggestion = {"action": "ignore", "params": {"resource": 7, "note": 'ü "quoted" \\ \n'}}
    findings = (
        {
            "organization_id": organization.pk,
            "account_id": account.pk,
            "kind": "outside",
            "severity": "warning",
            "key": f"outside:resource:{index}",
            "message": f"finding {index} ✓",
            "suggestion": suggestion,
            "detected_at": detected,
        }
        for index in range(5)
    )
    assert bulk.insert_values(DriftFinding, findings) == 5
    stored = list(DriftFinding.objects.filter(account=account).order_by("key"))
    assert [row.message for row in stored] == [f"finding {index} ✓" for index in range(5)]
    assert all(row.suggestion == suggestion for row in stored)
    assert all(row.detected_at == detected for row in stored)
    # auto_now is stamped as a save would stamp it; what a row leaves out takes its default.
    assert all(row.updated_at > detected for row in stored)
    assert all(row.status == "open" and row.result == {} for row in stored)
    assert all(row.ignored_reason == "" and row.ignored_by_id is None for row in stored)
    with pytest.raises(TypeError, match="has no field colour"):
        bulk.insert_values(DriftFinding, [{"organization_id": organization.pk, "colour": 1}])

    later = timezone.now() + timedelta(minutes=1)
    bulk.update_rows(
        DriftFinding,
        [("message", "text"), ("suggestion", "jsonb"), ("updated_at", "timestamptz")],
        [(row.pk, f"changed {row.pk}", {"list": [1, None, True]}, later) for row in stored[:3]],
    )
    after = {row.pk: row for row in DriftFinding.objects.filter(account=account)}
    for row in stored[:3]:
        assert after[row.pk].message == f"changed {row.pk}"
        assert after[row.pk].suggestion == {"list": [1, None, True]}
        assert after[row.pk].updated_at == later
    for row in stored[3:]:
        assert after[row.pk].message == row.message
        assert after[row.pk].suggestion == suggestion


def test_stored_json_is_compared_by_value_whatever_its_spelling() -> None:
    value = [{"kind": "pool", "id": 5, "cidr": "10.0.0.0/8"}]
    # As PostgreSQL prints a jsonb (keys by length), as Django writes it, and compacted.
    assert _same_json('[{"id": 5, "cidr": "10.0.0.0/8", "kind": "pool"}]', value)
    assert _same_json('[{"kind": "pool", "id": 5, "cidr": "10.0.0.0/8"}]', value)
    assert _same_json('[{"kind":"pool","id":5,"cidr":"10.0.0.0/8"}]', value)
    assert _same_json(value, value)  # a driver that decodes JSON itself
    assert not _same_json('[{"id": 6, "cidr": "10.0.0.0/8", "kind": "pool"}]', value)
    assert not _same_json("[]", value)
    assert _same_json("[]", [])
    assert _same_json(" [ ] ", [])
    assert not _same_json("[]", {})
    assert not _same_json("[]", [[]])
    assert _same_json('"ümlaut"', "ümlaut")


def _estate(organization: Any) -> Any:
    account = make_account(organization)
    root = pool_create(organization=organization, name="corp", cidr="10.0.0.0/8", actor=TEST_ACTOR)
    pool_create(
        organization=organization, name="vpc", cidr="10.1.0.0/16", parent=root, actor=TEST_ACTOR
    )
    factories.resource(account, "10.1.0.0/16", "vpc-1")
    for index in range(6):
        factories.resource(account, f"10.2.{index}.0/24", f"subnet-{index}", resource_type="subnet")
    for index in range(3):
        factories.resource(account, f"172.16.{index}.0/24", f"out-{index}", resource_type="subnet")
    # A pool linked before to a resource now gone, whose id came back with another block.
    gone = factories.resource(account, "10.3.0.0/24", "subnet-moved", state="gone")
    factories.resource(account, "10.3.1.0/24", "subnet-moved", resource_type="subnet")
    pool_create(
        organization=organization, name="moved", cidr="10.3.0.0/24", parent=root, actor=TEST_ACTOR
    )
    Pool.objects.filter(name="moved", organization=organization).update(cloud_resource=gone)
    return account


def _stored(organization: Any) -> tuple[list[Any], list[Any], list[Any]]:
    resources = list(
        DiscoveredResource.objects.filter(organization=organization)
        .order_by("resource_id", "pk")
        .values_list(
            "resource_id", "pool__name", "management_state", "overlap_status", "compliance"
        )
    )
    pools = [
        (name, resource, orphaned_at is not None)
        for name, resource, orphaned_at in Pool.objects.filter(organization=organization)
        .order_by("name")
        .values_list("name", "cloud_resource__resource_id", "orphaned_at")
    ]
    findings = list(
        DriftFinding.objects.filter(organization=organization)
        .order_by("key")
        .values_list("key", "kind", "message", "suggestion")
    )
    return resources, findings, pools


def test_small_windows_and_chunks_store_what_one_pass_stores(organization, monkeypatch) -> None:
    _estate(organization)
    with monkeypatch.context() as patch:
        # Windows of two resources, fetched two rows at a time between the writes.
        patch.setattr(reconciliation, "WINDOW", 2)
        patch.setattr(reconciliation, "ADDRESS_CHUNK", 2)
        patch.setattr(reconciliation, "CHUNK", 2)
        patch.setattr(reconciliation, "WRITE_CHUNK", 3)
        patch.setattr(drift, "WRITE_BATCH", 2)
        patch.setattr(bulk, "BATCH", 2)
        chunked = resources_reconcile(organization=organization, actor=TEST_ACTOR)
        stored = _stored(organization)
        again = resources_reconcile(organization=organization, actor=TEST_ACTOR)
    assert chunked.changed == 11  # the gone one is not reconciled
    assert chunked.drift == {"unmanaged": 7, "outside": 3, "cidr_changed": 1}
    assert chunked.orphaned == 1
    assert again.changed == 0
    assert again.drift == chunked.drift

    # The same estate reconciled afresh in one chunk stores the same rows.
    DiscoveredResource.objects.filter(organization=organization).exclude(state="gone").update(
        reconciled_at=None, pool=None, management_state="unmanaged", compliance=[]
    )
    DriftFinding.objects.filter(organization=organization).delete()
    Pool.objects.filter(organization=organization).update(
        cloud_resource=None, cloud_account=None, orphaned_at=None
    )
    Pool.objects.filter(organization=organization, name="moved").update(
        cloud_resource=DiscoveredResource.objects.get(resource_id="subnet-moved", state="gone")
    )
    whole = resources_reconcile(organization=organization, actor=TEST_ACTOR)
    assert whole.changed == chunked.changed
    assert whole.drift == chunked.drift
    assert _stored(organization) == stored
