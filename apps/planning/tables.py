"""The console's planning tables: plans, imports, saved templates and AI providers."""

from __future__ import annotations

from cloudpam.tables import Column, Table


def _date(field: str, suffix: str = "") -> str:
    return (
        "{% with value=row." + field + ' %}{% if value %}{{ value|date:"Y-m-d H:i" }}'
        + suffix
        + "{% endif %}{% endwith %}"
    )


_STATUS = '<span class="badge{% if row.status == "invalid" %} error{% endif %}">{{ row.get_status_display }}</span>'


class PlanTable(Table):
    """Plans with source, status, size, risk and who made and applied them."""

    key = "planning.plans"
    noun = "plans"
    default_sort = "-created_at"
    columns = (
        Column(
            "title",
            "Plan",
            order=("title", "id"),
            required=True,
            cell='<a href="{% url "planning:plan-detail" row.pk %}">{{ row.title }}</a>'
            '{% if row.version > 1 %} <span class="muted">v{{ row.version }}</span>{% endif %}',
        ),
        Column("source", "Source", order=("source", "id"), value="get_source_display"),
        Column("status", "Status", order=("status", "id"), value="get_status_display", cell=_STATUS),
        Column("operation_count", "Operations", order=("operation_count", "id"), numeric=True),
        Column(
            "risk_level",
            "Risk",
            order=("risk_level", "id"),
            cell='{% if row.risk_level %}<span class="badge {% if row.risk_level == "high" %}error'
            '{% elif row.risk_level == "medium" %}warning{% else %}info{% endif %}">'
            "{{ row.risk_level }}</span>{% endif %}",
        ),
        Column(
            "created_at",
            "Created",
            order=("created_at", "id"),
            cell=_date("created_at", " UTC")
            + '{% if row.created_by %}<br><span class="muted">{{ row.created_by.email }}</span>'
            "{% endif %}",
        ),
        Column("applied_at", "Applied", order=("applied_at", "id"), cell=_date("applied_at", " UTC")),
        Column("created_by", "Created by", default=False, value="created_by.email"),
        Column("applied_by", "Applied by", default=False, value="applied_by.email"),
        Column("version", "Version", order=("version", "id"), default=False, numeric=True),
    )


class ImportTable(Table):
    """The import history: the plans of source ``import`` with their file and row counts."""

    key = "planning.imports"
    noun = "imports"
    default_sort = "-created_at"
    columns = (
        Column(
            "title",
            "Import",
            order=("title", "id"),
            required=True,
            cell='<a href="{% url "planning:import-detail" row.pk %}">{{ row.title }}</a>',
        ),
        Column(
            "file",
            "File",
            value=lambda plan: "{filename} ({format})".format(
                filename=(plan.source_detail or {}).get("filename", ""),
                format=(plan.source_detail or {}).get("format", ""),
            ),
        ),
        Column("rows", "Rows", value=lambda plan: (plan.source_detail or {}).get("rows"), numeric=True),
        Column(
            "errors",
            "Errors",
            value=lambda plan: (plan.source_detail or {}).get("error_count") or 0,
            numeric=True,
        ),
        Column(
            "status",
            "Status",
            order=("status", "id"),
            value="get_status_display",
            cell='<span class="badge status-{{ row.status }}">{{ row.get_status_display }}</span>',
        ),
        Column("created_at", "Created", order=("created_at", "id"), cell=_date("created_at")),
        Column("created_by", "Created by", default=False, value="created_by.email"),
    )
