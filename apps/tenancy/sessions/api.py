"""API of sessions: yours (``/me/sessions/``) and a member's (admins)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.tenancy import selectors as tenancy_selectors
from apps.tenancy.api.mixins import OrganizationRouteMixin
from apps.tenancy.api.views import MEMBER_PARAMETER, SLUG_PARAMETER, _require
from apps.tenancy.choices import Role
from apps.tenancy.models import ApiToken
from apps.tenancy.sessions import selectors, services
from apps.tenancy.sessions.models import UserSession


class UserSessionSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()
    organization = serializers.SlugRelatedField(
        source="last_organization",
        slug_field="slug",
        read_only=True,
        help_text="The organization the session last worked in.",
    )

    class Meta:
        model = UserSession
        fields = [
            "id",
            "device",
            "user_agent",
            "ip",
            "organization",
            "created_at",
            "last_seen_at",
            "current",
        ]
        read_only_fields = fields

    def get_current(self, obj: UserSession) -> bool:
        return obj.pk == self.context.get("current_id")


class RevokedCountSerializer(serializers.Serializer):
    revoked = serializers.IntegerField()


def _current_id(request: Request) -> int | None:
    if isinstance(request.auth, ApiToken):
        return None
    return request._request.session.get(services.SESSION_ROW_KEY)


SESSION_PARAMETER = OpenApiParameter("session_id", int, OpenApiParameter.PATH)


class MySessionListView(GenericAPIView):
    """List your signed-in sessions (the one making the request flagged ``current``)."""

    serializer_class = UserSessionSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return UserSession.objects.none()
        return selectors.user_session_list(user=self.request.user).select_related(
            "last_organization"
        )

    @extend_schema(responses=UserSessionSerializer(many=True), operation_id="me_sessions_list")
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        data = UserSessionSerializer(page, many=True, context={"current_id": _current_id(request)})
        return self.get_paginated_response(data.data)


class MySessionDetailView(GenericAPIView):
    """Read or revoke one of your sessions; it is signed out at its next request."""

    serializer_class = UserSessionSerializer
    filter_backends: list[Any] = []

    def get_object(self) -> UserSession:
        return selectors.user_session_get(user=self.request.user, pk=self.kwargs["session_id"])

    @extend_schema(parameters=[SESSION_PARAMETER], operation_id="me_sessions_retrieve")
    def get(self, request: Request, session_id: int) -> Response:
        context = {"current_id": _current_id(request)}
        return Response(UserSessionSerializer(self.get_object(), context=context).data)

    @extend_schema(
        parameters=[SESSION_PARAMETER],
        responses={204: OpenApiResponse(description="Revoked.")},
        operation_id="me_sessions_destroy",
    )
    def delete(self, request: Request, session_id: int) -> Response:
        services.user_session_revoke(
            user_session=self.get_object(), actor=request.user, request=request._request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MySessionRevokeOthersView(GenericAPIView):
    """Revoke every session of yours except the one making the request."""

    serializer_class = RevokedCountSerializer
    filter_backends: list[Any] = []

    @extend_schema(
        request=None, responses=RevokedCountSerializer, operation_id="me_sessions_revoke_others"
    )
    def post(self, request: Request) -> Response:
        count = services.user_sessions_revoke_others(
            user=request.user,
            keep_id=_current_id(request),
            actor=request.user,
            request=request._request,
        )
        return Response({"revoked": count})


class MemberSessionListView(OrganizationRouteMixin, GenericAPIView):
    """List a member's sessions working in this organization (admins)."""

    serializer_class = UserSessionSerializer
    filter_backends: list[Any] = []
    action_permissions = {"get": "members.manage"}

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return UserSession.objects.none()
        membership = tenancy_selectors.membership_get(
            organization=self.request.organization, pk=self.kwargs["member_id"]
        )
        return selectors.member_session_list(membership=membership).select_related(
            "last_organization"
        )

    @extend_schema(
        parameters=[SLUG_PARAMETER, MEMBER_PARAMETER], responses=UserSessionSerializer(many=True)
    )
    def get(self, request: Request, organization_slug: str, member_id: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(UserSessionSerializer(page, many=True).data)


class MemberSessionRevokeView(OrganizationRouteMixin, GenericAPIView):
    """Sign a member out of all their sessions (admins; only owners sign owners out)."""

    serializer_class = RevokedCountSerializer
    filter_backends: list[Any] = []
    action_permissions = {"post": "members.manage"}

    @extend_schema(
        parameters=[SLUG_PARAMETER, MEMBER_PARAMETER],
        request=None,
        responses=RevokedCountSerializer,
    )
    def post(self, request: Request, organization_slug: str, member_id: int) -> Response:
        membership = tenancy_selectors.membership_get(
            organization=request.organization, pk=member_id
        )
        if membership.role == Role.OWNER:
            _require(request, "owners.manage")
        count = services.member_sessions_revoke(
            membership=membership, actor=request.user, request=request._request
        )
        return Response({"revoked": count})
