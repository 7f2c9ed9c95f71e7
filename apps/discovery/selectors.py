"""Reads of agents, provisioning tokens, resources, sync runs and drift, always within one
organization."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When

from apps.cloud.models import CloudAccount
from apps.discovery.choices import DriftKind, DriftSeverity, DriftStatus, ResourceState
from apps.discovery.models import (
    Agent,
    AgentProvisioningToken,
    DiscoveredResource,
    DriftFinding,
    SyncRun,
)
from apps.pools.cidr import Prefix, covered_size
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from cloudpam.exceptions import NotFound

# The resources /ip/{address}/ lists at most.
RESOURCES_USING_LIMIT = 100


def agent_list(*, organization: Organization) -> QuerySet[Agent]:
    """Return the organization's agents by name, with who decided on them."""
    return Agent.objects.for_organization(organization).select_related("decided_by")


def agent_get(*, organization: Organization, pk: int) -> Agent:
    """Return one agent of the organization, or raise NotFound."""
    agent = agent_list(organization=organization).filter(pk=pk).first()
    if agent is None:
        raise NotFound("No such agent.")
    return agent


def agent_provisioning_token_list(
    *, organization: Organization
) -> QuerySet[AgentProvisioningToken]:
    """Return the organization's provisioning tokens, newest first."""
    return AgentProvisioningToken.objects.for_organization(organization).select_related(
        "created_by"
    )


def agent_provisioning_token_get(*, organization: Organization, pk: int) -> AgentProvisioningToken:
    """Return one provisioning token of the organization, or raise NotFound."""
    token = agent_provisioning_token_list(organization=organization).filter(pk=pk).first()
    if token is None:
        raise NotFound("No such provisioning token.")
    return token


# Drift


def drift_list(*, organization: Organization) -> QuerySet[DriftFinding]:
    """Return the organization's drift findings, most severe kinds first, with their rows."""
    severity = Case(
        When(severity=DriftSeverity.ERROR, then=Value(0)),
        When(severity=DriftSeverity.WARNING, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        DriftFinding.objects.for_organization(organization)
        .select_related("account", "resource", "pool", "ignored_by", "applied_by")
        .annotate(severity_rank=severity)
        .order_by("severity_rank", "kind", "-detected_at", "-id")
    )


def drift_get(*, organization: Organization, pk: int) -> DriftFinding:
    """Return one drift finding of the organization, or raise NotFound."""
    finding = drift_list(organization=organization).filter(pk=pk).first()
    if finding is None:
        raise NotFound("No such drift finding.")
    return finding


def drift_in_subtree(queryset: QuerySet[DriftFinding], pool: Pool) -> QuerySet[DriftFinding]:
    """Return the findings about ``pool``'s subtree: its pools, or resources inside them."""
    subtree = Pool.objects.filter(organization_id=pool.organization_id).in_subtree(pool.path)
    return queryset.filter(Q(pool__in=subtree) | Q(resource__pool__in=subtree)).distinct()


def drift_summary(
    *, organization: Organization, account: CloudAccount | None = None
) -> dict[str, Any]:
    """Return the open findings' counts by kind, for the organization and per account.

    ``{"total", "by_kind": {kind: n}, "by_severity": {...}, "accounts": [{"account",
    "name", "provider", "total", "by_kind"}]}``; every kind is present, zero or not.
    """
    rows = (
        DriftFinding.objects.for_organization(organization)
        .filter(status=DriftStatus.OPEN)
        .order_by()
        .values_list("account_id", "kind", "severity")
        .annotate(count=Count("pk"))
    )
    if account is not None:
        rows = rows.filter(account=account)
    zero = dict.fromkeys(DriftKind.values, 0)
    by_kind = dict(zero)
    by_severity = dict.fromkeys(DriftSeverity.values, 0)
    per_account: dict[int | None, dict[str, int]] = {}
    for account_id, kind, severity, count in rows:
        by_kind[kind] = by_kind.get(kind, 0) + count
        by_severity[severity] = by_severity.get(severity, 0) + count
        kinds = per_account.setdefault(account_id, dict(zero))
        kinds[kind] = kinds.get(kind, 0) + count
    accounts = CloudAccount.objects.for_organization(organization).filter(
        pk__in=[pk for pk in per_account if pk is not None]
    )
    names = {row.pk: row for row in accounts.only("pk", "name", "provider")}
    return {
        "total": sum(by_kind.values()),
        "by_kind": by_kind,
        "by_severity": by_severity,
        "accounts": [
            {
                "account": account_id,
                "name": names[account_id].name if account_id in names else "",
                "provider": names[account_id].provider if account_id in names else "",
                "total": sum(kinds.values()),
                "by_kind": kinds,
            }
            for account_id, kinds in sorted(
                per_account.items(), key=lambda item: (item[0] is None, item[0] or 0)
            )
        ],
    }


def discovered_in_use(*, organization: Organization) -> dict[int, int]:
    """Return, by pool id, the addresses present resources use in that pool (SPEC.md 6).

    A resource counts against its narrowest pool (reconciliation's ``pool``); overlapping
    resources of one pool count each address once (their ranges are merged), without
    expanding any prefix.
    """
    blocks: dict[int, list[Prefix]] = {}
    rows = (
        DiscoveredResource.objects.for_organization(organization)
        .filter(state=ResourceState.PRESENT, pool__isnull=False)
        .order_by()
        .values_list("pool_id", "family", "first_key", "prefix_length")
    )
    for pool_id, family, first_key, length in rows.iterator(chunk_size=5_000):
        blocks.setdefault(pool_id, []).append(Prefix(family, int(first_key, 16), length))
    return {pool_id: covered_size(prefixes) for pool_id, prefixes in blocks.items()}


def resource_list(*, organization: Organization) -> QuerySet[DiscoveredResource]:
    """Return the organization's discovered resources in address order, with their account."""
    return DiscoveredResource.objects.for_organization(organization).select_related("account")


def resource_get(*, organization: Organization, pk: int) -> DiscoveredResource:
    """Return one discovered resource of the organization, or raise NotFound."""
    resource = resource_list(organization=organization).filter(pk=pk).first()
    if resource is None:
        raise NotFound("No such resource.")
    return resource


def resources_using(*, organization: Organization, prefix: Any) -> list[DiscoveredResource]:
    """Return the organization's present or missing resources containing ``prefix``.

    Narrowest first; at most ``RESOURCES_USING_LIMIT``, in one query.
    """
    from apps.pools.selectors import containing_filter

    rows = (
        DiscoveredResource.objects.for_organization(organization)
        .filter(**containing_filter(prefix))
        .exclude(state=ResourceState.GONE)
        .select_related("account")
        .order_by("-prefix_length", "id")
    )
    return list(rows[:RESOURCES_USING_LIMIT])


def sync_run_list(*, organization: Organization) -> QuerySet[SyncRun]:
    """Return the organization's sync runs, newest first, with their account."""
    return SyncRun.objects.for_organization(organization).select_related("account")


def sync_run_get(*, organization: Organization, pk: int) -> SyncRun:
    """Return one sync run of the organization, or raise NotFound."""
    run = sync_run_list(organization=organization).filter(pk=pk).first()
    if run is None:
        raise NotFound("No such sync run.")
    return run
