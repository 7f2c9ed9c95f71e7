"""PostgreSQL only: indexes for the ``q`` and ``tag`` list filters (issue 16).

* ``q`` matches ``UPPER(name) LIKE``, ``UPPER(description) LIKE`` (``icontains``) and
  ``cidr LIKE 'text%'``: GIN trigram indexes (``pg_trgm``) on the three expressions turn
  the OR into a bitmap of three index scans instead of reading every pool.
* ``tag`` is ``tags @> '{"key": "value"}'`` on PostgreSQL (see ``PoolFilterSet``): a GIN
  index with ``jsonb_path_ops`` answers it.

Built with ``CREATE INDEX CONCURRENTLY`` (the migration is not atomic), so a large plan
stays writable meanwhile. SQLite has no equivalent; there the filters read the pools.
"""

from django.db import migrations

INDEXES = {
    "pools_pool_name_trgm": "USING gin (UPPER(name) gin_trgm_ops)",
    "pools_pool_description_trgm": "USING gin (UPPER(description) gin_trgm_ops)",
    "pools_pool_cidr_trgm": "USING gin (cidr gin_trgm_ops)",
    "pools_pool_tags_gin": "USING gin (tags jsonb_path_ops)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON pools_pool {definition}"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("pools", "0005_pool_filter_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
