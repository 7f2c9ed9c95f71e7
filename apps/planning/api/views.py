"""The plan API of SPEC.md section 7.0: thin views over the plan selectors and services.

Reads need ``plans.view``; creating, validating and discarding ``plans.change``; applying
and rolling back ``plans.apply``. Another organization's plan is a 404 ``not_found``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from apps.planning import selectors, services
from apps.planning.api.serializers import (
    PlanCompareQuerySerializer,
    PlanCreateSerializer,
    PlanExportQuerySerializer,
    PlanListSerializer,
    PlanSerializer,
)
from apps.planning.exports import plan_export
from apps.planning.filters import ApiPlanFilterSet
from apps.planning.models import Plan
from apps.tenancy.api.mixins import TenantScopedMixin
from cloudpam.api.filters import StableOrderingFilter
from cloudpam.context import actor_of

CONFLICT = OpenApiResponse(description="The plan is not open, or no longer valid (conflict).")


def _query(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(tags=["plans"])
class PlanViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Plans: create from operations, validate, apply, discard, roll back, compare, export."""

    permission_resource = "plans"
    action_permissions = {"apply": "plans.apply", "rollback": "plans.apply"}
    queryset = Plan.objects.all()
    serializer_class = PlanSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = ApiPlanFilterSet
    ordering_fields = ["created_at", "applied_at", "title", "status"]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The export's ``format`` names a file format, not a renderer: errors stay JSON.
        if self.action == "export":
            renderer = self.get_renderers()[0]
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force=force)

    def get_queryset(self) -> Any:
        return selectors.plan_list(organization=self.request.organization)

    def get_object(self) -> Plan:
        return selectors.plan_get(organization=self.request.organization, pk=self.kwargs["pk"])

    @extend_schema(
        summary="List plans",
        description="Newest first; filter by source, status and author.",
        responses=PlanListSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(PlanListSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a plan from operations",
        description=(
            "Stores the plan after the pure checks and, unless ``validate_now`` is false, "
            "dry-runs it: the answer carries the verdict and, when valid, the preview."
        ),
        request=PlanCreateSerializer,
        responses={201: PlanSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = PlanCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data
        actor = actor_of(request)
        plan = services.plan_create(
            organization=request.organization,
            actor=actor,
            title=body["title"],
            source=body["source"],
            operations=body["operations"],
        )
        if body["validate_now"] and plan.status == "draft":
            plan = services.plan_validate(plan=plan, actor=actor)
        plan = selectors.plan_get(organization=request.organization, pk=plan.pk)
        return Response(PlanSerializer(plan).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Read a plan", description="With its verdict and preview.")
    def retrieve(self, request: Request, pk: int) -> Response:
        return Response(PlanSerializer(self.get_object()).data)

    def _act(self, request: Request, service: Any) -> Response:
        plan = service(plan=self.get_object(), actor=actor_of(request))
        plan = selectors.plan_get(organization=request.organization, pk=plan.pk)
        return Response(PlanSerializer(plan).data)

    @extend_schema(
        summary="Validate a plan (dry run)",
        description=(
            "Carries the operations out through the pool services in a transaction that is "
            "rolled back, recording every failing operation with its code, and the preview."
        ),
        request=None,
        responses={200: PlanSerializer, 409: CONFLICT},
    )
    def validate(self, request: Request, pk: int) -> Response:
        return self._act(request, services.plan_validate)

    @extend_schema(
        summary="Apply a plan",
        description=(
            "The whole plan in one transaction through the pool services; 409 ``conflict`` "
            "naming the failing operations when it is no longer valid, and nothing written."
        ),
        request=None,
        responses={200: PlanSerializer, 409: CONFLICT},
    )
    def apply(self, request: Request, pk: int) -> Response:
        return self._act(request, services.plan_apply)

    @extend_schema(
        summary="Discard a plan", request=None, responses={200: PlanSerializer, 409: CONFLICT}
    )
    def discard(self, request: Request, pk: int) -> Response:
        return self._act(request, services.plan_discard)

    @extend_schema(
        summary="Roll back an applied plan",
        description=(
            "Removes what the plan created and restores what it changed; 409 naming the "
            "blockers when something it touched has changed or been used since."
        ),
        request=None,
        responses={200: PlanSerializer, 409: CONFLICT},
    )
    def rollback(self, request: Request, pk: int) -> Response:
        return self._act(request, services.plan_rollback)

    @extend_schema(
        summary="Compare two plans",
        description=(
            "Side by side: counts, addresses consumed, headroom per parent, risk level and "
            "findings; ``b=current`` compares with the address plan as it stands."
        ),
        parameters=[PlanCompareQuerySerializer],
        responses={200: OpenApiTypes.OBJECT},
    )
    def compare(self, request: Request) -> Response:
        query = _query(PlanCompareQuerySerializer, request)
        return Response(
            selectors.plan_compare(organization=request.organization, a=query["a"], b=query["b"])
        )

    @extend_schema(
        summary="Export a plan",
        description="The plan's operations as JSON or YAML (``POST /plans/`` takes them back) "
        "or CSV, one row per operation.",
        parameters=[PlanExportQuerySerializer],
        responses={(200, "application/json"): OpenApiTypes.OBJECT},
    )
    def export(self, request: Request, pk: int) -> HttpResponse:
        query = _query(PlanExportQuerySerializer, request)
        plan = self.get_object()
        body, content_type = plan_export(plan, query["format"])
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="plan-{plan.pk}.{query["format"]}"'
        return response
