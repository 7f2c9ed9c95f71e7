"""Template helpers of the analysis pages."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("analysis/percent_bar.html")
def percent_bar(
    percent: float | int | None, label: str = "used", *, progress: bool = False
) -> dict[str, Any]:
    """Render a bar for ``percent`` (0 to 100), coloured from 75 % and 90 %.

    A ``progress`` bar is work done, not space used: full is good news, so it turns
    green when complete and is never coloured as a warning.
    """
    value = min(max(float(percent or 0), 0.0), 100.0)
    if progress:
        level = "ok" if value >= 100 else ""
    else:
        level = "err" if value >= 90 else "warn" if value >= 75 else ""
    return {"percent": value, "level": level, "label": label}


@register.filter
def severity_class(severity: str) -> str:
    """Return the badge class of a severity: error, warning or info."""
    return severity if severity in {"error", "warning", "info"} else "info"
