"""The audit log as a hash chain: every row carries the hash of the row before it and of its own content.

Row ``seq`` (1, 2, 3 …) stores ``prev_hash`` (the ``row_hash`` of row ``seq - 1``; 64 zeros for the first) and
``row_hash`` = SHA-256 of the canonical text of its content and ``prev_hash`` (``payload``). Editing a row's
content, deleting a row or putting a row in breaks the chain at that place, and ``audit_verify`` names it.

Appends are serialised so that two writers never fork the chain: on PostgreSQL a transaction-level advisory
lock is taken before the chain's head is read and held until the writing transaction ends (so the rows of
concurrent transactions enter the chain in the order they commit); SQLite has one writer at a time (the
project opens its transactions with ``BEGIN IMMEDIATE``). The lock is taken as late as possible: when the
audit row is written, which services do last. Bulk writes read the head once and hash the batch in order in
Python (about 3 µs a row).

The hash has no key: it proves the rows were not changed since they were chained, against anyone who can
change rows but not re-chain every row after them (the application's role cannot UPDATE or DELETE at all,
see ``dbroles``). Rows removed from the very end leave no gap: compare the head ``audit verify`` prints with
one kept elsewhere (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

GENESIS = "0" * 64
LOCK_KEY = 0x63616E6C69616E  # "canlian": the advisory lock that serialises appends (PostgreSQL)
TABLE = "common_auditlog"
VERIFY_BATCH = 20_000


# ---- canonical content ------------------------------------------------------------------------------------


def _parse_float(text: str):
    """JSON numbers the way they read back from any database: PostgreSQL's jsonb keeps numbers as numeric and
    writes ``1e+20`` back as ``100000000000000000000`` (an int to Python), so integral floats count as ints."""
    value = float(text)
    return int(value) if value.is_integer() else value


def changes_canonical(value: Any) -> Any:
    """``changes`` as stored: serialised as the JSON field does, read back, numbers normalised."""
    return json.loads(json.dumps(value), parse_float=_parse_float)


def _stored_changes(raw) -> Any:
    if isinstance(raw, str | bytes):
        return json.loads(raw, parse_float=_parse_float)
    return changes_canonical(raw)  # a driver that already parsed it


def _at_text(value) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffff`` in UTC. Text as the databases give it (``_at_sql``) is reshaped
    without parsing: parsing is a third of a walk's time."""
    if isinstance(value, str):
        if len(value) == 26:  # PostgreSQL's to_char, SQLite's text with microseconds
            return f"{value[:10]}T{value[11:]}"
        if len(value) == 19:  # SQLite's text of a time on the second
            return f"{value[:10]}T{value[11:]}.000000"
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:  # SQLite keeps UTC without an offset
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


@lru_cache(maxsize=4096)
def _ip_text(value: str) -> str:
    try:
        return ipaddress.ip_address(value.split("/", 1)[0]).compressed
    except ValueError:
        return value


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def fragment(
    *,
    at,
    user_id,
    username: str,
    role: str,
    action: str,
    object_type: str,
    object_repr: str,
    changes,
    result: str,
    ip,
    detail: str,
) -> str:
    """The canonical text of a row's content but its place in the chain and its object id (which a bulk
    writer only knows when it writes). ``changes`` must already be canonical (``changes_canonical``)."""
    return _dumps(
        [
            _at_text(at),
            user_id,
            username,
            role,
            action,
            object_type,
            object_repr,
            changes,
            result,
            None if ip is None or ip == "" else _ip_text(str(ip)),
            detail,
        ]
    )[1:-1]


def payload(seq: int, prev_hash: str, object_id: str, content: str) -> bytes:
    """The text a row's hash is taken over: ``[seq, prev_hash, object_id, at, user_id, username, role, action,
    object_type, object_repr, changes, result, ip, detail]`` as compact JSON with sorted keys, UTF-8."""
    return f'[{int(seq)},"{prev_hash}",{_dumps(str(object_id))},{content}]'.encode()


def row_hash(seq: int, prev_hash: str, object_id: str, content: str) -> str:
    return hashlib.sha256(payload(seq, prev_hash, object_id, content)).hexdigest()


def _canonical_of(changes) -> Any:
    """``changes_canonical``, also of changes already serialised by the writer (``bulk.JSONText``: the text
    the JSON field would write), which are only parsed."""
    from .bulk import JSONText

    if isinstance(changes, JSONText):
        return json.loads(changes, parse_float=_parse_float)
    return changes_canonical(changes)


def fragment_of(values: dict[str, Any]) -> str:
    """``fragment`` of a row given as attname → value (``changes`` as the writer has it)."""
    return fragment(
        at=values["at"],
        user_id=values.get("user_id"),
        username=values.get("username", ""),
        role=values.get("role", ""),
        action=values["action"],
        object_type=values.get("object_type", ""),
        object_repr=values.get("object_repr", ""),
        changes=_canonical_of(values.get("changes") or {}),
        result=values.get("result", "success"),
        ip=values.get("ip"),
        detail=values.get("detail", ""),
    )


# ---- appending --------------------------------------------------------------------------------------------


def _lock_and_head() -> tuple[int, str]:
    """Take the append lock (PostgreSQL; held to the end of the transaction) and read the chain's head:
    (seq, row_hash) of the last row, (0, GENESIS) when empty. Call inside a transaction."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        cursor.execute(f"SELECT seq, row_hash FROM {TABLE} ORDER BY seq DESC LIMIT 1")
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


_held: ContextVar[list[Callable[[], int]] | None] = ContextVar("canlian_audit_held", default=None)


@contextlib.contextmanager
def appends_held() -> Iterator[None]:
    """Hold the bulk audit writes of the block and append them, in order, when it ends (PostgreSQL; inside
    the caller's transaction). A long transaction that writes audit rows slice by slice (a person import)
    then takes the append lock only for its last moments instead of from its first slice to its commit,
    which would make every other audited write wait that long. A single audit row written inside the block
    appends what is held first. Nothing is appended if the block raises (its transaction rolls back)."""
    if connection.vendor != "postgresql" or _held.get() is not None:
        yield  # SQLite has one writer anyway; a nested block leaves it to the outer one
        return
    token = _held.set([])
    try:
        yield
        _release()
    finally:
        _held.reset(token)


def _release() -> None:
    held = _held.get()
    while held:
        held.pop(0)()


def append_one(row, save: Callable[[], None]) -> None:
    """Chain one model instance (``AuditLog.save``): under the lock, stamp its time, place and hashes, and
    ``save`` it."""
    _release()
    # a transaction of its own when there is none (an audited read); no savepoint inside the caller's: an
    # audit row that cannot be written fails the caller's transaction, as before the chain
    with transaction.atomic(savepoint=False):
        seq, prev = _lock_and_head()
        row.at = timezone.now()
        row.seq = seq + 1
        row.prev_hash = prev
        content = fragment(
            at=row.at,
            user_id=row.user_id,
            username=row.username,
            role=row.role,
            action=row.action,
            object_type=row.object_type,
            object_repr=row.object_repr,
            changes=changes_canonical(row.changes if row.changes is not None else {}),
            result=row.result,
            ip=row.ip,
            detail=row.detail,
        )
        row.row_hash = row_hash(row.seq, prev, str(row.object_id), content)
        save()


def append_many(
    rows: list[Any], *, object_id: Callable[[Any], str], content: Callable[[Any], str], write: Callable
) -> int:
    """Chain a batch of rows, in order, and write them in the caller's transaction: ``object_id`` and
    ``content`` (a ``fragment``) of each row, and ``write(rows, links)`` with links = [(seq, prev_hash,
    row_hash)] for each row."""
    if not rows:
        return 0
    held = _held.get()
    if held is not None:
        held.append(partial(_append_many, rows, object_id, content, write))
        return len(rows)
    return _append_many(rows, object_id, content, write)


def _append_many(rows: list[Any], object_id, content, write) -> int:
    with transaction.atomic(savepoint=False):
        seq, prev = _lock_and_head()
        links = []
        for row in rows:
            seq += 1
            digest = row_hash(seq, prev, object_id(row), content(row))
            links.append((seq, prev, digest))
            prev = digest
        return write(rows, links)


# ---- verifying --------------------------------------------------------------------------------------------


class BreakKind:
    CHANGED = "changed"
    DELETED = "deleted"
    INSERTED = "inserted"


KIND_LABELS = {
    BreakKind.CHANGED: "内容被改动",
    BreakKind.DELETED: "有记录被删除",
    BreakKind.INSERTED: "有记录被插入或替换",
}


@dataclass(frozen=True)
class ChainBreak:
    kind: str
    seq: int
    row_id: int
    at: str
    message: str

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "kind_label": KIND_LABELS[self.kind],
            "seq": self.seq,
            "row_id": self.row_id,
            "at": self.at,
            "message": self.message,
        }


@dataclass(frozen=True)
class VerifyResult:
    count: int  # rows checked (all of them when the chain holds)
    last_seq: int
    last_hash: str
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "count": self.count,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "broken": self.broken.as_dict() if self.broken else None,
        }


def _columns() -> str:
    """The columns a walk reads, ``at`` as UTC text (no datetime built per row)."""
    if connection.vendor == "postgresql":
        at = """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')"""
    else:
        at = "CAST(at AS TEXT)"  # stored as UTC text; the cast keeps the driver from parsing it
    return (
        f"seq, prev_hash, row_hash, id, {at}, user_id, username, role, action, object_type, object_id, "
        "object_repr, changes, result, ip, detail"
    )


def _rows(batch: int) -> Iterator[tuple]:
    """Every row in chain order, ``batch`` at a time (keyset on the unique ``seq``: each batch is an index
    range scan, memory stays flat)."""
    _COLUMNS = _columns()
    last = None
    with connection.cursor() as cursor:
        while True:
            if last is None:
                cursor.execute(f"SELECT {_COLUMNS} FROM {TABLE} ORDER BY seq LIMIT %s", [batch])
            else:
                cursor.execute(
                    f"SELECT {_COLUMNS} FROM {TABLE} WHERE seq > %s ORDER BY seq LIMIT %s", [last, batch]
                )
            rows = cursor.fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]


def _local_time(value) -> str:
    text = _at_text(value)
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def _link(row: tuple, expected_seq: int, prev: str) -> tuple[str, str] | None:
    """What is wrong with ``row`` as the next link after (``expected_seq`` - 1, ``prev``): (kind, text)."""
    (seq, prev_hash, stored_hash, _id, at, user_id, username, role, action, object_type, object_id) = row[:11]
    object_repr, changes, result, ip, detail = row[11:]
    if seq > expected_seq:
        missing = f"第 {expected_seq} 条" if seq == expected_seq + 1 else f"第 {expected_seq}–{seq - 1} 条"
        return BreakKind.DELETED, f"之前的{missing}审计记录已被删除（链序号不连续）"
    if seq < expected_seq:
        return BreakKind.INSERTED, f"是插入的记录：链序号 {seq} 不在链中（应从 {expected_seq} 起）"
    content = fragment(
        at=at,
        user_id=user_id,
        username=username,
        role=role,
        action=action,
        object_type=object_type,
        object_repr=object_repr,
        changes=_stored_changes(changes),
        result=result,
        ip=ip,
        detail=detail,
    )
    if row_hash(seq, prev_hash, object_id, content) != stored_hash:
        return BreakKind.CHANGED, "的内容与其哈希不符：该记录写入后被改动（或是伪造的）"
    if prev_hash != prev:
        before = f"第 {seq - 1} 条" if seq > 1 else "链的起点"
        return (
            BreakKind.INSERTED,
            f"记录的前一条哈希与{before}不符：{before}已被替换（删除后插入了伪造的记录），或本条是插入的记录",
        )
    return None


def audit_verify(*, batch: int = VERIFY_BATCH) -> VerifyResult:
    """Walk the chain from its first row; stop at the first broken link. Read-only."""
    expected_seq, prev, count = 1, GENESIS, 0
    for row in _rows(batch):
        wrong = _link(row, expected_seq, prev)
        if wrong is not None:
            seq, row_id, at, action = row[0], row[3], _local_time(row[4]), row[8]
            kind, text = wrong
            message = f"第 {seq} 条（编号 {row_id}，{at}，{action}）{text}"
            return VerifyResult(count, expected_seq - 1, prev, ChainBreak(kind, seq, row_id, at, message))
        count += 1
        expected_seq, prev = row[0] + 1, row[2]
    return VerifyResult(count, expected_seq - 1, prev, None)


def audit_chain_check(*, acting_user, batch: int = VERIFY_BATCH) -> VerifyResult:
    """``audit_verify``, and an audit row saying who checked and what was found (appended after the walk:
    it is not part of what was checked)."""
    from .audit import audit_record

    result = audit_verify(batch=batch)
    changes: dict[str, Any] = {"checked": result.count}
    if result.broken is not None:
        changes["broken_seq"] = result.broken.seq
    audit_record(
        acting_user=acting_user,
        action="audit.verify",
        object_type="common.auditlog",
        object_repr="审计日志哈希链",
        changes=changes,
        result="success" if result.ok else "failure",
        detail="哈希链完整" if result.ok else result.broken.message,
    )
    return result
