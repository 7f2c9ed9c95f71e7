"""The row counts of the admin index, as the signed-in member may see them."""

from __future__ import annotations

from typing import Any

from django import template
from django.apps import apps
from django.contrib import admin
from django.core.cache import cache

register = template.Library()

# Long enough to spare the database on a busy index, short enough to read as current.
COUNT_SECONDS = 30


@register.simple_tag(takes_context=True)
def admin_model_count(context: dict[str, Any], app_label: str, model_name: str) -> int | None:
    """Return how many rows of a model the request's admin shows (one COUNT, cached).

    The model comes by name: a template would call a model class given as such.

    The count goes through the model admin's own queryset, so it is scoped to the
    active organization and the role exactly as the changelist is.
    """
    request = context["request"]
    model = apps.get_model(app_label, model_name)
    model_admin = admin.site._registry.get(model)
    if model_admin is None:
        return None
    organization = getattr(request, "organization", None)
    key = (
        f"admin-count:{model._meta.label_lower}:{request.user.pk}:"
        f"{getattr(organization, 'pk', None)}"
    )
    count = cache.get(key)
    if count is None:
        count = model_admin.get_queryset(request).count()
        cache.set(key, count, COUNT_SECONDS)
    return count
