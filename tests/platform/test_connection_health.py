"""A kept PostgreSQL connection is checked before each request without a round trip."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import close_old_connections, connection, transaction

from apps.pools import services as pools
from apps.tenancy.rls import tenant_context
from cloudpam.context import actor_from

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class _NoStatements:
    """Stands in for the driver's cursor factory and counts the statements the check sends."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise psycopg.OperationalError("the health check sent a statement")


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(pid: int) -> None:
    """End backend ``pid`` from a connection of its own, as an administrator or restart would."""
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        # The backend is gone once it no longer shows among the server's activity.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
            if found.fetchone() is None:
                return
            time.sleep(0.02)
    raise AssertionError(f"backend {pid} did not end")


@pytest.fixture
def kept_connections() -> Iterator[None]:
    """Keep connections between requests and check them, as production does."""
    saved = {key: connection.settings_dict[key] for key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")}
    connection.settings_dict.update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)
    connection.close()
    try:
        yield
    finally:
        connection.settings_dict.update(saved)
        connection.close()


def test_an_idle_connection_is_usable_without_a_statement(monkeypatch):
    connection.ensure_connection()
    guard = _NoStatements()
    monkeypatch.setattr(connection.connection, "cursor", guard)

    assert connection.is_usable() is True
    assert guard.calls == 0


def test_a_connection_the_server_ended_is_not_usable():
    pid = _backend_pid()

    _terminate(pid)

    assert connection.is_usable() is False
    connection.close()
    assert _backend_pid() != pid


def test_inside_a_transaction_the_check_asks_the_server(monkeypatch):
    connection.ensure_connection()
    with transaction.atomic():
        _backend_pid()  # the transaction has begun on the server
        guard = _NoStatements()
        monkeypatch.setattr(connection.connection, "cursor", guard)
        assert connection.is_usable() is False  # the stand-in cursor failed: it was asked
        assert guard.calls == 1
        monkeypatch.undo()


def test_a_request_after_the_server_ended_the_connection_is_served(
    kept_connections, organization, token_client
):
    owner = token_client(organization)
    with tenant_context(organization):
        pool = pools.pool_create(
            organization=organization,
            actor=actor_from(user=owner.user),
            name="root",
            cidr="10.0.0.0/8",
        )
    assert owner.get(f"/api/v1/pools/{pool.pk}/").status_code == 200
    kept = _backend_pid()

    _terminate(kept)
    # What a server's request_started signal does, and Django's test client leaves out.
    close_old_connections()

    response = owner.get(f"/api/v1/pools/{pool.pk}/")
    assert response.status_code == 200, response.content
    assert response.json()["cidr"] == "10.0.0.0/8"
    assert _backend_pid() != kept
