"""Person import: the circumstance columns (无固定收入 … 迁出日期), dated, set-based and idempotent."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from python_calamine import CalamineWorkbook

from canlian.common.models import AuditLog
from canlian.registry import importers
from canlian.registry.importers import persons_import, persons_stage
from canlian.registry.models import Person, PersonCircumstance

from .test_import import HEADERS, TODAY, errors_of, row, write_xlsx

FACT_HEADERS = [
    *HEADERS,
    "无固定收入",
    "一户多残或依老养残",
    "工伤保险生活护理费",
    "孤儿或事实无人抚养",
    "老年护理补贴(元/月)",
    "迁出日期",
    "一户多残或依老养残起始日期",
]
BORN = date(1975, 7, 9)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def pid(id_for):
    return lambda n: id_for(BORN, 300 + n)


def frow(id_number, *, nfi="", multi="", injury="", orphan="", elderly="", moved="", multi_from="", **kw):
    return [*row(id_number, **kw), nfi, multi, injury, orphan, elderly, moved, multi_from]


def periods():
    return sorted(
        (p.person.name, p.kind, p.valid_from, p.valid_to, p.amount, p.source)
        for p in PersonCircumstance.objects.select_related("person")
    )


def run(path, user, today=TODAY):
    return persons_import(path, acting_user=user, today=today)


def test_new_persons_get_their_facts_dated_from_the_import_or_the_file(tmp_path, users, pid):
    path = write_xlsx(
        tmp_path / "facts.xlsx",
        [
            frow(pid(1), name="赵无收", nfi="是"),
            frow(pid(2), name="钱多残", multi="√", multi_from="2025-03-01"),
            frow(pid(3), name="孙工伤", injury="1"),
            frow(pid(4), name="李孤儿", orphan="Y"),
            frow(pid(5), name="周老护", elderly="200.5"),
            frow(pid(6), name="吴迁出", moved=date(2025, 5, 31)),
            frow(pid(7), name="郑没有", nfi="否", injury="N", orphan="0"),
        ],
        FACT_HEADERS,
    )
    staged = run(path, users["district"])
    assert staged.counts == {"rows": 7, "created": 7, "updated": 0, "unchanged": 0, "rejected": 0}
    assert periods() == [
        ("吴迁出", "moved_out", date(2025, 5, 31), None, None, "导入"),
        ("周老护", "elderly_care", TODAY, None, Decimal("200.50"), "导入"),
        ("孙工伤", "injury_care", TODAY, None, None, "导入"),
        ("李孤儿", "orphan_allowance", TODAY, None, None, "导入"),
        ("赵无收", "no_fixed_income", TODAY, None, None, "导入"),
        ("钱多残", "multiple_in_household", date(2025, 3, 1), None, None, "导入"),
    ]
    assert Person.objects.get(name="吴迁出").status == Person.Status.MOVED_OUT
    assert Person.objects.get(name="赵无收").status == Person.Status.ACTIVE
    assert set(PersonCircumstance.objects.values_list("created_by", flat=True)) == {users["district"].pk}
    assert AuditLog.objects.filter(action="person.import_create").count() == 7

    # the same file again changes nothing
    before = (periods(), AuditLog.objects.count(), list(Person.objects.values_list("pk", "updated_at")))
    again = run(path, users["district"], today=TODAY + timedelta(days=20))
    assert again.counts == {"rows": 7, "created": 0, "updated": 0, "unchanged": 7, "rejected": 0}
    after = (periods(), AuditLog.objects.count(), list(Person.objects.values_list("pk", "updated_at")))
    assert after == before


def test_no_ends_an_open_period_the_day_before_and_blank_changes_nothing(tmp_path, users, pid):
    first = write_xlsx(
        tmp_path / "a.xlsx",
        [frow(pid(1), name="赵无收", nfi="是", injury="是"), frow(pid(2), name="钱老护", elderly="150")],
        FACT_HEADERS,
    )
    run(first, users["district"], today=date(2025, 3, 1))
    later = date(2025, 8, 1)
    second = write_xlsx(
        tmp_path / "b.xlsx",
        [frow(pid(1), name="赵无收", nfi="否"), frow(pid(2), name="钱老护", elderly="180")],
        FACT_HEADERS,
    )
    staged = persons_stage(second, acting_user=users["district"], today=later)
    assert staged.counts["updated"] == 2
    previews = {p["name"]: p["changes"] for p in staged.change_previews()}
    assert previews["赵无收"] == {"无固定收入": ["是，2025-03-01 起", "否（2025-07-31 止）"]}
    assert previews["钱老护"] == {
        "老年护理补贴(元/月)": ["150.00 元/月，2025-03-01 起", "180.00 元/月，2025-08-01 起"]
    }
    run(second, users["district"], today=later)
    assert periods() == [
        ("赵无收", "injury_care", date(2025, 3, 1), None, None, "导入"),  # blank: unchanged
        ("赵无收", "no_fixed_income", date(2025, 3, 1), date(2025, 7, 31), None, "导入"),
        ("钱老护", "elderly_care", date(2025, 3, 1), date(2025, 7, 31), Decimal("150.00"), "导入"),
        ("钱老护", "elderly_care", date(2025, 8, 1), None, Decimal("180.00"), "导入"),
    ]
    audit = AuditLog.objects.filter(action="person.import_update", object_repr__startswith="赵无收").get()
    assert audit.changes == {"no_fixed_income": ["是，2025-03-01 起", "否（2025-07-31 止）"]}
    # and again: unchanged
    assert run(second, users["district"], today=later).counts["unchanged"] == 2


def test_bad_values_are_rejected_with_row_column_and_reason(tmp_path, users, pid):
    path = write_xlsx(
        tmp_path / "bad.xlsx",
        [
            frow(pid(1), name="赵一", nfi="可能"),
            frow(pid(2), name="钱二", elderly="abc"),
            frow(pid(3), name="孙三", elderly="12.345"),
            frow(pid(4), name="李四", moved="2099-01-01"),
            frow(pid(5), name="周五", multi="是", multi_from="明年"),
            frow(pid(6), name="吴六", moved="1900-01-01"),
        ],
        FACT_HEADERS,
    )
    staged = persons_stage(path, acting_user=users["district"], today=TODAY)
    assert staged.counts["rejected"] == 6
    assert errors_of(staged) == [
        (2, "无固定收入", "无固定收入应填“是”或“否”（也可填 Y/N、1/0、√，不填表示不变），不能填“可能”"),
        (3, "老年护理补贴(元/月)", "老年护理补贴应填每月金额（元），金额“abc”不是数字"),
        (4, "老年护理补贴(元/月)", "老年护理补贴应填每月金额（元），金额最多精确到分（两位小数）"),
        (5, "迁出日期", "迁出日期不能晚于今天"),
        (6, "一户多残或依老养残起始日期", "无法识别的日期“明年”，请用 2019-05-06、2019/5/6 或 2019年5月6日"),
        (7, "迁出日期", "日期早于出生日期"),
    ]
    assert not PersonCircumstance.objects.exists() and not Person.objects.exists()

    report = tmp_path / "report.xlsx"
    importers.report_write(staged, report)
    sheet = CalamineWorkbook.from_path(str(report)).get_sheet_by_name("错误明细").to_python()
    assert ["2", "无固定收入"] == [str(int(sheet[1][0])), sheet[1][1]]


def test_a_different_move_date_is_refused_and_a_closed_period_is_not_overlapped(tmp_path, users, pid):
    run(
        write_xlsx(tmp_path / "a.xlsx", [frow(pid(1), name="吴迁出", moved="2025-05-31")], FACT_HEADERS),
        users["district"],
    )
    staged = persons_stage(
        write_xlsx(tmp_path / "b.xlsx", [frow(pid(1), name="吴迁出", moved="2025-06-30")], FACT_HEADERS),
        acting_user=users["district"],
        today=TODAY,
    )
    assert errors_of(staged) == [
        (2, "迁出日期", "已登记于 2025-05-31 迁出，与本行的 2025-06-30 不一致；如需更正请在档案页操作")
    ]


def test_template_carries_the_new_columns(tmp_path, users):
    out = tmp_path / "template.xlsx"
    importers.template_write(out)
    book = CalamineWorkbook.from_path(str(out))
    header = book.get_sheet_by_name("残疾人名单").to_python()[0]
    assert header[-6:] == [
        "无固定收入",
        "一户多残或依老养残",
        "工伤保险生活护理费",
        "孤儿或事实无人抚养",
        "老年护理补贴(元/月)",
        "迁出日期",
    ]
    notes = {r[0]: r[2] for r in book.get_sheet_by_name("说明").to_python()[1:] if r and r[0]}
    assert "迁出当月照发，次月起停发" in notes["迁出日期"]
    # the example row of the template imports as nothing
    staged = persons_stage(out, acting_user=users["district"], today=TODAY)
    assert staged.counts["rejected"] == 1


def test_a_fact_recorded_between_preview_and_commit_stops_the_commit(tmp_path, users, pid):
    from canlian.registry.circumstances import circumstance_add
    from canlian.registry.importers import ImportConflict, persons_commit

    run(write_xlsx(tmp_path / "a.xlsx", [frow(pid(1), name="赵无收")], FACT_HEADERS), users["district"])
    staged = persons_stage(
        write_xlsx(tmp_path / "b.xlsx", [frow(pid(1), name="赵无收", nfi="是")], FACT_HEADERS),
        acting_user=users["district"],
        today=TODAY,
    )
    assert staged.counts["updated"] == 1
    person = Person.objects.get()
    circumstance_add(
        acting_user=users["district"], person=person, kind="no_fixed_income", valid_from=date(2025, 1, 1)
    )
    before = periods()
    with pytest.raises(ImportConflict, match="第2行对应的档案在校验后已被修改"):
        persons_commit(staged, acting_user=users["district"])
    assert periods() == before


def test_excel_booleans_and_numbers_as_flags(tmp_path, users, pid):
    import xlsxwriter

    path = tmp_path / "bools.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, FACT_HEADERS)
    ws.write_row(1, 0, row(pid(1), name="赵一"))
    ws.write_boolean(1, len(HEADERS), True)  # 无固定收入
    ws.write_number(1, len(HEADERS) + 2, 1)  # 工伤保险生活护理费
    ws.write_number(1, len(HEADERS) + 4, 150)  # 老年护理补贴
    wb.close()
    staged = run(path, users["district"])
    assert staged.counts["created"] == 1, list(staged.errors())
    assert [(k, a) for _n, k, _f, _t, a, _s in periods()] == [
        ("elderly_care", Decimal("150.00")),
        ("injury_care", None),
        ("no_fixed_income", None),
    ]


def test_header_aliases_and_start_columns(tmp_path, users, pid):
    headers = [
        *HEADERS,
        "是否一户多残",
        "一户多残起始日期",
        "老年护理补贴",
        "老年护理补贴起始日期",
        "迁出时间",
    ]
    path = write_xlsx(
        tmp_path / "aliases.xlsx",
        [[*row(pid(1), name="赵一"), "√", "2024-02-29", "120", date(2024, 3, 31), "2025/6/1"]],
        headers,
    )
    assert run(path, users["district"]).counts["created"] == 1
    assert periods() == [
        ("赵一", "elderly_care", date(2024, 3, 31), None, Decimal("120.00"), "导入"),
        ("赵一", "moved_out", date(2025, 6, 1), None, None, "导入"),
        ("赵一", "multiple_in_household", date(2024, 2, 29), None, None, "导入"),
    ]
