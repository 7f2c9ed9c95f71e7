"""Reconciliation and drift services: stored fields, links, orphans, auto-import, apply, ignore."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.cloud.models import CloudAccount
from apps.cloud.services import account_create
from apps.discovery.choices import DriftKind, DriftStatus
from apps.discovery.drift import drift_apply, drift_ignore
from apps.discovery.models import DiscoveredResource, DriftFinding
from apps.discovery.reconciliation import resources_reconcile
from apps.discovery.selectors import discovered_in_use, drift_summary
from apps.pools.models import Pool
from apps.pools.services import pool_create, pool_update
from cloudpam.exceptions import Conflict
from tests.actors import TEST_ACTOR
from tests.discovery import factories

pytestmark = pytest.mark.django_db


def make_account(organization: Any, **fields: Any) -> CloudAccount:
    data = {
        "name": "prod",
        "provider": "aws",
        "external_id": "123456789012",
        "auth_method": "access_keys",
        "access_key_id": "AKIAEXAMPLE00000001",
    }
    data.update(fields)
    return account_create(actor=TEST_ACTOR, organization=organization, **data)


@pytest.fixture
def account(organization: Any) -> CloudAccount:
    return make_account(organization)


@pytest.fixture
def plan(organization: Any) -> dict[str, Pool]:
    root = pool_create(organization=organization, name="corp", cidr="10.0.0.0/8", actor=TEST_ACTOR)
    vpc = pool_create(
        organization=organization, name="prod", cidr="10.1.0.0/16", parent=root, actor=TEST_ACTOR
    )
    return {"root": root, "vpc": vpc}


def reconcile(organization: Any, **kwargs: Any) -> Any:
    return resources_reconcile(organization=organization, actor=TEST_ACTOR, **kwargs)


def events(action: str, obj: Any) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=action, object_type=obj._meta.model_name, object_id=obj.pk)
    )


def test_resources_are_classified_and_pools_linked(organization, account, plan) -> None:
    vpc = factories.resource(account, "10.1.0.0/16", "vpc-1", network_id="vpc-1", name="prod")
    subnet = factories.resource(
        account, "10.1.2.0/24", "subnet-1", resource_type="subnet", network_id="vpc-1"
    )
    outside = factories.resource(account, "192.168.0.0/16", "vpc-2", network_id="vpc-2")
    peer = factories.resource(account, "10.1.2.0/28", "vpc-3", network_id="vpc-3")

    result = reconcile(organization, account=account)

    assert result.by_state == {"managed": 1, "unmanaged": 2, "outside": 1}
    assert result.linked == 1
    vpc.refresh_from_db()
    assert (vpc.pool_id, vpc.management_state, vpc.overlap_status) == (
        plan["vpc"].pk,
        "managed",
        "overlapping",
    )
    assert vpc.overlaps_with == [{"kind": "resource", "id": peer.pk, "cidr": "10.1.2.0/28"}]
    subnet.refresh_from_db()
    assert subnet.management_state == "unmanaged"
    assert subnet.overlap_status == "overlapping"
    assert subnet.overlaps_with == [{"kind": "resource", "id": peer.pk, "cidr": "10.1.2.0/28"}]
    outside.refresh_from_db()
    assert (outside.pool_id, outside.management_state) == (None, "outside")
    assert outside.reconciled_at is not None
    pool = Pool.objects.get(pk=plan["vpc"].pk)
    assert (pool.cloud_resource_id, pool.cloud_account_id, pool.orphaned_at) == (
        vpc.pk,
        account.pk,
        None,
    )
    (link,) = events("link", pool)
    # The event a save of those fields records, written in bulk with the other links.
    assert link.changes == {"cloud_resource": [None, vpc.pk], "cloud_account": [None, account.pk]}
    kinds = sorted(DriftFinding.objects.values_list("kind", "resource_id"))
    assert kinds == sorted([("overlap", subnet.pk), ("overlap", peer.pk), ("outside", outside.pk)])


def test_a_second_reconciliation_with_nothing_changed_writes_nothing(
    organization, account, plan
) -> None:
    factories.resource(account, "10.1.0.0/16", "vpc-1", network_id="vpc-1")
    factories.resource(account, "10.1.3.0/24", "subnet-1", network_id="vpc-1")
    reconcile(organization)
    with CaptureQueriesContext(connection) as queries:
        result = reconcile(organization)
    writes = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        # Only the digest of what it verified (test_reconciliation_digest.py).
        and "discovery_reconciliationstate" not in query["sql"]
    ]
    assert result.changed == 0
    assert result.linked == 0
    assert writes == []


def test_compliance_findings_are_stored_on_the_resource(organization, account, plan) -> None:
    odd = factories.resource(account, "169.254.0.0/24", "subnet-9", resource_type="subnet")
    reconcile(organization)
    odd.refresh_from_db()
    assert [finding["rule"] for finding in odd.compliance] == ["SPECIAL_PURPOSE"]
    assert odd.compliance[0]["message"] == (
        "subnet 169.254.0.0/24 overlaps special-purpose space: "
        "169.254.0.0/16 (link-local (RFC 3927))."
    )


def test_a_pool_is_orphaned_when_its_resource_is_gone_and_cleared_when_it_returns(
    organization, account, plan
) -> None:
    vpc = factories.resource(account, "10.1.0.0/16", "vpc-1", network_id="vpc-1")
    reconcile(organization)
    DiscoveredResource.objects.filter(pk=vpc.pk).update(state="gone", gone_at=timezone.now())

    result = reconcile(organization)

    pool = Pool.objects.get(pk=plan["vpc"].pk)
    assert result.orphaned == 1
    assert pool.orphaned_at is not None
    assert pool.cloud_resource_id == vpc.pk
    finding = DriftFinding.objects.get(kind=DriftKind.ORPHANED_POOL)
    assert finding.pool_id == pool.pk
    assert finding.suggestion == {
        "action": "retire_pool",
        "params": {"pool": pool.pk, "cidr": "10.1.0.0/16"},
    }

    DiscoveredResource.objects.filter(pk=vpc.pk).update(state="present", gone_at=None)
    reconcile(organization)
    pool.refresh_from_db()
    assert pool.orphaned_at is None
    assert not DriftFinding.objects.filter(kind=DriftKind.ORPHANED_POOL).exists()


def test_auto_import_creates_discovered_pools_largest_first(organization, plan) -> None:
    account = make_account(organization, auto_import=True)
    vpc = factories.resource(account, "10.2.0.0/16", "vpc-2", network_id="vpc-2", name="stage")
    subnet = factories.resource(
        account, "10.2.1.0/24", "subnet-2", resource_type="subnet", network_id="vpc-2"
    )

    result = reconcile(organization, account=account)

    assert result.imported == 2
    new_vpc = Pool.objects.get(cidr="10.2.0.0/16")
    new_subnet = Pool.objects.get(cidr="10.2.1.0/24")
    assert (new_vpc.parent_id, new_vpc.source, new_vpc.type, new_vpc.name) == (
        plan["root"].pk,
        "discovered",
        "vpc",
        "stage",
    )
    assert (new_subnet.parent_id, new_subnet.type) == (new_vpc.pk, "subnet")
    assert (new_vpc.cloud_resource_id, new_subnet.cloud_resource_id) == (vpc.pk, subnet.pk)
    assert DiscoveredResource.objects.filter(management_state="managed").count() == 2
    assert len(events("create", new_vpc)) == 1
    # Only new resources are imported: a pool deleted by a user is not brought back.
    assert reconcile(organization, account=account).imported == 0


def test_in_use_counts_each_address_once(organization, account, plan) -> None:
    factories.resource(account, "10.1.2.0/24", "subnet-1", network_id="vpc-1")
    factories.resource(account, "10.1.2.0/25", "subnet-2", network_id="vpc-1")
    factories.resource(account, "10.1.3.5/32", "eni-1", network_id="vpc-1")
    factories.resource(account, "10.1.4.0/24", "subnet-3", network_id="vpc-1", state="gone")
    reconcile(organization)
    assert discovered_in_use(organization=organization) == {plan["vpc"].pk: 257}


def test_drift_summary_counts_open_findings_by_kind(organization, account, plan) -> None:
    factories.resource(account, "10.1.5.0/24", "subnet-5", network_id="vpc-1")
    factories.resource(account, "192.168.0.0/16", "vpc-9", network_id="vpc-9")
    reconcile(organization)
    summary = drift_summary(organization=organization)
    assert summary["total"] == 2
    assert summary["by_kind"] == {
        "unmanaged": 1,
        "outside": 1,
        "overlap": 0,
        "orphaned_pool": 0,
        "cidr_changed": 0,
        "duplicate": 0,
    }
    assert summary["by_severity"] == {"error": 0, "warning": 1, "info": 1}
    assert [(row["account"], row["name"], row["total"]) for row in summary["accounts"]] == [
        (account.pk, "prod", 2)
    ]


# Apply and ignore


def finding_of(kind: str) -> DriftFinding:
    return DriftFinding.objects.get(kind=kind)


def test_apply_import_as_pool_creates_the_pool_through_the_services(
    organization, account, plan
) -> None:
    subnet = factories.resource(
        account, "10.1.5.0/24", "subnet-5", resource_type="subnet", network_id="vpc-1", name="web"
    )
    reconcile(organization)
    finding = finding_of(DriftKind.UNMANAGED)
    assert finding.suggestion == {
        "action": "import_as_pool",
        "params": {
            "resource": subnet.pk,
            "parent": plan["vpc"].pk,
            "cidr": "10.1.5.0/24",
            "name": "web",
            "type": "subnet",
        },
    }

    applied = drift_apply(finding=finding, actor=TEST_ACTOR)

    pool = Pool.objects.get(cidr="10.1.5.0/24")
    assert (pool.parent_id, pool.source, pool.cloud_resource_id) == (
        plan["vpc"].pk,
        "discovered",
        subnet.pk,
    )
    assert applied.status == DriftStatus.APPLIED
    assert applied.result == {"action": "import_as_pool", "pool": pool.pk}
    assert len(events("create", pool)) == 1
    assert len(events("link", pool)) == 1
    assert len(events("drift_apply", applied)) == 1
    subnet.refresh_from_db()
    assert (subnet.management_state, subnet.pool_id) == ("managed", pool.pk)
    # The next reconciliation agrees: nothing open is left.
    reconcile(organization)
    assert not DriftFinding.objects.filter(status="open").exists()


def test_apply_create_parent_makes_a_root(organization, account, plan) -> None:
    outside = factories.resource(account, "192.168.0.0/16", "vpc-9", network_id="vpc-9")
    reconcile(organization)
    drift_apply(finding=finding_of(DriftKind.OUTSIDE), actor=TEST_ACTOR)
    root = Pool.objects.get(cidr="192.168.0.0/16")
    assert (root.parent_id, root.cloud_resource_id, root.type) == (None, outside.pk, "vpc")


def test_apply_retire_pool_deletes_it(organization, account, plan) -> None:
    vpc = factories.resource(account, "10.1.0.0/16", "vpc-1", network_id="vpc-1")
    reconcile(organization)
    DiscoveredResource.objects.filter(pk=vpc.pk).update(state="gone")
    reconcile(organization)
    drift_apply(finding=finding_of(DriftKind.ORPHANED_POOL), actor=TEST_ACTOR)
    pool = Pool.objects.get(pk=plan["vpc"].pk)
    assert pool.deleted_at is not None
    assert len(events("delete", pool)) == 1


def test_apply_link_to_pool_resizes_the_pool_to_the_new_cidr(organization, account, plan) -> None:
    old = factories.resource(account, "10.1.0.0/16", "vpc-1", network_id="vpc-1")
    reconcile(organization)
    DiscoveredResource.objects.filter(pk=old.pk).update(state="gone")
    new = factories.resource(account, "10.1.0.0/17", "vpc-1", network_id="vpc-1")
    reconcile(organization)
    finding = finding_of(DriftKind.CIDR_CHANGED)
    assert finding.suggestion["params"] == {
        "pool": plan["vpc"].pk,
        "resource": new.pk,
        "from_cidr": "10.1.0.0/16",
        "cidr": "10.1.0.0/17",
    }
    drift_apply(finding=finding, actor=TEST_ACTOR)
    pool = Pool.objects.get(pk=plan["vpc"].pk)
    assert (pool.cidr, pool.cloud_resource_id, pool.orphaned_at) == ("10.1.0.0/17", new.pk, None)
    assert len(events("resize", pool)) == 1


def test_apply_ignore_marks_the_resource_ignored(organization, account, plan) -> None:
    a = factories.resource(account, "10.1.6.0/24", "subnet-a", network_id="vpc-1")
    factories.resource(account, "10.1.6.0/28", "vpc-x", network_id="vpc-x")
    reconcile(organization)
    finding = DriftFinding.objects.get(kind=DriftKind.OVERLAP, resource=a)
    drift_apply(finding=finding, actor=TEST_ACTOR)
    a.refresh_from_db()
    assert a.management_state == "ignored"
    reconcile(organization)
    a.refresh_from_db()
    assert a.management_state == "ignored"
    assert not DriftFinding.objects.filter(resource=a, status="open").exists()


def _state() -> tuple[list, list, int]:
    return (
        list(Pool.objects.order_by("pk").values_list("pk", "cidr", "deleted_at")),
        list(DriftFinding.objects.order_by("pk").values_list("pk", "status")),
        AuditEvent.objects.count(),
    )


def test_a_stale_import_answers_409_and_writes_nothing(organization, account, plan) -> None:
    factories.resource(account, "10.1.5.0/24", "subnet-5", network_id="vpc-1")
    reconcile(organization)
    finding = finding_of(DriftKind.UNMANAGED)
    # Someone planned an overlapping block meanwhile.
    pool_create(
        organization=organization,
        name="taken",
        cidr="10.1.4.0/23",
        parent=plan["vpc"],
        actor=TEST_ACTOR,
    )
    before = _state()
    with pytest.raises(Conflict) as caught:
        drift_apply(finding=finding, actor=TEST_ACTOR)
    assert caught.value.code == "conflict"
    assert caught.value.message.startswith("The suggestion no longer applies: the plan refuses it")
    assert _state() == before


def test_a_gone_resource_answers_409(organization, account, plan) -> None:
    subnet = factories.resource(account, "10.1.5.0/24", "subnet-5", network_id="vpc-1")
    reconcile(organization)
    finding = finding_of(DriftKind.UNMANAGED)
    DiscoveredResource.objects.filter(pk=subnet.pk).update(state="gone")
    before = _state()
    with pytest.raises(Conflict) as caught:
        drift_apply(finding=finding, actor=TEST_ACTOR)
    assert caught.value.message == (
        "The suggestion no longer applies: the resource is gone from the cloud. Reconcile again."
    )
    assert _state() == before


def test_a_changed_pool_answers_409_for_retire(organization, account, plan) -> None:
    vpc = factories.resource(account, "10.1.0.0/16", "vpc-1", network_id="vpc-1")
    reconcile(organization)
    DiscoveredResource.objects.filter(pk=vpc.pk).update(state="gone")
    reconcile(organization)
    finding = finding_of(DriftKind.ORPHANED_POOL)
    pool_update(pool=plan["vpc"], cidr="10.1.0.0/17", actor=TEST_ACTOR)
    before = _state()
    with pytest.raises(Conflict) as caught:
        drift_apply(finding=finding, actor=TEST_ACTOR)
    assert caught.value.message == (
        "The suggestion no longer applies: the pool's CIDR is now 10.1.0.0/17. Reconcile again."
    )
    assert _state() == before


def test_ignore_keeps_the_finding_ignored_across_recomputations(
    organization, account, plan
) -> None:
    factories.resource(account, "10.1.5.0/24", "subnet-5", network_id="vpc-1")
    reconcile(organization)
    finding = finding_of(DriftKind.UNMANAGED)
    ignored = drift_ignore(finding=finding, reason="  lab network ", actor=TEST_ACTOR)
    assert (ignored.status, ignored.ignored_reason) == ("ignored", "lab network")
    assert len(events("drift_ignore", ignored)) == 1
    reconcile(organization)
    assert DriftFinding.objects.get(pk=finding.pk).status == "ignored"
    assert DriftFinding.objects.count() == 1
    with pytest.raises(Conflict) as caught:
        drift_apply(finding=finding, actor=TEST_ACTOR)
    assert caught.value.message == (
        "This finding is ignored; only an open finding can be applied or ignored."
    )


def test_findings_of_another_organization_stay_apart(
    organization, other_organization, account, plan
) -> None:
    other_account = make_account(other_organization)
    factories.resource(other_account, "10.9.0.0/16", "vpc-o", network_id="vpc-o")
    factories.resource(account, "10.1.5.0/24", "subnet-5", network_id="vpc-1")
    reconcile(organization)
    reconcile(other_organization)
    assert DriftFinding.objects.filter(organization=organization).count() == 1
    assert list(
        DriftFinding.objects.filter(organization=other_organization).values_list("kind", flat=True)
    ) == ["outside"]


def test_the_pool_analysis_counts_discovered_use(organization, account, plan, owner_client):
    factories.resource(account, "10.1.2.0/24", "subnet-1", network_id="vpc-1")
    factories.resource(account, "10.1.2.0/25", "subnet-2", network_id="vpc-1")
    reconcile(organization)
    body = owner_client.get(f"/api/v1/analysis/pools/{plan['vpc'].pk}/").json()
    assert body["utilization"]["in_use"] == "256"
    root = owner_client.get(f"/api/v1/analysis/pools/{plan['root'].pk}/").json()
    assert root["utilization"]["in_use"] is None


def test_an_applied_finding_reopens_when_the_drift_returns_and_stale_ones_go(
    organization, account, plan
) -> None:
    from apps.pools.services import pool_delete

    subnet = factories.resource(account, "10.1.5.0/24", "subnet-5", network_id="vpc-1")
    gone = factories.resource(account, "10.1.6.0/24", "subnet-6", network_id="vpc-1")
    reconcile(organization)
    finding = DriftFinding.objects.get(resource=subnet)
    drift_apply(finding=finding, actor=TEST_ACTOR)
    DiscoveredResource.objects.filter(pk=gone.pk).update(state="gone")
    deletes = AuditEvent.objects.filter(action="delete").count()
    reconcile(organization)
    assert not DriftFinding.objects.filter(resource=gone).exists()
    assert AuditEvent.objects.filter(action="delete").count() == deletes
    pool_delete(pool=Pool.objects.get(cidr="10.1.5.0/24"), actor=TEST_ACTOR)
    reconcile(organization)
    finding.refresh_from_db()
    assert finding.status == DriftStatus.OPEN
    assert finding.kind == DriftKind.UNMANAGED


def test_auto_import_over_the_pool_quota_imports_nothing(organization, plan) -> None:
    account = make_account(organization, auto_import=True)
    organization.quotas = {"max_pools": 3}
    organization.save()
    subnet = factories.resource(account, "10.2.0.0/16", "vpc-2", network_id="vpc-2")
    factories.resource(account, "10.2.1.0/24", "subnet-2", network_id="vpc-2")

    result = reconcile(organization, account=account)

    assert result.imported == 0
    assert result.import_error == "Quota max_pools (3) reached."
    assert Pool.objects.count() == 2
    subnet.refresh_from_db()
    assert subnet.management_state == "unmanaged"
    assert DriftFinding.objects.get(resource=subnet).kind == DriftKind.UNMANAGED


def test_a_sync_run_reconciles_its_organization(organization, account, plan):
    from apps.discovery import sync
    from apps.discovery.choices import SyncStatus

    factories.resource(account, "10.1.0.0/16", "vpc-1", network_id="vpc-1")
    run = factories.sync_run(account, status=SyncStatus.COMPLETED)
    sync._after_run(run)
    pool = Pool.objects.get(pk=plan["vpc"].pk)
    assert pool.cloud_resource.resource_id == "vpc-1"
    event = events("link", pool)[0]
    assert event.actor_system == "discovery.sync"
