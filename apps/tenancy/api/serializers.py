"""Tenancy API serializers."""

from rest_framework import serializers

from apps.tenancy.models import Organization, User


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
