"""Dashboard tiles of the address plan."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.urls import reverse

from apps.pools.models import Pool


def dashboard_widgets(request: Any) -> list[dict[str, Any]]:
    """Return the pool tiles of the dashboard: live pools, root address spaces, IPv6 pools."""
    organization = getattr(request, "organization", None)
    if organization is None:
        return []
    counts = (
        Pool.objects.for_organization(organization)
        .live()
        .order_by()
        .aggregate(
            pools=Count("pk"),
            roots=Count("pk", filter=Q(parent__isnull=True)),
            ipv6=Count("pk", filter=Q(family=6)),
        )
    )
    tree = reverse("pools:pool-tree")
    return [
        {"label": "Pools", "value": counts["pools"], "url": tree},
        {"label": "Address spaces", "value": counts["roots"], "url": tree},
        {
            "label": "IPv6 pools",
            "value": counts["ipv6"],
            "url": reverse("pools:pool-list") + "?family=6",
        },
    ]
