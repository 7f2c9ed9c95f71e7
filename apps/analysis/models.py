"""Analysis records: daily utilization snapshots, analysis runs and recommendations.

The analysis itself is computed by the pure engine (``apps.analysis.engine``) from the pool
tree; these models keep what must outlive a request: the history runway is fitted on, the
progress and summary of background runs, and recommendations with what became of them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.analysis.choices import RecommendationStatus, RecommendationType, RunStatus, Severity
from apps.tenancy.scoping import TenantModel

# Address counts are stored as decimal text: 2**128 has 39 digits, more than any integer
# column holds, and SQLite would round a NUMERIC of that size to a float.
COUNT_MAX_LENGTH = 40


class UtilizationSnapshot(TenantModel):
    """Record how many addresses of a pool its live children covered on one day.

    One row per pool and day, written by the daily snapshot task (idempotent: a second
    run the same day updates the row). ``total`` and ``used`` are decimal strings, exact
    for IPv6; ``percent`` repeats their ratio for ordering and charts.
    """

    pool = models.ForeignKey(
        "pools.Pool", on_delete=models.CASCADE, related_name="utilization_snapshots"
    )
    day = models.DateField()
    total = models.CharField(max_length=COUNT_MAX_LENGTH)
    used = models.CharField(max_length=COUNT_MAX_LENGTH)
    percent = models.FloatField(default=0.0)
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pool", "day"]
        constraints = [
            models.UniqueConstraint(fields=["pool", "day"], name="analysis_snapshot_pool_day")
        ]
        indexes = [
            models.Index(fields=["organization", "day"], name="analysis_snapshot_org_day"),
        ]

    def __str__(self) -> str:
        return f"pool {self.pool_id} on {self.day}: {self.used}/{self.total}"

    @property
    def used_count(self) -> int:
        """Return ``used`` as an integer."""
        return int(self.used)

    @property
    def total_count(self) -> int:
        """Return ``total`` as an integer."""
        return int(self.total)


class AnalysisRun(TenantModel):
    """Track one background analysis of some subtrees (``pools``) or the whole plan (``all``).

    The task moves ``status`` from queued to running to completed or failed, and writes
    ``progress`` (0 to 100) and ``message`` as it goes; ``summary`` holds the counts and top
    lists of the finished analysis.
    """

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=255, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    pools = models.JSONField(default=list, blank=True, help_text="Requested pool ids.")
    all_pools = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="analysis_run_org")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="analysis_run_progress_max_100"
            )
        ]

    def __str__(self) -> str:
        return f"analysis run {self.pk} ({self.status}, {self.progress}%)"

    @property
    def is_finished(self) -> bool:
        """Return whether the run has completed or failed."""
        return self.status in (RunStatus.COMPLETED, RunStatus.FAILED)

    @property
    def duration_seconds(self) -> float | None:
        """Return how long the run took, once it has finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class Recommendation(TenantModel):
    """Store one recommended change to the plan and what became of it.

    ``change`` is the engine's concrete change (an allocate, update, delete or merge that
    the pool services apply, or a review). ``fingerprint`` identifies the advice: at most
    one pending recommendation per fingerprint and organization, so generating again
    refreshes a pending one instead of adding a copy, and a dismissed one is not offered
    again.
    """

    type = models.CharField(max_length=16, choices=RecommendationType.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    impact = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=255)
    rationale = models.TextField()
    change = models.JSONField()
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=RecommendationStatus.choices, default=RecommendationStatus.PENDING
    )
    pool = models.ForeignKey(
        "pools.Pool",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recommendations",
    )
    dismiss_reason = models.TextField(blank=True)
    failure_reason = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-impact", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "fingerprint"],
                condition=models.Q(status="pending"),
                name="analysis_rec_one_pending_per_fingerprint",
            ),
            models.CheckConstraint(
                condition=models.Q(impact__lte=100), name="analysis_rec_impact_max_100"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "-impact"], name="analysis_rec_list"),
            models.Index(fields=["organization", "fingerprint"], name="analysis_rec_fingerprint"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()}: {self.title}"

    @property
    def is_applicable(self) -> bool:
        """Return whether ``apply`` can carry the change out (a review cannot)."""
        return self.change.get("action") in {"allocate", "update", "delete", "merge"}
