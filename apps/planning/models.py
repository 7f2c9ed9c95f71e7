"""Plans: lists of operations on the address plan, validated, previewed, applied, undone.

Every bulk change (a wizard template, an import, an AI proposal, a recommendation that
spans several pools) is stored as a ``Plan`` and goes through the same life: the pure
checks (``apps.planning.engine``), a dry run through the pool services that is always
rolled back, a preview, one apply through ``pool_changes_apply``, and perhaps a rollback.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.planning.choices import PlanSource, PlanStatus, RiskLevel
from apps.tenancy.scoping import TenantModel

TITLE_MAX_LENGTH = 255


class Plan(TenantModel):
    """A list of operations on an organization's pools, with its verdict, preview and history.

    ``operations`` follow SPEC.md section 7.0 (``create``/``update``/``delete`` with a
    ``ref`` unique in the plan). ``validation`` holds the last verdict: ``errors`` per
    operation (``{ref, index, code, field, message}``) and whether the dry run ran.
    ``preview`` holds the diff, the what-if utilization, the risk findings and pictures of
    the last valid dry run. Once applied, ``created_pool_ids`` and ``before_values`` record
    what rollback needs: the pools the plan created, the values it changed, the pools it
    deleted, and each touched pool's ``updated_at`` right after the apply (a later change
    blocks the rollback).
    """

    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    source = models.CharField(max_length=16, choices=PlanSource.choices)
    status = models.CharField(max_length=16, choices=PlanStatus.choices, default=PlanStatus.DRAFT)
    operations = models.JSONField(default=list, blank=True)
    operation_count = models.PositiveIntegerField(default=0, editable=False)
    validation = models.JSONField(default=dict, blank=True)
    preview = models.JSONField(default=dict, blank=True)
    risk_level = models.CharField(
        max_length=8, choices=RiskLevel.choices, blank=True, help_text="From the last preview."
    )
    source_detail = models.JSONField(
        default=dict,
        blank=True,
        help_text="What produced the plan: template key and parameters, import file and stats.",
    )
    parent_plan = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="versions",
        help_text="The plan this one revises (AI refinements).",
    )
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    validated_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    discarded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    discarded_at = models.DateTimeField(null=True, blank=True)
    rolled_back_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    created_pool_ids = models.JSONField(default=list, blank=True)
    before_values = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="planning_plan_org_created"),
            models.Index(fields=["organization", "status"], name="planning_plan_org_status"),
            models.Index(fields=["organization", "source"], name="planning_plan_org_source"),
        ]

    def __str__(self) -> str:
        return f"plan {self.pk}: {self.title}"

    @property
    def errors(self) -> list[dict]:
        """Return the errors of the last validation, per operation."""
        return list((self.validation or {}).get("errors", []))


# Saved wizard templates live in their own module; importing them here registers the model.
# Language model providers live in their own module; importing them registers them.
# AI sessions live in their own module too.
from apps.planning.ai_models import AIMessage, AISession  # noqa: E402
from apps.planning.llm_models import LLMProviderConfig, LLMUsageRecord  # noqa: E402
from apps.planning.template_models import OrganizationTemplate  # noqa: E402

__all__ = [
    "AIMessage",
    "AISession",
    "LLMProviderConfig",
    "LLMUsageRecord",
    "OrganizationTemplate",
    "Plan",
]
