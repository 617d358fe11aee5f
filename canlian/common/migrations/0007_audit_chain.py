"""The audit log becomes a hash chain (``common.auditchain``), and SQLite guards it with triggers too.

The rows already written are chained in id order (the order they were written in). On PostgreSQL that takes
the append-only trigger off for the length of this migration's transaction, which only the table's owner
can do: run migrations as the owner role (docs/operations.md)."""

import django.utils.timezone
from django.db import migrations, models

BATCH = 5000


def chain_existing(apps, schema_editor):
    from canlian.common import auditchain

    conn = schema_editor.connection
    columns = (
        "id, at, user_id, username, role, action, object_type, object_id, object_repr, changes, result, ip, "
        "detail"
    )
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute("ALTER TABLE common_auditlog DISABLE TRIGGER common_auditlog_no_update")
        seq, prev, last = 0, auditchain.GENESIS, 0
        while True:
            cursor.execute(
                f"SELECT {columns} FROM common_auditlog WHERE id > %s ORDER BY id LIMIT %s", [last, BATCH]
            )
            rows = cursor.fetchall()
            if not rows:
                break
            updates = []
            for (
                row_id,
                at,
                user_id,
                username,
                role,
                action,
                otype,
                oid,
                orepr,
                changes,
                result,
                ip,
                detail,
            ) in rows:
                seq += 1
                content = auditchain.fragment(
                    at=at,
                    user_id=user_id,
                    username=username,
                    role=role,
                    action=action,
                    object_type=otype,
                    object_repr=orepr,
                    changes=auditchain._stored_changes(changes),
                    result=result,
                    ip=ip,
                    detail=detail,
                )
                digest = auditchain.row_hash(seq, prev, oid, content)
                updates.append((seq, prev, digest, row_id))
                prev = digest
            cursor.executemany(
                "UPDATE common_auditlog SET seq = %s, prev_hash = %s, row_hash = %s WHERE id = %s", updates
            )
            last = rows[-1][0]
        if conn.vendor == "postgresql":
            cursor.execute("ALTER TABLE common_auditlog ENABLE TRIGGER common_auditlog_no_update")


def sqlite_triggers(apps, schema_editor):
    from canlian.common.auditguard import sqlite_triggers_create

    if schema_editor.connection.vendor == "sqlite":
        sqlite_triggers_create(schema_editor.connection)


def sqlite_triggers_drop(apps, schema_editor):
    from canlian.common.auditguard import sqlite_triggers_drop

    if schema_editor.connection.vendor == "sqlite":
        sqlite_triggers_drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("common", "0006_workflow_history")]

    operations = [
        migrations.AlterField(
            model_name="auditlog",
            name="at",
            field=models.DateTimeField(
                db_index=True, default=django.utils.timezone.now, editable=False, verbose_name="时间"
            ),
        ),
        migrations.AddField(
            model_name="auditlog",
            name="seq",
            field=models.BigIntegerField(editable=False, null=True, verbose_name="链序号"),
        ),
        migrations.AddField(
            model_name="auditlog",
            name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64, verbose_name="前一行哈希"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditlog",
            name="row_hash",
            field=models.CharField(default="", editable=False, max_length=64, verbose_name="本行哈希"),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditlog",
            name="seq",
            field=models.BigIntegerField(editable=False, unique=True, verbose_name="链序号"),
        ),
        migrations.RunPython(sqlite_triggers, sqlite_triggers_drop),
    ]
