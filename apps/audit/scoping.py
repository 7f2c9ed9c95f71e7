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

from contextlib import AbstractContextManager

from apps.tenancy.rls import rls_bypass


def across_organizations() -> AbstractContextManager[None]:
    """Return a context in which row-level security lets the audit trail span organizations."""
    return rls_bypass()
