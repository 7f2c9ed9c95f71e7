"""
Let PostgreSQL's append-only guard allow exactly one update: chaining an event.

Events are inserted without ``sequence``, ``prev_hash`` and ``hash``; the
chainer sets the three once, after commit. A row-level trigger allows an
UPDATE only when it takes the three from empty to set and leaves every other
column as it was; any other UPDATE, and any DELETE outside retention, is still
refused. Also schedules the chaining task every minute, which chains what a
crashed process left pending.
"""

from django.db import migrations

CREATE = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
CREATE TRIGGER audit_event_append_only
    BEFORE DELETE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();
CREATE OR REPLACE FUNCTION audit_event_chain_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.sequence IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
       AND NEW.sequence IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
       AND to_jsonb(NEW) - ARRAY['sequence', 'prev_hash', 'hash']
           = to_jsonb(OLD) - ARRAY['sequence', 'prev_hash', 'hash'] THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: UPDATE refused (only chaining a new event is allowed)'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_event_chain_only
    BEFORE UPDATE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_chain_only();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_chain_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_chain_only();
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();
"""

TASK_NAME = "Audit chaining"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "apps.audit.tasks.audit_chain",
            "interval": every_minute,
            "description": "Chain audit events a crashed process left pending.",
        },
    )


def unschedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_audit_chain_after_commit"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(create_trigger, drop_trigger, elidable=False),
        migrations.RunPython(schedule, unschedule),
    ]
