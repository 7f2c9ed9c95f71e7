"""Reads of agents and provisioning tokens, always within one organization."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.discovery.models import Agent, AgentProvisioningToken
from apps.tenancy.models import Organization
from cloudpam.exceptions import NotFound


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
