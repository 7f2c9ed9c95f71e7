"""The console's analysis tables: compliance findings and recommendations."""

from __future__ import annotations

from typing import Any

from apps.pools.models import Pool
from cloudpam.tables import BulkAction, Column, Table


class FindingTable(Table):
    """Compliance findings (computed, not stored: a list of dicts), with their pools."""

    key = "analysis.findings"
    noun = "findings"
    columns = (
        Column(
            "severity",
            "Severity",
            order=("severity",),
            required=True,
            cell='{% load analysis %}<span class="badge {{ row.severity|severity_class }}">'
            "{{ row.severity }}</span>",
        ),
        Column("rule", "Rule", order=("rule",)),
        Column(
            "pool",
            "Pool",
            value="pool_object.cidr",
            cell='{% if row.pool_object %}<a class="mono" href="{% url "analysis:pool-analysis" '
            'row.pool %}">{{ row.pool_object.cidr }}</a> {{ row.pool_object.name }}{% else %}'
            "#{{ row.pool }}{% endif %}",
        ),
        Column(
            "message",
            "Finding",
            order=("message",),
            cell='{{ row.message }}<br><span class="muted">{{ row.remediation }}</span>',
        ),
        Column("remediation", "Remediation", default=False),
    )

    def __init__(self, request: Any, findings: Any, **kwargs: Any) -> None:
        self.organization = request.organization
        super().__init__(request, findings, **kwargs)

    def prepare(self, objects: list[Any]) -> list[Any]:
        pools = Pool.objects.for_organization(self.organization).in_bulk(
            [finding["pool"] for finding in objects]
        )
        return [{**finding, "pool_object": pools.get(finding["pool"])} for finding in objects]


class RecommendationTable(Table):
    """Recommendations ranked by impact, with apply and dismiss."""

    key = "analysis.recommendations"
    noun = "recommendations"
    bulk_actions = (BulkAction("dismiss", "Dismiss"),)
    bulk_url_name = "analysis:recommendation-bulk"
    columns = (
        Column(
            "impact",
            "Impact",
            order=("-impact", "severity_order", "pk"),
            required=True,
            cell='{% load analysis %}{{ row.impact }} <span class="badge '
            '{{ row.severity|severity_class }}">{{ row.severity }}</span>',
        ),
        Column("type", "Type", order=("type", "pk"), value="get_type_display"),
        Column(
            "title",
            "Recommendation",
            order=("title", "pk"),
            cell='<strong>{{ row.title }}</strong><br><span class="muted">{{ row.rationale }}'
            '</span>{% if row.pool %}<br><a href="{% url "analysis:pool-analysis" row.pool.pk %}">'
            "Analysis of {{ row.pool.cidr }}</a>{% endif %}{% if row.dismiss_reason %}<br>"
            '<span class="muted">Dismissed: {{ row.dismiss_reason }}</span>{% endif %}',
        ),
        Column("status", "Status", order=("status", "pk"), value="get_status_display"),
        Column("pool", "Pool", default=False, value="pool.cidr"),
        Column("severity", "Severity", order=("severity_order", "pk"), default=False),
        Column("created_at", "Created", order=("created_at", "pk"), default=False),
        Column(
            "actions",
            "Actions",
            export=False,
            cell='{% include "analysis/_recommendation_actions.html" with rec=row %}',
        ),
    )
