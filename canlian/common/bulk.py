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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import lru_cache, partial
from typing import Any, TypeVar

from django.db import connection, models, transaction

from .crypto import PREFIX, EncryptedTextField

BATCH_SIZE = 2000
T = TypeVar("T")


def sliced_writes() -> bool:
    """Whether long writes (an import, a payroll) commit in short slices instead of one transaction.

    SQLite has one writer at a time: a transaction that writes for seconds makes every other write (a
    sign-in's session, an audit row) wait, and past the busy timeout fail with "database is locked". So on
    SQLite long writes commit slice by slice (each well under a second), and say how they stay correct if
    interrupted (payroll: a batch stays "生成中" until its last slice; person import: re-running the same
    file skips the rows already written). PostgreSQL writers do not block each other's rows: one
    transaction there. ``settings.CANLIAN_SLICED_WRITES`` (True/False) overrides the choice."""
    from django.conf import settings

    forced = getattr(settings, "CANLIAN_SLICED_WRITES", None)
    if forced is not None:
        return bool(forced)
    return connection.vendor == "sqlite"


@contextmanager
def long_write() -> Iterator[None]:
    """Around a long write made of ``write_slice`` blocks: ONE transaction (all or nothing) unless writes are
    sliced (``sliced_writes``), when each slice commits on its own and the caller says what an interruption
    leaves behind and how a re-run finishes it."""
    if sliced_writes():
        yield
    else:
        with transaction.atomic():
            yield


@contextmanager
def write_slice() -> Iterator[None]:
    """One slice of a long write: its own short transaction when writes are sliced (SQLite's write lock is
    free again when it ends), else part of the caller's transaction (``long_write``)."""
    if sliced_writes():
        with transaction.atomic():
            yield
    else:
        yield


def commit_slices(items: Sequence[T], size: int, write: Callable[[Sequence[T]], Any]) -> None:
    """``write(part)`` for each ``size`` items in order, each part in a ``write_slice``."""
    for start in range(0, len(items), size):
        with write_slice():
            write(items[start : start + size])


SQLITE_CACHE_KIB = 131072


@contextmanager
def write_cache() -> Iterator[None]:
    """On SQLite, a 128 MB page cache while a bulk write runs (default 2 MB), restored after. Blind indexes
    and due dates arrive in random order, so each insert touches a random B-tree page: with the default cache
    the pages of a large index are read and written again and again. Measured: -20 % database CPU for the
    person import at 50,000 rows; for the roster import see docs/benchmarks.md. No-op elsewhere."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (old,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size={int(old)}")


_MISSING = object()


class JSONText(str):
    """A value for a JSON field that is already serialised (e.g. by a worker process): written as it is."""


def _sealed(value, *, field: EncryptedTextField) -> str:
    """Ciphertext (encrypted by a worker process) as it is; anything else encrypted by the field."""
    if value.__class__ is str and value.startswith(PREFIX):
        return value
    return field.get_prep_value(value)


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
        return partial(_sealed, field=f)
    if isinstance(f, models.JSONField):
        return partial(_json_dumps, encoder=f.encoder)  # text: SQLite stores it, COPY casts it to jsonb
    if isinstance(f, _PASS_THROUGH):
        return None
    # dates and times repeat (a due date shared by thousands of rows, one ``now`` for all): each distinct
    # value converted once per call
    if type(f) is models.DateField:
        return lru_cache(maxsize=8192)(connection.ops.adapt_datefield_value)
    if type(f) is models.DateTimeField:
        return lru_cache(maxsize=8192)(partial(f.get_db_prep_save, connection=connection))
    return partial(f.get_db_prep_save, connection=connection)


def _spec(fields: list[models.Field], now) -> list[tuple[str, Any, Callable[[Any], Any] | None]]:
    """(attname, converted default, converter) per field; ``auto_now``/``auto_now_add`` fields default to
    ``now``."""
    spec = []
    for f in fields:
        convert = _converter(f)
        auto = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        default = now if auto else f.get_default()
        if convert is not None and default is not None:
            default = convert(default)
        spec.append((f.attname, default, convert))
    return spec


def insert_rows(
    model: type[models.Model], rows: Iterable[dict[str, Any]], *, now, with_pk: bool = False
) -> int:
    """INSERT ``rows`` into ``model``'s table inside the caller's transaction; return how many. With
    ``with_pk`` every row carries its primary key (from ``reserve_pks``)."""
    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    spec = _spec(fields, now)
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return 0

    def values(part: list[dict[str, Any]]) -> list[tuple]:
        # Column by column (one comprehension per field), then zipped into rows: ~3x less Python than a
        # branchy loop over fields inside a loop over rows.
        cells = []
        for name, default, convert in spec:
            if convert is None:
                cells.append([row.get(name, default) for row in part])
            else:  # a missing value takes the (converted) default; None stays None
                cells.append(
                    [
                        default
                        if (value := row.get(name, _MISSING)) is _MISSING
                        else (None if value is None else convert(value))
                        for row in part
                    ]
                )
        return list(zip(*cells, strict=True))

    quote = connection.ops.quote_name
    table, columns = quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields)
    slices = (rows[start : start + BATCH_SIZE] for start in range(0, len(rows), BATCH_SIZE))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One COPY (about 4x faster than executemany there), fed slice by slice: the server inserts one
            # slice while the next is being converted.
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for part in slices:
                    for row in values(part):
                        copy.write_row(row)
        else:
            sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
            for part in slices:
                cursor.executemany(sql, values(part))
    return len(rows)


def reserve_pks(model: type[models.Model], count: int) -> list[int] | None:
    """On PostgreSQL, ``count`` new primary keys from the table's sequence (one query), so that rows written
    by COPY can be referred to without reading them back. None elsewhere (SQLite has no sequence to draw
    from without writing)."""
    if connection.vendor != "postgresql" or count <= 0:
        return None
    table, pk = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, pk, count]
        )
        return [row[0] for row in cursor.fetchall()]


# ---- rows formatted ahead for COPY (PostgreSQL) -----------------------------------------------------------

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, date):  # datetime too: ISO 8601, with its offset when aware
        return value.isoformat()
    return str(value)


class CopyRows:
    """The rows of one model formatted for ``COPY … FROM STDIN`` by whoever has the values (a validation
    worker process, say), and written by the process that holds the transaction, which adds the leading
    columns only it knows (``lead``: primary or foreign keys assigned while writing).

    Each value goes through the same conversion as in ``insert_rows`` (encryption, JSON, defaults, ``now``
    for auto dates), so the rows are the same as ``insert_rows`` would write. PostgreSQL only."""

    def __init__(self, model: type[models.Model], *, lead: tuple[str, ...], now):
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        rest = [f for f in model._meta.concrete_fields if not f.primary_key and f.attname not in lead]
        self.table = model._meta.db_table
        self.columns = [by_attname[name].column for name in lead] + [f.column for f in rest]
        self.spec = [(name, copy_text(default), convert) for name, default, convert in _spec(rest, now)]

    def tail(self, row: dict[str, Any]) -> str:
        """The row's columns after the leading ones, tab-separated (no line end)."""
        out = []
        for name, default, convert in self.spec:
            value = row.get(name, _MISSING)
            if value is _MISSING:
                out.append(default)
            else:
                out.append(copy_text(value if convert is None or value is None else convert(value)))
        return "\t".join(out)

    def write(self, lines: list[str]) -> int:
        """COPY ``lines`` (each the leading values, a tab, a ``tail`` and a line end) in the caller's
        transaction."""
        quote = connection.ops.quote_name
        columns = ", ".join(quote(c) for c in self.columns)
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {quote(self.table)} ({columns}) FROM STDIN") as copy:
                for start in range(0, len(lines), BATCH_SIZE):
                    copy.write("".join(lines[start : start + BATCH_SIZE]))
        return len(lines)
