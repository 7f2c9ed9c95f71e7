"""The analysis tiles of the console's dashboard."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.analysis.choices import RecommendationStatus
from apps.analysis.models import Recommendation
from apps.analysis.selectors import organization_overview
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
