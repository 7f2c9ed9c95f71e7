"""The template API of SPEC 7.1: built-in and saved templates, preview and generate.

Saved templates are the organization's (``templates.manage`` to write them); generating
a plan needs ``plans.change``; a preview writes nothing and needs ``plans.view``.
Another organization's saved template answers 404 like a key that does not exist.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from apps.planning import template_selectors as selectors
from apps.planning import template_services as services
from apps.planning.api.serializers import PlanSerializer
from apps.planning.api.template_serializers import (
    GenerateSerializer,
    PreviewSerializer,
    TemplateCreateSerializer,
    TemplateSerializer,
    TemplateUpdateSerializer,
)
from apps.planning.engine.templates import render_tree
from apps.planning.template_models import OrganizationTemplate
from apps.tenancy.api.mixins import TenantScopedMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import ValidationError

KEY = OpenApiParameter("key", str, OpenApiParameter.PATH, description="A built-in key or org-<id>.")


def _body(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def preview_document(generated: Any) -> dict[str, Any]:
    """Return what the preview endpoint and the console show of a generated plan."""
    return {
        "template": generated.template,
        "version": generated.version,
        "title": generated.title,
        "supernet": generated.supernet,
        "ipv6_supernet": generated.ipv6_supernet,
        "used_percent": generated.used_percent,
        "counts": dict(generated.counts),
        "operation_count": len(generated.operations),
        "tree": render_tree(generated.operations),
        "operations": list(generated.operations),
    }


@extend_schema(tags=["plans"])
class TemplateViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """The wizard's templates: the five built-ins and the organization's saved ones."""

    permission_resource = "plans"
    action_permissions = {
        "create": "templates.manage",
        "partial_update": "templates.manage",
        "destroy": "templates.manage",
        "generate": "plans.change",
        "preview": "plans.view",
    }
    queryset = OrganizationTemplate.objects.all()
    serializer_class = TemplateSerializer

    def _saved(self, key: str) -> OrganizationTemplate:
        entry = selectors.template_entry(organization=self.request.organization, key=key)
        if entry.saved is None:
            message = "A built-in template cannot be changed; save your own from it."
            raise ValidationError(message, fields={"key": [message]})
        return entry.saved

    @extend_schema(summary="List templates", description="Built-ins first, then saved ones.")
    def list(self, request: Request) -> Response:
        entries = selectors.template_entries(organization=request.organization)
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(TemplateSerializer(page, many=True).data)

    @extend_schema(
        summary="Save an organization template",
        request=TemplateCreateSerializer,
        responses={201: TemplateSerializer},
    )
    def create(self, request: Request) -> Response:
        saved = services.org_template_create(
            organization=request.organization,
            actor=actor_of(request),
            **_body(TemplateCreateSerializer, request),
        )
        entry = selectors.template_entry(organization=request.organization, key=saved.key)
        return Response(TemplateSerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Read a template", parameters=[KEY])
    def retrieve(self, request: Request, key: str) -> Response:
        entry = selectors.template_entry(organization=request.organization, key=key)
        return Response(TemplateSerializer(entry).data)

    @extend_schema(
        summary="Change a saved template",
        parameters=[KEY],
        request=TemplateUpdateSerializer,
        responses={200: TemplateSerializer},
    )
    def partial_update(self, request: Request, key: str) -> Response:
        saved = self._saved(key)
        data = _body(TemplateUpdateSerializer, request)
        services.org_template_update(org_template=saved, actor=actor_of(request), **data)
        entry = selectors.template_entry(organization=request.organization, key=key)
        return Response(TemplateSerializer(entry).data)

    @extend_schema(
        summary="Delete a saved template",
        parameters=[KEY],
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def destroy(self, request: Request, key: str) -> Response:
        services.org_template_delete(org_template=self._saved(key), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Preview what a template generates",
        description="Writes nothing. The body's params are merged over the template's.",
        parameters=[KEY],
        request=GenerateSerializer,
        responses={200: PreviewSerializer},
    )
    def preview(self, request: Request, key: str) -> Response:
        data = _body(GenerateSerializer, request)
        generated = services.template_preview(
            organization=request.organization, key=key, params=data.get("params")
        )
        return Response(preview_document(generated))

    @extend_schema(
        summary="Generate a plan from a template",
        description=(
            "The body's params are merged over the template's (a saved template's, or a "
            "built-in's example). supernet_pool + supernet_prefix_length take the first free "
            "block of that size in that pool. Answers 201 with the plan (source template), "
            "validated by the dry run, with its preview, as GET /plans/{id}/ shows it; 400 "
            "naming the parameter that is wrong or what does not fit."
        ),
        parameters=[KEY],
        request=GenerateSerializer,
        responses={201: PlanSerializer},
    )
    def generate(self, request: Request, key: str) -> Response:
        data = _body(GenerateSerializer, request)
        plan = services.template_generate(
            organization=request.organization,
            actor=actor_of(request),
            key=key,
            params=data.get("params"),
            title=data.get("title"),
        )
        return Response(PlanSerializer(plan).data, status=status.HTTP_201_CREATED)
