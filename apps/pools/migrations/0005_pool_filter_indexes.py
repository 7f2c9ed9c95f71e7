"""Indexes for the list filters on type, status and source (issue 16, a million pools).

On PostgreSQL they are built with ``CREATE INDEX CONCURRENTLY``, so a deployment with
millions of pools keeps reading and writing them while the indexes build (the migration
is therefore not atomic; a build that fails leaves an INVALID index, which the reverse
drops, also concurrently). Elsewhere they are ordinary indexes.
"""

from django.db import migrations, models


class AddIndexOnline(migrations.AddIndex):
    """AddIndex, built concurrently on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.execute(
                self.index.create_sql(model, schema_editor, concurrently=True).__str__()
                .replace("CREATE INDEX CONCURRENTLY", "CREATE INDEX CONCURRENTLY IF NOT EXISTS")
            )
        return None

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{self.index.name}"')
        return None


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("pools", "0004_pool_discovery_links"),
    ]

    operations = [
        AddIndexOnline(
            model_name="pool",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["organization", "type", "family", "first_key", "prefix_length"],
                name="pools_pool_org_type_live",
            ),
        ),
        AddIndexOnline(
            model_name="pool",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["organization", "status", "family", "first_key", "prefix_length"],
                name="pools_pool_org_status_live",
            ),
        ),
        AddIndexOnline(
            model_name="pool",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["organization", "source", "family", "first_key", "prefix_length"],
                name="pools_pool_org_source_live",
            ),
        ),
    ]
