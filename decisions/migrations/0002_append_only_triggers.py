"""On PostgreSQL, refuse UPDATE and DELETE on the append-only tables in the database itself.

The ORM already refuses them (decisions.models.AppendOnlyModel); this also stops raw SQL and other clients.
TRUNCATE, an operator's deliberate reset (and how test databases are flushed), is not affected. SQLite,
the single-user development default, relies on the ORM guard alone.
"""

from django.db import migrations

APPEND_ONLY_TABLES = ("decisions_auditentry", "decisions_policybackup")

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION daznode_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE_FUNCTION, params=None)
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION daznode_refuse_change();"
        )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS daznode_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [("decisions", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
