"""
Tenant scoping, in one place.

Every domain model inherits ``TenantModel``; every view, admin class and task
reads through ``Model.objects.for_organization(org)``. PostgreSQL row-level
security enforces the same rule a second time underneath.
"""

from __future__ import annotations

from typing import Any, Self

from django.db import models


class TenantQuerySet(models.QuerySet):
    """A queryset that knows how to narrow itself to one organization."""

    def for_organization(self, organization: Any) -> Self:
        """Return the rows of ``organization`` only (none when it is None)."""
        if organization is None:
            return self.none()
        return self.filter(organization=organization)

    def for_request(self, request: Any) -> Self:
        """Return the rows of the request's active organization (none without one)."""
        return self.for_organization(getattr(request, "organization", None))


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """The default manager of tenant models."""


class TenantModel(models.Model):
    """Base of every row that belongs to an organization."""

    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="+", db_index=True
    )

    objects = TenantManager()

    class Meta:
        abstract = True
