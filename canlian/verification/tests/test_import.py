"""Outside lists: every kind from .xlsx and .csv, ID normalisation, invalid IDs kept and fuzzy-matched,
row errors with row and column, the column-mapping step remembered per source, permissions, audit."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.common.exceptions import PermissionDenied
from canlian.common.models import AuditLog
from canlian.common.spreadsheet import SpreadsheetError
from canlian.verification.importers import MappingRequired
from canlian.verification.models import ListKind, Match, OutsideList, OutsideRow, OutsideSource
from canlian.verification.services import outside_list_import

from .conftest import csv_bytes, xlsx_bytes

pytestmark = pytest.mark.django_db
DAY = date(2023, 8, 2)

# kind → (headers, one row given the person's ID); every required column present
LAYOUTS = {
    "deaths": (["姓名", "身份证号", "死亡日期"], lambda n, i: [n, i, "2023-05-20"]),
    "dibao": (["姓名", "身份证号", "起始日期", "终止日期"], lambda n, i: [n, i, "2020-01-01", "2023-06-30"]),
    "tekun": (["姓名", "身份证号", "起始日期"], lambda n, i: [n, i, "2023-07-01"]),
    "injury_care": (["姓名", "身份证号", "起始日期"], lambda n, i: [n, i, "2023-07-15"]),
    "elderly_care": (
        ["姓名", "身份证号", "起始日期", "月补贴金额"],
        lambda n, i: [n, i, "2023-07-01", "200.50"],
    ),
    "moved_out": (["姓名", "身份证号", "迁出日期"], lambda n, i: [n, i, "2023-06-15"]),
    "cert_cancelled": (["姓名", "身份证号", "注销日期"], lambda n, i: [n, i, "2023-07-10"]),
}


def _import(user, content, kind, *, name="来源单位", filename="名单.xlsx", mapping=None, complete=False):
    return outside_list_import(
        acting_user=user,
        source=content,
        kind=kind,
        filename=filename,
        source_name=name,
        received_on=DAY,
        mapping=mapping,
        complete=complete,
    )


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
@pytest.mark.parametrize("kind", list(LAYOUTS))
def test_every_kind_imports_from_xlsx_and_csv(staff, make_person, kind, fmt):
    # given a registered person and a list of this kind naming them, plus a stranger
    person = make_person(name="张伟")
    headers, row = LAYOUTS[kind]
    rows = [row("张伟", person.id_number), row("赵六", "11010519491231002X")]
    content = xlsx_bytes(headers, rows) if fmt == "xlsx" else csv_bytes(headers, rows)
    # when it is imported
    result = _import(staff["district"], content, kind, filename=f"名单.{fmt}")
    # then both rows are kept, the person matched exactly by ID, the stranger unmatched
    assert result.counts == {"rows": 2, "matched_exact": 1, "candidates": 0, "unmatched": 1, "invalid_ids": 0}
    lst = result.outside_list
    assert (lst.kind, lst.source.name, lst.received_on, lst.uploaded_by, lst.row_count) == (
        kind,
        "来源单位",
        DAY,
        staff["district"],
        2,
    )
    first = OutsideRow.objects.get(outside_list=lst, row_number=2)
    assert (first.name, first.id_number, first.birth_date) == ("张伟", person.id_number, date(1980, 5, 6))
    assert Match.objects.get(row=first).person_id == person.pk
    if kind == "elderly_care":
        assert first.amount_fen == 20050
    if kind == "dibao":
        assert (first.event_date, first.end_date) == (date(2020, 1, 1), date(2023, 6, 30))
    audit = AuditLog.objects.get(action="verification.import", object_id=str(lst.pk))
    assert audit.changes["matched_exact"] == [None, 1]
    assert audit.user == staff["district"]


def test_ids_normalised_as_in_the_registry(staff, make_person):
    # given persons whose IDs the list writes in full width, with spaces, lower-case x, and 15 digits
    a = make_person(name="张伟", birth=date(1980, 5, 6))
    b = make_person(name="李娜", birth=date(1975, 11, 8))
    c = make_person(name="王芳", birth=date(1962, 3, 4))
    full_width = a.id_number.translate({ord(ch): ord(ch) + 0xFEE0 for ch in "0123456789X"})
    spaced = f" {b.id_number[:6]} {b.id_number[6:14]} {b.id_number[14:].lower()} "
    fifteen = c.id_number[:6] + c.id_number[8:17]
    assert len(fifteen) == 15
    content = xlsx_bytes(
        ["姓名", "身份证号", "死亡日期"],
        [["张伟", full_width, "2023-05-01"], ["李娜", spaced, "2023-05-02"], ["王芳", fifteen, "2023-05-03"]],
    )
    # when imported
    result = _import(staff["district"], content, "deaths")
    # then all three match exactly, through the blind index
    assert result.counts == {"rows": 3, "matched_exact": 3, "candidates": 0, "unmatched": 0, "invalid_ids": 0}
    got = dict(Match.objects.values_list("row__row_number", "person_id"))
    assert got == {2: a.pk, 3: b.pk, 4: c.pk}
    assert OutsideRow.objects.get(row_number=4).id_number == c.id_number  # stored as its 18-digit form
    assert set(Match.objects.values_list("match_type", "status")) == {("exact", "auto")}


def test_invalid_ids_are_kept_reported_and_fuzzy_matched(staff, make_person):
    person = make_person(name="张伟", birth=date(1980, 5, 6))
    typo = person.id_number[:15] + str((int(person.id_number[15]) + 1) % 10) + person.id_number[16:]
    content = xlsx_bytes(
        ["姓名", "身份证号", "出生日期", "死亡日期"],
        [
            ["张伟", typo, "", "2023-05-01"],  # one digit off: checksum fails
            ["张玮", "", "1980-05-06", "2023-05-02"],  # no ID, same pinyin and birth date
            ["陌生人", "123", "", "2023-05-03"],  # too short, nothing to go on
        ],
    )
    result = _import(staff["district"], content, "deaths")
    assert result.counts == {"rows": 3, "matched_exact": 0, "candidates": 2, "unmatched": 1, "invalid_ids": 3}
    assert [(e["row"], e["column"]) for e in result.errors] == [
        (2, "身份证号"),
        (3, "身份证号"),
        (4, "身份证号"),
    ]
    assert result.errors[0]["message"].startswith("身份证号校验位错误")
    assert result.errors[1]["message"] == "身份证号不能为空（已保留，按姓名和出生日期模糊比对）"
    rows = {r.row_number: r for r in OutsideRow.objects.all()}
    assert (rows[2].id_number, rows[2].id_raw, rows[2].id_index) == ("", typo, "")
    assert rows[2].birth_date == date(1980, 5, 6)  # read from the ID's date part despite the typo
    candidates = {m.row.row_number: m for m in Match.objects.select_related("row")}
    assert (candidates[2].person_id, candidates[2].match_type, candidates[2].status) == (
        person.pk,
        "id_typo_same_name",
        "pending",
    )
    assert candidates[2].evidence["id_distance"] == 1
    assert (candidates[3].person_id, candidates[3].match_type) == (person.pk, "name_birth_no_id")


def test_row_errors_name_row_and_column_and_the_row_is_not_kept(staff, make_person):
    person = make_person()
    content = xlsx_bytes(
        ["姓名", "身份证号", "死亡日期"],
        [
            ["张伟", person.id_number, "2023-02-30"],
            ["李娜", "11010519491231002X", ""],
            ["", "", "2023-01-01"],
            ["张伟", person.id_number, "2023/5/20"],
        ],
    )
    result = _import(staff["district"], content, "deaths")
    assert (result.rejected, result.counts["rows"]) == (3, 1)
    assert result.errors == [
        {"row": 2, "column": "死亡日期", "message": "日期“2023-02-30”不存在"},
        {"row": 3, "column": "死亡日期", "message": "死亡日期不能为空"},
        {"row": 4, "column": "姓名", "message": "姓名和身份证号均为空"},
    ]
    assert list(OutsideRow.objects.values_list("row_number", "event_date")) == [(5, date(2023, 5, 20))]
    assert result.outside_list.errors == result.errors


def test_all_rows_wrong_writes_nothing(staff):
    content = xlsx_bytes(["姓名", "身份证号", "死亡日期"], [["李娜", "11010519491231002X", "明天"]])
    with pytest.raises(
        Exception, match="没有可以导入的行（1 行有误）：第2行“死亡日期”：无法识别的日期“明天”"
    ):
        _import(staff["district"], content, "deaths")
    assert OutsideList.objects.count() == 0
    assert OutsideSource.objects.count() == 0


def test_mapping_step_is_remembered_per_source(staff, make_person):
    person = make_person()
    headers = ["死者", "公民证件", "去世时间"]
    content = xlsx_bytes(headers, [["张伟", person.id_number, "2023-05-20"]])
    # when a file's columns are not recognised, the importer asks which is which
    with pytest.raises(MappingRequired) as info:
        _import(staff["district"], content, "deaths", name="殡仪馆")
    assert info.value.headers == headers
    assert info.value.missing == ["name", "id_number", "event_date"]
    assert "姓名、身份证号、死亡日期" in info.value.message
    assert OutsideList.objects.count() == 0
    # given the mapping, the list imports and the source remembers it
    mapping = {"name": "死者", "id_number": "公民证件", "event_date": "去世时间"}
    first = _import(staff["district"], content, "deaths", name="殡仪馆", mapping=mapping)
    assert first.counts["matched_exact"] == 1
    assert OutsideSource.objects.get(kind="deaths", name="殡仪馆").mapping == mapping
    # the next file from that source needs no mapping; another source still does
    second = _import(staff["district"], content, "deaths", name="殡仪馆")
    assert second.counts["rows"] == 1
    assert OutsideRow.objects.get(outside_list=second.outside_list).event_date == date(2023, 5, 20)
    with pytest.raises(MappingRequired):
        _import(staff["district"], content, "deaths", name="另一家殡仪馆")


def test_partial_header_asks_only_for_what_is_missing(staff, make_person):
    person = make_person()
    content = csv_bytes(["姓名", "身份证号", "去世时间"], [["张伟", person.id_number, "2023-05-20"]])
    with pytest.raises(MappingRequired) as info:
        _import(staff["district"], content, "deaths", filename="x.csv")
    assert info.value.missing == ["event_date"]
    assert info.value.found == {"name": "姓名", "id_number": "身份证号"}


def test_unreadable_file_and_excel_number_ids(staff):
    with pytest.raises(SpreadsheetError, match="PDF"):
        _import(staff["district"], b"%PDF-1.4 junk", "deaths", filename="x.pdf")
    content = xlsx_bytes(["姓名", "身份证号", "死亡日期"], [["张伟", "3.20506E+17", "2023-05-20"]])
    result = _import(staff["district"], content, "deaths")
    assert result.counts["invalid_ids"] == 1
    assert "Excel" in result.errors[0]["message"]


def test_complete_flag_only_for_dibao(staff, make_person):
    person = make_person()
    content = xlsx_bytes(["姓名", "身份证号"], [["张伟", person.id_number]])
    assert _import(staff["district"], content, "dibao", complete=True).outside_list.complete is True
    assert _import(staff["district"], content, "tekun", complete=True).outside_list.complete is False


@pytest.mark.parametrize("who", ["town_luzhi", "leader", "auditor", "admin"])
def test_only_district_staff_import(staff, make_person, who):
    person = make_person()
    content = xlsx_bytes(["姓名", "身份证号", "死亡日期"], [["张伟", person.id_number, "2023-05-20"]])
    with pytest.raises(PermissionDenied):
        _import(staff[who], content, "deaths")
    assert (OutsideList.objects.count(), OutsideRow.objects.count(), Match.objects.count()) == (0, 0, 0)


def test_kinds_are_the_seven_of_the_issue():
    assert ListKind.values == [
        "deaths",
        "dibao",
        "tekun",
        "injury_care",
        "elderly_care",
        "moved_out",
        "cert_cancelled",
    ]
