"""The import and export API of SPEC.md section 7.2: thin views over the planning services.

``POST /plans/imports/`` takes the file as a multipart upload (field ``file``) or as the
request body itself (JSON, YAML, CSV or Excel by content type); ``nest``, ``format`` and
``title`` come as form fields or query parameters. ``GET /pools/export/`` streams the
pools the pool list's filters select.
"""

from __future__ import annotations

import io
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status, viewsets
from rest_framework.parsers import FileUploadParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.planning import pool_exports as exports
from apps.planning.choices import PlanSource, PlanStatus, RiskLevel
from apps.planning.imports import ImportRequest, plan_import
from apps.planning.io.readers import FORMATS, MAX_BYTES
from apps.planning.io.writers import EXPORT_FORMATS
from apps.planning.models import Plan
from apps.pools.filters import ApiPoolFilterSet
from apps.pools.models import Pool
from apps.tenancy.api.mixins import TenantScopedMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import NotFound, ValidationError

# Room for the multipart envelope around a file of MAX_BYTES.
ENVELOPE_BYTES = 64 * 1024
_BODY_FORMATS = {
    "application/json": "json",
    "text/json": "json",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}


class RowErrorSerializer(serializers.Serializer):
    """One bad row of an import."""

    row = serializers.IntegerField()
    column = serializers.CharField()
    message = serializers.CharField()
    code = serializers.CharField()


class ImportDetailSerializer(serializers.Serializer):
    """What an import read: the file, its rows and each bad row."""

    filename = serializers.CharField()
    format = serializers.CharField()
    nest = serializers.BooleanField()
    rows = serializers.IntegerField()
    pool_rows = serializers.IntegerField()
    account_rows = serializers.IntegerField()
    error_count = serializers.IntegerField()
    errors = RowErrorSerializer(many=True)
    accounts_created = serializers.ListField(child=serializers.IntegerField())


class ImportPlanSerializer(serializers.ModelSerializer):
    """An import: the plan of source ``import`` it made, with its rows' verdict."""

    detail = serializers.SerializerMethodField()
    valid = serializers.SerializerMethodField()
    # Blank for an invalid import (no preview): the schema must say so, as the plan's does.
    risk_level = serializers.ChoiceField(
        choices=RiskLevel.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Plan
        fields = [
            "id",
            "title",
            "source",
            "status",
            "valid",
            "operation_count",
            "risk_level",
            "detail",
            "created_at",
            "validated_at",
            "applied_at",
            "rolled_back_at",
        ]
        read_only_fields = fields

    def get_valid(self, plan: Plan) -> bool:
        return plan.status in (PlanStatus.VALID, PlanStatus.APPLIED)

    @extend_schema_field(ImportDetailSerializer)
    def get_detail(self, plan: Plan) -> dict[str, Any]:
        detail = dict(plan.source_detail or {})
        detail.setdefault("errors", [])
        detail.setdefault("error_count", len(detail["errors"]))
        detail.setdefault("accounts_created", [])
        for key in ("filename", "format"):
            detail.setdefault(key, "")
        for key in ("rows", "pool_rows", "account_rows"):
            detail.setdefault(key, 0)
        detail.setdefault("nest", False)
        return detail


class ImportQuerySerializer(serializers.Serializer):
    """The options of an import, as form fields or query parameters."""

    nest = serializers.BooleanField(
        required=False, default=False, help_text="Nest rows without a parent by containment."
    )
    format = serializers.ChoiceField(
        choices=FORMATS, required=False, help_text="Detected from the file name or content."
    )
    title = serializers.CharField(required=False, max_length=255, allow_blank=True)


def _option(request: Request, name: str) -> Any:
    form = getattr(request, "_import_form", {})
    if name in form:
        return form[name]
    return request.query_params.get(name)


def _too_large() -> ValidationError:
    message = f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB."
    return ValidationError(message, fields={"file": [message]})


@extend_schema(tags=["plans"])
class ImportViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Imports: plans of source ``import`` (the import history) and new imports."""

    permission_resource = "plans"
    queryset = Plan.objects.all()
    serializer_class = ImportPlanSerializer
    parser_classes = [MultiPartParser, FileUploadParser]
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet:
        return (
            super().get_queryset().filter(source=PlanSource.IMPORT).order_by("-created_at", "-id")
        )

    @extend_schema(summary="List imports", description="The plans of source import, newest first.")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ImportPlanSerializer(page, many=True).data)

    def _upload(self, request: Request) -> tuple[Any, str, str]:
        """Return the uploaded file, its name and the format its content type names."""
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > MAX_BYTES + ENVELOPE_BYTES:
            raise _too_large()
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type.startswith("multipart/"):
            upload = request.FILES.get("file")
            request._import_form = {
                key: request.POST.get(key)
                for key in ("nest", "format", "title")
                if key in request.POST
            }
            if upload is None:
                message = "Send the file in the multipart field 'file'."
                raise ValidationError(message, fields={"file": [message]})
            if upload.size > MAX_BYTES:
                raise _too_large()
            return upload, upload.name or "", ""
        body = request._request.read(MAX_BYTES + 1)
        if len(body) > MAX_BYTES:
            raise _too_large()
        name = request.query_params.get("filename", "")
        return io.BytesIO(body), name, _BODY_FORMATS.get(content_type, "")

    @extend_schema(
        summary="Import pools and accounts",
        description=(
            "Reads a CSV, Excel, JSON or YAML file (multipart field ``file``, or the body "
            "itself) into a plan of source ``import`` and dry-runs it: ``valid`` when every "
            "row is, else ``invalid`` with each bad row's error. Nothing is written to the "
            "pools until the plan is applied. A file that cannot be read is a 400."
        ),
        parameters=[ImportQuerySerializer],
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "nest": {"type": "boolean"},
                    "format": {"type": "string", "enum": [*FORMATS]},
                    "title": {"type": "string", "maxLength": 255},
                },
                "required": ["file"],
            },
            "application/json": OpenApiTypes.OBJECT,
            "text/csv": OpenApiTypes.BINARY,
        },
        responses={201: ImportPlanSerializer},
    )
    def create(self, request: Request) -> Response:
        stream, filename, body_format = self._upload(request)
        query = ImportQuerySerializer(
            data={
                key: value
                for key in ("nest", "format", "title")
                if (value := _option(request, key)) is not None
            }
        )
        query.is_valid(raise_exception=True)
        options = query.validated_data
        plan = plan_import(
            organization=request.organization,
            actor=actor_of(request),
            stream=stream,
            request=ImportRequest(
                filename=filename,
                file_format=options.get("format") or body_format,
                nest=options["nest"],
                title=options.get("title", ""),
            ),
        )
        return Response(ImportPlanSerializer(plan).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Read an import")
    def retrieve(self, request: Request, pk: int) -> Response:
        plan = self.get_queryset().filter(pk=pk).first()
        if plan is None:
            raise NotFound(f"No import with id {pk} in this organization.")
        return Response(ImportPlanSerializer(plan).data)


@extend_schema(tags=["pools"])
class PoolExportViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """The export of the pools the pool list's filters select."""

    permission_resource = "pools"
    queryset = Pool.objects.all()
    filter_backends: list[Any] = []
    pagination_class = None

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # ``format`` names a file format, not a renderer: errors stay JSON.
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type

    @extend_schema(
        summary="Export pools",
        description=(
            "Streams the pools the filters select, in tree order: CSV, JSON, YAML or Excel in "
            "the import's columns, Terraform (AWS VPC IPAM pools and a name-to-CIDR map), or "
            "a ZIP of them all with the cloud accounts (never a secret). ``parent_style`` "
            "``path`` writes each parent as a path of names instead of a CIDR."
        ),
        filters=True,
        parameters=[
            OpenApiParameter("format", str, enum=[*EXPORT_FORMATS], default="csv"),
            OpenApiParameter("parent_style", str, enum=[*exports.PARENT_STYLES], default="cidr"),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "application/yaml"): OpenApiTypes.OBJECT,
            (200, "text/plain"): OpenApiTypes.STR,
            (200, "application/zip"): OpenApiTypes.BINARY,
            (
                200,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ): OpenApiTypes.BINARY,
            400: OpenApiResponse(description="A bad filter or format."),
        },
    )
    def export(self, request: Request) -> StreamingHttpResponse:
        params = request.query_params.copy()
        file_format = params.pop("format", ["csv"])[-1]
        parent_style = params.pop("parent_style", ["cidr"])[-1]
        filterset = ApiPoolFilterSet(params, queryset=self.get_queryset(), request=request)
        if not filterset.is_valid():
            fields = {
                name: [str(m) for m in messages] for name, messages in filterset.errors.items()
            }
            first = next(iter(fields.items()))
            raise ValidationError(f"{first[0]}: {first[1][0]}", fields=fields)
        pools = filterset.qs.order_by("path")
        export = exports.pools_export(
            organization=request.organization,
            actor=actor_of(request),
            pools=pools,
            file_format=file_format,
            parent_style=parent_style,
            filters={key: params.get(key) for key in params},
        )
        response = StreamingHttpResponse(export.content, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        response["Cache-Control"] = "no-store"
        return response
