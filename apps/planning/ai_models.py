"""Conversations with the AI planning assistant: sessions and their messages."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from apps.planning.choices import AIMessageRole, AIMessageStatus
from apps.planning.llm_models import PRICE
from apps.tenancy.scoping import TenantModel

TITLE_MAX_LENGTH = 200


class AISession(TenantModel):
    """One conversation with the assistant; each proposal in it is a new plan version.

    The token and cost totals are the sums of its assistant messages, kept here so that
    lists and analytics need no aggregate per row; the services update them with each
    answer.
    """

    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    message_count = models.PositiveIntegerField(default=0, editable=False)
    input_tokens = models.PositiveIntegerField(default=0, editable=False)
    cached_input_tokens = models.PositiveIntegerField(default=0, editable=False)
    output_tokens = models.PositiveIntegerField(default=0, editable=False)
    reasoning_tokens = models.PositiveIntegerField(default=0, editable=False)
    cost = models.DecimalField(default=Decimal(0), editable=False, **PRICE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = "AI session"
        indexes = [
            models.Index(fields=["organization", "-updated_at"], name="ai_session_org_updated"),
        ]

    def __str__(self) -> str:
        return f"AI session {self.pk}: {self.title}"

    @property
    def total_tokens(self) -> int:
        """Return input plus output tokens, as the monthly quota counts them."""
        return self.input_tokens + self.output_tokens


class AIMessage(TenantModel):
    """One message of a session: the user's request or the assistant's answer.

    ``content`` is sanitized text (no secret, credential or e-mail address). An answer
    records which providers were tried and why each failed (``attempts``), the tokens and
    cost summed over its calls (the first answer and any repair rounds), and the plan it
    proposed: the last version, valid or marked invalid with its errors.
    """

    session = models.ForeignKey(AISession, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=AIMessageRole.choices)
    content = models.TextField(blank=True)
    plan = models.ForeignKey(
        "planning.Plan",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ai_messages",
    )
    status = models.CharField(
        max_length=16, choices=AIMessageStatus.choices, default=AIMessageStatus.OK
    )
    error = models.JSONField(default=dict, blank=True, help_text="{code, message} on failure.")
    provider = models.CharField(max_length=24, blank=True)
    model = models.CharField(max_length=200, blank=True)
    attempts = models.JSONField(default=list, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    cached_input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(default=Decimal(0), **PRICE)
    latency_ms = models.PositiveIntegerField(default=0)
    repair_rounds = models.PositiveSmallIntegerField(default=0)
    valid_first = models.BooleanField(
        null=True, blank=True, help_text="Whether the first proposal passed the dry run."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "AI message"
        indexes = [
            models.Index(fields=["session", "created_at"], name="ai_message_session_created"),
        ]

    def __str__(self) -> str:
        return f"{self.role} message {self.pk} of session {self.session_id}"
