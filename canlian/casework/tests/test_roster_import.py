"""The custodial-care roster through the staged import: exact counts, row/column errors, warnings, report,
preview writes nothing, re-import is unchanged, the CLI's JSON and exit codes."""

from __future__ import annotations

import json
from datetime import date

import openpyxl
import pytest

from canlian.casework.importing import report_write, roster_import, roster_stage
from canlian.casework.models import Case, DueItem
from canlian.cli import main
from canlian.common.audit_display import describe
from canlian.common.models import AuditLog

from .conftest import xlsx_bytes

pytestmark = pytest.mark.django_db

HEADERS = ["姓名", "身份证号", "托养方式", "服务机构", "开始日期", "结束日期"]


@pytest.fixture
def world(make_person, provider, id_for):
    a = make_person(name="张伟", category=5, grade=2, birth=date(1990, 3, 1))
    b = make_person(name="李娜", category=4, grade=3, birth=date(1985, 7, 9))  # outside the target: warning
    c = make_person(name="王芳", category=6, grade=1, birth=date(1970, 1, 1), town="木渎镇")
    rows = [
        ["张伟", a.id_number, "日间照料", provider.name, date(2023, 3, 1), None],
        ["李娜", b.id_number, "寄宿制", provider.name, "2023/4/1", "2023年6月30日"],
        ["王芳", c.id_number, "日托", provider.name, "2023-05-01", ""],
        ["赵六", id_for(date(1988, 1, 1), 77), "居家托养", provider.name, "2023-05-01", ""],  # not registered
        ["张伟", a.id_number, "上门", provider.name, "2023-06-01", ""],  # unknown mode
        [
            "李娜",
            b.id_number[:17] + ("0" if b.id_number[17] != "0" else "1"),
            "寄宿制",
            provider.name,
            "2023-04-01",
            "",
        ],
        ["王芳", c.id_number, "居家托养", "不存在的机构", "2023-13-01", "2023-01-01"],
        ["张三", a.id_number, "日间照料", provider.name, date(2023, 3, 1), None],  # wrong name
    ]
    return {"a": a, "b": b, "c": c, "bytes": xlsx_bytes(HEADERS, rows)}


def _errors(staged):
    return [(e["row"], e["column"], e["message"]) for e in staged.errors()]


def test_preview_writes_nothing_and_says_exactly_what_is_wrong(users, world):
    audits = AuditLog.objects.count()
    staged = roster_stage(
        "custodial_care", world["bytes"], acting_user=users["district"], filename="名单.xlsx"
    )
    assert staged.counts == {"rows": 8, "created": 3, "updated": 0, "unchanged": 0, "rejected": 5}
    errs = _errors(staged)
    assert (
        errs[0][:2] == (5, "身份证号")
        and errs[0][2].startswith("未找到身份证号为 ")
        and errs[0][2].endswith(" 的持证残疾人，请先登记")
    )
    assert errs[1:] == [
        (6, "托养方式", "未知的托养方式“上门”，应为 寄宿制、日间照料 或 居家托养"),
        (7, "身份证号", errs[2][2]),
        (8, "服务机构", "未登记的服务机构“不存在的机构”，请先在“服务机构”中登记并认定"),
        (8, "开始日期", "日期“2023-13-01”不存在"),
        (9, "姓名", "姓名与登记不符（登记为“张伟”）"),
    ]
    assert errs[2][2].startswith("身份证号校验位错误")
    warnings = list(staged.warnings())
    assert [(w["row"], w["column"]) for w in warnings] == [(3, "身份证号")]
    assert "残疾类别等级为肢体三级" in warnings[0]["message"]
    assert Case.objects.count() == 0 and AuditLog.objects.count() == audits


@pytest.mark.parametrize("bulk", [False, True], ids=["per-row", "bulk"])
def test_import_commits_valid_rows_and_reimport_is_unchanged(users, world, provider, monkeypatch, bulk):
    from canlian.casework import importing

    monkeypatch.setattr(importing, "BULK_MIN_ROWS", 0 if bulk else 10**9)
    staged = roster_import("custodial_care", world["bytes"], acting_user=users["district"])
    assert staged.counts == {"rows": 8, "created": 3, "updated": 0, "unchanged": 0, "rejected": 5}
    cases = {c.person.name: c for c in Case.objects.select_related("person")}
    assert {
        n: (c.state, c.opened_on, c.closed_on, c.data["mode"], c.town.name) for n, c in cases.items()
    } == {
        "张伟": ("placed", date(2023, 3, 1), None, "day_care", "甪直镇"),
        "李娜": ("ended", date(2023, 4, 1), date(2023, 6, 30), "boarding", "甪直镇"),
        "王芳": ("placed", date(2023, 5, 1), None, "day_care", "木渎镇"),
    }
    # return visits every 30 days from the start, for a year (placed cases only)
    visits = list(DueItem.objects.filter(case=cases["张伟"]).values_list("seq", "due_on")[:2])
    assert visits == [(1, date(2023, 3, 31)), (2, date(2023, 4, 30))]
    assert DueItem.objects.filter(case=cases["张伟"]).count() == 12
    assert not DueItem.objects.filter(case=cases["李娜"]).exists()
    assert AuditLog.objects.filter(action="case.custodial_care.open").count() == 3
    again = roster_import("custodial_care", world["bytes"], acting_user=users["district"])
    assert again.counts == {"rows": 8, "created": 0, "updated": 0, "unchanged": 3, "rejected": 5}
    changed = xlsx_bytes(
        HEADERS, [["张伟", world["a"].id_number, "寄宿制", provider.name, "2023-03-01", "2023-04-30"]]
    )
    third = roster_import("custodial_care", changed, acting_user=users["district"])
    assert third.counts == {"rows": 1, "created": 0, "updated": 1, "unchanged": 0, "rejected": 0}
    case = Case.objects.get(person=world["a"])
    assert (case.data, case.closed_on) == ({"mode": "boarding"}, date(2023, 4, 30))
    # due on or before the new end date (03-31, 04-30) are kept; the 10 after it are cancelled
    assert DueItem.objects.filter(case=case, cancelled=False).count() == 2
    audit = AuditLog.objects.get(action="case.custodial_care.update")
    assert audit.changes["closed_on"] == [None, "2023-04-30"] and audit.changes["due_items_cancelled"] == [
        None,
        10,
    ]


def test_town_staff_only_register_their_town(users, world):
    staged = roster_stage("custodial_care", world["bytes"], acting_user=users["town_luzhi"])
    assert (4, "身份证号", "该残疾人不在您的管辖范围内") in _errors(staged)


def test_error_report(users, world, tmp_path):
    staged = roster_stage("custodial_care", world["bytes"], acting_user=users["district"])
    out = tmp_path / "report.xlsx"
    report_write(staged, out)
    ws = openpyxl.load_workbook(out).active
    assert [c.value for c in ws[1]] == [*HEADERS, "错误", "提示"]
    assert ws.cell(6, 3).value == "上门" and ws.cell(6, 3).fill.fgColor.rgb == "FFF8CBAD"
    assert ws.cell(6, 2).fill.fgColor.rgb != "FFF8CBAD"
    assert ws.cell(6, 7).value == "托养方式：未知的托养方式“上门”，应为 寄宿制、日间照料 或 居家托养"
    assert ws.cell(3, 8).value.startswith("身份证号：不计入托养新增任务")


def test_cli_json_and_exit_codes(users, cli_token, world, tmp_path, capsys):
    cli_token(users["district"])  # an import runs as a proven user
    path = tmp_path / "托养名单.xlsx"
    path.write_bytes(world["bytes"])
    assert main(["services", "import", "custodial_care", str(path), "--dry-run", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert {k: out[k] for k in ("rows", "created", "updated", "unchanged", "rejected")} == {
        "rows": 8,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 5,
    }
    assert out["errors"][1] == {
        "row": 6,
        "column": "托养方式",
        "message": "未知的托养方式“上门”，应为 寄宿制、日间照料 或 居家托养",
    }
    assert Case.objects.count() == 0
    good = tmp_path / "good.xlsx"
    good.write_bytes(
        xlsx_bytes(
            HEADERS, [["张伟", world["a"].id_number, "日间照料", "甪直镇阳光托养中心", "2023-03-01", ""]]
        )
    )
    assert main(["services", "import", "custodial_care", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "rows": 1,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "errors": [],
    }
    (done,) = AuditLog.objects.filter(action="roster.import")  # the dry run wrote none
    assert (done.user, done.object_repr, done.object_id) == (users["district"], "good.xlsx", "")
    assert done.changes == {
        "roster": "custodial_care",
        "file": "good.xlsx",
        "rows": 1,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    (shown,) = describe([done])
    assert shown.action_label == "导入服务名单" and shown.object_type_label == "服务名单导入"
    labels = {c.label: c.new for c in shown.change_list}  # jsonb keeps no key order
    assert (labels["名单类型"], labels["文件"], labels["行数"]) == ("托养服务名单", "good.xlsx", "1")
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a spreadsheet at all")
    assert main(["services", "import", "custodial_care", str(bad), "--json"]) == 2
    assert "error" in json.loads(capsys.readouterr().out)
    assert main(["services", "import", "no_such_kind", str(good), "--json"]) == 2
    from canlian.casework.importing import roster_kinds

    assert json.loads(capsys.readouterr().out) == {
        "error": f"未知的名单类型“no_such_kind”，可选：{'、'.join(roster_kinds())}"
    }
    assert {"child_rehab", "custodial_care", "devices"} <= set(roster_kinds())


def test_workplan_progress_cli(users, world, capsys):
    roster_import("custodial_care", world["bytes"], acting_user=users["district"])
    assert main(["workplan", "progress", "2023", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ind = out["indicators"]["custodial_new"]
    assert out["year"] == 2023 and set(ind) == {"name", "actual", "target", "by_town", "by_town_target"}
    assert (ind["name"], ind["actual"], ind["target"]) == ("新增残疾人托养", 2, None)
    assert ind["by_town"]["甪直镇"] == 1 and ind["by_town"]["木渎镇"] == 1


def test_running_placement_before_the_visit_interval_is_known_is_rejected(
    users, make_person, district2, towns
):
    """The return-visit interval has values from 2020-01-01: a placement still running from 2019 cannot
    get its visits and is rejected at its start date (it used to stop the whole import with a traceback);
    one that ended in 2019 needs no visits and is kept."""
    from .conftest import designated

    provider = designated(users, district2, towns, "甪直镇老牌托养中心", start=date(2015, 1, 1))
    a = make_person(name="张伟", category=5, grade=2, birth=date(1990, 3, 1))
    b = make_person(name="王芳", category=6, grade=1, birth=date(1970, 1, 1))
    data = xlsx_bytes(
        HEADERS,
        [
            ["张伟", a.id_number, "日间照料", provider.name, "2019-06-01", ""],
            ["王芳", b.id_number, "寄宿制", provider.name, "2019-06-01", "2019-12-31"],
        ],
    )
    staged = roster_import("custodial_care", data, acting_user=users["district"])
    assert staged.counts == {"rows": 2, "created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    assert _errors(staged) == [
        (
            2,
            "开始日期",
            "无法安排回访：参数“托养服务机构回访间隔（天）”在 2019-06-01 尚无取值（已知最早取值自 2020-01-01 起）",
        )
    ]
    assert Case.objects.get().person == b
