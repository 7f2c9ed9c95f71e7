"""Language model providers configured per organization, and the ledger of their use."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from apps.planning.choices import LLMProviderKind
from apps.tenancy.scoping import TenantModel

PRICE = {"max_digits": 12, "decimal_places": 6}


class LLMProviderConfig(TenantModel):
    """One model an organization's assistant may call, tried in ``priority`` order.

    The API key is encrypted at rest like cloud credentials (``apps.cloud.crypto``) in
    ``api_key_encrypted``, written only by the services and shown nowhere: reads get
    ``api_key_set`` and ``api_key_hint`` (its last four characters). Prices are per
    million tokens; an empty cached price means cached input costs the input price.
    """

    name = models.CharField(max_length=100)
    provider = models.CharField(max_length=24, choices=LLMProviderKind.choices)
    model = models.CharField(
        max_length=200, help_text="The model name (for Azure OpenAI: the deployment name)."
    )
    base_url = models.CharField(max_length=500, blank=True)
    api_version = models.CharField(max_length=32, blank=True, help_text="Azure OpenAI only.")
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_hint = models.CharField(max_length=4, blank=True, editable=False)
    api_key_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    priority = models.PositiveIntegerField(default=100, help_text="Lower is tried first.")
    enabled = models.BooleanField(default=True)
    timeout_seconds = models.PositiveIntegerField(default=60)
    max_output_tokens = models.PositiveIntegerField(default=4096)
    input_price = models.DecimalField(default=Decimal(0), **PRICE)
    cached_input_price = models.DecimalField(null=True, blank=True, **PRICE)
    output_price = models.DecimalField(default=Decimal(0), **PRICE)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_check = models.JSONField(default=dict, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = "LLM provider"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="llm_provider_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()} {self.model})"

    @property
    def api_key_set(self) -> bool:
        """Return whether an API key is stored."""
        return bool(self.api_key_encrypted)


class LLMUsageRecord(TenantModel):
    """One call to a language model: who answered, the tokens as normalised, the cost.

    ``input_tokens`` include the cached ones (see ``apps.planning.llm.base.Usage``). The
    monthly quota ``max_llm_tokens_per_month`` counts input plus output tokens here.
    """

    config = models.ForeignKey(
        LLMProviderConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider = models.CharField(max_length=24, choices=LLMProviderKind.choices)
    model = models.CharField(max_length=200)
    purpose = models.CharField(max_length=24, help_text="chat, repair, check, ...")
    input_tokens = models.PositiveIntegerField(default=0)
    cached_input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(default=Decimal(0), **PRICE)
    latency_ms = models.PositiveIntegerField(default=0)
    message = models.ForeignKey(
        "planning.AIMessage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="usage_records",
        help_text="The assistant's answer this call served, for the analytics.",
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
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "created_at"], name="llm_usage_org_created"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.model} {self.input_tokens}+{self.output_tokens} tokens"

    @property
    def total_tokens(self) -> int:
        """Return the tokens the quota counts: input plus output."""
        return self.input_tokens + self.output_tokens
