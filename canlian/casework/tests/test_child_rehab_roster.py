"""The child-rehabilitation roster (KIND child_rehab) through the engine's staged import: exact counts, errors
by row and column, the preview writes nothing, re-import is unchanged, a correction is audited, the CLI."""

from __future__ import annotations

import json
from datetime import date

import pytest

from canlian.casework.child_rehab_models import ChildRehabProfile
from canlian.casework.importing import roster_import, roster_stage
from canlian.casework.models import Case
from canlian.cli import main
from canlian.common.masking import mask_id_number
from canlian.common.models import AuditLog

from .conftest import designated, xlsx_bytes

pytestmark = pytest.mark.django_db

HEADERS = ["儿童姓名", "身份证号码", "监护人", "残疾类别", "定点康复机构", "开始日期", "结束日期"]


@pytest.fixture
def world(users, district2, towns, make_person, id_for):
    rehab = designated(users, district2, towns, "甪直镇启明康复中心", kind="rehab_institution")
    designated(users, district2, towns, "甪直镇阳光托养中心", kind="custodial_provider")

    def kid(name, birth, town="甪直镇"):
        return make_person(name=name, birth=birth, town=town, category=5, grade=2, issue=date(2022, 1, 5))

    a = kid("小明", date(2018, 3, 10))
    b = kid("小红", date(2005, 7, 20))  # 18 on 2023-07-20
    c = kid("小刚", date(2016, 1, 1), town="木渎镇")
    rows = [
        ["小明", a.id_number, "王芳", "孤独症", rehab.name, date(2023, 3, 1), None],
        ["小红", b.id_number, "李强", "肢体残疾", rehab.name, "2023-07-19", "2023-12-31"],
        ["小刚", c.id_number, "赵敏", "自闭症", rehab.name, "2023/05/01", ""],
        ["小红", b.id_number, "李强", "肢体", rehab.name, "2023-07-20", ""],  # 18 on the start date
        ["小明", a.id_number, "王芳", "学习困难", rehab.name, "2023-04-01", ""],  # unknown category
        ["小明", a.id_number, "王芳", "孤独症", "甪直镇阳光托养中心", "2023-04-01", ""],  # not rehab
        [
            "小白",
            id_for(date(2019, 1, 1), 88),
            "某某",
            "智力",
            rehab.name,
            "2023-04-01",
            "",
        ],  # not registered
        ["小明", a.id_number, "", "孤独症", rehab.name, "2023-13-01", ""],  # no guardian, bad date
        ["小明", a.id_number, "王芳", "孤独症", rehab.name, date(2023, 3, 1), None],  # duplicate of row 2
    ]
    return {"a": a, "b": b, "c": c, "rehab": rehab, "bytes": xlsx_bytes(HEADERS, rows)}


def _errors(staged):
    return [(e["row"], e["column"], e["message"]) for e in staged.errors()]


def test_preview_then_import_then_reimport(users, world):
    staged = roster_stage("child_rehab", world["bytes"], acting_user=users["district"])
    assert staged.counts == {"rows": 9, "created": 3, "updated": 0, "unchanged": 0, "rejected": 6}
    assert _errors(staged) == [
        (5, "开始日期", "开始日期儿童 18 周岁，不在康复救助范围（0 至未满 18 周岁）"),
        (6, "残疾类别", "未知的康复类别“学习困难”，应为 视力、听力、言语、肢体、智力、孤独症、多重"),
        (7, "定点康复机构", "“甪直镇阳光托养中心”是托养机构，不是定点康复机构"),
        (
            8,
            "身份证号码",
            f"未找到身份证号为 {mask_id_number(staged.rows[6].values['id_number'])} 的儿童，请先登记",
        ),
        (9, "监护人", "监护人不能为空"),
        (9, "开始日期", "日期“2023-13-01”不存在"),
        (10, "开始日期", "与第2行重复（同一儿童同一开始日期）"),
    ]
    assert Case.objects.count() == 0
    done = roster_import("child_rehab", world["bytes"], acting_user=users["district"])
    assert done.counts["created"] == 3 and done.counts["rejected"] == 6
    cases = {c.person.name: c for c in Case.objects.filter(programme="child_rehab").select_related("person")}
    assert {n: (c.state, c.opened_on, c.closed_on) for n, c in cases.items()} == {
        "小明": ("in_service", date(2023, 3, 1), None),
        "小红": ("ended", date(2023, 7, 19), date(2023, 12, 31)),
        "小刚": ("in_service", date(2023, 5, 1), None),
    }
    assert cases["小刚"].town.name == "木渎镇"
    profile = ChildRehabProfile.objects.get(pk=cases["小刚"].pk)
    assert (profile.category, profile.guardian_name, profile.residence) == ("autism", "赵敏", "hukou")
    assert AuditLog.objects.filter(action="case.child_rehab.apply").count() == 3
    again = roster_stage("child_rehab", world["bytes"], acting_user=users["district"])
    assert again.counts == {"rows": 9, "created": 0, "updated": 0, "unchanged": 3, "rejected": 6}
    fix = xlsx_bytes(
        HEADERS,
        [["小明", world["a"].id_number, "王建国", "多重", world["rehab"].name, "2023-03-01", "2023-06-30"]],
    )
    out = roster_import("child_rehab", fix, acting_user=users["district"])
    assert out.counts == {"rows": 1, "created": 0, "updated": 1, "unchanged": 0, "rejected": 0}
    case = Case.objects.get(pk=cases["小明"].pk)
    assert case.closed_on == date(2023, 6, 30)
    assert (case.child_rehab.category, case.child_rehab.guardian_name) == ("multiple", "王建国")
    audit = (
        AuditLog.objects.filter(action="case.child_rehab.update", object_id=str(case.pk))
        .order_by("id")
        .last()
    )
    assert audit.changes == {"category": ["autism", "multiple"], "guardian_name": ["王芳", "王建国"]}


def test_town_staff_import_only_their_children(users, world):
    staged = roster_stage("child_rehab", world["bytes"], acting_user=users["town_luzhi"])
    assert (4, "身份证号码", "该儿童不在您的管辖范围内") in _errors(staged)


def test_cli_json_and_exit_codes(users, cli_token, world, tmp_path, capsys):
    cli_token(users["district"])  # an import runs as a proven user
    path = tmp_path / "康复名单.xlsx"
    path.write_bytes(world["bytes"])
    assert main(["services", "import", "child_rehab", str(path), "--dry-run", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert {k: out[k] for k in ("rows", "created", "updated", "unchanged", "rejected")} == {
        "rows": 9,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 6,
    }
    assert out["errors"][0] == {
        "row": 5,
        "column": "开始日期",
        "message": "开始日期儿童 18 周岁，不在康复救助范围（0 至未满 18 周岁）",
    }
    assert Case.objects.count() == 0
    good = tmp_path / "good.xlsx"
    good.write_bytes(
        xlsx_bytes(
            ["姓名", "身份证号", "监护人", "康复类别", "服务机构", "开始日期", "结束日期"],
            [["小明", world["a"].id_number, "王芳", "孤独症", world["rehab"].name, "2023-03-01", ""]],
        )
    )
    assert main(["services", "import", "child_rehab", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "rows": 1,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "errors": [],
    }
