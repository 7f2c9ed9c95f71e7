"""The SSO API of SPEC.md section 1 (admins, ``sso.manage``): providers, check, mappings.

Another organization's provider or mapping answers 404 ``not_found``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from apps.tenancy.api.mixins import TenantScopedMixin
from apps.tenancy.sso import selectors, services
from apps.tenancy.sso.api.serializers import (
    GroupMappingCreateSerializer,
    GroupMappingSerializer,
    GroupMappingUpdateSerializer,
    IdentityProviderCreateSerializer,
    IdentityProviderSerializer,
    IdentityProviderUpdateSerializer,
    ProviderCheckSerializer,
)
from apps.tenancy.sso.models import GroupRoleMapping, IdentityProvider
from cloudpam.context import actor_of

DELETED = {204: OpenApiResponse(description="Deleted.")}


def _body(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@extend_schema(tags=["sso"])
class IdentityProviderViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Identity providers of the active organization (admins)."""

    action_permissions = {
        "list": "sso.manage",
        "create": "sso.manage",
        "retrieve": "sso.manage",
        "partial_update": "sso.manage",
        "destroy": "sso.manage",
        "check": "sso.manage",
    }
    queryset = IdentityProvider.objects.all()
    serializer_class = IdentityProviderSerializer
    filter_backends: list[Any] = []

    def get_object(self) -> IdentityProvider:
        provider = selectors.identity_provider_get(
            organization=self.request.organization, pk=self.kwargs["pk"]
        )
        self.check_object_permissions(self.request, provider)
        return provider

    @extend_schema(summary="List identity providers")
    def list(self, request: Request) -> Response:
        queryset = selectors.identity_provider_list(
            organization=request.organization
        ).select_related("organization")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(IdentityProviderSerializer(page, many=True).data)

    @extend_schema(
        summary="Add an identity provider",
        description="The client secret is write-only: stored encrypted, never returned.",
        request=IdentityProviderCreateSerializer,
        responses={201: IdentityProviderSerializer},
    )
    def create(self, request: Request) -> Response:
        data = _body(IdentityProviderCreateSerializer, request)
        provider = services.identity_provider_create(
            organization=request.organization, actor=actor_of(request), **data
        )
        return Response(IdentityProviderSerializer(provider).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Read an identity provider")
    def retrieve(self, request: Request, pk: int) -> Response:
        return Response(IdentityProviderSerializer(self.get_object()).data)

    @extend_schema(
        summary="Change an identity provider",
        description="client_secret replaces the secret; an empty string removes it.",
        request=IdentityProviderUpdateSerializer,
        responses={200: IdentityProviderSerializer},
    )
    def partial_update(self, request: Request, pk: int) -> Response:
        provider = self.get_object()
        data = _body(IdentityProviderUpdateSerializer, request)
        provider = services.identity_provider_update(
            provider=provider, actor=actor_of(request), **data
        )
        return Response(IdentityProviderSerializer(provider).data)

    @extend_schema(summary="Remove an identity provider", responses=DELETED)
    def destroy(self, request: Request, pk: int) -> Response:
        services.identity_provider_delete(provider=self.get_object(), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Check the provider's discovery document",
        description=(
            "Fetches {issuer}/.well-known/openid-configuration now and answers what it found "
            "(ok true) or why it failed (ok false, error.code and error.message)."
        ),
        request=None,
        responses={200: ProviderCheckSerializer},
    )
    def check(self, request: Request, pk: int) -> Response:
        result = services.identity_provider_check(
            provider=self.get_object(), actor=actor_of(request)
        )
        return Response(ProviderCheckSerializer(result.as_dict()).data)


@extend_schema(tags=["sso"])
class GroupMappingViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Group-to-role mappings of one identity provider (admins)."""

    action_permissions = {
        "list": "sso.manage",
        "create": "sso.manage",
        "retrieve": "sso.manage",
        "partial_update": "sso.manage",
        "destroy": "sso.manage",
    }
    queryset = GroupRoleMapping.objects.all()
    serializer_class = GroupMappingSerializer
    filter_backends: list[Any] = []

    def provider(self) -> IdentityProvider:
        return selectors.identity_provider_get(
            organization=self.request.organization, pk=self.kwargs["provider_id"]
        )

    def get_object(self) -> GroupRoleMapping:
        return selectors.group_mapping_get(provider=self.provider(), pk=self.kwargs["pk"])

    @extend_schema(summary="List a provider's group mappings")
    def list(self, request: Request, provider_id: int) -> Response:
        page = self.paginate_queryset(selectors.group_mapping_list(provider=self.provider()))
        return self.get_paginated_response(GroupMappingSerializer(page, many=True).data)

    @extend_schema(
        summary="Map a group to a role",
        request=GroupMappingCreateSerializer,
        responses={201: GroupMappingSerializer},
    )
    def create(self, request: Request, provider_id: int) -> Response:
        provider = self.provider()
        data = _body(GroupMappingCreateSerializer, request)
        mapping = services.group_mapping_create(provider=provider, actor=actor_of(request), **data)
        return Response(GroupMappingSerializer(mapping).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Read a group mapping")
    def retrieve(self, request: Request, provider_id: int, pk: int) -> Response:
        return Response(GroupMappingSerializer(self.get_object()).data)

    @extend_schema(
        summary="Change a group mapping",
        request=GroupMappingUpdateSerializer,
        responses={200: GroupMappingSerializer},
    )
    def partial_update(self, request: Request, provider_id: int, pk: int) -> Response:
        mapping = self.get_object()
        data = _body(GroupMappingUpdateSerializer, request)
        mapping = services.group_mapping_update(mapping=mapping, actor=actor_of(request), **data)
        return Response(GroupMappingSerializer(mapping).data)

    @extend_schema(summary="Remove a group mapping", responses=DELETED)
    def destroy(self, request: Request, provider_id: int, pk: int) -> Response:
        services.group_mapping_delete(mapping=self.get_object(), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
