"""Bases of API views that work in the active organization."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

from apps.tenancy import rls
from apps.tenancy.context import bind_membership, request_memberships
from apps.tenancy.models import ApiToken
from cloudpam import context
from cloudpam.exceptions import NotFound


class TenantScopedMixin:
    """Scope a generic view's queryset to the request's active organization.

    Use it first in the bases of every DRF view over a ``TenantModel``: lists
    show only the organization's rows and another organization's object is a
    404 (``get_object`` reads through the scoped queryset).
    """

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()  # type: ignore[misc]
        if not hasattr(queryset, "for_organization"):
            raise ImproperlyConfigured(
                f"{type(self).__name__} needs a TenantModel queryset (with for_organization)."
            )
        return queryset.for_request(self.request)  # type: ignore[attr-defined]


class OrganizationRouteMixin:
    """Resolve ``{organization_slug}`` in the URL to the caller's membership there.

    It becomes the request's active organization before permissions are
    checked; an organization the caller is not a member of (for a token: any
    but the token's own) answers 404, like any other organization's object.
    """

    organization_url_kwarg = "organization_slug"

    def check_permissions(self, request: Any) -> None:
        if request.user and request.user.is_authenticated:
            self._bind_route_organization(request)
        super().check_permissions(request)  # type: ignore[misc]

    def _bind_route_organization(self, request: Any) -> None:
        slug = self.kwargs[self.organization_url_kwarg]  # type: ignore[attr-defined]
        if isinstance(request.auth, ApiToken):
            current = request.membership
            membership = current if current and current.organization.slug == slug else None
        else:
            membership = next(
                (m for m in request_memberships(request._request) if m.organization.slug == slug),
                None,
            )
        if membership is None:
            raise NotFound("No such organization.")
        bind_membership(request._request, membership)
        rls.activate(membership.organization)
        context.organization_var.set(membership.organization)
