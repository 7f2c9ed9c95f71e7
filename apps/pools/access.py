"""Who may change which pool: the role, or a per-object grant on the pool or an ancestor."""

from __future__ import annotations

from typing import Any

from apps.pools.models import Pool
from apps.tenancy.permissions import check_permission, has_object_permission


def pool_permission_denial(request: Any, permission: str, pool: Pool | None) -> str | None:
    """Return why the request may not use ``permission`` on ``pool``, or None if it may.

    Without a pool (a root pool is created, or a pool becomes one) only the role counts:
    grants are given on pools, and the roots are above all of them.
    """
    if pool is None:
        return check_permission(request, permission)
    if has_object_permission(request, permission, pool):
        return None
    return check_permission(request, permission) or (
        f"You do not have the permission '{permission}' on pool {pool.pk}."
    )
