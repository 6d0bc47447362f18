"""Migration operations shared by the apps."""

from django.db import migrations

REFUSE_CHANGE_FUNCTION = """
CREATE OR REPLACE FUNCTION daznode_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def append_only_trigger(*tables: str) -> migrations.RunPython:
    """On PostgreSQL, refuse UPDATE and DELETE on these tables in the database itself.

    The ORM already refuses them (daznode.models.AppendOnlyModel); this also stops raw SQL and other clients.
    TRUNCATE, an operator's deliberate reset (and how test databases are flushed), is not affected. SQLite,
    the single-user development default, relies on the ORM guard alone.
    """

    def create(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(REFUSE_CHANGE_FUNCTION, params=None)
        for table in tables:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION daznode_refuse_change();"
            )

    def drop(apps, schema_editor):
        # The function stays: other apps' triggers may use it, and it does nothing by itself.
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in tables:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")

    return migrations.RunPython(create, drop)
