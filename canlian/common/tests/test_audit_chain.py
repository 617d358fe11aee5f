"""The audit log's hash chain (issue 10 §3): every write path chains its rows, ``audit verify`` passes on an
intact log and names the first broken link when a row is edited, deleted or forged; SQLite's triggers refuse
UPDATE and DELETE like PostgreSQL's."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from canlian.cli import main
from canlian.common import auditchain, auditguard
from canlian.common.audit import AuditCopy, audit_record, audit_record_many
from canlian.common.auditchain import GENESIS, BreakKind, audit_verify
from canlian.common.models import AuditLog

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def triggers_bypassed():
    """What someone with full rights on the database could do: write past the append-only triggers (inside
    the test's transaction, which rolls it back)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the test database's owner is a superuser
            cursor.execute("SET LOCAL session_replication_role = replica")
            yield cursor
            cursor.execute("SET LOCAL session_replication_role = origin")
        else:
            auditguard.sqlite_triggers_drop(connection)
            yield cursor
            auditguard.sqlite_triggers_create(connection)


def _rows(n: int, users) -> list[AuditLog]:
    return [
        audit_record(
            acting_user=users["district"],
            action="person.update",
            object_type="registry.person",
            object_id=100 + i,
            object_repr=f"张{i}",
            changes={"phone": ["138****0001", "139****0002"], "grade": [i, i + 1], "ratio": 1.0},
            detail=f"第{i}次",
        )
        for i in range(1, n + 1)
    ]


def _chain(values: dict, seq: int, prev: str) -> str:
    return auditchain.row_hash(seq, prev, values["object_id"], auditchain.fragment_of(values))


def test_rows_of_every_writer_form_one_chain(users):
    one = _rows(2, users)
    audit_record_many(
        acting_user=users["district"],
        action="person.import_create",
        entries=[{"object_type": "registry.person", "object_id": i, "changes": {"n": i}} for i in range(3)],
    )
    AuditLog.objects.create(action="test.direct")  # even a row created by hand is chained
    rows = list(AuditLog.objects.order_by("seq"))
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.row_hash for a, b in itertools.pairwise(rows))
    assert len({r.row_hash for r in rows}) == 6
    assert rows[0].pk == one[0].pk and rows[0].row_hash == one[0].row_hash
    result = audit_verify(batch=4)  # two batches: the walk carries the link across them
    assert result.ok and result.broken is None
    assert (result.count, result.last_seq, result.last_hash) == (6, 6, rows[-1].row_hash)


def test_row_hash_is_sha256_of_the_documented_payload(users):
    (row,) = _rows(1, users)
    row.refresh_from_db()
    at = row.at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    expected = json.dumps(
        [
            1,
            GENESIS,
            "101",
            at,
            users["district"].pk,
            "district1",
            users["district"].role,
            "person.update",
            "registry.person",
            "张1",
            {"grade": [1, 2], "phone": ["138****0001", "139****0002"], "ratio": 1},
            "success",
            None,
            "第1次",
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    assert row.row_hash == hashlib.sha256(expected.encode()).hexdigest()


def test_verify_of_an_empty_log():
    result = audit_verify()
    assert result.ok and (result.count, result.last_seq, result.last_hash) == (0, 0, GENESIS)


def test_edited_row_is_named(users):
    rows = _rows(5, users)
    with triggers_bypassed() as cur:
        cur.execute("UPDATE common_auditlog SET detail = %s WHERE id = %s", ["改过的说明", rows[2].pk])
    result = audit_verify(batch=2)
    assert not result.ok
    broken = result.broken
    assert (broken.kind, broken.seq, broken.row_id) == (BreakKind.CHANGED, 3, rows[2].pk)
    assert broken.message.startswith(f"第 3 条（编号 {rows[2].pk}，")
    assert "被改动" in broken.message
    assert (result.count, result.last_seq, result.last_hash) == (2, 2, rows[1].row_hash)


def test_edited_changes_are_caught(users):
    rows = _rows(3, users)
    with triggers_bypassed() as cur:
        cur.execute(
            "UPDATE common_auditlog SET changes = %s WHERE id = %s",
            [
                json.dumps({"phone": ["138****0001", "139****0002"], "grade": [1, 9], "ratio": 1.0}),
                rows[0].pk,
            ],
        )
    assert audit_verify().broken.seq == 1


def test_deleted_row_is_named(users):
    rows = _rows(5, users)
    with triggers_bypassed() as cur:
        cur.execute("DELETE FROM common_auditlog WHERE id = %s", [rows[1].pk])
    broken = audit_verify().broken
    assert (broken.kind, broken.seq, broken.row_id) == (BreakKind.DELETED, 3, rows[2].pk)
    assert "之前的第 2 条审计记录已被删除" in broken.message


def test_deleted_rows_at_the_start_are_named(users):
    rows = _rows(4, users)
    with triggers_bypassed() as cur:
        cur.execute("DELETE FROM common_auditlog WHERE id IN (%s, %s)", [rows[0].pk, rows[1].pk])
    broken = audit_verify().broken
    assert (broken.kind, broken.seq) == (BreakKind.DELETED, 3)
    assert "之前的第 1–2 条审计记录已被删除" in broken.message


def _insert(cur, *, seq: int, prev: str, digest: str | None = None, at=None) -> tuple[int, str]:
    values = {
        "at": at or timezone.now(),
        "action": "person.update",
        "object_type": "registry.person",
        "object_id": "999",
        "object_repr": "伪造",
        "changes": {},
        "username": "district1",
    }
    digest = digest or _chain(values, seq, prev)
    cur.execute(
        "INSERT INTO common_auditlog (at, username, role, action, object_type, object_id, object_repr, "
        "changes, result, detail, seq, prev_hash, row_hash) VALUES (%s, %s, '', %s, %s, %s, %s, %s, "
        "'success', '', %s, %s, %s)",
        [
            values["at"],
            values["username"],
            values["action"],
            values["object_type"],
            values["object_id"],
            values["object_repr"],
            "{}",
            seq,
            prev,
            digest,
        ],
    )
    return AuditLog.objects.get(seq=seq).pk, digest


def test_forged_row_with_a_made_up_hash_is_named(users):
    rows = _rows(3, users)
    with connection.cursor() as cur:  # INSERT is allowed: no trigger to bypass
        forged, _ = _insert(cur, seq=4, prev=rows[-1].row_hash, digest="f" * 64)
    broken = audit_verify().broken
    assert (broken.kind, broken.seq, broken.row_id) == (BreakKind.CHANGED, 4, forged)


def test_forged_row_hashed_the_right_way_in_place_of_a_deleted_one_is_named(users):
    """Whoever knows the hash can put a row that hashes right where one was deleted: the next row's link
    to it is broken."""
    rows = _rows(5, users)
    with triggers_bypassed() as cur:
        cur.execute("DELETE FROM common_auditlog WHERE id = %s", [rows[2].pk])
        _insert(cur, seq=3, prev=rows[1].row_hash)
    broken = audit_verify().broken
    assert (broken.kind, broken.seq, broken.row_id) == (BreakKind.INSERTED, 4, rows[3].pk)
    assert "第 3 条已被替换" in broken.message


def test_forged_row_before_the_first_is_named(users):
    _rows(2, users)
    with connection.cursor() as cur:
        forged, _ = _insert(cur, seq=0, prev=GENESIS)
    broken = audit_verify().broken
    assert (broken.kind, broken.seq, broken.row_id) == (BreakKind.INSERTED, 0, forged)


def test_forged_row_forking_the_chain_is_named(users):
    rows = _rows(3, users)
    with connection.cursor() as cur:  # a second row after row 1, appended at the end
        forged, _ = _insert(cur, seq=4, prev=rows[0].row_hash)
    broken = audit_verify().broken
    assert (broken.kind, broken.seq, broken.row_id) == (BreakKind.INSERTED, 4, forged)


def test_cli_verify_exit_codes_and_json(users, capsys, cli_password):
    rows = _rows(3, users)
    assert main(["audit", "verify", "--user", "district1"]) == 0
    out = capsys.readouterr().out
    # proving who runs the command is itself audited (before the walk): the chain holds 4 rows then
    proof = AuditLog.objects.get(action="cli.identity")
    assert proof.seq == 4 and proof.prev_hash == rows[-1].row_hash
    assert "审计日志哈希链完整：共 4 条记录" in out and proof.row_hash in out
    check = AuditLog.objects.get(action="audit.verify")
    assert (check.seq, check.username, check.changes, check.result) == (
        5,
        "district1",
        {"checked": 4},
        "success",
    )

    with triggers_bypassed() as cur:
        cur.execute("UPDATE common_auditlog SET object_repr = 'x' WHERE id = %s", [rows[1].pk])
    assert main(["audit", "verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["count"] == 1
    assert report["broken"]["seq"] == 2 and report["broken"]["row_id"] == rows[1].pk
    assert report["broken"]["kind"] == "changed" and report["broken"]["kind_label"] == "内容被改动"
    failed = AuditLog.objects.filter(action="audit.verify").order_by("-seq").first()
    assert failed.result == "failure" and failed.changes == {"checked": 1, "broken_seq": 2}

    assert main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert f"审计日志哈希链断开：第 2 条（编号 {rows[1].pk}，" in err


def test_existing_rows_are_chained_by_the_migration(users):
    """common 0007 chains the rows written before it, in id order."""
    import importlib

    rows = _rows(4, users)
    with triggers_bypassed() as cur:  # as before 0007: no place in a chain
        cur.execute("UPDATE common_auditlog SET seq = -id, prev_hash = '', row_hash = ''")
    assert not audit_verify().ok
    migration = importlib.import_module("canlian.common.migrations.0007_audit_chain")
    with triggers_bypassed():
        migration.chain_existing(None, SimpleNamespace(connection=connection))
    assert list(AuditLog.objects.order_by("seq").values_list("pk", flat=True)) == [r.pk for r in rows]
    result = audit_verify()
    assert result.ok and result.count == 4
    # the same hashes the writer gave them
    assert list(AuditLog.objects.order_by("seq").values_list("row_hash", flat=True)) == [
        r.row_hash for r in rows
    ]


def test_floats_and_unicode_in_changes_round_trip(users):
    audit_record(
        acting_user=users["district"],
        action="person.update",
        object_type="registry.person",
        object_id=1,
        changes={"a": 1e20, "b": 0.1, "c": '引号"\\\n\t', "d": [None, True, 2.5e-7], "e": {"z": 1, "a": 2}},
    )
    assert audit_verify().ok


# ---- SQLite ------------------------------------------------------------------------------------------------


def test_sqlite_refuses_update_and_delete_on_audit(users):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only (PostgreSQL: registry/tests/test_services.py)")
    rows = _rows(2, users)
    assert auditguard.sqlite_triggers_present() == set(auditguard.SQLITE_TRIGGERS)
    for sql in ("UPDATE common_auditlog SET detail = 'x'", "DELETE FROM common_auditlog"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(sql)
    assert list(AuditLog.objects.order_by("seq").values_list("detail", flat=True)) == ["第1次", "第2次"]
    assert audit_verify().ok and rows


def test_triggers_come_back_after_a_migration_rebuilt_the_table():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    auditguard.sqlite_triggers_drop(connection)  # what a table rebuild does
    assert auditguard.sqlite_triggers_present() == set()
    auditguard.ensure_sqlite_triggers("default")  # post_migrate
    assert auditguard.sqlite_triggers_present() == set(auditguard.SQLITE_TRIGGERS)


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_audit_table_and_keeps_the_triggers():
    AuditLog.objects.create(action="test.flush")
    call_command("flush", interactive=False, verbosity=0)
    assert AuditLog.objects.count() == 0
    if connection.vendor == "sqlite":
        assert auditguard.sqlite_triggers_present() == set(auditguard.SQLITE_TRIGGERS)


# ---- PostgreSQL: bulk COPY and concurrent writers --------------------------------------------------------


@pytest.mark.postgres
def test_copy_rows_are_chained(users):
    _rows(1, users)
    now = timezone.now()
    copy = AuditCopy(acting_user=users["district"], action="person.import_create", now=now)
    tails = [
        copy.tail(object_type="registry.person", object_repr=f"人{i}", changes={"i": i}) for i in range(5)
    ]
    assert copy.write([(500 + i, tail) for i, tail in enumerate(tails)]) == 5
    rows = list(AuditLog.objects.order_by("seq"))
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r.object_id for r in rows[1:]] == ["500", "501", "502", "503", "504"]
    assert rows[1].at == now
    result = audit_verify()
    assert result.ok and result.count == 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_do_not_fork_the_chain(users):
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        from django.db import connection as conn

        try:
            barrier.wait()
            for i in range(15):
                with transaction.atomic():
                    audit_record(acting_user=None, action="access.denied", object_id=f"{n}-{i}")
                    if i % 5 == 0:
                        audit_record_many(
                            acting_user=None,
                            action="person.import_create",
                            entries=[{"object_id": f"{n}-{i}-{k}"} for k in range(10)],
                        )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = 4 * (15 + 3 * 10)
    assert AuditLog.objects.count() == total
    assert sorted(AuditLog.objects.values_list("seq", flat=True)) == list(range(1, total + 1))
    result = audit_verify(batch=50)
    assert result.ok and result.count == total


def test_at_is_stamped_when_the_row_is_chained(users):
    before = datetime.now(UTC)
    (row,) = _rows(1, users)
    assert before <= row.at <= datetime.now(UTC)


def test_db_roles_on_sqlite_says_it_is_for_postgresql(capsys):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    assert main(["db", "roles"]) == 2
    assert "数据库角色只用于 PostgreSQL" in capsys.readouterr().err


def _holds_append_lock() -> bool:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
            "AND objid = %s",
            [auditchain.LOCK_KEY & 0xFFFFFFFF],
        )
        return cur.fetchone()[0] > 0


@pytest.mark.postgres
def test_held_bulk_appends_take_the_lock_only_at_the_end(users):
    """A long import appends its audit rows when its transaction ends, not from its first slice on."""
    with transaction.atomic():
        with auditchain.appends_held():
            for part in range(3):
                audit_record_many(
                    acting_user=users["district"],
                    action="person.import_create",
                    entries=[{"object_id": f"{part}-{k}"} for k in range(4)],
                )
                assert AuditLog.objects.count() == 0 and not _holds_append_lock()
        assert _holds_append_lock()  # appended at the end of the block, held to the commit
        assert AuditLog.objects.count() == 12
    ids = list(AuditLog.objects.order_by("seq").values_list("object_id", flat=True))
    assert ids == [f"{p}-{k}" for p in range(3) for k in range(4)]
    assert audit_verify().ok


@pytest.mark.postgres
def test_a_single_row_inside_a_held_block_keeps_the_order(users):
    with transaction.atomic(), auditchain.appends_held():
        audit_record_many(acting_user=None, action="person.import_create", entries=[{"object_id": "a"}])
        audit_record(acting_user=None, action="import.commit", object_id="summary")
        audit_record_many(acting_user=None, action="person.import_create", entries=[{"object_id": "b"}])
    assert list(AuditLog.objects.order_by("seq").values_list("object_id", flat=True)) == ["a", "summary", "b"]
    assert audit_verify().ok


@pytest.mark.postgres
def test_nothing_held_is_appended_when_the_block_fails(users):
    with pytest.raises(RuntimeError), transaction.atomic(), auditchain.appends_held():
        audit_record_many(acting_user=None, action="person.import_create", entries=[{"object_id": "x"}])
        raise RuntimeError
    assert AuditLog.objects.count() == 0
