"""The person import on SQLite commits in slices (``importers.persons_commit_sliced``): SQLite's write lock
is free between slices; a slice that cannot be written stops the import with the slices before it kept,
says so in Chinese and in an audit row, and re-running the same file finishes it (idempotent)."""

from __future__ import annotations

import pytest
from django.db import connection  # noqa: F401  (the skipif conditions name it)

from canlian.common.models import AuditLog
from canlian.registry import importers
from canlian.registry.importers import ImportConflict, ImportInterrupted, persons_import
from canlian.registry.models import Person
from canlian.registry.services import person_create
from canlian.registry.validation import RegionLookup, validate_person_record

from .test_import import TODAY, row, write_xlsx
from .test_import import media as media
from .test_import import pid as pid

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def sliced(settings, monkeypatch):
    """Sliced writes (the SQLite default; forced on PostgreSQL too), two rows per slice."""
    settings.CANLIAN_SLICED_WRITES = True
    monkeypatch.setattr(importers, "SLICE_ROWS", 2)


def register(id_number: str, user, name: str = "李娜"):
    record, errors = validate_person_record(
        {
            "name": name,
            "id_number": id_number,
            "certificate_number": f"{id_number}41",
            "issue_date": "2018-01-01",
            "town": "甪直镇",
            "household_type": "农村",
        },
        regions=RegionLookup.load(),
        today=TODAY,
    )
    assert not errors, errors
    return person_create(acting_user=user, record=record)


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_the_write_lock_is_free_between_slices(tmp_path, users, pid, other_writer_can_write):
    path = write_xlsx(tmp_path / "a.xlsx", [row(pid(n)) for n in range(1, 6)])
    seen = []

    def progress(done, total, message=""):
        if message == importers.PHASE_COMMIT:
            seen.append((done, total, other_writer_can_write()))

    staged = persons_import(path, acting_user=users["district"], today=TODAY, progress=progress)
    assert staged.committed and staged.counts["created"] == 5
    assert seen == [(2, 5, True), (4, 5, True), (5, 5, True)]
    assert Person.objects.count() == 5
    assert AuditLog.objects.filter(action="person.import_create").count() == 5
    (done,) = AuditLog.objects.filter(action="import.commit")
    assert done.changes["created"] == 5


def test_a_slice_that_cannot_be_written_stops_the_import_and_the_same_file_finishes_it(tmp_path, users, pid):
    district = users["district"]
    path = write_xlsx(tmp_path / "a.xlsx", [row(pid(n)) for n in range(1, 7)])

    def someone_registers_row_6_meanwhile(done, total, message=""):
        if message == importers.PHASE_COMMIT and done == 2:
            register(pid(5), users["town_luzhi"])

    with pytest.raises(ImportInterrupted) as stopped:
        persons_import(path, acting_user=district, today=TODAY, progress=someone_registers_row_6_meanwhile)
    assert stopped.value.message == (
        "导入在第6行所在的一批停止：第6行的身份证号在校验后已被登记，请重新校验后再导入。"
        "第6行之前的行已写入（新增4人，更新0人），其余未写入；"
        "处理上述问题后重新导入同一文件即可继续，已写入的行将显示为“无变化”"
    )
    assert Person.objects.count() == 5  # rows 2–5 and the one registered meanwhile
    (audit,) = AuditLog.objects.filter(action="import.interrupted")
    assert audit.changes == {
        "created": 4,
        "updated": 0,
        "communities_created": 0,
        "stopped_at_row": 6,
        "reason": "第6行的身份证号在校验后已被登记，请重新校验后再导入",
    }
    assert not AuditLog.objects.filter(action="import.commit").exists()

    again = persons_import(path, acting_user=district, today=TODAY)
    assert again.committed
    assert (again.counts["unchanged"], again.counts["created"], again.counts["updated"]) == (4, 1, 1)
    assert Person.objects.count() == 6
    assert set(Person.objects.values_list("name", flat=True)) == {"王芳"}


def test_a_conflict_in_the_first_slice_writes_nothing(tmp_path, users, pid):
    path = write_xlsx(tmp_path / "a.xlsx", [row(pid(n)) for n in range(1, 4)])
    staged = importers.persons_stage(path, acting_user=users["district"], today=TODAY)
    register(pid(2), users["town_luzhi"])
    with pytest.raises(ImportConflict, match="第3行的身份证号在校验后已被登记，本次导入未写入任何数据"):
        importers.persons_commit(staged, acting_user=users["district"])
    assert Person.objects.count() == 1
    assert not AuditLog.objects.filter(action__in=["import.commit", "import.interrupted"]).exists()
