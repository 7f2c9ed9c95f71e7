"""PostgreSQL only: let the database itself refuse overlapping live siblings (SPEC 2, rule 5).

Two GiST exclusion constraints over ``cidr::cidr`` with ``inet_ops`` (``&&`` is "overlaps"):

* live children of one parent never overlap;
* live roots of one organization never overlap, except roots that are their own routing
  domain (created while the organization allowed overlapping roots).

``btree_gist`` supplies the ``=`` operator class for the integer columns. SQLite has no
equivalent; there the services' checks under the parent lock are the only guard.
"""

from django.db import migrations

SIBLINGS = "pools_pool_live_siblings_disjoint"
ROOTS = "pools_pool_live_roots_disjoint"

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    f"""ALTER TABLE pools_pool ADD CONSTRAINT {SIBLINGS}
        EXCLUDE USING gist (parent_id WITH =, (cidr::cidr) inet_ops WITH &&)
        WHERE (deleted_at IS NULL AND parent_id IS NOT NULL)""",
    f"""ALTER TABLE pools_pool ADD CONSTRAINT {ROOTS}
        EXCLUDE USING gist (organization_id WITH =, (cidr::cidr) inet_ops WITH &&)
        WHERE (deleted_at IS NULL AND parent_id IS NULL AND NOT separate_routing_domain)""",
]
DROP = [
    f"ALTER TABLE pools_pool DROP CONSTRAINT IF EXISTS {ROOTS}",
    f"ALTER TABLE pools_pool DROP CONSTRAINT IF EXISTS {SIBLINGS}",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("pools", "0001_pool")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP), elidable=False)]
