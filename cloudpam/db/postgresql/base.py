"""PostgreSQL backend: django-prometheus's query metrics plus row-level-security bookkeeping.

The tenant settings of ``apps.tenancy.rls`` are written lazily, just before the next
statement, and only when the connection does not already hold them. A setting written
inside a transaction reverts when that transaction, or the savepoint it was written
after, rolls back, so a rollback forgets what the connection was known to hold and the
next statement writes it again.
"""

from django_prometheus.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def _rollback(self) -> None:
        self.forget_tenant_state()
        super()._rollback()

    def _savepoint_rollback(self, sid: str) -> None:
        self.forget_tenant_state()
        super()._savepoint_rollback(sid)

    def forget_tenant_state(self) -> None:
        from apps.tenancy import rls

        rls.forget(self)
