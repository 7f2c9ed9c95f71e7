"""Audit API: search, read and export events; nothing else (the trail is append-only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request

from apps.audit.api.serializers import AuditEventSerializer
from apps.audit.choices import ExportFormat
from apps.audit.context import current_actor
from apps.audit.documents import actor_display
from apps.audit.exports import csv_stream, export_rows, jsonl_stream, summary_pdf
from apps.audit.filters import AuditEventFilterSet
from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_event_list, audit_summary
from cloudpam.exceptions import ValidationError

PDF_DEFAULT_PERIOD = timedelta(days=30)

_CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.JSONL: "application/x-ndjson; charset=utf-8",
    ExportFormat.PDF: "application/pdf",
}


_READ_ONLY = "Audit events are append-only: they cannot be created, changed or deleted."
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@extend_schema_view(
    list=extend_schema(
        summary="Search audit events",
        description="Events of the active organization, newest first. Auditors, admins and "
        "owners only.",
    ),
    retrieve=extend_schema(summary="Read one audit event"),
)
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Events of the active organization's audit trail. ``POST/PUT/PATCH/DELETE`` answer 405."""

    permission_resource = "audit"
    action_permissions = {"export": "audit.export"}
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    ordering_fields = ["timestamp", "id", "sequence"]
    ordering = ["-timestamp", "-id"]
    queryset = AuditEvent.objects.none()  # for the schema; requests use get_queryset()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Refused before the permission check, which knows no permission to write events.
        if request.method not in READ_METHODS:
            self.http_method_not_allowed(request)
        super().initial(request, *args, **kwargs)

    def http_method_not_allowed(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        raise exceptions.MethodNotAllowed(request.method, detail=_READ_ONLY)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The export's ``format`` names a file format, not a renderer: errors stay JSON.
        if self.action == "export":
            renderer = self.get_renderers()[0]
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force=force)

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return audit_event_list(organization=getattr(self.request, "organization", None))

    def get_serializer_context(self) -> dict[str, Any]:
        organization = getattr(self.request, "organization", None)
        return {
            **super().get_serializer_context(),
            "organization_slug": organization.slug if organization else None,
        }

    @extend_schema(
        summary="Export audit events",
        description=(
            "Stream every event matching the filters, oldest first, as CSV or JSON lines "
            "(one event document per line); or, with `format=pdf`, a summary report of the "
            "`since`/`until` period (default: the last 30 days)."
        ),
        filters=True,
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=[choice.value for choice in ExportFormat],
                default=ExportFormat.CSV.value,
                description="csv, jsonl or pdf",
            )
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "application/pdf"): OpenApiTypes.BINARY,
        },
    )
    @action(detail=False, methods=["get"], url_path="export")
    def export(self, request: Request) -> HttpResponse:
        file_format = request.query_params.get("format", ExportFormat.CSV)
        if file_format not in ExportFormat.values:
            raise ValidationError(
                "format must be csv, jsonl or pdf.",
                fields={"format": [f"'{file_format}' is not one of csv, jsonl, pdf."]},
            )
        filterset = AuditEventFilterSet(
            request.query_params, queryset=self.get_queryset(), request=request
        )
        if not filterset.is_valid():
            fields = {
                name: [str(m) for m in messages] for name, messages in filterset.errors.items()
            }
            first = next(iter(fields.items()))
            raise ValidationError(f"{first[0]}: {first[1][0]}", fields=fields)
        organization = request.organization
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        filename = f"audit-{organization.slug}-{stamp}.{file_format}"
        if file_format == ExportFormat.PDF:
            until = filterset.form.cleaned_data.get("until") or timezone.now()
            since = filterset.form.cleaned_data.get("since") or until - PDF_DEFAULT_PERIOD
            if since >= until:
                raise ValidationError(
                    "since must be before until.", fields={"since": ["Must be before until."]}
                )
            summary = audit_summary(organization=organization, since=since, until=until)
            pdf = summary_pdf(
                summary, generated_at=timezone.now(), generated_by=actor_display(current_actor())
            )
            response: HttpResponse = HttpResponse(
                pdf, content_type=_CONTENT_TYPES[ExportFormat.PDF]
            )
        else:
            stream = csv_stream if file_format == ExportFormat.CSV else jsonl_stream
            response = StreamingHttpResponse(
                stream(export_rows(filterset.qs), organization.slug),
                content_type=_CONTENT_TYPES[ExportFormat(file_format)],
            )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
