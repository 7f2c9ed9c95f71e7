"""Helpers for tests that run as an ordinary PostgreSQL role under row-level security.

CI connects as the superuser, which row-level security never binds; these tests
create a role with the application's privileges inside their own transaction
(it goes with the rollback) and switch to it.
"""

from __future__ import annotations

import uuid

from django.db import connection


def create_app_role(label: str = "probe") -> str:
    """Create a non-superuser role with the application's table privileges; return its name."""
    name = f"cloudpam_{label}_{uuid.uuid4().hex[:12]}"
    quoted = connection.ops.quote_name(name)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {quoted} NOLOGIN NOSUPERUSER NOBYPASSRLS")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {quoted}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
    return name


def become(role: str) -> None:
    """Act as ``role`` for the rest of the test's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {connection.ops.quote_name(role)}")
