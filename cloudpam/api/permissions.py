"""Who may read the OpenAPI schema and Swagger UI (``CLOUDPAM_API_DOCS``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission

API_DOCS_CHOICES = ("public", "authenticated", "off")


class ApiDocsPermission(BasePermission):
    """``public``: anyone; ``authenticated``: a session or token; ``off``: the routes 404.

    Read at each request, so a settings change needs no new URL configuration.
    Anything but the three values counts as ``off``.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        mode = settings.CLOUDPAM_API_DOCS
        if mode == "public":
            return True
        if mode == "authenticated":
            return bool(request.user and request.user.is_authenticated)
        raise NotFound()
