"""Tenancy API views."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.tenancy.api.serializers import MeSerializer
from apps.tenancy.roles import permissions_for


class MeView(APIView):
    """Return the authenticated caller: user, active organization, role and permissions."""

    @extend_schema(responses=MeSerializer, operation_id="me_retrieve")
    def get(self, request: Request) -> Response:
        membership = getattr(request, "membership", None)
        token = request.auth if getattr(request.auth, "scopes", None) is not None else None
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
