"""Signal receivers of the analysis app: they only observe, to keep the cache fresh.

A saved or deleted pool, or a changed organization (its compliance settings), makes the
organization's cached analysis results stale. For pools the version is bumped at once, for
reads later in the same transaction, and again on commit, so that a result computed from
the old data by a concurrent request before the commit cannot outlive it. An organization
row changes rarely; its receiver bumps at once only, and the analysis' own settings
service bumps again on commit.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.analysis.cache import bump_organization_version
from apps.pools.models import Pool
from apps.pools.signals import pools_bulk_changed, pools_bulk_created
from apps.tenancy.models import Organization


def _bump(organization_id: int | None) -> None:
    if organization_id is None:
        return
    bump_organization_version(organization_id)
    transaction.on_commit(lambda: bump_organization_version(organization_id))


@receiver(post_save, sender=Pool, dispatch_uid="analysis.pool_saved")
@receiver(post_delete, sender=Pool, dispatch_uid="analysis.pool_deleted")
def pool_changed(sender: type[Pool], instance: Pool, **kwargs: Any) -> None:
    """Invalidate the analysis cache of the pool's organization."""
    _bump(instance.organization_id)


@receiver(pools_bulk_created, dispatch_uid="analysis.pools_bulk_created")
@receiver(pools_bulk_changed, dispatch_uid="analysis.pools_bulk_changed")
def pools_created(sender: type[Pool], organization_id: int, **kwargs: Any) -> None:
    """Invalidate the analysis cache of an organization that gained or changed pools in bulk."""
    _bump(organization_id)


@receiver(post_save, sender=Organization, dispatch_uid="analysis.organization_saved")
def organization_changed(sender: type[Organization], instance: Organization, **kwargs: Any) -> None:
    """Invalidate the analysis cache when an organization's settings may have changed."""
    bump_organization_version(instance.pk)
