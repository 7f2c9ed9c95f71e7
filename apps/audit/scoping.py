"""
Row-level security and the audit trail.

The audit trail spans organizations by design: a user's events go to each of
its organizations, a failed login of an unknown email to the global chain,
and retention and verification walk every chain. On PostgreSQL, tenancy's
row-level security would hide or refuse those rows, so the audit writer and
its maintenance run inside tenancy's explicit bypass. Reads for people (API,
console, exports) stay inside the request's organization.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from apps.tenancy.rls import current_state, rls_bypass


def across_organizations(organization_id: int | None = None) -> AbstractContextManager[None]:
    """Return a context in which row-level security lets the audit trail span organizations.

    Work that stays inside the organization the connection is already bound to
    (``organization_id``), or that already runs under the bypass, needs nothing
    lifted: skipping the bypass saves two round trips on every audited write.
    """
    state = current_state()
    if state.bypass or (organization_id is not None and state.organization_id == organization_id):
        return nullcontext()
    return rls_bypass()
