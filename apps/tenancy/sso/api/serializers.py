"""
Serializers of the SSO API. The client secret is write-only: no read shows it,
only ``client_secret_set`` and when it was last written.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.tenancy.choices import Role
from apps.tenancy.sso.models import GroupRoleMapping, IdentityProvider


class StrictCharField(serializers.CharField):
    """A CharField that takes JSON strings only (DRF's also takes numbers)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A BooleanField that takes JSON true and false only."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class IdentityProviderSerializer(serializers.ModelSerializer):
    """A provider as every read shows it: the client secret only as set or not."""

    client_secret_set = serializers.BooleanField(read_only=True)
    mapping_count = serializers.SerializerMethodField()
    login_path = serializers.SerializerMethodField()

    class Meta:
        model = IdentityProvider
        fields = [
            "id",
            "name",
            "slug",
            "issuer",
            "client_id",
            "client_secret_set",
            "client_secret_updated_at",
            "scopes",
            "email_claim",
            "groups_claim",
            "default_role",
            "require_mapped_group",
            "enabled",
            "discovery_fetched_at",
            "last_checked_at",
            "last_check_error",
            "mapping_count",
            "login_path",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_mapping_count(self, obj: IdentityProvider) -> int:
        count = getattr(obj, "mapping_count", None)
        return count if count is not None else obj.mappings.count()

    def get_login_path(self, obj: IdentityProvider) -> str:
        return f"/sso/{obj.organization.slug}/{obj.slug}/login/"


def _provider_fields(*, required: bool) -> dict[str, serializers.Field]:
    return {
        "name": StrictCharField(max_length=100, required=required),
        "slug": StrictCharField(max_length=63, required=False),
        "issuer": StrictCharField(max_length=500, required=required),
        "client_id": StrictCharField(max_length=255, required=required),
        "client_secret": StrictCharField(
            max_length=2000,
            required=False,
            allow_blank=True,
            write_only=True,
            trim_whitespace=False,
            help_text="Write-only; stored encrypted. An empty string removes it.",
        ),
        "scopes": StrictCharField(max_length=500, required=False),
        "email_claim": StrictCharField(max_length=100, required=False),
        "groups_claim": StrictCharField(max_length=100, required=False, allow_blank=True),
        "default_role": serializers.ChoiceField(
            choices=[("", "none"), *Role.choices], required=False, allow_blank=True
        ),
        "require_mapped_group": StrictBooleanField(required=False),
        "enabled": StrictBooleanField(required=False),
    }


IdentityProviderCreateSerializer = type(
    "IdentityProviderCreateSerializer",
    (serializers.Serializer,),
    {**_provider_fields(required=True), "__doc__": "Body of POST /sso/providers/."},
)
IdentityProviderUpdateSerializer = type(
    "IdentityProviderUpdateSerializer",
    (serializers.Serializer,),
    {**_provider_fields(required=False), "__doc__": "Body of PATCH /sso/providers/{id}/."},
)


class ProviderCheckErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ProviderCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    issuer = serializers.CharField()
    discovery_url = serializers.CharField()
    authorization_endpoint = serializers.CharField()
    token_endpoint = serializers.CharField()
    userinfo_endpoint = serializers.CharField()
    jwks_uri = serializers.CharField()
    scopes_supported = serializers.ListField(child=serializers.CharField())
    claims_supported = serializers.ListField(child=serializers.CharField())
    checked_at = serializers.DateTimeField()
    error = ProviderCheckErrorSerializer(required=False)


class GroupMappingSerializer(serializers.ModelSerializer):
    class Meta:
        model = GroupRoleMapping
        fields = ["id", "provider", "group", "role", "created_at"]
        read_only_fields = fields


class GroupMappingCreateSerializer(serializers.Serializer):
    group = StrictCharField(max_length=255)
    role = serializers.ChoiceField(choices=Role.choices)


class GroupMappingUpdateSerializer(serializers.Serializer):
    group = StrictCharField(max_length=255, required=False)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
