"""Tenancy API views: parse, check, call one service or selector, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.tenancy import selectors, services
from apps.tenancy.api.mixins import OrganizationRouteMixin
from apps.tenancy.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    MemberInviteSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
    MeSerializer,
    OrganizationCreateSerializer,
    OrganizationSerializer,
    OrganizationSettingsSerializer,
    OrganizationSettingsUpdateSerializer,
    OrganizationUpdateSerializer,
)
from apps.tenancy.choices import Role
from apps.tenancy.context import request_memberships
from apps.tenancy.filters import MemberApiFilterSet, TokenApiFilterSet
from apps.tenancy.models import DEFAULT_QUOTAS, ApiToken, Membership, Organization
from apps.tenancy.permissions import check_permission
from apps.tenancy.quotas import quota_usage
from apps.tenancy.roles import permissions_for
from cloudpam.exceptions import ApplicationError, PermissionDenied

SLUG_PARAMETER = OpenApiParameter(
    "organization_slug", str, OpenApiParameter.PATH, description="Organization slug"
)
NO_CONTENT = {204: OpenApiResponse(description="Done; no content.")}


def _require(request: Request, permission: str) -> None:
    """Raise 403 naming ``permission`` unless the request holds it."""
    reason = check_permission(request, permission)
    if reason:
        raise PermissionDenied(reason)


class MeView(APIView):
    """Return the authenticated caller: user, active organization, role and permissions."""

    @extend_schema(responses=MeSerializer, operation_id="me_retrieve")
    def get(self, request: Request) -> Response:
        membership = getattr(request, "membership", None)
        token = request.auth if isinstance(request.auth, ApiToken) else None
        data = {
            "user": request.user,
            "organization": membership.organization if membership else None,
            "role": membership.role if membership else None,
            "permissions": (
                permissions_for(membership.role, token.scopes if token else None)
                if membership
                else []
            ),
            "auth_method": "token" if token else "session",
        }
        return Response(MeSerializer(data).data)


# ---------------------------------------------------------------- organizations


class OrganizationListView(GenericAPIView):
    """List the caller's organizations, or create one (the creator becomes its owner)."""

    serializer_class = OrganizationSerializer
    filter_backends: list[Any] = []

    def _memberships(self, request: Request) -> list[Membership]:
        if isinstance(request.auth, ApiToken):
            # A token belongs to one organization and sees only that one.
            return [request.membership]
        return request_memberships(request._request)

    @extend_schema(responses=OrganizationSerializer(many=True), operation_id="organizations_list")
    def get(self, request: Request) -> Response:
        roles = {m.organization_id: m.role for m in self._memberships(request)}
        page = self.paginate_queryset(Organization.objects.filter(pk__in=roles).order_by("name"))
        data = OrganizationSerializer(page, many=True, context={"roles": roles}).data
        return self.get_paginated_response(data)

    @extend_schema(
        request=OrganizationCreateSerializer,
        responses={201: OrganizationSerializer},
        operation_id="organizations_create",
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            raise PermissionDenied(
                "API tokens act within their own organization; sign in to create an organization."
            )
        serializer = OrganizationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = services.organization_create(
            name=serializer.validated_data["name"],
            slug=serializer.validated_data.get("slug"),
            creator=request.user,
            request=request._request,
        )
        data = OrganizationSerializer(
            organization, context={"roles": {organization.pk: Role.OWNER}}
        )
        return Response(data.data, status=status.HTTP_201_CREATED)


class OrganizationDetailView(OrganizationRouteMixin, GenericAPIView):
    """Read, rename or delete an organization (a guardian grant on it also counts)."""

    serializer_class = OrganizationSerializer
    filter_backends: list[Any] = []
    action_permissions = {
        "get": "organization.view",
        "patch": "organization.change",
        "delete": "organization.delete",
    }
    object_grants = True

    def get_object(self) -> Organization:
        organization = self.request.organization
        self.check_object_permissions(self.request, organization)
        return organization

    def _render(self, organization: Organization) -> Response:
        roles = {organization.pk: self.request.membership.role}
        return Response(OrganizationSerializer(organization, context={"roles": roles}).data)

    @extend_schema(parameters=[SLUG_PARAMETER], responses=OrganizationSerializer)
    def get(self, request: Request, organization_slug: str) -> Response:
        return self._render(self.get_object())

    @extend_schema(
        parameters=[SLUG_PARAMETER],
        request=OrganizationUpdateSerializer,
        responses=OrganizationSerializer,
    )
    def patch(self, request: Request, organization_slug: str) -> Response:
        organization = self.get_object()
        serializer = OrganizationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = services.organization_update(
            organization=organization, name=serializer.validated_data["name"]
        )
        return self._render(organization)

    @extend_schema(parameters=[SLUG_PARAMETER], responses=NO_CONTENT)
    def delete(self, request: Request, organization_slug: str) -> Response:
        services.organization_delete(organization=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- members


class MemberListView(OrganizationRouteMixin, GenericAPIView):
    """List the organization's members, or add one by email (invited if new)."""

    serializer_class = MemberSerializer
    filterset_class = MemberApiFilterSet
    ordering_fields = ["created_at", "role"]
    action_permissions = {"get": "members.view", "post": "members.manage"}

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return selectors.membership_list(organization=self.request.organization)

    @extend_schema(parameters=[SLUG_PARAMETER], responses=MemberSerializer(many=True))
    def get(self, request: Request, organization_slug: str) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    @extend_schema(
        parameters=[SLUG_PARAMETER],
        request=MemberInviteSerializer,
        responses={201: MemberSerializer},
    )
    def post(self, request: Request, organization_slug: str) -> Response:
        serializer = MemberInviteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data["role"] == Role.OWNER:
            _require(request, "owners.manage")
        membership = services.membership_invite(
            organization=request.organization,
            email=serializer.validated_data["email"],
            role=serializer.validated_data["role"],
            actor=request.user,
            request=request._request,
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


MEMBER_PARAMETER = OpenApiParameter("member_id", int, OpenApiParameter.PATH)


class MemberDetailView(OrganizationRouteMixin, GenericAPIView):
    """Read a member, change their role or remove them; only owners touch owners."""

    serializer_class = MemberSerializer
    filter_backends: list[Any] = []
    action_permissions = {
        "get": "members.view",
        "patch": "members.manage",
        "delete": "members.manage",
    }

    def get_object(self) -> Membership:
        return selectors.membership_get(
            organization=self.request.organization, pk=self.kwargs["member_id"]
        )

    @extend_schema(parameters=[SLUG_PARAMETER, MEMBER_PARAMETER], responses=MemberSerializer)
    def get(self, request: Request, organization_slug: str, member_id: int) -> Response:
        return Response(MemberSerializer(self.get_object()).data)

    @extend_schema(
        parameters=[SLUG_PARAMETER, MEMBER_PARAMETER],
        request=MemberUpdateSerializer,
        responses=MemberSerializer,
    )
    def patch(self, request: Request, organization_slug: str, member_id: int) -> Response:
        membership = self.get_object()
        serializer = MemberUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = serializer.validated_data["role"]
        if Role.OWNER in (membership.role, role):
            _require(request, "owners.manage")
        membership = services.membership_change_role(
            membership=membership, role=role, actor=request.user, request=request._request
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(parameters=[SLUG_PARAMETER, MEMBER_PARAMETER], responses=NO_CONTENT)
    def delete(self, request: Request, organization_slug: str, member_id: int) -> Response:
        membership = self.get_object()
        if membership.role == Role.OWNER:
            _require(request, "owners.manage")
        services.membership_remove(
            membership=membership, actor=request.user, request=request._request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- settings


class OrganizationSettingsView(OrganizationRouteMixin, GenericAPIView):
    """Read or change the organization's settings and quotas (with current usage)."""

    serializer_class = OrganizationSettingsSerializer
    filter_backends: list[Any] = []
    action_permissions = {"get": "settings.view", "patch": "settings.change"}

    def get_throttles(self) -> list[Any]:
        # An owner can always reach the settings that raise a limit set too low,
        # whatever the organization's rate limit and API quota say.
        membership = getattr(self.request, "membership", None)
        if membership is not None and membership.role == Role.OWNER:
            return []
        return super().get_throttles()

    def _render(self, organization: Organization) -> Response:
        data = {
            "settings": organization.effective_settings,
            "quotas": organization.effective_quotas,
            "usage": quota_usage(organization=organization),
        }
        return Response(OrganizationSettingsSerializer(data).data)

    @extend_schema(parameters=[SLUG_PARAMETER], responses=OrganizationSettingsSerializer)
    def get(self, request: Request, organization_slug: str) -> Response:
        return self._render(request.organization)

    @extend_schema(
        parameters=[SLUG_PARAMETER],
        request=OrganizationSettingsUpdateSerializer,
        responses=OrganizationSettingsSerializer,
    )
    def patch(self, request: Request, organization_slug: str) -> Response:
        serializer = OrganizationSettingsUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data.get("quotas"):
            _require(request, "quotas.change")
        try:
            organization = services.organization_settings_update(
                organization=request.organization,
                settings=serializer.validated_data.get("settings"),
                quotas=serializer.validated_data.get("quotas"),
            )
        except ApplicationError as exc:
            # The service names a setting or a quota; the request nests them in groups.
            exc.fields = {_field_in_request(name): value for name, value in exc.fields.items()}
            raise
        return self._render(organization)


def _field_in_request(name: str) -> str:
    """Return the path of setting or quota ``name`` in a settings request body."""
    return f"quotas.{name}" if name in DEFAULT_QUOTAS else f"settings.{name}"


# ---------------------------------------------------------------- API tokens


def _visible_tokens_of(request: Request) -> Membership | None:
    """Return the membership whose tokens the caller sees, or None for all of them."""
    return None if check_permission(request, "tokens.manage") is None else request.membership


class TokenListView(GenericAPIView):
    """List API tokens (your own; an admin sees everyone's), or create one for yourself."""

    serializer_class = ApiTokenSerializer
    filterset_class = TokenApiFilterSet
    ordering_fields = ["created_at", "expires_at", "last_used_at", "name"]
    action_permissions = {"get": "tokens.view", "post": "tokens.create"}

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return selectors.api_token_list(
            organization=self.request.organization, membership=_visible_tokens_of(self.request)
        )

    @extend_schema(responses=ApiTokenSerializer(many=True), operation_id="tokens_list")
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ApiTokenSerializer(page, many=True).data)

    @extend_schema(
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer},
        operation_id="tokens_create",
    )
    def post(self, request: Request) -> Response:
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, value = services.api_token_create(
            membership=request.membership,
            name=serializer.validated_data["name"],
            scopes=serializer.validated_data["scopes"],
            expires_at=serializer.validated_data.get("expires_at"),
            rate_limit_per_minute=serializer.validated_data.get("rate_limit_per_minute"),
            actor=request.user,
            request=request._request,
        )
        data = {**ApiTokenSerializer(token).data, "token": value}
        response = Response(data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


TOKEN_PARAMETER = OpenApiParameter("token_id", int, OpenApiParameter.PATH)


class TokenDetailView(GenericAPIView):
    """Read one API token, or revoke it (at once; a revoked token answers 401)."""

    serializer_class = ApiTokenSerializer
    filter_backends: list[Any] = []
    action_permissions = {"get": "tokens.view", "delete": "tokens.create"}

    def get_object(self) -> ApiToken:
        return selectors.api_token_get(
            organization=self.request.organization,
            pk=self.kwargs["token_id"],
            membership=_visible_tokens_of(self.request),
        )

    @extend_schema(parameters=[TOKEN_PARAMETER], responses=ApiTokenSerializer)
    def get(self, request: Request, token_id: int) -> Response:
        return Response(ApiTokenSerializer(self.get_object()).data)

    @extend_schema(parameters=[TOKEN_PARAMETER], responses=NO_CONTENT)
    def delete(self, request: Request, token_id: int) -> Response:
        services.api_token_revoke(
            token=self.get_object(), actor=request.user, request=request._request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
