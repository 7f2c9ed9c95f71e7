"""Scheduled work of the audit trail."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.audit.scoping import across_organizations
from apps.audit.selectors import audit_chain_keys
from apps.audit.services import audit_chains_settle, audit_retention_apply
from apps.tenancy.tasks import MaintenanceTask

logger = logging.getLogger(__name__)


class RetentionFailed(Exception):
    """Retention failed for some chains (the others were done)."""


@shared_task(name="apps.audit.tasks.audit_retention", base=MaintenanceTask)
def audit_retention(organization_id: int | None = None) -> dict[str, int]:
    """Apply retention to one organization's chain, or to every chain when none is given.

    Each chain is handled in its own transaction, so a failure in one leaves
    the others done; running the task again removes nothing more.
    """
    with across_organizations():
        keys = [organization_id] if organization_id is not None else audit_chain_keys()
    removed: dict[str, int] = {}
    failed: list[str] = []
    for key in keys:
        name = str(key) if key is not None else "global"
        try:
            result = audit_retention_apply(organization_id=key)
        except Exception:
            logger.exception("audit retention failed for chain %s", name)
            failed.append(name)
            continue
        removed[name] = result.removed
        logger.info("audit retention removed %s events of chain %s", result.removed, name)
    if failed:
        raise RetentionFailed(f"Audit retention failed for chains: {', '.join(failed)}.")
    return removed


@shared_task(name="apps.audit.tasks.audit_chain", base=MaintenanceTask)
def audit_chain() -> dict[str, int]:
    """Chain every pending audit event: the safety net of the after-commit chainer.

    Events normally take their place right after their transaction commits;
    a process that died in between leaves them pending until this runs (every
    minute). A chain whose head another chainer holds is skipped: that one
    takes what is pending before it lets go.
    """
    chained = audit_chains_settle(wait=False)
    counts = {str(key) if key is not None else "global": n for key, n in chained.items()}
    if any(counts.values()):
        logger.info("audit chaining caught up: %s", counts)
    return counts
