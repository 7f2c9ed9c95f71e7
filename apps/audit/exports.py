"""
Exports of the audit trail: CSV and JSON lines streamed row by row, and a PDF summary.

The streams read the database in chunks and yield a few hundred rows at a
time, so an export of any size holds only one chunk in memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet

from apps.audit.documents import DOCUMENT_COLUMNS, event_document, iso_timestamp
from apps.audit.selectors import AuditSummary
from apps.planning.io.cells import escape_formula

CHUNK_SIZE = 2000
ROWS_PER_WRITE = 500

CSV_HEADER = [
    "id",
    "timestamp",
    "organization",
    "sequence",
    "actor_type",
    "actor",
    "actor_email",
    "actor_token",
    "actor_system",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "details",
    "request_id",
    "ip",
    "user_agent",
    "hash",
    "prev_hash",
]


def export_rows(queryset: QuerySet[Any]) -> Iterator[dict[str, Any]]:
    """Return the rows of a search in chronological order, read in chunks."""
    return (
        queryset.order_by("timestamp", "id")
        .values(*DOCUMENT_COLUMNS)
        .iterator(chunk_size=CHUNK_SIZE)
    )


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, cls=DjangoJSONEncoder, sort_keys=True)


def csv_row(document: Mapping[str, Any]) -> list[Any]:
    """Return one CSV row of an event document."""
    actor = document["actor"]
    values = [
        document["id"],
        document["timestamp"],
        document["organization"],
        document["sequence"],
        actor["type"],
        actor["display"],
        actor["email"],
        actor["token_name"],
        actor["system"],
        document["action"],
        document["object_type"],
        document["object_id"],
        document["object_repr"],
        _compact(document["changes"]),
        _compact(document["details"]),
        document["request_id"],
        document["ip"],
        document["user_agent"],
        document["hash"],
        document["prev_hash"],
    ]
    return [escape_formula(value) for value in values]


def csv_stream(rows: Iterable[Mapping[str, Any]], organization_slug: str) -> Iterator[bytes]:
    """Yield a CSV document of ``rows`` in pieces of a few hundred rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for count, row in enumerate(rows, start=1):
        writer.writerow(csv_row(event_document(row, organization_slug)))
        if count % ROWS_PER_WRITE == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def jsonl_stream(rows: Iterable[Mapping[str, Any]], organization_slug: str) -> Iterator[bytes]:
    """Yield one JSON object per line per event, in pieces of a few hundred lines."""
    lines: list[str] = []
    for row in rows:
        document = event_document(row, organization_slug)
        lines.append(json.dumps(document, ensure_ascii=False, cls=DjangoJSONEncoder) + "\n")
        if len(lines) == ROWS_PER_WRITE:
            yield "".join(lines).encode("utf-8")
            lines.clear()
    if lines:
        yield "".join(lines).encode("utf-8")


def summary_pdf(summary: AuditSummary, *, generated_at: datetime, generated_by: str) -> bytes:
    """Return a PDF report of an organization's events over a period."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    organization = summary.organization
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Audit summary: {organization.name}",
        author="CloudPAM",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )

    def text(value: Any) -> Paragraph:
        return Paragraph(escape(str(value)), styles["BodyText"])

    def table(header: list[str], rows: list[tuple[Any, ...]], widths: list[float]) -> Table:
        body = [[text(cell) for cell in row] for row in rows] or [
            [text("none")] + [text("")] * (len(header) - 1)
        ]
        result = Table([header, *body], colWidths=widths, repeatRows=1)
        result.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f0fc")),
                    ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#d9dde4")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return result

    story: list[Any] = [
        Paragraph(f"Audit summary: {escape(organization.name)}", styles["Title"]),
        text(f"Organization: {organization.slug}"),
        text(f"Period: {iso_timestamp(summary.since)} to {iso_timestamp(summary.until)}"),
        text(f"Generated {iso_timestamp(generated_at)} by {generated_by}"),
        text(f"Events in the period: {summary.total}"),
        text(
            f"Chain head when generated: sequence {summary.chain_sequence}, "
            f"hash {summary.chain_hash}"
        ),
        Spacer(1, 6 * mm),
        Paragraph("Events by action", styles["Heading2"]),
        table(["Action", "Events"], summary.by_action, [120 * mm, 40 * mm]),
        Paragraph("Events by actor", styles["Heading2"]),
        table(["Actor", "Events"], summary.by_actor, [120 * mm, 40 * mm]),
        Paragraph("Events by object type", styles["Heading2"]),
        table(["Object type", "Events"], summary.by_object_type, [120 * mm, 40 * mm]),
        Paragraph("Most changed objects", styles["Heading2"]),
        table(
            ["Type", "Id", "Object", "Events"],
            summary.top_objects,
            [30 * mm, 25 * mm, 85 * mm, 20 * mm],
        ),
    ]
    document.build(story)
    return buffer.getvalue()
