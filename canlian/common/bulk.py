"""Set-based INSERT of plain rows: ``COPY`` on PostgreSQL, one ``executemany`` per batch elsewhere.

Like ``bulk_create`` but without building a model instance and compiling SQL per row, which costs about four
times more at 100,000 rows (docs/benchmarks.md, person import). Rows are dicts of attname → value. Each value
goes through its field's own conversion (encrypted fields encrypt exactly as on ``save()``; JSON fields are
serialised with the field's encoder), except plain text, numbers and foreign keys, which the drivers take as
they are. Missing fields get the field default, and ``auto_now``/``auto_now_add`` fields get ``now``. No
signals are sent and no primary keys are returned (as with ``bulk_create`` on SQLite before RETURNING).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from django.db import connection, models

from .crypto import EncryptedTextField

BATCH_SIZE = 2000


class JSONText(str):
    """A value for a JSON field that is already serialised (e.g. by a worker process): written as it is."""


def _json_dumps(value, *, encoder) -> str:
    return value if isinstance(value, JSONText) else json.dumps(value, cls=encoder)


_PASS_THROUGH = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.ForeignKey,
)


def _converter(f: models.Field) -> Callable[[Any], Any] | None:
    if isinstance(f, EncryptedTextField):
        return f.get_prep_value
    if isinstance(f, models.JSONField):
        return partial(_json_dumps, encoder=f.encoder)  # text: SQLite stores it, COPY casts it to jsonb
    if isinstance(f, _PASS_THROUGH):
        return None
    if type(f) is models.DateField:
        return connection.ops.adapt_datefield_value
    return partial(f.get_db_prep_save, connection=connection)


def insert_rows(model: type[models.Model], rows: Iterable[dict[str, Any]], *, now) -> int:
    """INSERT ``rows`` into ``model``'s table inside the caller's transaction; return how many."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    spec = []
    for f in fields:
        convert = _converter(f)
        auto = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        default = now if auto else f.get_default()
        if convert is not None and default is not None:
            default = convert(default)
        spec.append((f.attname, default, convert))
    params = []
    for row in rows:
        values = []
        for name, default, convert in spec:
            if name not in row:
                values.append(default)  # converted once
            else:
                value = row[name]
                values.append(value if convert is None or value is None else convert(value))
        params.append(values)
    if not params:
        return 0
    quote = connection.ops.quote_name
    table, columns = quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # COPY: about 4x faster than executemany there
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for values in params:
                    copy.write_row(values)
        else:
            sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
            for start in range(0, len(params), BATCH_SIZE):
                cursor.executemany(sql, params[start : start + BATCH_SIZE])
    return len(params)
