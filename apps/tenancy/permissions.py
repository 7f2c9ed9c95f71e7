"""
The permission layer: role matrix, token scopes and per-object grants, in one place.

A permission (``pools.change``) is held through the member's role (the table
in ``roles.py``) or through a django-guardian grant on the object or, for tree
objects, on one of its ancestors (e.g. operator on one pool subtree). A token
narrows either to its scopes. Grants use the model's Django permission whose
action is the permission's suffix: ``pools.change`` on a Pool is the grant
``pools.change_pool``, ``pools.view`` is ``view_pool``, ``pools.purge`` is
``purge_pool`` (a model declares extra actions in ``Meta.permissions``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from guardian.models import GroupObjectPermission, UserObjectPermission
from rest_framework import permissions

from apps.tenancy.roles import PERMISSIONS, role_has, scopes_allow


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


def _token_scopes(request: Any) -> list[str] | None:
    return getattr(getattr(request, "auth", None), "scopes", None)


def check_permission(request: Any, permission: str) -> str | None:
    """Return None when the request may use ``permission``, else the reason it may not."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return "You are not a member of any organization, or not of the one you asked for."
    if not role_has(membership.role, permission):
        return f"Your role '{membership.role}' does not have the permission '{permission}'."
    return check_scopes(request, permission)


def check_scopes(request: Any, permission: str) -> str | None:
    """Return None when the request's token (if any) has a scope for ``permission``."""
    scopes = _token_scopes(request)
    if scopes is not None and not scopes_allow(scopes, permission):
        return f"This token's scopes ({', '.join(scopes)}) do not allow '{permission}'."
    return None


def grant_codename(permission: str, obj: Any) -> str:
    """Return the guardian codename that grants ``permission`` on ``obj``'s model."""
    action = permission.rsplit(".", 1)[1]
    return f"{action}_{obj._meta.model_name}"


def _grant_targets(obj: Any) -> list[Any]:
    ancestors = obj.get_ancestors() if hasattr(obj, "get_ancestors") else []
    return [obj, *ancestors]


def has_object_permission(request: Any, permission: str, obj: Any) -> bool:
    """Return whether the request may use ``permission`` on ``obj``.

    True for a role that holds it, or for a guardian grant of it on ``obj`` or
    an ancestor of ``obj``; in both cases only for a member of ``obj``'s
    organization, and only within the token's scopes.
    """
    if permission not in PERMISSIONS:
        raise KeyError(f"Unknown permission '{permission}'.")
    membership = getattr(request, "membership", None)
    if membership is None:
        return False
    organization_id = obj.pk if obj._meta.label == "tenancy.Organization" else None
    organization_id = getattr(obj, "organization_id", organization_id)
    if organization_id is not None and organization_id != membership.organization_id:
        return False
    if check_scopes(request, permission) is not None:
        return False
    if role_has(membership.role, permission):
        return True
    if organization_id is None:
        # Grants are per organization: an object that belongs to none takes none.
        return False
    return _granted(membership.user, grant_codename(permission, obj), _grant_targets(obj))


def actor_permission_denial(
    *, actor: Any, organization: Any, permission: str, obj: Any = None
) -> str | None:
    """Return why ``actor`` may not use ``permission`` in ``organization`` (on ``obj``), or None.

    For services that check inside themselves what their callers checked on the
    request (a batch reaches pools no view looked at): the member's role, narrowed by
    the token's scopes, or a grant on ``obj`` or an ancestor. The system (a task or
    command, ``actor.user_id`` None) acts on work someone was allowed to start, and a
    superuser in the Django admin is not bound by the matrix there.
    """
    if actor.user_id is None or actor.superuser:
        return None
    from apps.tenancy.models import Membership

    role = (
        Membership.objects.filter(user_id=actor.user_id, organization=organization)
        .values_list("role", flat=True)
        .first()
    )
    if role is None:
        return "You are not a member of this organization."
    if actor.scopes is not None and not scopes_allow(actor.scopes, permission):
        return f"This token's scopes ({', '.join(actor.scopes)}) do not allow '{permission}'."
    if role_has(role, permission):
        return None
    if obj is not None and _granted(
        actor.user_id, grant_codename(permission, obj), _grant_targets(obj)
    ):
        return None
    where = f" on {obj._meta.model_name} {obj.pk}" if obj is not None else ""
    return f"Your role '{role}' does not have the permission '{permission}'{where}."


def _granted(user: Any, codename: str, targets: list[Any]) -> bool:
    """Return whether ``user`` (directly or through a group) holds ``codename`` on a target.

    The grant tables are read directly: guardian's checker answers yes to
    everything for a superuser, and being a superuser of the site is no role
    in an organization.
    """
    content_type = ContentType.objects.get_for_model(targets[0])
    lookup = {
        "permission__codename": codename,
        "content_type": content_type,
        "object_pk__in": [str(target.pk) for target in targets],
    }
    user_id = user if isinstance(user, int) else user.pk
    return (
        UserObjectPermission.objects.filter(user_id=user_id, **lookup).exists()
        or GroupObjectPermission.objects.filter(group__user__pk=user_id, **lookup).exists()
    )


def granted_object_pks(user: Any, codename: str, model: Any) -> list[str]:
    """Return the primary keys of ``model`` rows on which ``user`` holds the grant ``codename``."""
    lookup = {
        "permission__codename": codename,
        "content_type": ContentType.objects.get_for_model(model),
    }
    user_id = user if isinstance(user, int) else user.pk
    direct = UserObjectPermission.objects.filter(user_id=user_id, **lookup)
    through_groups = GroupObjectPermission.objects.filter(group__user__pk=user_id, **lookup)
    pks = {*direct.values_list("object_pk", flat=True)}
    return sorted(pks | {*through_groups.values_list("object_pk", flat=True)})


def granted_kinds(user: Any) -> set[tuple[int, str]]:
    """Return the (content type id, codename) of every grant ``user`` holds, on any row."""
    user_id = user if isinstance(user, int) else user.pk
    fields = ("content_type_id", "permission__codename")
    direct = UserObjectPermission.objects.filter(user_id=user_id).values_list(*fields)
    through_groups = GroupObjectPermission.objects.filter(group__user__pk=user_id)
    return {*direct.distinct(), *through_groups.values_list(*fields).distinct()}


class HasOrganizationPermission(permissions.BasePermission):
    """Allow an authenticated member whose role and token scopes hold the permission.

    A view that accepts per-object grants sets ``object_grants = True``: a
    member whose role lacks the permission then passes this view-level check
    and is judged on the object (``GenericAPIView.get_object`` calls
    ``has_object_permission``). Such a view must check every object it acts
    on, including the parent of one it creates.
    """

    message = "Permission denied."

    def has_permission(self, request: Any, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        permission = required_permission(request, view)
        if permission is None:
            return True
        reason = check_permission(request, permission)
        if reason is None:
            return True
        membership = getattr(request, "membership", None)
        if (
            getattr(view, "object_grants", False)
            and membership is not None
            and check_scopes(request, permission) is None
        ):
            return True
        self.message = reason
        return False

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        permission = required_permission(request, view)
        if permission is None or has_object_permission(request, permission, obj):
            return True
        self.message = check_permission(request, permission) or (
            f"You do not have the permission '{permission}' on this object."
        )
        return False
