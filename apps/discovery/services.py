"""Writes of the agents' lifecycle and of the batches they push.

Every write takes its actor and runs in one transaction with its audit events. An
agent acts as the system actor ``agent <id> <name>``; the people who approve it act as
themselves.
"""

from __future__ import annotations

import gzip
from datetime import datetime
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.discovery import credentials
from apps.discovery.choices import AgentStatus
from apps.discovery.ingest import CleanBatch
from apps.discovery.models import Agent, AgentProvisioningToken, IngestBatch
from apps.tenancy.models import Organization
from cloudpam.context import Actor, operation, system_actor
from cloudpam.exceptions import Conflict, ValidationError

# Which decisions an admin may take from which status: revoked and rejected are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    AgentStatus.APPROVED: frozenset({AgentStatus.PENDING}),
    AgentStatus.REJECTED: frozenset({AgentStatus.PENDING}),
    AgentStatus.REVOKED: frozenset({AgentStatus.PENDING, AgentStatus.APPROVED}),
}


def agent_actor(agent: Agent) -> Actor:
    """Return the actor an agent's own requests are recorded under."""
    return system_actor(f"agent {agent.pk} {agent.name}")


def _clean_name(name: str, field: str = "name", limit: int = 100) -> str:
    name = (name or "").strip()
    if not name or len(name) > limit:
        message = f"Give a name of 1 to {limit} characters."
        raise ValidationError(f"{field}: {message}", fields={field: [message]})
    return name


def _with_unique_prefix(make: Any) -> Any:
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return make()
        except IntegrityError:
            # A prefix collision (about one in 10^17 per pair): draw again.
            continue
    raise Conflict("Could not allocate a unique credential prefix; try again.")  # pragma: no cover


def agent_provisioning_token_create(
    *,
    organization: Organization,
    name: str,
    expires_at: datetime | None = None,
    actor: Actor,
) -> tuple[AgentProvisioningToken, str]:
    """Create a provisioning token; return it and its value, shown only once."""
    name = _clean_name(name)
    if expires_at is not None and expires_at <= timezone.now():
        message = "Must be in the future."
        raise ValidationError(f"expires_at: {message}", fields={"expires_at": [message]})

    def make() -> tuple[AgentProvisioningToken, str]:
        new, value = credentials.new_credential(credentials.PROVISIONING)
        token = AgentProvisioningToken.objects.create(
            organization=organization,
            name=name,
            prefix=new.prefix,
            secret_hash=credentials.hash_secret(new.secret),
            expires_at=expires_at,
            created_by_id=actor.user_id,
        )
        return token, value

    with operation("create", actor=actor):
        return _with_unique_prefix(make)


@transaction.atomic
def agent_provisioning_token_revoke(
    *, token: AgentProvisioningToken, actor: Actor
) -> AgentProvisioningToken:
    """Revoke a provisioning token: no new agent registers with it; agents it made stay."""
    token = AgentProvisioningToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.revoked_by_id = actor.user_id
    with operation("update", actor=actor):
        token.save(update_fields=["revoked_at", "revoked_by"])
    return token


def agent_register(
    *,
    token: AgentProvisioningToken,
    name: str,
    version: str = "",
    hostname: str = "",
    ip: str | None = None,
) -> tuple[Agent, str]:
    """Register a pending agent with ``token``; return it and its credential, shown once."""
    name = _clean_name(name)
    version, hostname = (version or "").strip(), (hostname or "").strip()
    for field, value, limit in (("version", version, 64), ("hostname", hostname, 255)):
        if len(value) > limit:
            message = f"Must be at most {limit} characters."
            raise ValidationError(f"{field}: {message}", fields={field: [message]})

    def make() -> tuple[Agent, str]:
        new, value = credentials.new_credential(credentials.AGENT)
        agent = Agent.objects.create(
            organization_id=token.organization_id,
            name=name,
            version=version,
            hostname=hostname,
            credential_prefix=new.prefix,
            credential_hash=credentials.hash_secret(new.secret),
            provisioning_token=token,
            registered_ip=ip,
        )
        return agent, value

    actor = system_actor(f"agent provisioning token {token.pk} {token.name}")
    with operation("create", actor=actor):
        agent, value = _with_unique_prefix(make)
    AgentProvisioningToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return agent, value


@transaction.atomic
def _agent_decide(*, agent: Agent, status: str, actor: Actor) -> Agent:
    agent = Agent.objects.select_for_update().get(pk=agent.pk)
    if agent.status == status:
        return agent
    if agent.status not in TRANSITIONS[status]:
        raise Conflict(f"The agent is {agent.status}; it cannot become {status}.")
    agent.status = status
    agent.decided_at = timezone.now()
    agent.decided_by_id = actor.user_id
    with operation("update", actor=actor):
        agent.save(update_fields=["status", "decided_at", "decided_by"])
    return agent


def agent_approve(*, agent: Agent, actor: Actor) -> Agent:
    """Let a pending agent push records."""
    return _agent_decide(agent=agent, status=AgentStatus.APPROVED, actor=actor)


def agent_reject(*, agent: Agent, actor: Actor) -> Agent:
    """Turn a pending agent away for good."""
    return _agent_decide(agent=agent, status=AgentStatus.REJECTED, actor=actor)


def agent_revoke(*, agent: Agent, actor: Actor) -> Agent:
    """Shut an agent out at once: its credential stops authenticating."""
    return _agent_decide(agent=agent, status=AgentStatus.REVOKED, actor=actor)


def agent_heartbeat(*, agent: Agent, version: str | None = None, ip: str | None = None) -> Agent:
    """Record that the agent is alive (not audited: liveness, not a change of anything)."""
    now = timezone.now()
    fields: dict[str, Any] = {"last_heartbeat_at": now, "last_seen_ip": ip}
    if version:
        fields["version"] = version.strip()[:64]
    Agent.objects.filter(pk=agent.pk).update(**fields)
    for name, value in fields.items():
        setattr(agent, name, value)
    return agent


def _consume(organization_id: int) -> None:
    """Queue the sync engine's consumption of the organization's new batches."""
    from apps.discovery import tasks

    tasks.ingest_batches_consume.delay(organization_id=organization_id)


def ingest_batch_store(*, agent: Agent, batch: CleanBatch) -> tuple[IngestBatch, bool]:
    """Store a validated batch once per ``(agent, batch_id)``; return it and whether it is new.

    The same batch sent again (an agent retrying after a lost answer) returns the stored
    one; a different batch under a used id is a 409, since storing either would lose the
    other.
    """
    canonical = batch.canonical_json()
    digest = CleanBatch.digest_of(canonical)
    # The records stay in the database: a retry needs only the digest to be answered.
    known = IngestBatch.objects.filter(agent=agent, batch_id=batch.batch_id).defer("payload")
    existing = known.first()
    if existing is None:
        try:
            with transaction.atomic(), operation("create", actor=agent_actor(agent)):
                stored = IngestBatch.objects.create(
                    organization_id=agent.organization_id,
                    agent=agent,
                    batch_id=batch.batch_id,
                    provider=batch.provider,
                    account_external_id=batch.account_external_id,
                    record_count=len(batch.records),
                    regions=list(batch.regions),
                    payload=gzip.compress(canonical, compresslevel=6),
                    digest=digest,
                )
                transaction.on_commit(partial(_consume, stored.organization_id))
            return stored, True
        except IntegrityError:
            # The same batch arrived twice at once: the other request stored it.
            existing = known.get()
    if existing.digest != digest:
        raise Conflict(
            f"Batch '{batch.batch_id}' was already received with different content; "
            "send new records under a new batch id."
        )
    return existing, False
