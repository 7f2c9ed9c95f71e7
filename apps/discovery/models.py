"""Discovery agents, their provisioning tokens, and the record batches they push."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.discovery.choices import AgentStatus
from apps.tenancy.scoping import TenantModel

# An approved agent beats every 5 minutes: three missed beats make it stale.
STALE_AFTER = timedelta(minutes=15)


class AgentProvisioningToken(TenantModel):
    """A credential an admin hands to agents so they can register: ``cpap_<prefix>_<secret>``.

    Shown once at creation; only an Argon2id hash of the secret is stored. One token may
    register several agents (a fleet deployed from one configuration) until it expires or
    is revoked; each agent still waits for an admin's approval.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=255)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "agent provisioning token"

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix})"

    @property
    def display_prefix(self) -> str:
        """Return how the token is recognised in lists: its prefix, never the secret."""
        return f"cpap_{self.prefix}_…"

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def status(self) -> str:
        """Return ``revoked``, ``expired`` or ``active``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.is_expired():
            return "expired"
        return "active"


class Agent(TenantModel):
    """A standalone collector running in a customer network, known by its credential.

    The credential (``cpag_<prefix>_<secret>``) is issued once at registration and only
    its Argon2id hash is kept. Only an approved agent may push records.
    """

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=64, blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=16, choices=AgentStatus.choices, default=AgentStatus.PENDING, db_index=True
    )
    credential_prefix = models.CharField(max_length=16, unique=True)
    credential_hash = models.CharField(max_length=255)
    provisioning_token = models.ForeignKey(
        AgentProvisioningToken,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="agents",
    )
    registered_at = models.DateTimeField(auto_now_add=True)
    registered_ip = models.GenericIPAddressField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who approved, rejected or revoked the agent last.",
    )
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_seen_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.hostname})" if self.hostname else self.name

    def is_stale(self, now: datetime | None = None) -> bool:
        """Return whether an approved agent has not been heard from for 15 minutes."""
        if self.status != AgentStatus.APPROVED:
            return False
        last = self.last_heartbeat_at or self.decided_at or self.registered_at
        return last is None or (now or timezone.now()) - last > STALE_AFTER

    @property
    def stale(self) -> bool:
        return self.is_stale()


class IngestBatch(TenantModel):
    """One batch of records an agent pushed, kept as received for the sync engine.

    ``payload`` is the gzip-compressed JSON of the validated batch (its records and
    region outcomes, every field as sent); ``digest`` (SHA-256 of that JSON) tells a
    retried batch from a different one reusing its id. ``consumed_at`` is set by the sync
    engine once it has stored the records.
    """

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="batches")
    batch_id = models.CharField(max_length=64)
    provider = models.CharField(max_length=16)
    account_external_id = models.CharField(max_length=255)
    record_count = models.PositiveIntegerField()
    regions = models.JSONField(default=list, blank=True)
    payload = models.BinaryField()
    digest = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    consumed_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "ingest batch"
        verbose_name_plural = "ingest batches"
        constraints = [
            models.UniqueConstraint(fields=["agent", "batch_id"], name="ingest_batch_unique_id")
        ]

    def __str__(self) -> str:
        return f"{self.batch_id} ({self.record_count} records)"

    def content(self) -> dict[str, Any]:
        """Return the batch as stored: ``{"records": [...], "regions": [...], ...}``."""
        return json.loads(gzip.decompress(bytes(self.payload)))
