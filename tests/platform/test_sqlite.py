"""`make run` on SQLite: concurrent writers wait for the lock instead of failing."""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction

from cloudpam.settings.base import SQLITE_OPTIONS

WRITERS = 8
WRITES = 15


@pytest.fixture
def sqlite_file(tmp_path, django_db_blocker):
    """An extra connection alias on a file SQLite database with the project's options."""
    alias = "concurrent_sqlite"
    connections.settings[alias] = {
        **connections.settings["default"],
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(tmp_path / "concurrent.sqlite3"),
        "OPTIONS": dict(SQLITE_OPTIONS),
        "TEST": {},
        "CONN_MAX_AGE": 0,
    }
    with django_db_blocker.unblock():
        with connections[alias].cursor() as cursor:
            cursor.execute("CREATE TABLE counter (n integer NOT NULL)")
        connections[alias].close()
        yield alias
    del connections.settings[alias]


def test_concurrent_read_then_write_transactions_all_succeed(sqlite_file):
    errors: list[Exception] = []
    start = threading.Barrier(WRITERS)

    def writer() -> None:
        connection = connections[sqlite_file]
        try:
            start.wait()
            for _ in range(WRITES):
                # Read, then write: a deferred transaction would hold a read lock it
                # cannot upgrade while another writer commits, and fail at once.
                with transaction.atomic(using=sqlite_file), connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM counter")
                    (count,) = cursor.fetchone()
                    cursor.execute("INSERT INTO counter (n) VALUES (%s)", [count + 1])
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with connections[sqlite_file].cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT n), max(n) FROM counter")
        # Serialized: every reader saw every earlier write, so the counts run 1..N.
        assert cursor.fetchone() == (WRITERS * WRITES,) * 3
    connections[sqlite_file].close()
