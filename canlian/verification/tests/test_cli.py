"""``canlian verify import`` and ``canlian verify run`` with --json and exact numbers."""

from __future__ import annotations

import json
from datetime import date

import pytest

from canlian.verification.cli import verify_import_cli, verify_run_cli
from canlian.verification.models import OutsideList, OutsideSource

from . import world
from .conftest import csv_bytes, xlsx_bytes

pytestmark = pytest.mark.django_db


def test_import_json(tmp_path, capsys, staff, make_person):
    a = make_person(name="张伟", birth=date(1980, 5, 6))
    b = make_person(name="李娜", birth=date(1975, 11, 8))
    typo = b.id_number[:15] + str((int(b.id_number[15]) + 1) % 10) + b.id_number[16:]
    path = tmp_path / "死亡名单.xlsx"
    path.write_bytes(
        xlsx_bytes(
            ["姓名", "身份证号", "死亡日期"],
            [["张伟", a.id_number, "2023-05-20"], ["李娜", typo, "2023-05-21"], ["某某", "", "2023-05-22"]],
        )
    )
    code = verify_import_cli(
        "deaths", str(path), True, staff["district"], source="殡仪馆", received_on="2023-08-02"
    )
    out, err = capsys.readouterr()
    assert code == 0
    got = json.loads(out)
    # kept rows whose ID number is invalid: warnings (matched by name and birth date), not errors
    assert [(w["row"], w["column"]) for w in got.pop("warnings")] == [(3, "身份证号"), (4, "身份证号")]
    assert got == {
        # the contract of every import (common.staged_import): every row kept is a row created
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "errors": [],
        "rows": 3,
        "matched_exact": 1,
        "candidates": 1,
        "unmatched": 1,
        "invalid_ids": 2,
        "fuzzy_matches": [
            {
                "row": 3,
                "person_id": b.pk,
                "status": "pending",
                "match_type": "id_typo_same_name",
                "score": 0.97,
                "rule": "身份证号相差一位（或相邻两位颠倒），姓名拼音相同",
                "agree": [
                    "姓名",
                    "姓名拼音",
                    "出生日期",
                    "性别（身份证号第17位）",
                    "户籍区县代码（身份证号前6位）",
                ],
                "differ": ["顺序码（身份证号第15-17位）", "身份证号"],
            }
        ],
    }
    assert "第3行“身份证号”：身份证号校验位错误" in err
    assert OutsideList.objects.get().received_on == date(2023, 8, 2)


def test_import_with_mapping_from_the_command_line(tmp_path, capsys, staff, make_person):
    person = make_person()
    path = tmp_path / "x.csv"
    path.write_bytes(csv_bytes(["死者", "证件号码", "去世时间"], [["张伟", person.id_number, "2023-05-20"]]))
    assert verify_import_cli("deaths", str(path), True, staff["district"], source="殡仪馆") == 2
    err = capsys.readouterr().err
    assert "文件中的列：死者、证件号码、去世时间" in err
    assert "--map name=<表头> --map event_date=<表头>" in err
    code = verify_import_cli(
        "deaths",
        str(path),
        True,
        staff["district"],
        mapping=["name=死者", "event_date=去世时间"],
        source="殡仪馆",
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["matched_exact"] == 1
    assert OutsideSource.objects.get().mapping == {"name": "死者", "event_date": "去世时间"}


def test_import_refusals(tmp_path, capsys, staff):
    assert verify_import_cli("births", "x.xlsx", True, staff["district"]) == 2
    assert "未知的名单类型 births" in capsys.readouterr().err
    assert verify_import_cli("deaths", str(tmp_path / "none.xlsx"), True, staff["district"]) == 2
    assert "找不到文件" in capsys.readouterr().err
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"%PDF-1.4")
    assert verify_import_cli("deaths", str(bad), False, staff["district"]) == 2
    assert "PDF" in capsys.readouterr().err
    good = tmp_path / "ok.xlsx"
    good.write_bytes(
        xlsx_bytes(["姓名", "身份证号", "死亡日期"], [["张伟", "11010519491231002X", "2023-05-20"]])
    )
    assert verify_import_cli("deaths", str(good), True, staff["leader"]) == 1
    assert "只有区残联业务科室" in capsys.readouterr().err
    assert OutsideList.objects.count() == 0


def test_run_json(capsys, staff, make_person):
    w = world.build(make_person)
    world.import_lists(staff["district"], w["persons"])
    assert verify_run_cli(True, staff["district"], month="2023-08") == 0
    assert json.loads(capsys.readouterr().out) == {
        "findings": {
            "deceased": 2,
            "left_dibao": 1,
            "entered_tekun": 2,
            "injury_care": 1,
            "elderly_care_overlap": 1,
            "cert_expired": 1,
            "cert_cancelled": 1,
            "child_rehab_age": 1,
            "custodial_age": 1,
            "duplicate_person": 1,
            "moved_out": 1,
        },
        "candidates": 1,
    }
    assert verify_run_cli(False, staff["district"], month="2023-08") == 0
    out = capsys.readouterr().out
    assert "处理名单 0 份，新发现疑点 0 条，待确认候选匹配 0 条" in out
    assert verify_run_cli(True, staff["district"], month="2023-13") == 2
    assert verify_run_cli(True, staff["town_luzhi"]) == 1
    assert "只有区残联业务科室可以运行数据比对" in capsys.readouterr().err


def test_import_dry_run_checks_every_row_writes_nothing_and_reports(
    tmp_path, capsys, staff, make_person, cli_password
):
    from openpyxl import load_workbook

    from canlian.cli import main

    person = make_person(name="张伟", birth=date(1980, 5, 6))
    path = tmp_path / "死亡名单.xlsx"
    path.write_bytes(
        xlsx_bytes(
            ["姓名", "身份证号", "死亡日期"],
            [["张伟", person.id_number, "2023-05-20"], ["李娜", "123", "2023-05-21"], ["某某", "", "明天"]],
        )
    )
    report = tmp_path / "报告.xlsx"
    args = ["verify", "import", "deaths", str(path), "--json", "--user", "district1", "--source", "殡仪馆"]
    code = main([*args, "--dry-run", "--report", str(report)])
    got = json.loads(capsys.readouterr().out)
    assert code == 1  # a row is rejected
    assert got == {
        "rows": 3,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
        "errors": [
            {
                "row": 4,
                "column": "死亡日期",
                "message": "无法识别的日期“明天”，请用 2019-05-06、2019/5/6 或 2019年5月6日",
            }
        ],
        "warnings": [{"row": 3, "column": "身份证号", "message": got["warnings"][0]["message"]}],
    }
    assert not OutsideList.objects.exists() and not OutsideSource.objects.exists()
    ws = load_workbook(report)["名单"]
    assert [c.value for c in ws[1]] == ["姓名", "身份证号", "死亡日期", "处理结果", "错误说明", "提示"]
    assert [ws.cell(r, 4).value for r in (2, 3, 4)] == ["将新增", "将新增", "有错误，不导入"]
    assert ws.cell(3, 6).value.startswith("身份证号：")
    # the same file imported: the two good rows are kept, the bad one reported; exit 1 for the rejected row
    assert main([*args, "--report", str(report)]) == 1
    got = json.loads(capsys.readouterr().out)
    assert (got["rows"], got["created"], got["rejected"], got["matched_exact"]) == (3, 2, 1, 1)
    assert OutsideList.objects.get().row_count == 2
    assert load_workbook(report)["名单"].cell(2, 4).value == "已新增"
