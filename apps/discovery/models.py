"""Discovery: agents and the batches they push, the resources found, and the sync runs."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.discovery.choices import (
    ACTIVE_SYNC_STATUSES,
    AgentStatus,
    DriftKind,
    DriftSeverity,
    DriftStatus,
    ManagementState,
    OverlapStatus,
    ResourceState,
    SyncStatus,
    SyncTrigger,
)
from apps.pools import cidr as cidr_engine
from apps.pools.choices import Family
from apps.pools.models import CIDR_MAX_LENGTH
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


class SyncRun(TenantModel):
    """One collection of an account (by its collectors or from an agent's batch), stored.

    ``regions`` holds each region's outcome (``{region, status, records, error_code,
    message}``); ``counts`` the effect on the stored estate (``{seen, new, changed,
    unchanged, missing, gone}``). ``heartbeat_at`` moves with every progress update: the
    reaper fails a queued or running run whose heartbeat is 10 minutes old (its worker
    died). At most one queued or running run per account, enforced by the services and,
    underneath, by a partial unique constraint.
    """

    account = models.ForeignKey(
        "cloud.CloudAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sync_runs",
    )
    agent = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="sync_runs"
    )
    batch = models.ForeignKey(
        IngestBatch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sync_runs",
        help_text="The agent batch the run stored (trigger agent).",
    )
    trigger = models.CharField(max_length=16, choices=SyncTrigger.choices)
    status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.QUEUED)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=255, blank=True)
    regions = models.JSONField(default=list, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    task_id = models.CharField("Celery task id", max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    collection_started_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "When the collection the run stores began: its start, or for an agent batch the "
            "first batch of the same collection. Rows seen since then were seen by it."
        ),
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "sync run"
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(status__in=ACTIVE_SYNC_STATUSES),
                name="discovery_syncrun_one_active_per_account",
            ),
            models.CheckConstraint(
                condition=models.Q(progress_percent__lte=100),
                name="discovery_syncrun_progress_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="discovery_run_org_created"),
            models.Index(fields=["account", "-created_at"], name="discovery_run_account_created"),
            # The reaper looks for active runs by heartbeat.
            models.Index(
                fields=["status", "heartbeat_at"],
                condition=models.Q(status__in=ACTIVE_SYNC_STATUSES),
                name="discovery_run_active",
            ),
        ]

    def __str__(self) -> str:
        return f"Sync run {self.pk} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        """Return whether the run is queued or running."""
        return self.status in ACTIVE_SYNC_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        """Return how long the run took, or has taken so far."""
        if self.started_at is None:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()


class DiscoveredResource(TenantModel):
    """One CIDR in use in a cloud account, as the last sync runs found it.

    Identified within its account by ``resource_id`` and ``cidr`` (a VPC with two blocks
    is two rows). Agent records belong to the organization's account of the same provider
    and external id as their batch. The prefix is stored like a pool's: canonical text plus
    family, length and fixed-width keys of its first and last address, so containment and
    overlap are index range queries on every database.

    ``fingerprint`` hashes the record's content: a run writes a row only when it changes.
    A row not seen in a complete collection of its region becomes ``missing`` (counting
    ``missing_runs`` from ``missing_since``), then ``gone`` once the account's grace period
    has passed. The reconciliation fields (``pool`` to ``reconciled_at``) are written by
    the reconciliation after each run.
    """

    # Every sync and reconciliation rewrites these rows, and each write goes into every index
    # of the table: the organization and the account lead the composite indexes below,
    # which serve every query (and cascade) a single-column index of theirs would.
    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    account = models.ForeignKey(
        "cloud.CloudAccount", on_delete=models.CASCADE, related_name="resources", db_index=False
    )
    provider = models.CharField(max_length=8)
    resource_type = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=512)
    cidr = models.CharField("CIDR", max_length=CIDR_MAX_LENGTH)
    family = models.PositiveSmallIntegerField(choices=Family.choices, editable=False)
    prefix_length = models.PositiveSmallIntegerField(editable=False)
    first_key = models.CharField(
        max_length=32, editable=False, help_text="First address as 32 hex digits."
    )
    last_key = models.CharField(
        max_length=32, editable=False, help_text="Last address as 32 hex digits."
    )
    name = models.CharField(max_length=255, blank=True)
    region = models.CharField(max_length=64, blank=True)
    network_id = models.CharField(max_length=512, blank=True)
    parent_resource_id = models.CharField(max_length=512, blank=True)
    account_external_id = models.CharField(max_length=255, blank=True)
    provider_state = models.CharField(
        max_length=64, blank=True, help_text="The provider's own word (available, in-use)."
    )
    tags = models.JSONField(default=dict, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=64)

    state = models.CharField(
        max_length=16, choices=ResourceState.choices, default=ResourceState.PRESENT
    )
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    last_seen_run = models.ForeignKey(
        SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    missing_runs = models.PositiveIntegerField(
        default=0, help_text="Consecutive complete collections of its region without it."
    )
    missing_since = models.DateTimeField(null=True, blank=True)
    gone_at = models.DateTimeField(null=True, blank=True)

    pool = models.ForeignKey(
        "pools.Pool",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="discovered_resources",
        help_text="The narrowest live pool containing the CIDR.",
    )
    management_state = models.CharField(max_length=16, choices=ManagementState.choices, blank=True)
    overlap_status = models.CharField(max_length=16, choices=OverlapStatus.choices, blank=True)
    overlaps_with = models.JSONField(
        default=list, blank=True, help_text="The pools or resources it partially overlaps."
    )
    compliance = models.JSONField(default=list, blank=True, help_text="Compliance findings.")
    reconciled_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family", "first_key", "prefix_length", "id"]
        verbose_name = "discovered resource"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "resource_id", "cidr"],
                name="discovery_resource_unique_per_account",
            ),
            models.CheckConstraint(
                condition=models.Q(family__in=[4, 6]), name="discovery_resource_family_valid"
            ),
        ]
        indexes = [
            # Lists in address order, `contains` and `within`.
            models.Index(
                fields=["organization", "family", "first_key", "prefix_length"],
                name="discovery_res_org_addr",
            ),
            models.Index(fields=["organization", "state"], name="discovery_res_org_state"),
            models.Index(
                fields=["organization", "management_state"], name="discovery_res_org_mgmt"
            ),
            models.Index(fields=["organization", "resource_type"], name="discovery_res_org_type"),
            # The sync engine marks unseen rows of a region missing.
            models.Index(
                fields=["account", "region", "state"], name="discovery_res_account_region"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cidr} {self.resource_type} {self.resource_id}"

    @property
    def prefix(self) -> cidr_engine.Prefix:
        """Return the resource's block as an engine Prefix."""
        return cidr_engine.Prefix(self.family, int(self.first_key, 16), self.prefix_length)

    def set_prefix(self, prefix: cidr_engine.Prefix) -> None:
        """Store ``prefix`` in ``cidr`` and its derived columns."""
        self.cidr = str(prefix)
        self.family = prefix.family
        self.prefix_length = prefix.length
        self.first_key = cidr_engine.address_key(prefix.first)
        self.last_key = cidr_engine.address_key(prefix.last)


class DriftFinding(TenantModel):
    """One difference between the address plan and the clouds, with a suggested fix.

    Recomputed after every reconciliation: ``key`` (unique per organization, e.g.
    ``unmanaged:resource:42``) names the finding so that a recomputation updates it instead
    of adding another, and keeps a user's ``ignored`` decision. ``suggestion`` is
    ``{"action": ..., "params": {...}}`` (see ``DriftAction``); applying it goes through the
    pool services. An open finding that no longer holds is removed; applied and ignored
    ones stay as the record of the decision.
    """

    # Recomputed findings are written in bulk after every reconciliation: the organization
    # and the account lead the composite indexes below, which serve what a single-column
    # index of theirs would.
    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    account = models.ForeignKey(
        "cloud.CloudAccount",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="drift_findings",
        db_index=False,
    )
    kind = models.CharField(max_length=16, choices=DriftKind.choices)
    severity = models.CharField(max_length=8, choices=DriftSeverity.choices)
    key = models.CharField(max_length=64)
    resource = models.ForeignKey(
        DiscoveredResource,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="drift_findings",
    )
    pool = models.ForeignKey(
        "pools.Pool",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="drift_findings",
    )
    message = models.TextField()
    suggestion = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=DriftStatus.choices, default=DriftStatus.OPEN)
    ignored_reason = models.TextField(blank=True)
    ignored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    ignored_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="What applying it did.")
    detected_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "-detected_at", "-id"]
        verbose_name = "drift finding"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="discovery_drift_unique_key"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "status", "kind"], name="discovery_drift_org_status"
            ),
            models.Index(fields=["account", "status"], name="discovery_drift_account"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message[:80]}"

    @property
    def action(self) -> str:
        """Return the suggested action (``ignore`` when there is none)."""
        return str((self.suggestion or {}).get("action") or "ignore")


class ReconciliationState(TenantModel):
    """What the organization's last reconciliation that changed nothing saw.

    ``digest`` sums a hash of every row a reconciliation reads or writes (the live pools,
    the resources, the drift findings) with the compliance settings. While it holds, a
    reconciliation would change nothing and is skipped; it is stored only by a
    reconciliation that wrote nothing, so a change committed by someone else while a
    reconciliation ran is never folded into it.
    """

    digest = models.CharField(max_length=64)
    verified_at = models.DateTimeField()

    class Meta:
        verbose_name = "reconciliation state"
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], name="discovery_reconciliation_state_org"
            ),
        ]

    def __str__(self) -> str:
        return f"reconciled, verified {self.verified_at:%Y-%m-%d %H:%M}"
