"""The permission layer: role matrix and token scopes, checked in one place."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions

from apps.tenancy.roles import role_has, scopes_allow


def required_permission(request: Any, view: Any) -> str | None:
    """Return the permission the view's current action needs, or None.

    Views set ``permission_resource = "pools"`` (safe methods need
    ``pools.view``, the others ``pools.change``) and may override single
    actions with ``action_permissions = {"purge": "pools.purge"}``.
    """
    action = getattr(view, "action", None) or request.method.lower()
    overrides = getattr(view, "action_permissions", {}) or {}
    if action in overrides:
        return overrides[action]
    if request.method.lower() in overrides:
        return overrides[request.method.lower()]
    resource = getattr(view, "permission_resource", None)
    if resource is None:
        return None
    suffix = "view" if request.method in permissions.SAFE_METHODS else "change"
    return f"{resource}.{suffix}"


def check_permission(request: Any, permission: str) -> str | None:
    """Return None when the request may use ``permission``, else the reason it may not."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return "You are not a member of any organization, or not of the one you asked for."
    if not role_has(membership.role, permission):
        return f"Your role '{membership.role}' does not have the permission '{permission}'."
    token = getattr(request, "auth", None)
    scopes = getattr(token, "scopes", None)
    if scopes is not None and not scopes_allow(scopes, permission):
        return f"This token's scopes ({', '.join(scopes)}) do not allow '{permission}'."
    return None


class HasOrganizationPermission(permissions.BasePermission):
    """Allow an authenticated member whose role and token scopes hold the permission."""

    message = "Permission denied."

    def has_permission(self, request: Any, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        permission = required_permission(request, view)
        if permission is None:
            return True
        reason = check_permission(request, permission)
        if reason:
            self.message = reason
            return False
        return True
