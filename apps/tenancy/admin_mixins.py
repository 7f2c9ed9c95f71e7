"""The admin side of tenant scoping, for every app's admin classes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import HttpRequest

from apps.tenancy.models import Organization
from cloudpam.forms import JSONField


class TenantAdminMixin:
    """Limit an admin class to the active organization, unless the user is a superuser.

    Rows, foreign-key choices and new rows all stay in the organization the
    staff member works in (chosen with the console's switcher): the same
    organization that row-level security lets their requests see. Superusers
    work across organizations (their admin requests bypass row-level
    security explicitly, see ``ActiveOrganizationMiddleware``).

    Use it first in the bases: ``class PoolAdmin(TenantAdminMixin, admin.ModelAdmin)``.
    """

    organization_field = "organization"
    # JSON (tags, settings) with a limit on its depth, as in the console and the API.
    formfield_overrides: dict[Any, dict[str, Any]] = {models.JSONField: {"form_class": JSONField}}

    def _organization(self, request: HttpRequest) -> Organization | None:
        return getattr(request, "organization", None)

    def _unrestricted(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        if self._unrestricted(request):
            return queryset
        organization = self._organization(request)
        if organization is None:
            return queryset.none()
        if queryset.model is Organization:
            return queryset.filter(pk=organization.pk)
        return queryset.filter(**{self.organization_field: organization})

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        """Offer only the organizations present in the rows, never the others' names."""
        filters = list(super().get_list_filter(request))  # type: ignore[misc]
        if self._unrestricted(request):
            return filters
        return [
            (item, admin.RelatedOnlyFieldListFilter)
            if isinstance(item, str) and self._is_organization_path(item)
            else item
            for item in filters
        ]

    def _is_organization_path(self, name: str) -> bool:
        model = self.model  # type: ignore[attr-defined]
        try:
            field = get_fields_from_path(model, name)[-1]
        except (FieldDoesNotExist, NotRelationField):
            return False
        return getattr(field, "related_model", None) is Organization

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
        if field is None or self._unrestricted(request):
            return field
        organization = self._organization(request)
        related = db_field.related_model
        if related is Organization:
            field.queryset = field.queryset.filter(pk=getattr(organization, "pk", None))
        elif any(f.name == "organization" for f in related._meta.get_fields()):
            field.queryset = field.queryset.filter(organization=organization)
        return field

    def _member(self, request: HttpRequest) -> bool:
        return self._unrestricted(request) or self._organization(request) is not None

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._member(request) and super().has_module_permission(request)  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._member(request) and super().has_view_permission(request, obj)  # type: ignore[misc]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._member(request) and super().has_add_permission(request, *args)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._member(request) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._member(request) and super().has_delete_permission(request, obj)  # type: ignore[misc]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not self._unrestricted(request) and hasattr(obj, "organization_id"):
            obj.organization = self._organization(request)
        super().save_model(request, obj, form, change)  # type: ignore[misc]
