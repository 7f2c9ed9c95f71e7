"""Serializers of the agents API: shapes only; the services do the work."""

from __future__ import annotations

from rest_framework import serializers

from apps.cloud.choices import Provider
from apps.discovery.choices import AgentStatus, DriftAction, DriftKind, DriftSeverity, DriftStatus
from apps.discovery.ingest import MAX_RECORDS
from apps.discovery.models import (
    Agent,
    AgentProvisioningToken,
    DiscoveredResource,
    DriftFinding,
    SyncRun,
)
from apps.pools.api.serializers import StrictCharField, StrictIntegerField

TOKEN_STATUSES = ["active", "revoked", "expired"]


class AgentSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=AgentStatus.choices, read_only=True)
    stale = serializers.BooleanField(
        read_only=True, help_text="Approved, and no heartbeat for 15 minutes."
    )
    decided_by = serializers.EmailField(source="decided_by.email", read_only=True, allow_null=True)

    class Meta:
        model = Agent
        fields = [
            "id",
            "name",
            "version",
            "hostname",
            "status",
            "stale",
            "registered_at",
            "registered_ip",
            "decided_at",
            "decided_by",
            "last_heartbeat_at",
            "last_seen_ip",
        ]
        read_only_fields = fields


class AgentRegisterSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    version = StrictCharField(max_length=64, required=False, allow_blank=True)
    hostname = StrictCharField(max_length=255, required=False, allow_blank=True)


class AgentRegisteredSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=AgentStatus.choices)
    credential = serializers.CharField(
        help_text="The agent's credential (cpag_...). It is shown here once and never again."
    )


class AgentHeartbeatSerializer(serializers.Serializer):
    version = StrictCharField(max_length=64, required=False, allow_blank=True)


class AgentHeartbeatAnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=AgentStatus.choices)
    last_heartbeat_at = serializers.DateTimeField()
    heartbeat_interval_seconds = serializers.IntegerField()


class ProvisioningTokenSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=TOKEN_STATUSES, read_only=True)
    created_by = serializers.EmailField(source="created_by.email", read_only=True, allow_null=True)

    class Meta:
        model = AgentProvisioningToken
        fields = [
            "id",
            "name",
            "prefix",
            "status",
            "expires_at",
            "created_at",
            "created_by",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


class ProvisioningTokenCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ProvisioningTokenCreatedSerializer(ProvisioningTokenSerializer):
    token = serializers.CharField(
        read_only=True, help_text="The full token (cpap_...). Shown here once and never again."
    )

    class Meta(ProvisioningTokenSerializer.Meta):
        fields = [*ProvisioningTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class RegionOutcomeSerializer(serializers.Serializer):
    region = StrictCharField(max_length=64)
    ok = serializers.BooleanField()
    records = StrictIntegerField(min_value=0)
    error_code = StrictCharField(max_length=64, required=False, allow_null=True, allow_blank=True)
    error_message = StrictCharField(
        max_length=1000, required=False, allow_null=True, allow_blank=True
    )


class DiscoveredRecordSerializer(serializers.Serializer):
    """A record as :meth:`DiscoveredRecord.as_dict` writes it (documentation only)."""

    provider = serializers.ChoiceField(choices=Provider.choices)
    resource_type = StrictCharField(max_length=64)
    resource_id = StrictCharField(max_length=255)
    cidr = StrictCharField(max_length=64, help_text="Canonical, as canonical_cidr gives.")
    name = StrictCharField(max_length=255, required=False, allow_blank=True)
    region = StrictCharField(max_length=64, required=False, allow_blank=True)
    network_id = StrictCharField(max_length=255, required=False, allow_blank=True)
    parent_resource_id = StrictCharField(max_length=255, required=False, allow_blank=True)
    account_external_id = StrictCharField(max_length=255, required=False, allow_blank=True)
    state = StrictCharField(max_length=64, required=False, allow_blank=True)
    tags = serializers.DictField(
        child=StrictCharField(max_length=256, allow_blank=True), required=False
    )
    attributes = serializers.DictField(required=False)


class IngestBatchSerializer(serializers.Serializer):
    """The ingest body (documentation only: ``apps.discovery.ingest`` validates it)."""

    batch_id = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
    provider = serializers.ChoiceField(choices=Provider.choices)
    account_external_id = StrictCharField(max_length=255)
    regions = RegionOutcomeSerializer(many=True, required=False)
    records = DiscoveredRecordSerializer(many=True, max_length=MAX_RECORDS)


class IngestReceiptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    batch_id = serializers.CharField()
    record_count = serializers.IntegerField()
    received_at = serializers.DateTimeField()
    duplicate = serializers.BooleanField(help_text="True when the batch was already stored.")


# Drift


class DriftResourceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    cidr = serializers.CharField()
    resource_type = serializers.CharField()
    resource_id = serializers.CharField()
    name = serializers.CharField()
    state = serializers.CharField()


class DriftPoolSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    cidr = serializers.CharField()
    name = serializers.CharField()


class DriftSuggestionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=DriftAction.choices)
    params = serializers.DictField()


class DriftFindingSerializer(serializers.ModelSerializer):
    """A drift finding with its resource, pool and suggestion."""

    kind = serializers.ChoiceField(choices=DriftKind.choices, read_only=True)
    severity = serializers.ChoiceField(choices=DriftSeverity.choices, read_only=True)
    status = serializers.ChoiceField(choices=DriftStatus.choices, read_only=True)
    account = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    resource = DriftResourceSerializer(read_only=True, allow_null=True)
    pool = DriftPoolSerializer(read_only=True, allow_null=True)
    suggestion = DriftSuggestionSerializer(read_only=True)
    ignored_by = serializers.EmailField(source="ignored_by.email", read_only=True, allow_null=True)
    applied_by = serializers.EmailField(source="applied_by.email", read_only=True, allow_null=True)
    result = serializers.DictField(read_only=True)

    class Meta:
        model = DriftFinding
        fields = [
            "id",
            "kind",
            "severity",
            "status",
            "account",
            "resource",
            "pool",
            "message",
            "suggestion",
            "ignored_reason",
            "ignored_by",
            "ignored_at",
            "applied_by",
            "applied_at",
            "result",
            "detected_at",
            "updated_at",
        ]
        read_only_fields = fields


class DriftIgnoreSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=1_000, help_text="Why the finding is ignored.")


class DriftKindCountsSerializer(serializers.Serializer):
    unmanaged = serializers.IntegerField()
    outside = serializers.IntegerField()
    overlap = serializers.IntegerField()
    orphaned_pool = serializers.IntegerField()
    cidr_changed = serializers.IntegerField()
    duplicate = serializers.IntegerField()


class DriftSeverityCountsSerializer(serializers.Serializer):
    error = serializers.IntegerField()
    warning = serializers.IntegerField()
    info = serializers.IntegerField()


class DriftAccountSummarySerializer(serializers.Serializer):
    account = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    provider = serializers.CharField()
    total = serializers.IntegerField()
    by_kind = DriftKindCountsSerializer()


class DriftSummarySerializer(serializers.Serializer):
    """Open findings counted by kind, for the organization and per account."""

    total = serializers.IntegerField()
    by_kind = DriftKindCountsSerializer()
    by_severity = DriftSeverityCountsSerializer()
    accounts = DriftAccountSummarySerializer(many=True)


class SyncRunSerializer(serializers.ModelSerializer):
    """A sync run with its progress, region outcomes and counts."""

    account_name = serializers.CharField(source="account.name", read_only=True, default=None)
    regions = serializers.JSONField(read_only=True, help_text="Each region's outcome.")
    counts = serializers.JSONField(
        read_only=True, help_text="{seen, new, changed, unchanged, missing, gone}"
    )

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "account",
            "account_name",
            "agent",
            "trigger",
            "status",
            "progress_percent",
            "progress_message",
            "regions",
            "counts",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
        ]
        read_only_fields = fields


class DiscoveredResourceSerializer(serializers.ModelSerializer):
    """A discovered resource, with its state and its standing against the plan."""

    tags = serializers.JSONField(read_only=True)
    attributes = serializers.JSONField(read_only=True)
    overlaps_with = serializers.JSONField(read_only=True)
    compliance = serializers.JSONField(read_only=True)

    class Meta:
        model = DiscoveredResource
        fields = [
            "id",
            "account",
            "provider",
            "resource_type",
            "resource_id",
            "cidr",
            "family",
            "prefix_length",
            "name",
            "region",
            "network_id",
            "parent_resource_id",
            "account_external_id",
            "provider_state",
            "tags",
            "attributes",
            "fingerprint",
            "state",
            "first_seen_at",
            "last_seen_at",
            "last_seen_run",
            "missing_since",
            "gone_at",
            "pool",
            "management_state",
            "overlap_status",
            "overlaps_with",
            "compliance",
            "reconciled_at",
        ]
        read_only_fields = fields
