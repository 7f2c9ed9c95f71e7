"""The admin side of tenant scoping and of the role matrix, for every app's admin classes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import HttpRequest

from apps.tenancy.models import Organization
from apps.tenancy.permissions import (
    check_permission,
    grant_codename,
    granted_kinds,
    granted_object_pks,
    has_object_permission,
)
from cloudpam.forms import JSONField

OPERATIONS = ("view", "add", "change", "delete")


class TenantAdminMixin:
    """Limit an admin class to the active organization and to what the member's role allows.

    Rows, foreign-key choices and new rows all stay in the organization the
    staff member works in (chosen with the console's switcher): the same
    organization that row-level security lets their requests see. Superusers
    work across organizations (their admin requests bypass row-level
    security explicitly, see ``ActiveOrganizationMiddleware``).

    What a staff member may do is what the API lets them do: the permission
    each admin operation needs (``role_permissions``, names from
    ``roles.py``) is held through their role in the active organization or
    through a guardian grant on the object (or an ancestor). An operation
    without a permission is for superusers only. Django's model permissions
    play no part for members: two permission systems would disagree.
    Actions declare theirs with ``@admin.action(permissions=[...])`` and a
    ``has_<name>_permission`` built on ``role_allows``, and act only on the
    rows ``permitted`` returns.

    Use it first in the bases: ``class PoolAdmin(TenantAdminMixin, admin.ModelAdmin)``.
    """

    organization_field = "organization"
    # JSON (tags, settings) with a limit on its depth, as in the console and the API.
    formfield_overrides: dict[Any, dict[str, Any]] = {models.JSONField: {"form_class": JSONField}}
    # Admin operation (view, add, change, delete) -> permission in roles.py.
    role_permissions: dict[str, str] = {}

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
        return self.scope_queryset(queryset, organization)

    def scope_queryset(self, queryset: models.QuerySet, organization: Organization) -> Any:
        """Return the rows of ``queryset`` that belong to ``organization``."""
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

    # ------------------------------------------------------------ the role matrix

    def object_organization_id(self, obj: Any) -> int | None:
        """Return the id of the organization ``obj`` belongs to."""
        if isinstance(obj, Organization):
            return obj.pk
        return getattr(obj, f"{self.organization_field}_id", None)

    def role_allows(self, request: HttpRequest, permission: str | None, obj: Any = None) -> bool:
        """Return whether the request may use ``permission`` (on ``obj``, or on some row).

        Without ``obj`` a guardian grant on any row of the active organization
        is enough, so that the member reaches the rows granted to them; each
        row is then judged on its own.
        """
        if self._unrestricted(request):
            return True
        if permission is None or getattr(request, "membership", None) is None:
            return False
        if obj is not None:
            organization = self._organization(request)
            if self.object_organization_id(obj) != getattr(organization, "pk", None):
                return False
            return has_object_permission(request, permission, obj)
        if check_permission(request, permission) is None:
            return True
        if not self._may_hold_grant(request, permission):
            return False
        return self._granted_rows(request, permission).exists()

    def _may_hold_grant(self, request: HttpRequest, permission: str) -> bool:
        # Every admin page asks this of every admin for the index, three queries each:
        # the kinds of grants the user holds are read once a request instead.
        kinds = getattr(request, "_cloudpam_grant_kinds", None)
        if kinds is None:
            kinds = granted_kinds(request.user)
            request._cloudpam_grant_kinds = kinds  # type: ignore[attr-defined]
        model = self.model  # type: ignore[attr-defined]
        content_type = ContentType.objects.get_for_model(model)
        return (content_type.pk, grant_codename(permission, model)) in kinds

    def _granted_rows(self, request: HttpRequest, permission: str) -> models.QuerySet:
        model = self.model  # type: ignore[attr-defined]
        codename = grant_codename(permission, model)
        pks = granted_object_pks(request.user, codename, model)
        rows = self.scope_queryset(model._default_manager.all(), self._organization(request))
        return rows.filter(pk__in=pks)

    def permitted(
        self, request: HttpRequest, permission: str, objects: Iterable[Any]
    ) -> tuple[list[Any], list[Any]]:
        """Split ``objects`` into those the request may use ``permission`` on, and the others."""
        allowed, denied = [], []
        for obj in objects:
            (allowed if self.role_allows(request, permission, obj) else denied).append(obj)
        return allowed, denied

    def deny_message(self, request: HttpRequest, permission: str, denied: list[Any]) -> None:
        """Tell the user which selected rows an action left alone, and why."""
        if denied:
            names = ", ".join(str(obj) for obj in denied[:5])
            more = f" and {len(denied) - 5} more" if len(denied) > 5 else ""
            self.message_user(  # type: ignore[attr-defined]
                request,
                f"You do not have the permission '{permission}' on {names}{more}.",
                "ERROR",
            )

    def _allows(self, request: HttpRequest, operation: str, obj: Any = None) -> bool:
        return self.role_allows(request, self.role_permissions.get(operation), obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return any(self._allows(request, operation) for operation in OPERATIONS)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allows(request, "view", obj) or self.has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._allows(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allows(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allows(request, "delete", obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not self._unrestricted(request) and hasattr(obj, "organization_id"):
            obj.organization = self._organization(request)
        super().save_model(request, obj, form, change)  # type: ignore[misc]


class SuperuserOnlyAdminMixin:
    """For models no role reaches (users, groups, schedules): superusers only."""

    def _superuser(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._superuser(request) and super().has_module_permission(request)  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._superuser(request) and super().has_view_permission(request, obj)  # type: ignore[misc]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._superuser(request) and super().has_add_permission(request, *args)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._superuser(request) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._superuser(request) and super().has_delete_permission(request, obj)  # type: ignore[misc]


def restrict_unmapped_admins(site: admin.AdminSite) -> None:
    """Make every admin that does not consult the role matrix superuser-only.

    Third-party admins (groups, Celery schedules) know only Django's model
    permissions, which no role grants; a staff member given those by hand
    would otherwise act outside the matrix.
    """
    for model, model_admin in list(site._registry.items()):
        cls = type(model_admin)
        if issubclass(cls, TenantAdminMixin | SuperuserOnlyAdminMixin):
            continue
        attributes = {"__module__": cls.__module__}
        restricted = type(cls.__name__, (SuperuserOnlyAdminMixin, cls), attributes)
        site.unregister(model)
        site.register(model, restricted)
