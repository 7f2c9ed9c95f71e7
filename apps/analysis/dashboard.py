"""The analysis tiles of the console's dashboard."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.analysis.choices import RecommendationStatus
from apps.analysis.models import Recommendation
from apps.analysis.selectors import organization_overview, recommendation_ranking
from apps.tenancy.permissions import check_permission


def dashboard_widgets(request: Any) -> list[dict[str, Any]]:
    """Return the compliance errors and pending recommendations of the active organization."""
    organization = getattr(request, "organization", None)
    if organization is None or check_permission(request, "analysis.view"):
        return []
    overview = organization_overview(organization=organization)
    pending = (
        Recommendation.objects.for_organization(organization)
        .filter(status=RecommendationStatus.PENDING)
        .count()
    )
    return [
        {
            "label": "compliance errors",
            "value": overview["findings_by_severity"].get("error", 0),
            "url": reverse("analysis:finding-list") + "?severity=error",
        },
        {
            "label": "pending recommendations",
            "value": pending,
            "url": reverse("analysis:recommendation-list"),
        },
    ]


# Pending recommendations the dashboard lists; the rest are a link away.
PENDING_SHOWN = 5


def dashboard_panels(request: Any) -> list[dict[str, Any]]:
    """Return the pools nearest exhaustion, the findings by severity and pending advice."""
    organization = getattr(request, "organization", None)
    if organization is None or check_permission(request, "analysis.view"):
        return []
    overview = organization_overview(organization=organization)
    percent = {pool["id"]: pool["percent"] for pool in overview["most_utilized"]}
    exhausting = [
        {**pool, "percent": percent.get(pool["id"])} for pool in overview["soonest_exhaustion"]
    ]
    by_severity = overview["findings_by_severity"]
    findings_url = reverse("analysis:finding-list")
    pending = list(
        recommendation_ranking(
            Recommendation.objects.for_organization(organization).filter(
                status=RecommendationStatus.PENDING
            )
        ).select_related("pool")[:PENDING_SHOWN]
    )
    return [
        {
            "order": 20,
            "title": "Nearest exhaustion",
            "template": "analysis/dashboard_exhaustion.html",
            "pools": exhausting,
            "most_utilized": overview["most_utilized"],
        },
        {
            "order": 30,
            "title": "Compliance findings",
            "template": "analysis/dashboard_findings.html",
            "rows": [
                {
                    "severity": severity,
                    "label": label,
                    "count": by_severity.get(severity, 0),
                    "url": f"{findings_url}?severity={severity}",
                }
                for severity, label in (
                    ("error", "Errors"),
                    ("warning", "Warnings"),
                    ("info", "Info"),
                )
            ],
        },
        {
            "order": 40,
            "title": "Pending recommendations",
            "template": "analysis/dashboard_recommendations.html",
            "recommendations": pending,
            "url": reverse("analysis:recommendation-list"),
        },
    ]
