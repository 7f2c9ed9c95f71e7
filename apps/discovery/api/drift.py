"""The drift API of SPEC.md section 5: findings, their summary, apply and ignore.

Reads need ``discovery.view``, apply and ignore ``discovery.change``; applying changes the
plan, so it also needs ``pools.change`` on the pool it changes or creates under (a
per-object grant on that pool or an ancestor counts; the role for a new root).
Another organization's finding is a 404.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from apps.discovery import drift, selectors
from apps.discovery.api.serializers import (
    DriftFindingSerializer,
    DriftIgnoreSerializer,
    DriftSummarySerializer,
)
from apps.discovery.filters import ApiDriftFilterSet
from apps.discovery.models import DriftFinding
from apps.pools.access import pool_permission_denial
from apps.pools.models import Pool
from apps.tenancy.api.mixins import TenantScopedMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import PermissionDenied


@extend_schema(tags=["drift"])
class DriftViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Drift findings between the plan and the clouds, with suggestions to apply or ignore."""

    permission_resource = "discovery"
    queryset = DriftFinding.objects.all()
    serializer_class = DriftFindingSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ApiDriftFilterSet

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return DriftFinding.objects.none()
        return selectors.drift_list(organization=self.request.organization)

    def get_object(self) -> DriftFinding:
        return selectors.drift_get(organization=self.request.organization, pk=self.kwargs["pk"])

    @extend_schema(
        summary="List drift findings",
        description=(
            "Most severe first; filter by account, kind, pool (its subtree), severity and status."
        ),
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(DriftFindingSerializer(page, many=True).data)

    @extend_schema(summary="Read a drift finding")
    def retrieve(self, request: Request, pk: int) -> Response:
        return Response(DriftFindingSerializer(self.get_object()).data)

    @extend_schema(
        summary="Summarize drift",
        description="Open findings counted by kind and severity, and by kind per account.",
        responses=DriftSummarySerializer,
    )
    def summary(self, request: Request) -> Response:
        return Response(selectors.drift_summary(organization=request.organization))

    @extend_schema(
        summary="Apply a drift finding's suggestion",
        description=(
            "Carries the suggestion out through the pool services (audited). When it no "
            "longer applies (the resource is gone, the pool changed, the plan refuses it) "
            "the answer is 409 ``conflict`` and nothing is written."
        ),
        request=None,
        responses={
            200: DriftFindingSerializer,
            409: OpenApiResponse(description="The suggestion no longer applies."),
        },
    )
    def apply(self, request: Request, pk: int) -> Response:
        finding = self.get_object()
        target = drift.drift_target_pool(finding)
        pool = (
            Pool.objects.for_organization(request.organization).filter(pk=target).first()
            if target is not None
            else None
        )
        reason = pool_permission_denial(request, "pools.change", pool)
        if reason:
            raise PermissionDenied(reason)
        finding = drift.drift_apply(finding=finding, actor=actor_of(request))
        return Response(
            DriftFindingSerializer(
                selectors.drift_get(organization=request.organization, pk=finding.pk)
            ).data
        )

    @extend_schema(
        summary="Ignore a drift finding",
        request=DriftIgnoreSerializer,
        responses={200: DriftFindingSerializer},
    )
    def ignore(self, request: Request, pk: int) -> Response:
        finding = self.get_object()
        serializer = DriftIgnoreSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        drift.drift_ignore(
            finding=finding, reason=serializer.validated_data["reason"], actor=actor_of(request)
        )
        return Response(
            DriftFindingSerializer(
                selectors.drift_get(organization=request.organization, pk=finding.pk)
            ).data
        )
