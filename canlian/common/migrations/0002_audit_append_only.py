"""On PostgreSQL the database itself refuses UPDATE and DELETE on the audit table.

TRUNCATE is left to the table owner (test teardown flushes with it). SQLite, the embedded single-user
default, is guarded in the model layer only: its test flush deletes rows with plain DELETE."""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION canlian_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit log is append-only (审计记录只能追加)';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER common_auditlog_no_update BEFORE UPDATE OR DELETE ON common_auditlog
  FOR EACH ROW EXECUTE FUNCTION canlian_audit_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS common_auditlog_no_update ON common_auditlog;
DROP FUNCTION IF EXISTS canlian_audit_append_only();
"""


def up(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_UP)


def down(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DOWN)


class Migration(migrations.Migration):
    dependencies = [("common", "0001_initial")]
    operations = [migrations.RunPython(up, down)]
