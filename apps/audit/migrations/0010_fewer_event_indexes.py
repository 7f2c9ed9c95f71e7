"""Keep only the audit event indexes that a query of the trail uses.

Each event is written into every index of the table, and again when it is chained. This
drops the organization's own index (the leading column of three composite indexes), the
indexes of ``content_type``, ``actor`` and ``object_id`` (nothing looks events up by them),
and PostgreSQL's ``varchar_pattern_ops`` twins of the four text indexes (the trail's
searches are exact or case-insensitive, which those never serve). The four plain text
indexes are renamed, not rebuilt: on a large trail a rebuild would hold the migration up.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TABLE = "audit_auditevent"
DROPPED = (
    "audit_auditevent_organization_id_4b1fe3b9",
    "audit_auditevent_content_type_id_cddb36fd",
    "audit_auditevent_actor_id_270bb4b7",
    "audit_auditevent_object_id_3d6dccfb",
)
DROPPED_COLUMNS = ("organization_id", "content_type_id", "actor_id", "object_id")
# (column, the index Django named for db_index, the name it has now)
RENAMED = (
    ("action", "audit_auditevent_action_2131bb77", "audit_event_action"),
    ("object_type", "audit_auditevent_object_type_2df52246", "audit_event_object_type"),
    ("object_pk", "audit_auditevent_object_pk_8ff9fbd3", "audit_event_object_pk"),
    ("cid", "audit_auditevent_cid_1b24a6d0", "audit_event_cid"),
)


def _run(schema_editor, statements):
    for statement in statements:
        schema_editor.execute(statement)


def forwards(apps, schema_editor):
    quote = schema_editor.quote_name
    postgresql = schema_editor.connection.vendor == "postgresql"
    statements = [f"DROP INDEX IF EXISTS {quote(name)}" for name in DROPPED]
    for column, old, new in RENAMED:
        if postgresql:
            statements += [
                f"DROP INDEX IF EXISTS {quote(old + '_like')}",
                f"ALTER INDEX IF EXISTS {quote(old)} RENAME TO {quote(new)}",
            ]
        else:  # SQLite cannot rename an index; a development database is small
            statements.append(f"DROP INDEX IF EXISTS {quote(old)}")
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {quote(new)} ON {quote(TABLE)} ({quote(column)})"
        )
    _run(schema_editor, statements)


def backwards(apps, schema_editor):
    quote = schema_editor.quote_name
    postgresql = schema_editor.connection.vendor == "postgresql"
    statements = [
        f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(TABLE)} ({quote(column)})"
        for name, column in zip(DROPPED, DROPPED_COLUMNS, strict=True)
    ]
    for column, old, new in RENAMED:
        statements += [
            f"DROP INDEX IF EXISTS {quote(new)}",
            f"CREATE INDEX IF NOT EXISTS {quote(old)} ON {quote(TABLE)} ({quote(column)})",
        ]
        if postgresql:
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {quote(old + '_like')}"
                f" ON {quote(TABLE)} ({quote(column)} varchar_pattern_ops)"
            )
    _run(schema_editor, statements)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0009_audit_sync_plan_mfa_actions"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("tenancy", "0006_table_preference"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="action",
                    field=models.CharField(
                        choices=[
                            ("create", "Create"),
                            ("update", "Update"),
                            ("delete", "Delete"),
                            ("restore", "Restore"),
                            ("purge", "Purge"),
                            ("allocate", "Allocate"),
                            ("move", "Move"),
                            ("resize", "Resize"),
                            ("credentials_set", "Credentials set"),
                            ("connectivity_check", "Connectivity test"),
                            ("discover_members", "Member discovery"),
                            ("collect", "Collection"),
                            ("sync", "Sync run"),
                            ("link", "Linked to a cloud resource"),
                            ("drift_apply", "Drift suggestion applied"),
                            ("drift_ignore", "Drift finding ignored"),
                            ("plan_validate", "Plan validated"),
                            ("plan_apply", "Plan applied"),
                            ("plan_discard", "Plan discarded"),
                            ("plan_rollback", "Plan rolled back"),
                            ("import", "Import"),
                            ("export", "Export"),
                            ("login", "Login"),
                            ("logout", "Logout"),
                            ("login_failed", "Failed login"),
                            ("token_created", "Token created"),
                            ("token_first_used", "Token used for the first time"),
                            ("token_revoked", "Token revoked"),
                            ("member_added", "Member added"),
                            ("role_changed", "Role changed"),
                            ("member_removed", "Member removed"),
                            ("sso_provisioned", "SSO provisioning"),
                            ("mfa_enrolled", "MFA enrolled"),
                            ("mfa_verified", "MFA verified"),
                            ("mfa_failed", "MFA failed"),
                            ("mfa_reset", "MFA reset"),
                            ("session_revoked", "Session revoked"),
                            ("retention", "Retention"),
                        ],
                        max_length=32,
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="cid",
                    field=models.CharField(
                        blank=True, max_length=255, null=True, verbose_name="Correlation ID"
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="content_type",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="contenttypes.contenttype",
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="object_id",
                    field=models.BigIntegerField(blank=True, null=True, verbose_name="object id"),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="object_pk",
                    field=models.CharField(max_length=255, verbose_name="object pk"),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="object_type",
                    field=models.CharField(blank=True, max_length=100),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="organization",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="tenancy.organization",
                    ),
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(fields=["action"], name="audit_event_action"),
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(fields=["object_type"], name="audit_event_object_type"),
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(fields=["object_pk"], name="audit_event_object_pk"),
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(fields=["cid"], name="audit_event_cid"),
                ),
            ],
        ),
    ]
