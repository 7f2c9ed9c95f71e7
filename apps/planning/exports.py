"""A plan's operations as a file: JSON, YAML or CSV (the import/export module adds more).

The JSON and YAML documents are ``{title, source, operations}``, which ``POST /plans/``
takes back. The CSV has one row per operation; a cell that a spreadsheet would run as a
formula is prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import yaml

from apps.planning.models import Plan

CSV_COLUMNS = (
    "op",
    "ref",
    "name",
    "cidr",
    "prefix_length",
    "within",
    "parent",
    "pool",
    "type",
    "status",
    "description",
    "tags",
    "fields",
    "recursive",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def plan_document(plan: Plan) -> dict[str, Any]:
    """Return the plan as the document ``POST /plans/`` accepts."""
    return {"title": plan.title, "source": plan.source, "operations": plan.operations}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        if all(isinstance(item, str) for item in value.values()):
            text = ";".join(f"{key}={item}" for key, item in value.items())
        else:
            text = json.dumps(value, sort_keys=True)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def plan_export(plan: Plan, fmt: str) -> tuple[str, str]:
    """Return the plan in ``fmt`` (json, yaml, csv) and its content type."""
    if fmt == "yaml":
        return yaml.safe_dump(plan_document(plan), sort_keys=False), "application/yaml"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for operation in plan.operations:
            if not isinstance(operation, dict):
                continue
            row = [_cell(operation.get(column)) for column in CSV_COLUMNS]
            if isinstance(operation.get("fields"), dict):
                row[CSV_COLUMNS.index("fields")] = _cell(
                    json.dumps(operation["fields"], sort_keys=True)
                )
            writer.writerow(row)
        return buffer.getvalue(), "text/csv"
    return json.dumps(plan_document(plan), indent=2), "application/json"
