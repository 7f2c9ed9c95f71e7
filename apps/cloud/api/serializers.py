"""Cloud account API serializers: strict input shapes and the read shape of SPEC.md section 4.

No serializer has a field for a secret on the way out: reads show ``credentials_set`` and
``credentials_hint`` only. Input serializers parse; the services check the rules and write.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.cloud.choices import AccountStatus, AuthMethod, Provider
from apps.cloud.models import CloudAccount
from apps.cloud.services import MAX_REGIONS, NAME_MAX_LENGTH
from apps.pools.api.serializers import StrictCharField, StrictIntegerField


class StrictBooleanField(serializers.BooleanField):
    """A BooleanField that takes JSON true and false only (DRF's also takes "yes" and 1)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictFloatField(serializers.FloatField):
    """A FloatField that takes JSON numbers only (DRF's also takes "5")."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class ErrorDetailSerializer(serializers.Serializer):
    """Why the last test or collection failed, in the provider-neutral vocabulary."""

    code = serializers.CharField()
    message = serializers.CharField()


class RegionCountSerializer(serializers.Serializer):
    resource_type = serializers.CharField()
    region = serializers.CharField()
    count = serializers.IntegerField()


class RegionOutcomeSerializer(serializers.Serializer):
    region = serializers.CharField()
    ok = serializers.BooleanField()
    records = serializers.IntegerField()
    error_code = serializers.CharField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)


class CollectionSerializer(serializers.Serializer):
    """Counts of the last collection: records per type and region, each region's outcome."""

    collected_at = serializers.DateTimeField()
    total = serializers.IntegerField()
    complete = serializers.BooleanField()
    counts = RegionCountSerializer(many=True)
    regions = RegionOutcomeSerializer(many=True)


class AccountSerializer(serializers.ModelSerializer):
    """A cloud account as every read shows it: credentials only as set-or-not and a hint."""

    credentials_set = serializers.BooleanField(read_only=True)
    last_error = serializers.SerializerMethodField()
    last_collection = serializers.SerializerMethodField()
    regions = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = CloudAccount
        fields = [
            "id",
            "name",
            "provider",
            "external_id",
            "auth_method",
            "regions",
            "parent",
            "role_arn",
            "role_external_id",
            "member_role_name",
            "access_key_id",
            "tenant_id",
            "client_id",
            "credentials_set",
            "credentials_hint",
            "credentials_updated_at",
            "status",
            "last_checked_at",
            "last_error",
            "last_collection",
            "last_collected_at",
            "sync_enabled",
            "sync_interval_minutes",
            "auto_import",
            "requests_per_second",
            "missing_grace_runs",
            "missing_grace_minutes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ErrorDetailSerializer(allow_null=True))
    def get_last_error(self, account: CloudAccount) -> dict[str, str] | None:
        return account.last_error or None

    @extend_schema_field(CollectionSerializer(allow_null=True))
    def get_last_collection(self, account: CloudAccount) -> dict[str, Any] | None:
        return account.last_collection or None


def _provider_fields() -> dict[str, serializers.Field]:
    return {
        "role_arn": StrictCharField(
            required=False, allow_blank=True, max_length=2048, help_text="AWS assume_role."
        ),
        "role_external_id": StrictCharField(
            required=False,
            allow_blank=True,
            max_length=1224,
            help_text="AWS: the external id the role's trust policy requires.",
        ),
        "member_role_name": StrictCharField(
            required=False,
            allow_blank=True,
            max_length=64,
            help_text="AWS Organizations: the role assumed in member accounts.",
        ),
        "access_key_id": StrictCharField(required=False, allow_blank=True, max_length=128),
        "tenant_id": StrictCharField(required=False, allow_blank=True, max_length=64),
        "client_id": StrictCharField(required=False, allow_blank=True, max_length=64),
    }


class AccountCreateSerializer(serializers.Serializer):
    """Body of ``POST /accounts/``: credentials are written separately, by an admin."""

    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    provider = serializers.ChoiceField(choices=Provider.choices)
    external_id = StrictCharField(
        max_length=64, help_text="AWS account id, GCP project id or Azure subscription id."
    )
    auth_method = serializers.ChoiceField(choices=AuthMethod.choices)
    regions = serializers.ListField(
        child=StrictCharField(max_length=64),
        required=False,
        max_length=MAX_REGIONS,
        help_text="Empty: every enabled region or location.",
    )
    parent = StrictIntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)
    sync_enabled = StrictBooleanField(required=False)
    sync_interval_minutes = StrictIntegerField(required=False, min_value=5, max_value=10_080)
    auto_import = StrictBooleanField(required=False)
    requests_per_second = StrictFloatField(required=False, min_value=0.1, max_value=1000)

    def get_fields(self) -> dict[str, serializers.Field]:
        return {**super().get_fields(), **_provider_fields()}


class AccountUpdateSerializer(serializers.Serializer):
    """Body of ``PATCH /accounts/{id}/`` (the provider never changes)."""

    name = StrictCharField(required=False, max_length=NAME_MAX_LENGTH)
    external_id = StrictCharField(required=False, max_length=64)
    auth_method = serializers.ChoiceField(choices=AuthMethod.choices, required=False)
    regions = serializers.ListField(
        child=StrictCharField(max_length=64), required=False, max_length=MAX_REGIONS
    )
    status = serializers.ChoiceField(
        choices=[AccountStatus.DISABLED, AccountStatus.PENDING],
        required=False,
        help_text="disabled, or pending to enable a disabled account.",
    )
    sync_enabled = StrictBooleanField(required=False)
    sync_interval_minutes = StrictIntegerField(required=False, min_value=5, max_value=10_080)
    auto_import = StrictBooleanField(required=False)
    requests_per_second = StrictFloatField(required=False, min_value=0.1, max_value=1000)
    missing_grace_runs = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=100,
        help_text="Complete collections a resource must be missing from before it is gone.",
    )
    missing_grace_minutes = StrictIntegerField(
        required=False,
        min_value=0,
        max_value=43_200,
        help_text="How long a resource must be missing before it is gone.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        return {**super().get_fields(), **_provider_fields()}


class CredentialsSerializer(serializers.Serializer):
    """Body of ``PUT /accounts/{id}/credentials/``: the secret of the account's method."""

    secret_access_key = StrictCharField(
        required=False, max_length=4096, help_text="AWS access_keys (or assume_role's source)."
    )
    access_key_id = StrictCharField(required=False, max_length=128)
    service_account_key = serializers.JSONField(
        required=False, help_text="GCP: the service-account key file, as an object or its text."
    )
    client_secret = StrictCharField(required=False, max_length=4096, help_text="Azure.")
    client_id = StrictCharField(required=False, max_length=64)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        # Never echoes what it parsed.
        return {}


class CredentialsResultSerializer(serializers.Serializer):
    credentials_set = serializers.BooleanField()
    credentials_hint = serializers.CharField()
    credentials_updated_at = serializers.DateTimeField(allow_null=True)


class CheckResultSerializer(serializers.Serializer):
    """``{ok, identity, checked_at, error?}`` of a connectivity test."""

    ok = serializers.BooleanField()
    identity = serializers.CharField(allow_blank=True)
    checked_at = serializers.DateTimeField()
    error = ErrorDetailSerializer(required=False)
    account = AccountSerializer()


class MemberDiscoverySerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    members = AccountSerializer(many=True)
