"""``flush`` that also empties the audit table on SQLite, whose triggers refuse DELETE on it.

PostgreSQL's flush uses TRUNCATE, which row triggers do not see (and which only the table's owner may run).
On SQLite flush deletes row by row: the audit triggers are dropped for the flush and created again after.
Used by the test suite between transactional tests."""

from django.core.management.commands.flush import Command as FlushCommand
from django.db import connections

from canlian.common import auditguard


class Command(FlushCommand):
    def handle(self, **options):
        conn = connections[options.get("database", "default")]
        with auditguard.sqlite_triggers_suspended(conn):
            return super().handle(**options)
