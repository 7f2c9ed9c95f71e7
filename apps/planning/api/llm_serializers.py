"""LLM provider API serializers: strict input shapes; the API key is write-only.

No serializer has a field for the key on the way out: reads show ``api_key_set`` and
``api_key_hint`` (its last four characters). The services check the rules and write.
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.cloud.api.serializers import ErrorDetailSerializer, StrictBooleanField
from apps.planning.choices import LLMProviderKind
from apps.planning.llm_models import LLMProviderConfig
from apps.planning.llm_services import NAME_MAX_LENGTH
from apps.pools.api.serializers import StrictCharField, StrictIntegerField


def _price(**kwargs: object) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=6,
        min_value=Decimal(0),
        max_value=Decimal("999999"),
        **kwargs,  # type: ignore[arg-type]
    )


class LastCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    latency_ms = serializers.IntegerField()
    error = ErrorDetailSerializer(allow_null=True)


class LLMProviderSerializer(serializers.ModelSerializer):
    """A provider configuration as read: never the key."""

    api_key_set = serializers.BooleanField(read_only=True)
    last_check = serializers.SerializerMethodField()

    class Meta:
        model = LLMProviderConfig
        fields = [
            "id",
            "name",
            "provider",
            "model",
            "base_url",
            "api_version",
            "api_key_set",
            "api_key_hint",
            "api_key_updated_at",
            "priority",
            "enabled",
            "timeout_seconds",
            "max_output_tokens",
            "input_price",
            "cached_input_price",
            "output_price",
            "last_checked_at",
            "last_check",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(LastCheckSerializer(allow_null=True))
    def get_last_check(self, instance: LLMProviderConfig) -> dict | None:
        return instance.last_check or None


class LLMProviderUpdateSerializer(serializers.Serializer):
    """Fields a client may change; ``api_key`` is write-only ("" removes the key)."""

    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    provider = serializers.ChoiceField(choices=LLMProviderKind.choices)
    model = StrictCharField(max_length=200)
    base_url = StrictCharField(max_length=500, allow_blank=True)
    api_version = StrictCharField(max_length=32, allow_blank=True)
    api_key = StrictCharField(
        max_length=4096, allow_blank=True, write_only=True, trim_whitespace=True
    )
    priority = StrictIntegerField(min_value=0, max_value=10_000)
    enabled = StrictBooleanField()
    timeout_seconds = StrictIntegerField(min_value=1, max_value=600)
    max_output_tokens = StrictIntegerField(min_value=16, max_value=200_000)
    input_price = _price()
    cached_input_price = _price(allow_null=True)
    output_price = _price()

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for field in self.fields.values():
            field.required = False


class LLMProviderCreateSerializer(LLMProviderUpdateSerializer):
    """A new configuration: name, provider and model are required."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        for name in ("name", "provider", "model"):
            self.fields[name].required = True


class LLMCheckResultSerializer(serializers.Serializer):
    """``{ok, latency_ms, checked_at, error?}`` of a connectivity test."""

    ok = serializers.BooleanField()
    latency_ms = serializers.IntegerField()
    checked_at = serializers.DateTimeField()
    error = ErrorDetailSerializer(required=False)
    provider = LLMProviderSerializer()


class LLMUsageSerializer(serializers.Serializer):
    """The organization's language model usage this month and its quota."""

    month = serializers.CharField()
    calls = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    cached_input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    reasoning_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=18, decimal_places=6)
    quota = serializers.IntegerField()
