"""Analysis API serializers: strict inputs and the read shapes of SPEC.md section 6.

The read shapes are built by the selectors as plain data; these serializers document them
in the OpenAPI schema and render them. Address counts are decimal strings (IPv6 counts
overflow JSON numbers).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.analysis.choices import (
    RecommendationStatus,
    RecommendationType,
    RunStatus,
    RunwayStatus,
    Severity,
)
from apps.analysis.engine import RULE_IDS
from apps.analysis.models import AnalysisRun, Recommendation
from apps.analysis.selectors import FREE_BLOCKS_MAX_LIMIT
from apps.analysis.services import DISMISS_REASON_MAX_LENGTH

MAX_ID = 2**63 - 1


class StrictIntegerField(serializers.IntegerField):
    """An IntegerField that takes JSON integers only (DRF's also takes "5" and 5.0)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A BooleanField that takes JSON true and false only (DRF's also takes "yes" and 1)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictCharField(serializers.CharField):
    """A CharField that takes JSON strings only (DRF's also takes numbers)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictQuerySerializer(serializers.Serializer):
    """Query parameters where a typed parameter given empty (``?severity=``) is an error.

    DRF reads an empty query value of an optional field as absent; these parameters
    document no empty value, so they refuse it.
    """

    def to_internal_value(self, data: Any) -> Any:
        blank = [name for name in self.fields if hasattr(data, "get") and data.get(name) == ""]
        if blank:
            raise serializers.ValidationError(
                {name: ["This field may not be blank."] for name in blank}
            )
        return super().to_internal_value(data)


# Pool analysis


class PoolAnalysisQuerySerializer(StrictQuerySerializer):
    """Query parameters of a pool analysis."""

    prefix_length = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=128,
        help_text="Rank the free blocks by how well they suit a block of this length.",
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=FREE_BLOCKS_MAX_LIMIT,
        help_text="How many free blocks to list (default 1000).",
    )


class PoolRefSerializer(serializers.Serializer):
    """The pool an analysis is about."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    cidr = serializers.CharField()
    family = serializers.IntegerField()
    type = serializers.CharField()
    status = serializers.CharField()


class AnalysisUtilizationSerializer(serializers.Serializer):
    """Addresses covered by live direct children, each counted once."""

    total = serializers.CharField()
    used = serializers.CharField()
    free = serializers.CharField()
    percent = serializers.FloatField()


class PoolUsageSerializer(AnalysisUtilizationSerializer):
    """The pool's own utilization, with the addresses discovered resources use in it."""

    in_use = serializers.CharField(
        allow_null=True,
        help_text="Addresses used by present discovered resources; null without any.",
    )


class SubtreeUtilizationSerializer(AnalysisUtilizationSerializer):
    """Addresses covered by the live leaves of the subtree, each counted once."""

    descendants = serializers.IntegerField()


class AnalysisFreeBlockSerializer(serializers.Serializer):
    """A maximal free block; with ``prefix_length``, the block an allocation would take."""

    cidr = serializers.CharField()
    size = serializers.CharField()
    candidate = serializers.CharField(required=False)


class LargestFreeBlockSerializer(serializers.Serializer):
    """The largest free block and its share of the free addresses (percent)."""

    cidr = serializers.CharField()
    size = serializers.CharField()
    share = serializers.FloatField()


class FindingSerializer(serializers.Serializer):
    """A compliance finding: one rule broken by one pool."""

    rule = serializers.ChoiceField(choices=list(RULE_IDS))
    severity = serializers.ChoiceField(choices=Severity.choices)
    pool = serializers.IntegerField()
    message = serializers.CharField()
    remediation = serializers.CharField()
    related = serializers.ListField(child=serializers.IntegerField())


class RunwayPointSerializer(serializers.Serializer):
    """The latest snapshot the runway is anchored at."""

    date = serializers.DateField()
    used = serializers.CharField()


class ProjectionSerializer(serializers.Serializer):
    """Projected use some months after the latest snapshot."""

    months = serializers.IntegerField()
    date = serializers.DateField()
    used = serializers.CharField()
    percent = serializers.FloatField()


class RunwaySerializer(serializers.Serializer):
    """The growth fit of a pool and what it predicts."""

    status = serializers.ChoiceField(choices=RunwayStatus.choices)
    points = serializers.IntegerField()
    span_days = serializers.IntegerField()
    growth_per_day = serializers.FloatField(allow_null=True)
    days_until_exhaustion = serializers.IntegerField(allow_null=True)
    exhaustion_date = serializers.DateField(allow_null=True)
    latest = RunwayPointSerializer(allow_null=True)
    projections = ProjectionSerializer(many=True)


class PoolAnalysisSerializer(serializers.Serializer):
    """The analysis of one pool."""

    pool = PoolRefSerializer()
    utilization = PoolUsageSerializer()
    subtree = SubtreeUtilizationSerializer()
    free_blocks = AnalysisFreeBlockSerializer(many=True)
    free_block_count = serializers.IntegerField()
    total_free = serializers.CharField()
    largest_free_block = LargestFreeBlockSerializer(allow_null=True)
    fragmentation = serializers.FloatField(min_value=0, max_value=100)
    findings = FindingSerializer(many=True)
    runway = RunwaySerializer()


# Compliance


class FindingPageSerializer(serializers.Serializer):
    """A page of findings."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = FindingSerializer(many=True)


class ComplianceQuerySerializer(StrictQuerySerializer):
    """Filters of the compliance findings."""

    rule = serializers.ChoiceField(choices=list(RULE_IDS), required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    pool = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Only findings about this pool and the pools below it.",
    )


# Runs


class AnalysisRunCreateSerializer(serializers.Serializer):
    """Start an analysis of some subtrees or of the whole plan (exactly one of the two)."""

    pools = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=10_000,
        help_text="Ids of the pools whose subtrees are analysed.",
    )
    all = StrictBooleanField(required=False, help_text="Analyse the whole plan.")


class AnalysisRunAcceptedSerializer(serializers.Serializer):
    """The queued run."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RunStatus.choices)


class AnalysisRunSerializer(serializers.ModelSerializer):
    """An analysis run with its progress and, once completed, its summary."""

    all = serializers.BooleanField(source="all_pools")
    summary = serializers.DictField()

    class Meta:
        model = AnalysisRun
        fields = [
            "id",
            "status",
            "progress",
            "message",
            "summary",
            "pools",
            "all",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


# Recommendations


class RecommendationGenerateSerializer(serializers.Serializer):
    """Generate recommendations for some subtrees (the whole plan by default)."""

    pools = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=10_000,
    )


class GenerationResultSerializer(serializers.Serializer):
    """What a generation did."""

    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    removed = serializers.IntegerField()
    pending = serializers.IntegerField()


class RecommendationSerializer(serializers.ModelSerializer):
    """A recommendation: the advice, its concrete change and what became of it."""

    change = serializers.DictField()
    result = serializers.DictField()
    applicable = serializers.BooleanField(source="is_applicable")

    class Meta:
        model = Recommendation
        fields = [
            "id",
            "type",
            "severity",
            "impact",
            "title",
            "rationale",
            "change",
            "applicable",
            "fingerprint",
            "status",
            "pool",
            "dismiss_reason",
            "result",
            "created_at",
            "updated_at",
            "applied_at",
            "dismissed_at",
        ]
        read_only_fields = fields


class RecommendationDismissSerializer(serializers.Serializer):
    """Why a recommendation is set aside."""

    reason = StrictCharField(max_length=DISMISS_REASON_MAX_LENGTH)


RECOMMENDATION_FILTER_CHOICES = {
    "type": RecommendationType.choices,
    "status": RecommendationStatus.choices,
    "severity": Severity.choices,
}
