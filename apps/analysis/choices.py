"""Choices of the analysis models: run status, recommendation type, severity and status."""

from django.db import models


class RunStatus(models.TextChoices):
    """Where an analysis run is in its life."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class RecommendationType(models.TextChoices):
    """What a recommendation is about (see ``engine.recommendations``)."""

    CAPACITY = "capacity", "Capacity warning"
    ALLOCATION = "allocation", "Allocation"
    COMPLIANCE = "compliance", "Compliance fix"
    RECLAIM = "reclaim", "Reclaim unused pool"
    CONSOLIDATION = "consolidation", "Consolidation"


class Severity(models.TextChoices):
    """How urgent a finding or a recommendation is, most severe first."""

    ERROR = "error", "Error"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


class RecommendationStatus(models.TextChoices):
    """What became of a recommendation."""

    PENDING = "pending", "Pending"
    APPLIED = "applied", "Applied"
    DISMISSED = "dismissed", "Dismissed"
    FAILED = "failed", "Failed"


class RunwayStatus(models.TextChoices):
    """What a pool's growth fit could tell (see ``engine.runway``)."""

    OK = "ok", "Projected"
    NO_GROWTH = "no_growth", "Not growing"
    EXHAUSTED = "exhausted", "Exhausted"
    INSUFFICIENT_HISTORY = "insufficient_history", "Not enough history"
