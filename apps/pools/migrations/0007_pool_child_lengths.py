"""Live children per pool and prefix length, kept by PostgreSQL triggers (issue 16).

A pool's utilization is the sum of its live children's sizes: counted per prefix length,
it reads every child (50,000 index entries for the biggest parent of a million-pool
plan, on every list page and address lookup that shows it). ``pools_poolchildlengths``
holds those counts, changed by statement-level triggers with transition tables: one
grouped ``INSERT ... ON CONFLICT`` per statement, whether it wrote one pool or a
``COPY`` of a million, so bulk writes stay set-based. An update that changes neither a
pool's parent, its length nor its liveness nets to nothing and writes nothing.

The counts are filled from the existing pools here. SQLite gets the table but no
triggers: its plans are small, and the selectors count children there.
"""

from django.db import migrations, models

TABLE = "pools_poolchildlengths"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION pools_child_lengths_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {TABLE} (parent_id, prefix_length, live)
        SELECT parent_id, prefix_length, count(*) FROM new_rows
        WHERE parent_id IS NOT NULL AND deleted_at IS NULL
        GROUP BY parent_id, prefix_length
        ON CONFLICT (parent_id, prefix_length)
        DO UPDATE SET live = {TABLE}.live + EXCLUDED.live;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE {TABLE} AS counts SET live = counts.live - gone.n
        FROM (
            SELECT parent_id, prefix_length, count(*) AS n FROM old_rows
            WHERE parent_id IS NOT NULL AND deleted_at IS NULL
            GROUP BY parent_id, prefix_length
        ) AS gone
        WHERE counts.parent_id = gone.parent_id AND counts.prefix_length = gone.prefix_length;
    ELSE
        INSERT INTO {TABLE} (parent_id, prefix_length, live)
        SELECT parent_id, prefix_length, sum(delta) FROM (
            SELECT parent_id, prefix_length, 1 AS delta FROM new_rows
            WHERE parent_id IS NOT NULL AND deleted_at IS NULL
            UNION ALL
            SELECT parent_id, prefix_length, -1 FROM old_rows
            WHERE parent_id IS NOT NULL AND deleted_at IS NULL
        ) AS changes
        GROUP BY parent_id, prefix_length
        HAVING sum(delta) <> 0
        ON CONFLICT (parent_id, prefix_length)
        DO UPDATE SET live = {TABLE}.live + EXCLUDED.live;
    END IF;
    RETURN NULL;
END
$$;
"""

TRIGGERS = {
    "pools_child_lengths_insert": "AFTER INSERT ON pools_pool REFERENCING NEW TABLE AS new_rows",
    "pools_child_lengths_update": (
        "AFTER UPDATE ON pools_pool REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    ),
    "pools_child_lengths_delete": "AFTER DELETE ON pools_pool REFERENCING OLD TABLE AS old_rows",
}

FILL = f"""
INSERT INTO {TABLE} (parent_id, prefix_length, live)
SELECT parent_id, prefix_length, count(*) FROM pools_pool
WHERE parent_id IS NOT NULL AND deleted_at IS NULL
GROUP BY parent_id, prefix_length
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for name, definition in TRIGGERS.items():
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON pools_pool")
        schema_editor.execute(
            f"CREATE TRIGGER {name} {definition} "
            "FOR EACH STATEMENT EXECUTE FUNCTION pools_child_lengths_apply()"
        )
    schema_editor.execute(f"DELETE FROM {TABLE}")
    schema_editor.execute(FILL)
    # Statistics now, so the first reads find the index rather than guess an empty table.
    schema_editor.execute(f"ANALYZE {TABLE}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON pools_pool")
    schema_editor.execute("DROP FUNCTION IF EXISTS pools_child_lengths_apply()")


class Migration(migrations.Migration):
    dependencies = [
        ("pools", "0006_pool_search_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="PoolChildLengths",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("parent_id", models.BigIntegerField()),
                ("prefix_length", models.PositiveSmallIntegerField()),
                ("live", models.IntegerField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("parent_id", "prefix_length"), name="pools_childlengths_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(create, drop),
    ]
