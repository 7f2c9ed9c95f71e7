"""API of MFA: your status, re-verifying a session, and an admin's reset of a member.

Enrolment happens in the console (it shows a QR code and, once, the
recovery codes). Bearer tokens carry no second factor: ``/me/mfa/verify/``
is for sessions.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.tenancy import selectors as tenancy_selectors
from apps.tenancy.api.mixins import OrganizationRouteMixin
from apps.tenancy.api.views import MEMBER_PARAMETER, SLUG_PARAMETER, _require
from apps.tenancy.choices import Role
from apps.tenancy.mfa import services
from apps.tenancy.mfa.selectors import mfa_summary
from apps.tenancy.mfa.state import (
    mfa_user_state,
    session_mark_verified,
    session_reverification_due,
    session_verified_at,
)
from apps.tenancy.models import ApiToken
from cloudpam.exceptions import ValidationError


class MfaDeviceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["totp", "recovery_codes"])
    name = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class MfaStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    required = serializers.BooleanField()
    devices = MfaDeviceSerializer(many=True)
    recovery_codes_left = serializers.IntegerField()
    verified_at = serializers.DateTimeField(allow_null=True)
    reverification_due = serializers.BooleanField()


class MemberMfaSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    devices = MfaDeviceSerializer(many=True)
    recovery_codes_left = serializers.IntegerField()


class MfaCodeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)


def _status(request: Request) -> dict[str, Any]:
    summary = mfa_summary(user=request.user)
    is_session = not isinstance(request.auth, ApiToken)
    return {
        "enabled": summary.enabled,
        "required": mfa_user_state(request.user, fresh=True).required,
        "devices": summary.devices,
        "recovery_codes_left": summary.recovery_codes_left,
        "verified_at": session_verified_at(request._request) if is_session else None,
        "reverification_due": session_reverification_due(request._request) if is_session else False,
    }


class MyMfaView(GenericAPIView):
    """Your MFA: whether it is on or required, your devices (never their secrets)."""

    serializer_class = MfaStatusSerializer
    filter_backends: list[Any] = []

    @extend_schema(operation_id="me_mfa_retrieve")
    def get(self, request: Request) -> Response:
        return Response(MfaStatusSerializer(_status(request)).data)


class MyMfaVerifyView(GenericAPIView):
    """Verify a code for this session (for sensitive actions after 12 hours)."""

    serializer_class = MfaCodeSerializer
    filter_backends: list[Any] = []

    @extend_schema(
        request=MfaCodeSerializer, responses=MfaStatusSerializer, operation_id="me_mfa_verify"
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            raise ValidationError(
                "A bearer token needs no second factor; verify codes in a signed-in session.",
                code="not_applicable",
            )
        serializer = MfaCodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device = services.mfa_verify(
            user=request.user, code=serializer.validated_data["code"], request=request._request
        )
        session_mark_verified(request._request, device)
        return Response(MfaStatusSerializer(_status(request)).data)


class MemberMfaView(OrganizationRouteMixin, GenericAPIView):
    """A member's MFA: on or off, devices (never their secrets), recovery codes left (admins)."""

    serializer_class = MemberMfaSerializer
    filter_backends: list[Any] = []
    action_permissions = {"get": "members.manage"}

    @extend_schema(parameters=[SLUG_PARAMETER, MEMBER_PARAMETER])
    def get(self, request: Request, organization_slug: str, member_id: int) -> Response:
        membership = tenancy_selectors.membership_get(
            organization=request.organization, pk=member_id
        )
        return Response(MemberMfaSerializer(mfa_summary(user=membership.user)).data)


class MemberMfaResetView(OrganizationRouteMixin, GenericAPIView):
    """Turn a member's MFA off so they enrol again (admins; only owners reset owners)."""

    serializer_class = MfaCodeSerializer
    filter_backends: list[Any] = []
    action_permissions = {"post": "members.manage"}

    @extend_schema(
        parameters=[SLUG_PARAMETER, MEMBER_PARAMETER],
        request=None,
        responses={204: OpenApiResponse(description="Reset.")},
    )
    def post(self, request: Request, organization_slug: str, member_id: int) -> Response:
        membership = tenancy_selectors.membership_get(
            organization=request.organization, pk=member_id
        )
        if membership.role == Role.OWNER:
            _require(request, "owners.manage")
        services.mfa_reset(user=membership.user, actor=request.user, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)
