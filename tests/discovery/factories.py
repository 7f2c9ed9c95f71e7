"""Agents, provisioning tokens, resources and sync runs for the discovery tests."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.cloud.models import CloudAccount
from apps.discovery import services
from apps.discovery.models import Agent, AgentProvisioningToken, DiscoveredResource, SyncRun
from apps.pools import cidr as cidr_engine
from apps.tenancy.models import Organization
from tests.actors import TEST_ACTOR


def provisioning_token(
    organization: Organization, name: str = "fleet"
) -> tuple[AgentProvisioningToken, str]:
    return services.agent_provisioning_token_create(
        organization=organization, name=name, actor=TEST_ACTOR
    )


def agent(
    organization: Organization, name: str = "dc-1", *, approved: bool = True, **fields: Any
) -> tuple[Agent, str]:
    """Return a registered agent (approved unless told) and its credential."""
    token, _value = provisioning_token(organization)
    made, credential = services.agent_register(
        token=token, name=name, version="1.0.0", hostname=fields.pop("hostname", "host-1")
    )
    if approved:
        made = services.agent_approve(agent=made, actor=TEST_ACTOR)
    return made, credential


def record(index: int, **fields: Any) -> dict[str, Any]:
    """Return the wire form of a distinct ENI address record."""
    high, low = divmod(index, 256)
    data = {
        "provider": "aws",
        "resource_type": "eni_private_ip",
        "resource_id": f"eni-{index:08x}",
        "cidr": f"10.{high // 256}.{high % 256}.{low}/32",
        "name": "",
        "region": "eu-west-1",
        "network_id": "vpc-1",
        "parent_resource_id": "subnet-1",
        "account_external_id": "123456789012",
        "state": "in-use",
        "tags": {"team": "net"},
        "attributes": {"primary": index % 2 == 0},
    }
    data.update(fields)
    return data


def batch(batch_id: str = "b-1", count: int = 2, **fields: Any) -> dict[str, Any]:
    data = {
        "batch_id": batch_id,
        "provider": "aws",
        "account_external_id": "123456789012",
        "regions": [{"region": "eu-west-1", "ok": True, "records": count}],
        "records": [record(i) for i in range(count)],
    }
    data.update(fields)
    return data


def sync_run(account: CloudAccount, **fields: Any) -> SyncRun:
    """Return a stored sync run of ``account`` (completed unless told)."""
    now = timezone.now()
    data: dict[str, Any] = {
        "organization": account.organization,
        "account": account,
        "trigger": "manual",
        "status": "completed",
        "progress_percent": 100,
        "started_at": now,
        "finished_at": now,
        "heartbeat_at": now,
    }
    data.update(fields)
    return SyncRun.objects.create(**data)


def resource(
    account: CloudAccount, cidr: str = "10.0.0.0/16", resource_id: str = "vpc-1", **fields: Any
) -> DiscoveredResource:
    """Return a stored present resource of ``account`` (a fixture, as a run would store it)."""
    now = timezone.now()
    row = DiscoveredResource(
        organization=account.organization,
        account=account,
        provider=account.provider,
        resource_type=fields.pop("resource_type", "vpc"),
        resource_id=resource_id,
        region=fields.pop("region", "eu-west-1"),
        fingerprint=fields.pop("fingerprint", "0" * 64),
        first_seen_at=now,
        last_seen_at=now,
        **fields,
    )
    row.set_prefix(cidr_engine.parse_prefix(cidr))
    row.save()
    return row
