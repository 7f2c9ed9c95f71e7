"""Bases of console views that work in the active organization."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from apps.tenancy.permissions import check_permission


class TenantViewMixin(LoginRequiredMixin):
    """Require a signed-in member of the active organization holding a permission.

    ``permission`` guards every method; ``method_permissions = {"post": ...}``
    overrides it per method. A refusal is the 403 page naming the permission.
    """

    permission: str | None = None
    method_permissions: dict[str, str] = {}

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "membership", None) is None:
            messages.info(request, "You are not a member of any organization yet: create one.")
            return redirect("tenancy:organization-create")
        needed = self.method_permissions.get(request.method.lower(), self.permission)
        if needed is not None:
            self.require(needed)
        return super().dispatch(request, *args, **kwargs)

    def require(self, permission: str) -> None:
        """Raise PermissionDenied (a 403 page naming it) unless the request holds it."""
        reason = check_permission(self.request, permission)
        if reason:
            raise DjangoPermissionDenied(reason)

    def allowed(self, permission: str) -> bool:
        return check_permission(self.request, permission) is None


class TenantObjectMixin(TenantViewMixin):
    """Scope a generic console view's queryset to the active organization (404 otherwise)."""

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()  # type: ignore[misc]
        if not hasattr(queryset, "for_request"):
            raise ImproperlyConfigured(f"{type(self).__name__} needs a TenantModel queryset.")
        return queryset.for_request(self.request)
