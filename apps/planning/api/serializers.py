"""Plan API serializers: strict inputs and the read shapes of SPEC.md section 7.0."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.planning.choices import PlanSource, PlanStatus, RiskLevel
from apps.planning.engine import MAX_OPERATIONS
from apps.planning.models import TITLE_MAX_LENGTH, Plan


class StrictCharField(serializers.CharField):
    """A CharField that takes JSON strings only (DRF's also takes numbers)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A BooleanField that takes JSON true and false only (DRF's also takes "yes" and 1)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class OperationsField(serializers.ListField):
    """The operations of a plan: a JSON list of objects, checked by the plan engine."""

    child = serializers.JSONField()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=MAX_OPERATIONS, **kwargs)


class PlanCreateSerializer(serializers.Serializer):
    """``POST /plans/``: a title, a source and the operations (SPEC.md section 7.0)."""

    title = StrictCharField(max_length=TITLE_MAX_LENGTH)
    source = serializers.ChoiceField(choices=PlanSource.choices, default=PlanSource.AI)
    operations = OperationsField(
        help_text=(
            "Operations, each with an ``op`` (create, update, delete) and a ``ref`` unique "
            "in the plan."
        )
    )
    validate_now = StrictBooleanField(
        default=True, help_text="Dry-run the plan right away (default) or keep it a draft."
    )


class UserRefSerializer(serializers.Serializer):
    """A user named by id and e-mail address."""

    id = serializers.IntegerField()
    email = serializers.EmailField()


class PlanSerializer(serializers.ModelSerializer):
    """A plan with its operations, verdict and preview."""

    created_by = UserRefSerializer(read_only=True, allow_null=True)
    applied_by = UserRefSerializer(read_only=True, allow_null=True)
    rolled_back_by = UserRefSerializer(read_only=True, allow_null=True)
    risk_level = serializers.ChoiceField(choices=RiskLevel.choices, allow_blank=True)
    status = serializers.ChoiceField(choices=PlanStatus.choices)
    source = serializers.ChoiceField(choices=PlanSource.choices)
    operations = serializers.JSONField()
    validation = serializers.JSONField()
    preview = serializers.JSONField()
    source_detail = serializers.JSONField()
    created_pool_ids = serializers.ListField(child=serializers.IntegerField())

    class Meta:
        model = Plan
        fields = [
            "id",
            "title",
            "source",
            "status",
            "version",
            "parent_plan",
            "operation_count",
            "operations",
            "validation",
            "preview",
            "risk_level",
            "source_detail",
            "created_by",
            "created_at",
            "updated_at",
            "validated_at",
            "applied_by",
            "applied_at",
            "rolled_back_by",
            "rolled_back_at",
            "discarded_at",
            "created_pool_ids",
        ]
        read_only_fields = fields


class PlanListSerializer(serializers.ModelSerializer):
    """A plan in a list: no operations or preview, its error count instead."""

    created_by = UserRefSerializer(read_only=True, allow_null=True)
    risk_level = serializers.ChoiceField(choices=RiskLevel.choices, allow_blank=True)
    status = serializers.ChoiceField(choices=PlanStatus.choices)
    source = serializers.ChoiceField(choices=PlanSource.choices)
    error_count = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = [
            "id",
            "title",
            "source",
            "status",
            "version",
            "operation_count",
            "error_count",
            "risk_level",
            "created_by",
            "created_at",
            "applied_at",
        ]
        read_only_fields = fields

    def get_error_count(self, obj: Plan) -> int:
        return int((obj.validation or {}).get("error_count", len(obj.errors)))


class PlanCompareQuerySerializer(serializers.Serializer):
    """``GET /plans/compare/?a=ID&b=ID|current``."""

    a = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    b = serializers.RegexField(r"^(current|[1-9][0-9]{0,18})$", help_text="A plan id or current.")


class PlanExportQuerySerializer(serializers.Serializer):
    """``GET /plans/{id}/export/?format=``."""

    format = serializers.ChoiceField(choices=["json", "yaml", "csv"], default="json")
