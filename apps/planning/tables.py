"""The console's planning tables: plans, imports, saved templates and AI providers."""

from __future__ import annotations

from cloudpam.tables import Column, Table


def _date(field: str, suffix: str = "") -> str:
    return (
        "{% with value=row."
        + field
        + ' %}{% if value %}{{ value|date:"Y-m-d H:i" }}'
        + suffix
        + "{% endif %}{% endwith %}"
    )


_STATUS = (
    '<span class="badge{% if row.status == "invalid" %} error{% endif %}">'
    "{{ row.get_status_display }}</span>"
)


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
        Column(
            "status", "Status", order=("status", "id"), value="get_status_display", cell=_STATUS
        ),
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
        Column(
            "applied_at", "Applied", order=("applied_at", "id"), cell=_date("applied_at", " UTC")
        ),
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
        Column(
            "rows", "Rows", value=lambda plan: (plan.source_detail or {}).get("rows"), numeric=True
        ),
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


class TemplateTable(Table):
    """The built-in templates, then the organization's saved ones (entries, not rows)."""

    key = "planning.templates"
    noun = "templates"
    columns = (
        Column(
            "name",
            "Name",
            order=("name",),
            required=True,
            cell='<a href="{% url "planning:wizard" %}?template={{ row.key }}">{{ row.name }}</a>'
            '{% if row.builtin %} <span class="badge">built-in</span>{% endif %}',
        ),
        Column("template", "Based on", order=("template",)),
        Column("version", "Version", order=("version",), cell="v{{ row.version }}", numeric=True),
        Column("description", "Description"),
        Column(
            "saved_by",
            "Saved by",
            value=lambda entry: (
                entry.saved.created_by.email if entry.saved and entry.saved.created_by else ""
            ),
            cell='{% if row.saved %}{{ row.saved.created_by.email|default:"" }} '
            '{{ row.saved.updated_at|date:"Y-m-d H:i" }} UTC{% endif %}',
        ),
        Column("builtin", "Built-in", order=("builtin",), default=False),
        Column(
            "actions",
            "Actions",
            export=False,
            cell='{% if row.saved and can_save %}<a class="button danger" '
            'href="{% url "planning:template-delete" row.key %}">Delete</a>{% endif %}',
        ),
    )


class LLMProviderTable(Table):
    """AI providers in fallback order with their model, key hint, prices and last test."""

    key = "planning.llm_providers"
    noun = "providers"
    columns = (
        Column("priority", "Priority", order=("priority", "id"), numeric=True),
        Column(
            "name",
            "Name",
            order=("name", "id"),
            required=True,
            cell='{{ row.name }}{% if not row.enabled %} <span class="badge">disabled</span>'
            "{% endif %}",
        ),
        Column("provider", "Provider", order=("provider", "id"), value="get_provider_display"),
        Column("model", "Model", order=("model", "id"), css="mono"),
        Column(
            "api_key",
            "API key",
            value=lambda config: "set" if config.api_key_set else "none",
            cell='{% if row.api_key_set %}set, ends <span class="mono">{{ row.api_key_hint }}'
            '</span>{% else %}<span class="muted">none</span>{% endif %}',
        ),
        Column(
            "prices",
            "Prices / M tokens",
            value=lambda c: (
                f"in {c.input_price} cached {c.cached_input_price} out {c.output_price}"
            ),
            cell='in {{ row.input_price|floatformat:"-6" }} · cached {% if row.cached_input_price '
            'is not None %}{{ row.cached_input_price|floatformat:"-6" }}{% else %}=in{% endif %}'
            ' · out {{ row.output_price|floatformat:"-6" }}',
        ),
        Column(
            "last_check",
            "Last test",
            value="last_checked_at",
            cell='<span id="test-result-{{ row.pk }}">{% if row.last_check %}{% include '
            '"planning/llmprovider_test_result.html" with result=row.last_check '
            'checked_at=row.last_checked_at %}{% else %}<span class="muted">never</span>'
            "{% endif %}</span>",
        ),
        Column("base_url", "Base URL", default=False),
        Column("timeout_seconds", "Timeout (s)", default=False, numeric=True),
        Column(
            "actions",
            "Actions",
            export=False,
            cell='{% include "planning/_llmprovider_actions.html" with config=row %}',
        ),
    )
