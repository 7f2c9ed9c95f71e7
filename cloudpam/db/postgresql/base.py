"""PostgreSQL backend: django-prometheus's query metrics, row-level-security bookkeeping, and
a health check that costs no round trip.

The tenant settings of ``apps.tenancy.rls`` are written lazily, just before the next
statement, and only when the connection does not already hold them. A setting written
inside a transaction reverts when that transaction, or the savepoint it was written
after, rolls back, so a rollback forgets what the connection was known to hold and the
next statement writes it again.
"""

from __future__ import annotations

import select

from django_prometheus.db.backends.postgresql import base
from psycopg import Error as DriverError
from psycopg.pq import ConnStatus, TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        """Tell whether a kept connection still works, without a round trip when it is idle.

        Django's check sends ``SELECT 1`` before each request's first statement: one round
        trip, a tenth of the pool detail request's wall time. An idle connection in
        autocommit receives nothing unless the server, or a pooler in between, has ended
        it (restart, ``pg_terminate_backend``, ``idle_session_timeout``): those all send a
        message or close the socket first, and a readable socket is then checked the
        ordinary way. A network path that dies without a word is caught by neither check
        before its timeout, so nothing is lost by not asking.
        """
        raw = self.connection
        if raw is None or raw.closed or raw.broken:
            return False
        poll = getattr(select, "poll", None)
        if (
            poll is None
            or raw.pgconn.status != ConnStatus.OK
            or raw.info.transaction_status != TransactionStatus.IDLE
        ):
            return super().is_usable()
        try:
            watcher = poll()
            watcher.register(raw.pgconn.socket, select.POLLIN | select.POLLPRI)
            events = watcher.poll(0)
        except (OSError, ValueError, DriverError):
            return False
        return not events or super().is_usable()

    def _rollback(self) -> None:
        self.forget_tenant_state()
        super()._rollback()

    def _savepoint_rollback(self, sid: str) -> None:
        self.forget_tenant_state()
        super()._savepoint_rollback(sid)

    def forget_tenant_state(self) -> None:
        from apps.tenancy import rls

        rls.forget(self)
