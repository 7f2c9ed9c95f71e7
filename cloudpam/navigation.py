"""Main navigation: one entry per app, shown once the app's console page exists."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

# (label, URL name) in the order the navigation shows them.
NAVIGATION = [
    ("Pools", "pools:pool-tree"),
    ("Cloud accounts", "cloud:account-list"),
    ("Discovery", "discovery:overview"),
    ("Agents", "discovery:agent-list"),
    ("Analysis", "analysis:dashboard"),
    ("Recommendations", "analysis:recommendation-list"),
    ("Planning", "planning:overview"),
    ("AI assistant", "planning:ai-session-list"),
    ("AI providers", "planning:llm-provider-list"),
    ("Audit", "audit:event-list"),
    ("Organization", "tenancy:organization-settings"),
]


def nav_items(request: HttpRequest) -> dict[str, Any]:
    """Return the navigation entries whose pages exist, marking the active one."""
    items = []
    for label, url_name in NAVIGATION:
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "active": False})
    # One entry is active: the longest URL the path starts with (Agents, not Discovery,
    # on /discovery/agents/).
    matching = [item for item in items if request.path.startswith(item["url"])]
    if matching:
        max(matching, key=lambda item: len(item["url"]))["active"] = True
    return {"nav_items": items}
