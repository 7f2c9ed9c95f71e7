"""Reads of agents, provisioning tokens, resources and sync runs, always within one organization."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.discovery.choices import ResourceState
from apps.discovery.models import Agent, AgentProvisioningToken, DiscoveredResource, SyncRun
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
