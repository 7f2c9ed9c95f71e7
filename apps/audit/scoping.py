"""
Row-level security and the audit trail.

The audit trail spans organizations by design: a user's events go to each of
its organizations, a failed login of an unknown email to the global chain,
and retention and verification walk every chain. On PostgreSQL, tenancy's
row-level security (``apps.tenancy.rls``) would hide or refuse those rows, so
the audit writer and its maintenance run inside tenancy's explicit bypass.
Reads for people (API, console, exports) stay inside the request's
organization. Where row-level security does not exist (SQLite, or a build
without ``apps.tenancy.rls``) the bypass changes nothing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import cache
from importlib import import_module
from importlib.util import find_spec
from types import ModuleType


@cache
def _rls() -> ModuleType | None:
    if find_spec("apps.tenancy.rls") is None:
        return None
    return import_module("apps.tenancy.rls")


def across_organizations() -> AbstractContextManager[None]:
    """Return a context in which row-level security lets the audit trail span organizations."""
    rls = _rls()
    return rls.rls_bypass() if rls is not None else nullcontext()
