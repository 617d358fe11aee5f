"""A roster import's own audit row, written with its rows, and the sliced commit on SQLite
(``staged_import.run``): the write lock is free between slices, every slice is whole or absent, a slice that
fails stops the import with the slices before it kept (said in Chinese and in an audit row) and importing the
same file again finishes it."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection  # noqa: F401  (the skipif conditions name it)

from canlian.casework import importing
from canlian.casework.importing import roster_import
from canlian.casework.models import Case, DueItem
from canlian.casework.programmes.custodial_roster import CustodialRoster
from canlian.common import staged_import
from canlian.common.exceptions import DomainError
from canlian.common.models import AuditLog
from canlian.common.staged_import import PHASE_WRITE, ImportInterrupted

from .conftest import xlsx_bytes

pytestmark = pytest.mark.django_db(transaction=True)

HEADERS = ["姓名", "身份证号", "托养方式", "服务机构", "开始日期", "结束日期"]


@pytest.fixture
def six(make_person, provider):
    """A roster of six valid placements (rows 2–7) and one rejected row (8)."""
    names = ["张伟", "李娜", "王芳", "刘洋", "陈静", "周强"]
    people = [
        make_person(name=n, category=5, grade=2, birth=date(1980 + i, 3, 1)) for i, n in enumerate(names)
    ]
    rows = [
        [p.name, p.id_number, "日间照料", provider.name, f"2023-0{i + 1}-01", ""]
        for i, p in enumerate(people)
    ]
    rows.append(["赵六", "123", "日间照料", provider.name, "2023-03-01", ""])
    return xlsx_bytes(HEADERS, rows)


@pytest.fixture
def sliced(settings, monkeypatch):
    """Sliced writes (the SQLite default; forced on PostgreSQL too), two valid rows per slice, bulk commit."""
    settings.CANLIAN_SLICED_WRITES = True
    monkeypatch.setattr(staged_import, "SLICE_ROWS", 2)
    monkeypatch.setattr(importing, "BULK_MIN_ROWS", 0)


def test_the_import_audit_row_is_written_in_the_same_transaction_as_the_rows(
    users, six, settings, monkeypatch
):
    settings.CANLIAN_SLICED_WRITES = False

    def audit_fails(self, staged, **kw):
        raise RuntimeError("the audit write failed")

    monkeypatch.setattr(CustodialRoster, "committed", audit_fails)
    with pytest.raises(RuntimeError):
        roster_import("custodial_care", six, acting_user=users["district"], filename="托养.xlsx")
    assert (Case.objects.count(), DueItem.objects.count()) == (0, 0)
    assert not AuditLog.objects.filter(action__startswith="case.").exists()
    monkeypatch.undo()
    settings.CANLIAN_SLICED_WRITES = False
    staged = roster_import("custodial_care", six, acting_user=users["district"], filename="托养.xlsx")
    assert staged.committed and Case.objects.count() == 6
    (done,) = AuditLog.objects.filter(action="roster.import")
    assert done.user == users["district"] and done.detail == "导入托养服务名单：托养.xlsx"
    assert done.changes == {
        "roster": "custodial_care",
        "file": "托养.xlsx",
        "rows": 7,
        "created": 6,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
    }


@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="SQLite's single write lock")
def test_the_write_lock_is_free_between_slices(users, six, sliced, other_writer_can_write):
    seen = []

    def progress(done, total, message=""):
        if message == PHASE_WRITE:
            seen.append((done, total, other_writer_can_write()))

    staged = roster_import("custodial_care", six, acting_user=users["district"], progress=progress)
    assert staged.committed and staged.counts["created"] == 6
    assert seen == [(2, 6, True), (4, 6, True), (6, 6, True)]
    assert Case.objects.count() == 6
    assert AuditLog.objects.filter(action="case.custodial_care.open").count() == 6
    assert AuditLog.objects.filter(action="roster.import").count() == 1


def test_a_slice_that_fails_stops_the_import_and_the_same_file_finishes_it(users, six, sliced, monkeypatch):
    real, calls = CustodialRoster.commit_many, []

    def second_slice_fails(self, rows, ctx, **kw):
        calls.append(len(rows))
        if len(calls) == 2:
            raise DomainError("“甪直镇阳光托养中心”已被撤销认定。")
        return real(self, rows, ctx, **kw)

    monkeypatch.setattr(CustodialRoster, "commit_many", second_slice_fails)
    with pytest.raises(ImportInterrupted) as stopped:
        roster_import("custodial_care", six, acting_user=users["district"], filename="托养.xlsx")
    assert stopped.value.message == (
        "导入在第4行所在的一批停止：“甪直镇阳光托养中心”已被撤销认定。第4行之前的行已写入（新增2，更新0），"
        "其余未写入；处理上述问题后重新导入同一文件即可继续，已写入的行将显示为“无变化”"
    )
    assert Case.objects.count() == 2  # the first slice, whole; nothing of the second
    assert AuditLog.objects.filter(action="case.custodial_care.open").count() == 2
    (audit,) = AuditLog.objects.filter(action="roster.import_interrupted")
    assert audit.changes == {
        "roster": "custodial_care",
        "file": "托养.xlsx",
        "rows": 7,
        "created": 2,
        "updated": 0,
        "stopped_at_row": 4,
        "reason": "“甪直镇阳光托养中心”已被撤销认定",
    }
    assert not AuditLog.objects.filter(action="roster.import").exists()

    monkeypatch.setattr(CustodialRoster, "commit_many", real)
    again = roster_import("custodial_care", six, acting_user=users["district"], filename="托养.xlsx")
    assert again.committed
    assert (again.counts["unchanged"], again.counts["created"], again.counts["rejected"]) == (2, 4, 1)
    assert Case.objects.count() == 6
    assert AuditLog.objects.filter(action="case.custodial_care.open").count() == 6
    (done,) = AuditLog.objects.filter(action="roster.import")
    assert (done.changes["created"], done.changes["unchanged"]) == (4, 2)


def test_a_failure_in_the_first_slice_writes_nothing(users, six, sliced, monkeypatch):
    def fails(self, rows, ctx, **kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(CustodialRoster, "commit_many", fails)
    with pytest.raises(RuntimeError, match="disk full"):
        roster_import("custodial_care", six, acting_user=users["district"])
    assert Case.objects.count() == 0
    assert not AuditLog.objects.filter(action__startswith="roster.").exists()
