"""The cloud account API of SPEC.md section 4: thin views over the account services.

Another organization's account answers 404 ``not_found`` like an id that does not exist.
Operators manage accounts; only admins write credentials (``accounts.credentials``).
"""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from apps.cloud import selectors, services
from apps.cloud.api.serializers import (
    AccountCreateSerializer,
    AccountSerializer,
    AccountUpdateSerializer,
    CheckResultSerializer,
    CredentialsResultSerializer,
    CredentialsSerializer,
    MemberDiscoverySerializer,
)
from apps.cloud.filters import ApiAccountFilterSet
from apps.cloud.models import CloudAccount
from apps.tenancy.api.mixins import TenantScopedMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import NotFound

PROVIDER_FAILURE = OpenApiResponse(
    description="The cloud refused or failed (provider_error; fields.provider names the cause)."
)


def _body(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@extend_schema(tags=["accounts"])
class AccountViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Cloud accounts of the active organization."""

    permission_resource = "accounts"
    action_permissions = {"credentials": "accounts.credentials"}
    queryset = CloudAccount.objects.all()
    serializer_class = AccountSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ApiAccountFilterSet

    def get_object(self) -> CloudAccount:
        account = selectors.account_get(
            organization=self.request.organization, pk=self.kwargs["pk"]
        )
        self.check_object_permissions(self.request, account)
        return account

    def _parent(self, parent_id: int | None) -> CloudAccount | None:
        if parent_id is None:
            return None
        try:
            return selectors.account_get(organization=self.request.organization, pk=parent_id)
        except NotFound as exc:
            raise NotFound(exc.message, fields={"parent": [exc.message]}) from None

    @extend_schema(
        summary="List cloud accounts",
        description="Filters: provider, status, parent (an account id or null), q, ordering.",
    )
    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(selectors.account_list(organization=request.organization))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(AccountSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a cloud account",
        description="Credentials are written separately: ``PUT /accounts/{id}/credentials/``.",
        request=AccountCreateSerializer,
        responses={201: AccountSerializer},
    )
    def create(self, request: Request) -> Response:
        data = _body(AccountCreateSerializer, request)
        data["parent"] = self._parent(data.pop("parent", None))
        account = services.account_create(
            organization=request.organization, actor=actor_of(request), **data
        )
        return Response(AccountSerializer(account).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Read a cloud account")
    def retrieve(self, request: Request, pk: int) -> Response:
        return Response(AccountSerializer(self.get_object()).data)

    @extend_schema(
        summary="Change a cloud account",
        description="A new auth_method clears the stored credentials.",
        request=AccountUpdateSerializer,
        responses={200: AccountSerializer},
    )
    def partial_update(self, request: Request, pk: int) -> Response:
        account = self.get_object()
        data = _body(AccountUpdateSerializer, request)
        account = services.account_update(account=account, actor=actor_of(request), **data)
        return Response(AccountSerializer(account).data)

    @extend_schema(
        summary="Delete a cloud account",
        description="Soft-deletes the account; its member accounts stay, without a parent.",
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def destroy(self, request: Request, pk: int) -> Response:
        services.account_delete(account=self.get_object(), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Write the account's credentials (admins)",
        description=(
            "Encrypted at rest and never shown again: reads give credentials_set and "
            "credentials_hint. 400 configuration_error when the server has no encryption key."
        ),
        request=CredentialsSerializer,
        responses={200: CredentialsResultSerializer},
    )
    def credentials(self, request: Request, pk: int) -> Response:
        account = self.get_object()
        # Only the fields the client sent: absent ones must not become empty strings.
        serializer = CredentialsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = services.account_credentials_set(
            account=account, actor=actor_of(request), credentials=dict(serializer.validated_data)
        )
        return Response(
            {
                "credentials_set": account.credentials_set,
                "credentials_hint": account.credentials_hint,
                "credentials_updated_at": account.credentials_updated_at,
            }
        )

    @extend_schema(
        summary="Test connectivity",
        description=(
            "The cheapest identity call, within 15 s; updates status, last_checked_at and "
            "last_error. A failure is ``ok: false`` with the cause in error.code."
        ),
        request=None,
        responses={200: CheckResultSerializer},
    )
    def test(self, request: Request, pk: int) -> Response:
        account = self.get_object()
        result = services.account_check(account=account, actor=actor_of(request))
        return Response({**result.as_dict(), "account": AccountSerializer(account).data})

    @extend_schema(
        summary="Discover AWS Organizations members",
        description=(
            "Creates or updates one account per member of the account's AWS Organization; "
            "suspended members are disabled. Idempotent."
        ),
        request=None,
        responses={200: MemberDiscoverySerializer, 502: PROVIDER_FAILURE},
    )
    def discover_members(self, request: Request, pk: int) -> Response:
        account = self.get_object()
        result = services.account_discover_members(account=account, actor=actor_of(request))
        return Response(
            {
                "created": len(result.created),
                "updated": len(result.updated),
                "unchanged": len(result.unchanged),
                "members": AccountSerializer(result.members, many=True).data,
            }
        )
