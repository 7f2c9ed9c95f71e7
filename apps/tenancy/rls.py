"""
PostgreSQL row-level security: the second wall between organizations.

Every table with an ``organization_id`` column gets row-level security,
enabled and forced (so it binds the table owner too), and one policy::

    current_setting('cloudpam.rls_bypass', true) = 'on'
    OR organization_id = NULLIF(current_setting('cloudpam.organization_id', true), '')::bigint

The two settings are connection-level (``set_config(..., false)``), because
Django runs in autocommit and a request spans many transactions. They are
driven from one place, the tenant state held in a context variable:

- ``tenant_context(organization)`` binds an organization for a block: the
  request middleware, ``TenantTask`` (Celery) and management commands use it.
- ``activate(organization)`` rebinds it inside an enclosing ``tenant_context``
  (the bearer-token authentication class, which runs inside the view); the
  enclosing block restores the previous state when it exits.
- ``rls_bypass()`` is the explicit, documented bypass for what happens before
  an organization is known or spans organizations by design: token lookup by
  prefix, a user's list of memberships, migrations (``pre_migrate`` turns it
  on, ``post_migrate`` restores it), the superuser admin, maintenance tasks.

The state is written to a connection lazily, just before its next statement
(an execute wrapper every PostgreSQL connection gets as it opens), and only when
the connection does not already hold it: a request that binds the organization
its connection served last costs no round trip for it, and one that binds
another pays one. Nothing here opens a connection. Writes go through the raw
driver cursor so they do not count against the query budgets that tests pin.
A setting written inside a transaction reverts when the transaction, or a
savepoint before it, rolls back: the backend (``cloudpam.db.postgresql``) then
calls ``forget`` and the next statement writes the state again. Code that runs
SQL on the raw driver connection, bypassing Django's cursor, calls ``sync``
first.

Without a setting, the policy matches no row: a query that runs outside any
tenant context fails closed. Superusers and roles with ``BYPASSRLS`` are not
subject to row-level security at all, so the application must connect as an
ordinary role (see ``check_database_role``). The settings are ordinary custom
settings that any SQL can change: the wall stops a forgotten filter, not an
attacker who can already run arbitrary SQL.

SQLite has no row-level security; there the scoping layer
(``TenantQuerySet.for_organization``) is the only wall.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core import checks
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger("apps.tenancy.rls")

ORGANIZATION_SETTING = "cloudpam.organization_id"
BYPASS_SETTING = "cloudpam.rls_bypass"
POLICY_NAME = "cloudpam_tenant_isolation_v1"
POLICY_PREFIX = "cloudpam_tenant_isolation"
POLICY_EXPRESSION = (
    f"current_setting('{BYPASS_SETTING}', true) = 'on' OR organization_id = "
    f"NULLIF(current_setting('{ORGANIZATION_SETTING}', true), '')::bigint"
)


@dataclass(frozen=True)
class TenantState:
    """What the database policy sees: one organization id, and the bypass flag."""

    organization_id: int | None = None
    bypass: bool = False


_EMPTY = TenantState()
_UNKNOWN = object()
_state: contextvars.ContextVar[TenantState] = contextvars.ContextVar(
    "cloudpam_tenant_state", default=_EMPTY
)


def current_state() -> TenantState:
    """Return the tenant state of the current request, task or command."""
    return _state.get()


def _is_postgresql(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor == "postgresql"


def _write(connection: BaseDatabaseWrapper, state: TenantState) -> None:
    """Write ``state`` to an open PostgreSQL connection."""
    raw = connection.connection
    if raw is None:
        return
    from psycopg.pq import TransactionStatus

    if raw.info.transaction_status == TransactionStatus.INERROR:
        # The transaction is about to be rolled back, which reverts the
        # settings anyway; the statement that follows fails on its own.
        connection._cloudpam_rls_state = _UNKNOWN
        return
    organization = "" if state.organization_id is None else str(state.organization_id)
    with raw.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, false), set_config(%s, %s, false)",
            [ORGANIZATION_SETTING, organization, BYPASS_SETTING, "on" if state.bypass else "off"],
        )
    # Kept until a rollback reverts it (``forget``) or the connection closes.
    connection._cloudpam_rls_state = state


def _desired(connection: BaseDatabaseWrapper) -> TenantState:
    # Migrations pin the bypass on their connection, whatever the context says.
    return getattr(connection, "_cloudpam_rls_pinned", None) or _state.get()


def sync(connection: BaseDatabaseWrapper) -> None:
    """Bring an open PostgreSQL connection in line with the current tenant state."""
    if not _is_postgresql(connection) or connection.connection is None:
        return
    state = _desired(connection)
    if getattr(connection, "_cloudpam_rls_state", _UNKNOWN) != state:
        _write(connection, state)


def forget(connection: BaseDatabaseWrapper) -> None:
    """Forget what ``connection`` holds (a rollback may have reverted it)."""
    connection._cloudpam_rls_state = _UNKNOWN


def _sync_before_statement(execute: Any, sql: Any, params: Any, many: bool, context: Any) -> Any:
    sync(context["connection"])
    return execute(sql, params, many, context)


def on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Track a new PostgreSQL connection: it holds no setting, and syncs before each statement."""
    if not _is_postgresql(connection):
        return
    # A fresh session has neither setting, which the policy reads as "no rows".
    connection._cloudpam_rls_state = _EMPTY
    if _sync_before_statement not in connection.execute_wrappers:
        connection.execute_wrappers.append(_sync_before_statement)


def _organization_id(organization: Any) -> int | None:
    if organization is None:
        return None
    return int(getattr(organization, "pk", organization))


@contextmanager
def tenant_context(organization: Any) -> Iterator[None]:
    """Bind ``organization`` (an Organization, an id or None) for the block.

    None binds no organization: tenant tables then show no rows on PostgreSQL.
    """
    token = _state.set(TenantState(organization_id=_organization_id(organization)))
    try:
        yield
    finally:
        _state.reset(token)


@contextmanager
def rls_bypass() -> Iterator[None]:
    """Lift row-level security for the block: cross-organization work only.

    Used where no organization can be known yet (token lookup, login) or where
    the work spans organizations by design (a user's memberships, migrations,
    the superuser admin, maintenance tasks). Querysets still filter by hand
    inside it, so keep the block as small as the query it guards.
    """
    previous = _state.get()
    token = _state.set(TenantState(organization_id=previous.organization_id, bypass=True))
    try:
        yield
    finally:
        _state.reset(token)


def activate(organization: Any) -> None:
    """Rebind the organization inside an enclosing ``tenant_context`` block.

    The authentication class learns a token's organization only inside the
    view; the middleware's ``tenant_context`` restores the previous state when
    the request ends.
    """
    _state.set(TenantState(organization_id=_organization_id(organization)))


def restore(state: TenantState) -> None:
    """Put back a state saved with ``current_state()``, inside an enclosing block."""
    _state.set(state)


# Migrations and their data steps run before any organization exists.


def on_pre_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """Pin the bypass on the migration connection (explicit, for migrations only)."""
    connection = connections[using]
    if _is_postgresql(connection):
        connection._cloudpam_rls_pinned = TenantState(organization_id=None, bypass=True)


def on_post_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """Protect every tenant table, then unpin: the context's state applies again."""
    connection = connections[using]
    if not _is_postgresql(connection):
        return
    enable_row_level_security(using=using)
    connection._cloudpam_rls_pinned = None


def tenant_tables(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Return the tables of the public schema that have an ``organization_id`` column."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE n.nspname = current_schema()
              AND c.relkind IN ('r', 'p')
              AND a.attname = 'organization_id'
              AND NOT a.attisdropped
            ORDER BY c.relname
            """
        )
        return [row[0] for row in cursor.fetchall()]


def table_protection(using: str = DEFAULT_DB_ALIAS) -> dict[str, dict[str, bool]]:
    """Return, per tenant table, whether RLS is enabled, forced and has the policy."""
    tables = tenant_tables(using)
    if not tables:
        return {}
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   EXISTS (SELECT 1 FROM pg_policies p
                           WHERE p.schemaname = current_schema()
                             AND p.tablename = c.relname AND p.policyname = %s)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relname = ANY(%s)
            """,
            [POLICY_NAME, tables],
        )
        return {
            name: {"enabled": enabled, "forced": forced, "policy": has_policy}
            for name, enabled, forced, has_policy in cursor.fetchall()
        }


def enable_row_level_security(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Enable and force RLS with the tenant policy on every tenant table (idempotent).

    Return the tables that were changed. Tables added by later migrations of
    any app are covered the next time migrations run.
    """
    connection = connections[using]
    if not _is_postgresql(connection):
        return []
    quote = connection.ops.quote_name
    changed = []
    for table, status in table_protection(using).items():
        if all(status.values()):
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT policyname FROM pg_policies WHERE schemaname = current_schema() "
                "AND tablename = %s AND policyname LIKE %s",
                [table, f"{POLICY_PREFIX}%"],
            )
            for (stale,) in cursor.fetchall():
                cursor.execute(f"DROP POLICY {quote(stale)} ON {quote(table)}")
            cursor.execute(f"ALTER TABLE {quote(table)} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"ALTER TABLE {quote(table)} FORCE ROW LEVEL SECURITY")
            cursor.execute(
                f"CREATE POLICY {quote(POLICY_NAME)} ON {quote(table)} "
                f"USING ({POLICY_EXPRESSION}) WITH CHECK ({POLICY_EXPRESSION})"
            )
        changed.append(table)
    if changed:
        logger.info("row-level security enabled on %s", ", ".join(changed))
    return changed


@checks.register(checks.Tags.database)
def check_database_role(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list:
    """Warn when the application's database role is exempt from row-level security."""
    messages = []
    for alias in databases or []:
        connection = connections[alias]
        if not _is_postgresql(connection):
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
            row = cursor.fetchone()
        if row and row[0]:
            messages.append(
                checks.Warning(
                    f"The database role of '{alias}' is a superuser or has BYPASSRLS, so "
                    "PostgreSQL row-level security does not apply to it.",
                    hint="Run CloudPAM as an ordinary role; keep the superuser for "
                    "administration (see the README, 'Row-level security').",
                    id="tenancy.W001",
                )
            )
    return messages
