"""AI session API serializers: strict inputs, and the read shapes of sessions and messages."""

from __future__ import annotations

from rest_framework import serializers

from apps.planning.ai_models import TITLE_MAX_LENGTH, AIMessage, AISession
from apps.planning.ai_services import TEXT_MAX_LENGTH
from apps.planning.api.serializers import StrictCharField, UserRefSerializer
from apps.planning.choices import AIMessageRole, AIMessageStatus, PlanStatus, RiskLevel


class AISessionCreateSerializer(serializers.Serializer):
    """``POST /ai/sessions/``: an optional title (else the first request names it)."""

    title = StrictCharField(
        max_length=TITLE_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


class AIMessageCreateSerializer(serializers.Serializer):
    """``POST /ai/sessions/{id}/messages/``: what the person asks."""

    text = StrictCharField(max_length=TEXT_MAX_LENGTH, trim_whitespace=True)


class AIPlanRefSerializer(serializers.Serializer):
    """The plan an answer proposed, in brief (the plan API has the rest)."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=PlanStatus.choices)
    version = serializers.IntegerField()
    operation_count = serializers.IntegerField()
    risk_level = serializers.ChoiceField(choices=RiskLevel.choices, allow_blank=True)
    error_count = serializers.SerializerMethodField()

    def get_error_count(self, plan: object) -> int:
        return len(plan.errors)  # type: ignore[attr-defined]


class AttemptSerializer(serializers.Serializer):
    provider = serializers.CharField()
    model = serializers.CharField()
    config = serializers.CharField()
    error_code = serializers.CharField(allow_blank=True)
    error_message = serializers.CharField(allow_blank=True)
    latency_ms = serializers.IntegerField()


class AIMessageSerializer(serializers.ModelSerializer):
    """A message: the request, or the answer with its provider, usage and plan."""

    role = serializers.ChoiceField(choices=AIMessageRole.choices)
    status = serializers.ChoiceField(choices=AIMessageStatus.choices)
    plan = AIPlanRefSerializer(read_only=True, allow_null=True)
    attempts = AttemptSerializer(many=True, read_only=True)
    error = serializers.JSONField()

    class Meta:
        model = AIMessage
        fields = [
            "id",
            "role",
            "content",
            "status",
            "error",
            "plan",
            "provider",
            "model",
            "attempts",
            "input_tokens",
            "cached_input_tokens",
            "output_tokens",
            "reasoning_tokens",
            "cost",
            "latency_ms",
            "repair_rounds",
            "created_at",
        ]
        read_only_fields = fields


class AISessionSerializer(serializers.ModelSerializer):
    """A session with its cached totals."""

    created_by = UserRefSerializer(read_only=True, allow_null=True)
    total_tokens = serializers.IntegerField(read_only=True)

    class Meta:
        model = AISession
        fields = [
            "id",
            "title",
            "created_by",
            "message_count",
            "input_tokens",
            "cached_input_tokens",
            "output_tokens",
            "reasoning_tokens",
            "total_tokens",
            "cost",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AISessionDetailSerializer(AISessionSerializer):
    """A session with its messages in order."""

    messages = serializers.SerializerMethodField()

    class Meta(AISessionSerializer.Meta):
        fields = [*AISessionSerializer.Meta.fields, "messages"]
        read_only_fields = fields

    def get_messages(self, session: AISession) -> list[dict]:
        return AIMessageSerializer(self.context["messages"], many=True).data


class AIAnalyticsQuerySerializer(serializers.Serializer):
    """``GET /ai/analytics/?month=YYYY-MM`` (all time without it)."""

    month = serializers.RegexField(r"^\d{4}-(0[1-9]|1[0-2])$", required=False)


class _FiguresSerializer(serializers.Serializer):
    answers = serializers.IntegerField()
    plans_proposed = serializers.IntegerField()
    valid_first = serializers.IntegerField()
    valid_after_repair = serializers.IntegerField()
    invalid = serializers.IntegerField()
    applied = serializers.IntegerField()
    discarded = serializers.IntegerField()
    rolled_back = serializers.IntegerField()
    repair_rounds = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    cached_input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    reasoning_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=18, decimal_places=6)


class AIAnalyticsProviderSerializer(_FiguresSerializer):
    provider = serializers.CharField()
    model = serializers.CharField(allow_blank=True)


class AIAnalyticsMonthSerializer(_FiguresSerializer):
    month = serializers.CharField()
    sessions = serializers.IntegerField()


class AIAnalyticsSerializer(_FiguresSerializer):
    """What the assistant proposed, what people did with it, and what it cost."""

    month = serializers.CharField(allow_null=True)
    sessions = serializers.IntegerField()
    tokens_per_session = serializers.DecimalField(max_digits=24, decimal_places=6, allow_null=True)
    cost_per_session = serializers.DecimalField(max_digits=18, decimal_places=6, allow_null=True)
    tokens_per_applied_plan = serializers.DecimalField(
        max_digits=24, decimal_places=6, allow_null=True
    )
    cost_per_applied_plan = serializers.DecimalField(
        max_digits=18, decimal_places=6, allow_null=True
    )
    by_provider = AIAnalyticsProviderSerializer(many=True)
    by_month = AIAnalyticsMonthSerializer(many=True)
