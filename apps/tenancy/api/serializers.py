"""Tenancy API serializers: input parsing and output shapes, no writes."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.tenancy.choices import Role, TokenScope
from apps.tenancy.models import (
    DEFAULT_ORGANIZATION_SETTINGS,
    DEFAULT_QUOTAS,
    ApiToken,
    Membership,
    Organization,
    User,
)
from apps.tenancy.org_settings import SETTING_BOUNDS, SETTING_LABELS, quota_bounds, setting_kind
from apps.tenancy.quotas import QUOTA_LABELS


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name"]
        read_only_fields = fields


class OrganizationSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    user = UserSerializer()
    organization = OrganizationSummarySerializer(allow_null=True)
    role = serializers.CharField(allow_null=True)
    permissions = serializers.ListField(child=serializers.CharField())
    auth_method = serializers.ChoiceField(choices=["session", "token", "oidc"])


# ---------------------------------------------------------------- organizations


class OrganizationSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="The caller's role in the organization.")

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "role", "created_at"]
        read_only_fields = fields

    def get_role(self, organization: Organization) -> str | None:
        return self.context.get("roles", {}).get(organization.pk)


class OrganizationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    slug = serializers.SlugField(
        max_length=63, required=False, help_text="Default: derived from the name."
    )


class OrganizationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)


# ---------------------------------------------------------------- members


class MemberSerializer(serializers.ModelSerializer):
    user = UserSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at", "updated_at"]
        read_only_fields = fields


class MemberInviteSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


# ---------------------------------------------------------------- settings and quotas


def _setting_field(name: str, *, required: bool) -> serializers.Field:
    kind = setting_kind(name)
    options: dict[str, Any] = {"required": required, "help_text": SETTING_LABELS.get(name, "")}
    if kind == "bool":
        return serializers.BooleanField(**options)
    if kind == "int":
        low, high = SETTING_BOUNDS.get(name, (None, None))
        return serializers.IntegerField(min_value=low, max_value=high, **options)
    return serializers.DictField(**options)


def _quota_field(name: str, *, required: bool) -> serializers.Field:
    return serializers.IntegerField(
        min_value=quota_bounds(name)[0],
        max_value=quota_bounds(name)[1],
        required=required,
        help_text=QUOTA_LABELS.get(name, ""),
    )


# Generated from the defaults, so a setting or quota added there appears here.
SettingsValuesSerializer = type(
    "SettingsValuesSerializer",
    (serializers.Serializer,),
    {name: _setting_field(name, required=True) for name in DEFAULT_ORGANIZATION_SETTINGS},
)
SettingsChangesSerializer = type(
    "SettingsChangesSerializer",
    (serializers.Serializer,),
    {name: _setting_field(name, required=False) for name in DEFAULT_ORGANIZATION_SETTINGS},
)
QuotaValuesSerializer = type(
    "QuotaValuesSerializer",
    (serializers.Serializer,),
    {name: _quota_field(name, required=True) for name in DEFAULT_QUOTAS},
)
QuotaChangesSerializer = type(
    "QuotaChangesSerializer",
    (serializers.Serializer,),
    {name: _quota_field(name, required=False) for name in DEFAULT_QUOTAS},
)


class QuotaUsageSerializer(serializers.Serializer):
    label = serializers.CharField()
    limit = serializers.IntegerField()
    used = serializers.IntegerField(allow_null=True)


class OrganizationSettingsSerializer(serializers.Serializer):
    settings = SettingsValuesSerializer()
    quotas = QuotaValuesSerializer()
    usage = serializers.DictField(child=QuotaUsageSerializer())


class OrganizationSettingsUpdateSerializer(serializers.Serializer):
    settings = SettingsChangesSerializer(required=False)
    quotas = QuotaChangesSerializer(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A misspelt setting would otherwise be dropped without a word.
        data = self.initial_data if isinstance(self.initial_data, dict) else {}
        unknown = [key for key in data if key not in self.fields]
        for group in ("settings", "quotas"):
            given = data.get(group)
            if isinstance(given, dict):
                known = self.fields[group].fields
                unknown += [f"{group}.{key}" for key in given if key not in known]
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


# ---------------------------------------------------------------- API tokens


class ApiTokenSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=["active", "revoked", "expired"], read_only=True)
    member = serializers.EmailField(source="membership.user.email", read_only=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=TokenScope.choices))

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "member",
            "scopes",
            "status",
            "expires_at",
            "rate_limit_per_minute",
            "last_used_at",
            "last_used_ip",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=TokenScope.choices), min_length=1, max_length=3
    )
    expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="Default: the organization's default token lifetime from now.",
    )
    rate_limit_per_minute = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=10_000_000
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(
        read_only=True, help_text="The full token. It is shown here once and never again."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields
