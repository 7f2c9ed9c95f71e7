"""A stable estate is not reconciled again: the digest of what a reconciliation reads.

A reconciliation that wrote nothing stores the digest of the pools, resources, findings
and settings it saw; the next one with the same digest returns what the tables hold
without reading the estate. Every change a reconciliation would react to brings a full
one back; changes it ignores (a sync run's bookkeeping, a pool's description) do not.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.analysis.services import compliance_settings_update
from apps.cloud.services import account_create
from apps.discovery.digest import estate_digest
from apps.discovery.drift import drift_ignore
from apps.discovery.models import DiscoveredResource, DriftFinding, ReconciliationState
from apps.discovery.reconciliation import resources_reconcile
from apps.pools.models import Pool
from apps.pools.services import pool_create, pool_delete, pool_update
from tests.actors import TEST_ACTOR
from tests.discovery import factories

pytestmark = pytest.mark.django_db


def make_account(organization: Any, external_id: str = "123456789012") -> Any:
    return account_create(
        actor=TEST_ACTOR,
        organization=organization,
        name=f"prod-{external_id[-4:]}",
        provider="aws",
        external_id=external_id,
        auth_method="access_keys",
        access_key_id="AKIAEXAMPLE00000001",
    )


@pytest.fixture
def estate(organization: Any) -> dict[str, Any]:
    """A plan and an estate with every outcome: linked, unmanaged, outside, overlap, gone."""
    account = make_account(organization)
    root = pool_create(organization=organization, name="corp", cidr="10.0.0.0/8", actor=TEST_ACTOR)
    vpc = pool_create(
        organization=organization, name="prod", cidr="10.1.0.0/16", parent=root, actor=TEST_ACTOR
    )
    return {
        "account": account,
        "root": root,
        "vpc": vpc,
        "linked": factories.resource(account, "10.1.0.0/16", "vpc-1", network_id="vpc-1"),
        "subnet": factories.resource(
            account, "10.1.2.0/24", "subnet-1", resource_type="subnet", network_id="vpc-1"
        ),
        "peer": factories.resource(account, "10.1.2.0/28", "vpc-3", network_id="vpc-3"),
        "outside": factories.resource(account, "192.168.0.0/16", "vpc-2", network_id="vpc-2"),
        "unmanaged": factories.resource(account, "10.2.0.0/16", "vpc-4", network_id="vpc-4"),
        "gone": factories.resource(
            account, "10.3.0.0/16", "vpc-5", network_id="vpc-5", state="gone"
        ),
    }


def reconcile(organization: Any) -> Any:
    return resources_reconcile(organization=organization, actor=TEST_ACTOR)


def settle(organization: Any) -> Any:
    """Reconcile until a reconciliation writes nothing and so stores its digest."""
    reconcile(organization)
    verified = reconcile(organization)
    assert (verified.changed, verified.linked, verified.unchanged) == (0, 0, False)
    assert ReconciliationState.objects.filter(organization=organization).exists()
    return verified


def writes(queries: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


def test_a_stable_estate_is_answered_from_the_tables(organization, estate) -> None:
    verified = settle(organization)
    # The gone resource has no outcome.
    assert verified.by_state == {"managed": 1, "unmanaged": 3, "outside": 1}
    with CaptureQueriesContext(connection) as queries:
        skipped = reconcile(organization)
    assert skipped.unchanged
    assert (skipped.resources, skipped.by_state, skipped.drift) == (
        verified.resources,
        verified.by_state,
        verified.drift,
    )
    assert (skipped.changed, skipped.linked, skipped.orphaned, skipped.imported) == (0, 0, 0, 0)
    assert writes(queries) == []
    small = len(queries.captured_queries)

    # The statements do not grow with the estate.
    for number in range(40):
        factories.resource(
            estate["account"], f"10.9.{number}.0/24", f"subnet-{number}", network_id="vpc-9"
        )
    settle(organization)
    with CaptureQueriesContext(connection) as queries:
        assert reconcile(organization).unchanged
    assert len(queries.captured_queries) == small


def test_a_reconciliation_that_writes_leaves_the_next_to_verify(organization, estate) -> None:
    first = reconcile(organization)
    assert first.changed > 0
    # What it wrote is not in the digest it read: nothing is stored.
    assert not ReconciliationState.objects.filter(organization=organization).exists()
    second = reconcile(organization)
    assert not second.unchanged
    state = ReconciliationState.objects.get(organization=organization)
    assert state.digest == estate_digest(organization)
    assert reconcile(organization).unchanged


def _rename_resource(organization: Any, estate: dict[str, Any]) -> None:
    DiscoveredResource.objects.filter(pk=estate["subnet"].pk).update(name="renamed")


def _add_resource(organization: Any, estate: dict[str, Any]) -> None:
    factories.resource(estate["account"], "10.4.0.0/16", "vpc-6", network_id="vpc-6")


def _delete_resource(organization: Any, estate: dict[str, Any]) -> None:
    DiscoveredResource.objects.filter(pk=estate["unmanaged"].pk).delete()


def _resource_gone(organization: Any, estate: dict[str, Any]) -> None:
    DiscoveredResource.objects.filter(pk=estate["linked"].pk).update(state="gone")


def _resource_moved(organization: Any, estate: dict[str, Any]) -> None:
    resource = DiscoveredResource.objects.get(pk=estate["outside"].pk)
    from apps.pools import cidr

    resource.set_prefix(cidr.parse_prefix("10.5.0.0/16"))
    resource.save()


def _outcome_edited(organization: Any, estate: dict[str, Any]) -> None:
    # A stored outcome changed behind the reconciliation's back is put right.
    DiscoveredResource.objects.filter(pk=estate["subnet"].pk).update(pool=None)


def _add_pool(organization: Any, estate: dict[str, Any]) -> None:
    pool_create(
        organization=organization,
        name="new",
        cidr="10.2.0.0/16",
        parent=estate["root"],
        actor=TEST_ACTOR,
    )


def _rename_pool(organization: Any, estate: dict[str, Any]) -> None:
    pool_update(pool=Pool.objects.get(pk=estate["vpc"].pk), name="renamed", actor=TEST_ACTOR)


def _delete_pool(organization: Any, estate: dict[str, Any]) -> None:
    pool_delete(pool=Pool.objects.get(pk=estate["vpc"].pk), actor=TEST_ACTOR)


def _ignore_finding(organization: Any, estate: dict[str, Any]) -> None:
    finding = DriftFinding.objects.filter(organization=organization, status="open").first()
    drift_ignore(finding=finding, reason="known", actor=TEST_ACTOR)


def _apply_marked(organization: Any, estate: dict[str, Any]) -> None:
    # Marked applied without any change to the plan: a full reconciliation reopens it.
    DriftFinding.objects.filter(organization=organization, status="open").update(status="applied")


def _change_settings(organization: Any, estate: dict[str, Any]) -> None:
    compliance_settings_update(organization=organization, compliance={"NAMING": {"enabled": False}})


def _daily(organization: Any, estate: dict[str, Any]) -> None:
    ReconciliationState.objects.filter(organization=organization).update(
        verified_at=timezone.now() - timedelta(days=1, minutes=1)
    )


@pytest.mark.parametrize(
    "change",
    [
        _rename_resource,
        _add_resource,
        _delete_resource,
        _resource_gone,
        _resource_moved,
        _outcome_edited,
        _add_pool,
        _rename_pool,
        _delete_pool,
        _ignore_finding,
        _apply_marked,
        _change_settings,
        _daily,
    ],
)
def test_a_change_brings_a_full_reconciliation_back(organization, estate, change) -> None:
    settle(organization)
    change(organization, estate)
    after = reconcile(organization)
    assert not after.unchanged
    # And what it left agrees with a reconciliation from scratch of the same estate.
    ReconciliationState.objects.filter(organization=organization).delete()
    again = reconcile(organization)
    assert not again.unchanged
    assert (again.changed, again.linked, again.orphaned) == (0, 0, 0)
    assert (again.by_state, again.drift) == (after.by_state, after.drift)


def _seen_again(organization: Any, estate: dict[str, Any]) -> None:
    # What a no-change sync run writes: the run that saw each resource last.
    DiscoveredResource.objects.filter(organization=organization).update(
        last_seen_at=timezone.now(), region="us-east-1"
    )


def _describe_pool(organization: Any, estate: dict[str, Any]) -> None:
    pool_update(
        pool=Pool.objects.get(pk=estate["vpc"].pk), description="the prod VPC", actor=TEST_ACTOR
    )


def _other_organization(organization: Any, estate: dict[str, Any]) -> None:
    from apps.tenancy.models import Organization

    other = Organization.objects.create(name="Other", slug="other-digest")
    account = make_account(other, external_id="210987654321")
    factories.resource(account, "10.1.0.0/16", "vpc-1", network_id="vpc-1")
    pool_create(organization=other, name="corp", cidr="10.0.0.0/8", actor=TEST_ACTOR)
    reconcile(other)


@pytest.mark.parametrize("change", [_seen_again, _describe_pool, _other_organization])
def test_what_a_reconciliation_ignores_keeps_it_skipped(organization, estate, change) -> None:
    settle(organization)
    change(organization, estate)
    assert reconcile(organization).unchanged


def test_compiled_naming_patterns_keep_a_stable_estate_skipped(organization, estate) -> None:
    # Resolved rules hold compiled patterns, which spell differently each time they are
    # compiled: the digest takes the settings as stored.
    compliance_settings_update(
        organization=organization, compliance={"NAMING": {"params": {"patterns": {"vpc": "^a"}}}}
    )
    settle(organization)
    assert reconcile(organization).unchanged
    # As another process finds them: resolved and compiled afresh.
    cache.clear()
    fresh = type(organization).objects.get(pk=organization.pk)
    assert resources_reconcile(organization=fresh, actor=TEST_ACTOR).unchanged
