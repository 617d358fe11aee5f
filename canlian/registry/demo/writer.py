"""Set-based inserts of plain rows for bulk loads: no model instance and no query per row."""

from __future__ import annotations

import json
from functools import lru_cache

from django.db.models import DateField, JSONField

from canlian.common.crypto import EncryptedTextField

BATCH_SIZE = 5000


class RowWriter:
    """Inserts plain rows set-based, bypassing per-object ORM work: ``COPY`` on PostgreSQL, one
    ``executemany`` per batch on SQLite, ``bulk_create`` on anything else.

    Values still go through the model fields: encrypted columns through the field's own
    ``get_prep_value`` (AES-GCM), dates and timestamps through ``get_db_prep_value`` (SQLite), JSON is
    serialised. With ``with_ids`` the ids are reserved first (PostgreSQL: from the table's sequence; SQLite:
    above the highest id ever used, under the write lock the transaction holds), so child rows can point
    at their parent without reading anything back."""

    def __init__(self, model, columns: tuple[str, ...]):
        from django.db import connection

        self.model, self.columns = model, columns
        self.connection = connection
        self.mode = {"postgresql": "copy", "sqlite": "executemany"}.get(connection.vendor, "orm")
        fields = {f.attname: f for f in model._meta.concrete_fields}
        self.converters: dict[int, object] = {}
        for i, col in enumerate(columns):
            f = fields[col]
            if isinstance(f, EncryptedTextField):
                self.converters[i] = f.get_prep_value
            elif isinstance(f, JSONField):
                self.converters[i] = lambda v: json.dumps(v, ensure_ascii=False)
            elif self.mode == "executemany" and isinstance(f, DateField):  # DateTimeField too
                # a few thousand distinct dates, one timestamp: convert each once
                self.converters[i] = lru_cache(maxsize=None)(
                    lambda v, f=f: f.get_db_prep_value(v, connection)
                )

    def _convert(self, row: tuple) -> list:
        values = list(row)
        for i, convert in self.converters.items():
            if values[i] is not None and values[i] != "":
                values[i] = convert(values[i])
        return values

    def _reserve_ids(self, cursor, n: int) -> list[int]:
        table = self.model._meta.db_table
        if self.mode == "copy":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, n]
            )
            return sorted(r[0] for r in cursor.fetchall())
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {self.connection.ops.quote_name(table)}")
        top = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        seq = cursor.fetchone()
        start = max(top, seq[0] if seq else 0) + 1
        return list(range(start, start + n))

    def write(self, rows: list[tuple], *, with_ids: bool = False) -> list[int]:
        """Insert ``rows`` (values in ``columns`` order); returns the new ids when ``with_ids``."""
        if not rows:
            return []
        if self.mode == "orm":
            objs = [self.model(**dict(zip(self.columns, row, strict=True))) for row in rows]
            self.model.objects.bulk_create(objs, batch_size=BATCH_SIZE)
            return [o.pk for o in objs] if with_ids else []
        qn = self.connection.ops.quote_name
        table = qn(self.model._meta.db_table)
        columns = ("id", *self.columns) if with_ids else self.columns
        names = ", ".join(qn(c) for c in columns)
        with self.connection.cursor() as cursor:
            ids = self._reserve_ids(cursor, len(rows)) if with_ids else []
            values = (
                ((pk, *self._convert(row)) for pk, row in zip(ids, rows, strict=True))
                if with_ids
                else (self._convert(row) for row in rows)
            )
            if self.mode == "copy":
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in values:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(values))
        return ids
