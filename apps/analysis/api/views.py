"""The analysis API of SPEC.md section 6: thin views over the analysis selectors and services.

Another organization's pool, run or recommendation is a 404 ``not_found`` exactly like an
id that does not exist. Reads need ``analysis.view``, writes ``analysis.change``; applying
a recommendation changes the plan, so it also needs ``pools.change``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.analysis import selectors, services
from apps.analysis.api.serializers import (
    AnalysisRunAcceptedSerializer,
    AnalysisRunCreateSerializer,
    AnalysisRunSerializer,
    ComplianceQuerySerializer,
    FindingPageSerializer,
    GenerationResultSerializer,
    PoolAnalysisQuerySerializer,
    PoolAnalysisSerializer,
    RecommendationDismissSerializer,
    RecommendationGenerateSerializer,
    RecommendationSerializer,
)
from apps.analysis.filters import ApiRecommendationFilterSet
from apps.analysis.models import AnalysisRun, Recommendation
from apps.pools.selectors import pool_get
from apps.tenancy.api.mixins import TenantScopedMixin
from apps.tenancy.permissions import check_permission
from cloudpam.api.filters import StableOrderingFilter
from cloudpam.api.pagination import LimitOffsetPagination
from cloudpam.context import actor_of
from cloudpam.exceptions import PermissionDenied


def _query(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _body(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(tags=["analysis"])
class PoolAnalysisView(APIView):
    """The analysis of one pool."""

    permission_resource = "analysis"

    @extend_schema(
        summary="Analyse a pool",
        description=(
            "Utilization, free blocks, fragmentation, compliance findings and runway of one "
            "pool; cached until a pool of the organization changes."
        ),
        parameters=[PoolAnalysisQuerySerializer],
        responses=PoolAnalysisSerializer,
    )
    def get(self, request: Request, pk: int) -> Response:
        pool = pool_get(organization=request.organization, pk=pk)
        query = _query(PoolAnalysisQuerySerializer, request)
        data = selectors.pool_analysis(
            organization=request.organization,
            pool=pool,
            prefix_length=query.get("prefix_length"),
            limit=query.get("limit", selectors.FREE_BLOCKS_DEFAULT_LIMIT),
        )
        return Response(data)


@extend_schema(tags=["analysis"])
class ComplianceView(APIView):
    """The compliance findings of the organization."""

    permission_resource = "analysis"

    @extend_schema(
        summary="List compliance findings",
        description="Most severe first; filter by rule, severity and pool subtree.",
        parameters=[ComplianceQuerySerializer],
        responses=FindingPageSerializer,
    )
    def get(self, request: Request) -> Response:
        query = _query(ComplianceQuerySerializer, request)
        pool = None
        if "pool" in query:
            pool = pool_get(organization=request.organization, pk=query["pool"])
        findings = selectors.finding_list(
            organization=request.organization,
            rule=query.get("rule"),
            severity=query.get("severity"),
            pool=pool,
        )
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(findings, request, view=self)
        return paginator.get_paginated_response(page)


@extend_schema(tags=["analysis"])
class AnalysisRunViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Background analyses with their progress."""

    permission_resource = "analysis"
    queryset = AnalysisRun.objects.order_by("-created_at", "-pk")
    serializer_class = AnalysisRunSerializer

    @extend_schema(summary="List analysis runs", description="Newest first.")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(AnalysisRunSerializer(page, many=True).data)

    @extend_schema(
        summary="Start an analysis run",
        description="Analyse the subtrees of ``pools`` or, with ``all``, the whole plan.",
        request=AnalysisRunCreateSerializer,
        responses={202: AnalysisRunAcceptedSerializer},
    )
    def create(self, request: Request) -> Response:
        body = _body(AnalysisRunCreateSerializer, request)
        run = services.analysis_run_create(
            organization=request.organization,
            pools=body.get("pools"),
            all_pools=body.get("all", False),
            user=request.user,
        )
        return Response({"id": run.pk, "status": run.status}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Read an analysis run", responses=AnalysisRunSerializer)
    def retrieve(self, request: Request, pk: int) -> Response:
        run = selectors.analysis_run_get(organization=request.organization, pk=pk)
        return Response(AnalysisRunSerializer(run).data)


@extend_schema(tags=["recommendations"])
class RecommendationViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Recommended changes to the plan: generate, list, apply, dismiss."""

    permission_resource = "analysis"
    queryset = Recommendation.objects.all()
    serializer_class = RecommendationSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = ApiRecommendationFilterSet
    ordering_fields = ["impact", "created_at", "updated_at"]

    def get_queryset(self) -> QuerySet:
        return selectors.recommendation_ranking(super().get_queryset())

    def get_object(self) -> Recommendation:
        return selectors.recommendation_get(
            organization=self.request.organization, pk=self.kwargs["pk"]
        )

    @extend_schema(
        summary="List recommendations",
        description="Ranked by impact, then severity; filter by pool, type, status, severity.",
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(RecommendationSerializer(page, many=True).data)

    @extend_schema(summary="Read a recommendation")
    def retrieve(self, request: Request, pk: int) -> Response:
        return Response(RecommendationSerializer(self.get_object()).data)

    @extend_schema(
        summary="Generate recommendations",
        description=(
            "Analyse the subtrees of ``pools`` (the whole plan by default) and store the "
            "recommendations: pending ones with the same fingerprint are refreshed, not "
            "duplicated; dismissed ones are not offered again."
        ),
        request=RecommendationGenerateSerializer,
        responses={200: GenerationResultSerializer},
    )
    def generate(self, request: Request) -> Response:
        body = _body(RecommendationGenerateSerializer, request)
        result = services.recommendation_generate(
            organization=request.organization, pools=body.get("pools")
        )
        return Response(GenerationResultSerializer(result).data)

    @extend_schema(
        summary="Apply a recommendation",
        description=(
            "Carries out the change through the pool services (audited). A change that is "
            "no longer possible answers 409 (``overlap``, ``no_space``, ``conflict``, "
            "``not_applicable``) and nothing is written."
        ),
        request=None,
        responses={
            200: RecommendationSerializer,
            409: OpenApiResponse(description="The change is no longer possible."),
        },
    )
    def apply(self, request: Request, pk: int) -> Response:
        recommendation = self.get_object()
        reason = check_permission(request, "pools.change")
        if reason:
            raise PermissionDenied(reason)
        recommendation = services.recommendation_apply(
            recommendation=recommendation, actor=actor_of(request)
        )
        return Response(RecommendationSerializer(recommendation).data)

    @extend_schema(
        summary="Dismiss a recommendation",
        request=RecommendationDismissSerializer,
        responses={200: RecommendationSerializer},
    )
    def dismiss(self, request: Request, pk: int) -> Response:
        recommendation = self.get_object()
        body = _body(RecommendationDismissSerializer, request)
        recommendation = services.recommendation_dismiss(
            recommendation=recommendation, reason=body["reason"], actor=actor_of(request)
        )
        return Response(RecommendationSerializer(recommendation).data)
