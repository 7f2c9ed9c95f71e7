"""Choices of the discovery models: agents, resources and sync runs."""

from django.db import models


class AgentStatus(models.TextChoices):
    """Where an agent stands: registered and waiting, let in, turned away, or shut out."""

    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"


class ResourceState(models.TextChoices):
    """Whether the last complete collection of a resource's region still found it."""

    PRESENT = "present", "Present"
    MISSING = "missing", "Missing"
    GONE = "gone", "Gone"


class ManagementState(models.TextChoices):
    """How a discovered resource stands against the address plan."""

    MANAGED = "managed", "Managed"
    UNMANAGED = "unmanaged", "Unmanaged"
    OUTSIDE = "outside", "Outside"
    IGNORED = "ignored", "Ignored"


class OverlapStatus(models.TextChoices):
    """Whether a resource partially overlaps a pool boundary or another resource."""

    OVERLAPPING = "overlapping", "Overlapping"
    NONOVERLAPPING = "nonoverlapping", "Not overlapping"


class SyncTrigger(models.TextChoices):
    """What started a sync run."""

    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Manual"
    AGENT = "agent", "Agent"


class SyncStatus(models.TextChoices):
    """Where a sync run stands; the last four are final."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    PARTIAL = "partial", "Partial"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# A run in one of these holds its account: a second run answers 409.
ACTIVE_SYNC_STATUSES = (SyncStatus.QUEUED, SyncStatus.RUNNING)
