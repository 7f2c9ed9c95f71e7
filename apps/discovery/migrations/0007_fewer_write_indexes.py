"""Drop the single-column indexes of ``organization`` and ``account`` on resources and findings.

Each leads a composite index of its table, which serves every query and cascade the single
one did, while every write of a resource or finding paid for both. Django would drop and
re-add each foreign key to change ``db_index`` (checking every row again under a lock); only
the indexes go here.
"""

import django.db.models.deletion
from django.db import migrations, models

# (table, column, the index Django named for the foreign key)
DROPPED = (
    (
        "discovery_discoveredresource",
        "account_id",
        "discovery_discoveredresource_account_id_e289e47c",
    ),
    (
        "discovery_discoveredresource",
        "organization_id",
        "discovery_discoveredresource_organization_id_065ee6a9",
    ),
    ("discovery_driftfinding", "account_id", "discovery_driftfinding_account_id_fc02f458"),
    (
        "discovery_driftfinding",
        "organization_id",
        "discovery_driftfinding_organization_id_8fc321ed",
    ),
)


def forwards(apps, schema_editor):
    for _table, _column, name in DROPPED:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def backwards(apps, schema_editor):
    quote = schema_editor.quote_name
    for table, column, name in DROPPED:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} ({quote(column)})"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("cloud", "0002_account_missing_grace"),
        ("discovery", "0006_reconciliation_state"),
        ("tenancy", "0006_table_preference"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.AlterField(
                    model_name="discoveredresource",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="resources",
                        to="cloud.cloudaccount",
                    ),
                ),
                migrations.AlterField(
                    model_name="discoveredresource",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenancy.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="driftfinding",
                    name="account",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="drift_findings",
                        to="cloud.cloudaccount",
                    ),
                ),
                migrations.AlterField(
                    model_name="driftfinding",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenancy.organization",
                    ),
                ),
            ],
        ),
    ]
