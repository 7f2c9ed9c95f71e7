"""The LLM provider API of SPEC.md section 7.3: thin views over the provider services.

Reading needs ``ai.use``; writing and testing need ``ai.manage`` (admins). Another
organization's configuration answers 404 like an id that does not exist.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from apps.planning import llm_selectors as selectors
from apps.planning import llm_services as services
from apps.planning.api.llm_serializers import (
    LLMCheckResultSerializer,
    LLMProviderCreateSerializer,
    LLMProviderSerializer,
    LLMProviderUpdateSerializer,
    LLMUsageSerializer,
)
from apps.planning.llm_models import LLMProviderConfig
from apps.tenancy.api.mixins import TenantScopedMixin
from apps.tenancy.quotas import quota_limit
from cloudpam.context import actor_of


def _body(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@extend_schema(tags=["ai"])
class LLMProviderViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Language model providers of the active organization, in fallback order."""

    action_permissions = {
        "list": "ai.use",
        "retrieve": "ai.use",
        "usage": "ai.use",
        "create": "ai.manage",
        "partial_update": "ai.manage",
        "destroy": "ai.manage",
        "check": "ai.manage",
    }
    queryset = LLMProviderConfig.objects.all()
    serializer_class = LLMProviderSerializer

    def get_object(self) -> LLMProviderConfig:
        config = selectors.llm_provider_get(
            organization=self.request.organization, pk=self.kwargs["pk"]
        )
        self.check_object_permissions(self.request, config)
        return config

    @extend_schema(summary="List LLM providers", description="In fallback order (priority).")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(
            selectors.llm_provider_list(organization=request.organization)
        )
        return self.get_paginated_response(LLMProviderSerializer(page, many=True).data)

    @extend_schema(
        summary="Add an LLM provider (admins)",
        description="api_key is encrypted at rest and never shown again (api_key_set, hint).",
        request=LLMProviderCreateSerializer,
        responses={201: LLMProviderSerializer},
    )
    def create(self, request: Request) -> Response:
        config = services.llm_provider_create(
            organization=request.organization,
            actor=actor_of(request),
            **_body(LLMProviderCreateSerializer, request),
        )
        return Response(LLMProviderSerializer(config).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Read an LLM provider")
    def retrieve(self, request: Request, pk: int) -> Response:
        return Response(LLMProviderSerializer(self.get_object()).data)

    @extend_schema(
        summary="Change an LLM provider (admins)",
        description='api_key replaces the stored key; "" removes it; leaving it out keeps it.',
        request=LLMProviderUpdateSerializer,
        responses={200: LLMProviderSerializer},
    )
    def partial_update(self, request: Request, pk: int) -> Response:
        config = services.llm_provider_update(
            config=self.get_object(),
            actor=actor_of(request),
            **_body(LLMProviderUpdateSerializer, request),
        )
        return Response(LLMProviderSerializer(config).data)

    @extend_schema(
        summary="Delete an LLM provider (admins)",
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def destroy(self, request: Request, pk: int) -> Response:
        services.llm_provider_delete(config=self.get_object(), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Test an LLM provider (admins)",
        description=(
            "A tiny completion: ok and the latency, or the error code (timeout, "
            "rate_limited, provider_error, connection_error, bad_response, auth, "
            "bad_request). Counts against the monthly token quota (429 quota_exceeded)."
        ),
        request=None,
        responses={200: LLMCheckResultSerializer},
    )
    def check(self, request: Request, pk: int) -> Response:
        config = self.get_object()
        result = services.llm_provider_check(config=config, actor=actor_of(request))
        return Response({**result.as_dict(), "provider": LLMProviderSerializer(config).data})

    @extend_schema(
        summary="Language model usage this month",
        description="Tokens as normalised (input includes cached), cost, and the quota.",
        responses={200: LLMUsageSerializer},
    )
    def usage(self, request: Request) -> Response:
        organization = request.organization
        since = selectors.month_start()
        totals = selectors.llm_usage_totals(organization=organization, since=since)
        return Response(
            LLMUsageSerializer(
                {
                    "month": since.strftime("%Y-%m"),
                    "calls": totals.calls,
                    "input_tokens": totals.input_tokens,
                    "cached_input_tokens": totals.cached_input_tokens,
                    "output_tokens": totals.output_tokens,
                    "reasoning_tokens": totals.reasoning_tokens,
                    "total_tokens": totals.total_tokens,
                    "cost": totals.cost,
                    "quota": quota_limit(organization=organization, name=selectors.QUOTA_NAME),
                }
            ).data
        )
