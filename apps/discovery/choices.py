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


class DriftKind(models.TextChoices):
    """What kind of difference between the plan and the clouds a drift finding reports."""

    UNMANAGED = "unmanaged", "Unmanaged (in the cloud, not planned)"
    OUTSIDE = "outside", "Outside every planned space"
    OVERLAP = "overlap", "Overlap"
    ORPHANED_POOL = "orphaned_pool", "Orphaned pool (planned and linked, gone from the cloud)"
    CIDR_CHANGED = "cidr_changed", "CIDR changed"
    DUPLICATE = "duplicate", "Duplicate (same CIDR in two networks of one routing domain)"


class DriftSeverity(models.TextChoices):
    """How much a drift finding matters, most severe first."""

    ERROR = "error", "Error"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


class DriftStatus(models.TextChoices):
    """Whether a drift finding waits for a decision, was carried out, or is muted."""

    OPEN = "open", "Open"
    APPLIED = "applied", "Applied"
    IGNORED = "ignored", "Ignored"


class DriftAction(models.TextChoices):
    """What a drift finding's suggestion does when applied."""

    IMPORT_AS_POOL = "import_as_pool", "Import as a pool under the narrowest parent"
    LINK_TO_POOL = "link_to_pool", "Link to the pool (resizing it to the new CIDR)"
    CREATE_PARENT = "create_parent", "Create a root pool for it"
    RETIRE_POOL = "retire_pool", "Retire (delete) the pool"
    IGNORE = "ignore", "Ignore the resource"
