"""Employment's imports (employment, graduates, trainees) through the shared staged import, the case-engine
workflows (专项服务对象, 一人一策), the plain records and their indicators."""

from __future__ import annotations

import json
from datetime import date

import pytest

from canlian.casework import importing
from canlian.casework.importing import roster_import, roster_stage
from canlian.casework.models import Case, JobFair, TrainingAttendance, TrainingEnrolment
from canlian.casework.programmes.employment_cases import (
    graduate_employment_by_town,
    graduate_register,
    job_support_list,
)
from canlian.casework.programmes.employment_records import (
    job_fair_create,
    job_fairs_by_town,
    trainees_by_town,
    training_class_create,
    training_enrol,
    training_session_add,
)
from canlian.casework.services import case_move
from canlian.cli import main
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog
from canlian.registry.models import EmploymentPeriod
from canlian.workplan.selectors import progress

from .conftest import xlsx_bytes

pytestmark = pytest.mark.django_db

HEADERS = ["姓名", "身份证号", "就业形式", "就业单位", "开始日期", "结束日期"]


def _errors(staged):
    return [(e["row"], e["column"], e["message"]) for e in staged.errors()]


@pytest.fixture
def people(make_person):
    return {
        "a": make_person(name="张伟", birth=date(1990, 3, 1), employment_status="未就业"),
        "b": make_person(name="李娜", birth=date(1985, 7, 9)),
        "c": make_person(name="王芳", birth=date(1970, 1, 1), town="木渎镇"),
    }


@pytest.mark.parametrize("bulk", [False, True], ids=["per-row", "bulk"])
def test_employment_import_counts_errors_and_reimport(users, people, monkeypatch, bulk):
    monkeypatch.setattr(importing, "BULK_MIN_ROWS", 1 if bulk else 10_000)
    a, b, c = people["a"], people["b"], people["c"]
    rows = [
        ["张伟", a.id_number, "按比例", "吴中电子厂", date(2021, 3, 1), date(2022, 12, 31)],
        ["张伟", a.id_number, "灵活就业", "", "2023-02-01", ""],
        ["李娜", b.id_number, "公益岗", "甪直镇社区", "2023/4/1", ""],
        ["王芳", c.id_number, "上门", "", "2023-01-01", ""],  # unknown form
        ["张伟", a.id_number, "集中", "福利厂", "2022-06-01", "2022-08-01"],  # overlaps row 2
        ["李娜", b.id_number, "集中", "", "2023-04-01", ""],  # same start twice
        ["王芳", c.id_number, "集中", "", "2023-05-01", "2023-04-01"],  # end before start
    ]
    data = xlsx_bytes(HEADERS, rows)
    staged = roster_stage("employment", data, acting_user=users["district"], filename="就业.xlsx")
    assert staged.counts == {"rows": 7, "created": 3, "updated": 0, "unchanged": 0, "rejected": 4}
    assert _errors(staged) == [
        (
            5,
            "就业形式",
            "未知的就业形式“上门”，应为 按比例、集中、个体/自主创业、农村种养加、公益性岗位、辅助性就业 或 灵活就业",
        ),
        (6, "开始日期", "与已有就业记录（2021-03-01～2022-12-31，按比例就业，吴中电子厂）时间重叠"),
        (7, "开始日期", "与第4行重复（同一人同一开始日期）"),
        (8, "结束日期", "结束日期不能早于开始日期"),
    ]
    assert not EmploymentPeriod.objects.exists()
    staged = roster_import("employment", data, acting_user=users["district"], filename="就业.xlsx")
    assert staged.counts["created"] == 3
    assert list(
        EmploymentPeriod.objects.filter(person=a)
        .order_by("valid_from")
        .values_list("status", "valid_from", "valid_to", "kind")
    ) == [
        ("unemployed", a.birth_date, date(2021, 2, 28), ""),
        ("employed", date(2021, 3, 1), date(2022, 12, 31), "quota"),
        ("unemployed", date(2023, 1, 1), date(2023, 1, 31), ""),
        ("employed", date(2023, 2, 1), None, "flexible"),
    ]
    a.refresh_from_db()
    assert a.employment_status == "employed"
    assert AuditLog.objects.filter(action="employment.record").count() == 3
    # again: unchanged, nothing written
    staged = roster_import("employment", data, acting_user=users["district"], filename="就业.xlsx")
    assert (staged.counts["created"], staged.counts["unchanged"]) == (0, 3)
    assert AuditLog.objects.filter(action="employment.record").count() == 3


def test_employment_import_cli_json_and_town_scope(users, people, cli_token, tmp_path, capsys):
    a, c = people["a"], people["c"]
    path = tmp_path / "就业.xlsx"
    path.write_bytes(
        xlsx_bytes(
            HEADERS,
            [
                ["张伟", a.id_number, "按比例", "甲厂", "2023-01-01", ""],
                ["王芳", c.id_number, "集中", "", "2023-01-01", ""],
            ],
        )
    )
    cli_token(users["town_luzhi"])
    assert main(["services", "import", "employment", str(path), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert {k: result[k] for k in ("rows", "created", "updated", "unchanged", "rejected")} == {
        "rows": 2,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    assert result["errors"] == [{"row": 3, "column": "身份证号", "message": "该残疾人不在您的管辖范围内"}]
    assert EmploymentPeriod.objects.filter(person=a, status="employed").count() == 1


def test_graduates_import_plans_and_the_rate(users, people, towns):
    a, b, c = people["a"], people["b"], people["c"]
    data = xlsx_bytes(
        ["姓名", "身份证号", "毕业院校", "专业", "毕业日期", "就业情况", "就业单位", "落实日期"],
        [
            ["张伟", a.id_number, "苏州大学", "软件工程", "2023-06-30", "已就业", "吴中软件园", "2023-08-01"],
            ["李娜", b.id_number, "苏州职业大学", "会计", "2023-06-30", "", "", ""],
            ["王芳", c.id_number, "南京特教学院", "", "2023-06-30", "升学", "", ""],
            ["王芳", c.id_number, "南京特教学院", "", "2023-07-01", "已就业", "", ""],  # no employer; repeat
        ],
    )
    staged = roster_import("graduates", data, acting_user=users["district"], filename="毕业生.xlsx")
    assert staged.counts == {"rows": 4, "created": 3, "updated": 0, "unchanged": 0, "rejected": 1}
    assert _errors(staged) == [(5, "就业单位", "已就业的毕业生请填写就业单位")]
    luzhi, mudu = towns["甪直镇"].pk, towns["木渎镇"].pk
    assert graduate_employment_by_town(2023) == ({luzhi: 1}, {luzhi: 2, mudu: 1})
    # 李娜's plan, a step, then employed: 2 of 2 in 甪直镇
    case = Case.objects.get(programme="graduate", person=b)
    case = case_move(
        acting_user=users["town_luzhi"],
        case=case,
        move="plan",
        expected_state="listed",
        plan_on=date(2023, 7, 1),
        plan="一、职业测评；二、推荐岗位",
    )
    case = case_move(
        acting_user=users["town_luzhi"],
        case=case,
        move="step",
        expected_state="planned",
        step_on=date(2023, 7, 10),
        step="参加助残招聘会",
    )
    case_move(
        acting_user=users["town_luzhi"],
        case=case,
        move="employ",
        expected_state="planned",
        closed_on=date(2023, 9, 1),
        employer="甪直镇社区卫生服务中心",
    )
    assert graduate_employment_by_town(2023) == ({luzhi: 2}, {luzhi: 2, mudu: 1})
    assert graduate_employment_by_town(2022) == ({}, {})
    with pytest.raises(ValidationFailed) as exc:
        graduate_register(
            acting_user=users["district"], person=a, applied_on=date(2023, 12, 31), school="苏大"
        )
    assert exc.value.errors == {"id_number": "张伟已登记为 2023 年毕业生"}
    rate = progress(2023)["indicators"]["graduate_employment_rate"]
    assert (rate["actual"], rate["denominator"], rate["rate"]) == (2, 3, "66.7")
    assert rate["by_town"]["甪直镇"] == 2 and rate["by_town_denominator"]["木渎镇"] == 1


def test_job_support_file_four_services(users, people):
    a, b = people["a"], people["b"]
    from canlian.casework.programmes.employment import employment_record

    employment_record(
        acting_user=users["district"], person=b, kind="quota", employer="", valid_from=date(2023, 1, 1)
    )
    with pytest.raises(ValidationFailed) as exc:
        job_support_list(acting_user=users["town_luzhi"], person=b, applied_on=date(2023, 3, 1))
    assert exc.value.errors == {"id_number": "李娜在 2023-03-01 处于就业状态，不列入专项服务对象清单"}
    case = job_support_list(acting_user=users["town_luzhi"], person=a, applied_on=date(2023, 3, 1))
    steps = [
        ("check", "listed", {"check_on": date(2023, 3, 2), "check_note": "电话核实，有就业意愿"}),
        ("assess", "checked", {"assess_on": date(2023, 3, 10), "assessment": "可从事简单手工"}),
        ("register", "assessed", {"demand_on": date(2023, 3, 10), "demand": "手工装配"}),
        ("serve", "registered", {"service_on": date(2023, 3, 20), "service": "推荐至吴中电子厂面试"}),
    ]
    for move, state, data in steps:
        case = case_move(acting_user=users["town_luzhi"], case=case, move=move, expected_state=state, **data)
    assert case.state == "served"
    assert case.data == {
        "check_on": "2023-03-02",
        "check_note": "电话核实，有就业意愿",
        "assess_on": "2023-03-10",
        "assessment": "可从事简单手工",
        "demand_on": "2023-03-10",
        "demand": "手工装配",
        "service_on": "2023-03-20",
        "service": "推荐至吴中电子厂面试",
    }
    assert AuditLog.objects.filter(action__startswith="case.job_support.").count() == 5  # open + 4 moves
    with pytest.raises(ValidationFailed) as exc:
        case_move(
            acting_user=users["town_luzhi"],
            case=case,
            move="employ",
            expected_state="served",
            closed_on=date(2023, 2, 1),
        )
    assert exc.value.errors == {"closed_on": "日期不能早于2023-03-01"}
    with pytest.raises(PermissionDenied):
        case_move(
            acting_user=users["town_mudu"],
            case=case,
            move="employ",
            expected_state="served",
            closed_on=date(2023, 4, 1),
        )


def test_training_job_fairs_and_their_indicators(users, people, towns):
    a, b, c = people["a"], people["b"], people["c"]
    luzhi, mudu = towns["甪直镇"], towns["木渎镇"]
    tc = training_class_create(
        acting_user=users["town_luzhi"],
        kind="heritage",
        name="2023年木雕技艺培训班",
        subject="木雕",
        town=luzhi,
        starts_on=date(2023, 1, 1),
        ends_on=date(2023, 3, 31),
    )
    late = training_class_create(
        acting_user=users["district"],
        kind="massage",
        name="盲人按摩提升班",
        town=mudu,
        starts_on=date(2024, 1, 1),
        ends_on=date(2024, 2, 1),
    )
    ea, _ = training_enrol(
        acting_user=users["town_luzhi"], training_class=tc, person=a, enrolled_on=date(2023, 1, 1)
    )
    training_enrol(
        acting_user=users["town_luzhi"], training_class=tc, person=b, enrolled_on=date(2022, 12, 20)
    )
    training_enrol(
        acting_user=users["district"], training_class=late, person=c, enrolled_on=date(2023, 12, 1)
    )
    with pytest.raises(PermissionDenied):  # another town's class
        training_enrol(
            acting_user=users["town_mudu"], training_class=tc, person=c, enrolled_on=date(2023, 1, 2)
        )
    s = training_session_add(
        acting_user=users["town_luzhi"],
        training_class=tc,
        held_on=date(2023, 1, 5),
        topic="工具与安全",
        present=[ea.pk],
    )
    assert (s.seq, list(TrainingAttendance.objects.values_list("enrolment_id", flat=True))) == (1, [ea.pk])
    with pytest.raises(ValidationFailed) as exc:
        training_session_add(
            acting_user=users["town_luzhi"], training_class=tc, held_on=date(2023, 4, 1), present=[]
        )
    assert exc.value.errors == {"held_on": "上课日期应在 2023-01-01 至 2023-03-31 之间"}
    _, outcome = training_enrol(
        acting_user=users["town_luzhi"],
        training_class=tc,
        person=b,
        enrolled_on=date(2022, 12, 20),
        certificate="木雕技艺结业证书",
        certified_on=date(2023, 3, 31),
    )
    assert outcome == "updated"
    assert trainees_by_town(2023) == {luzhi.pk: 2}
    assert trainees_by_town(2024) == {mudu.pk: 1}
    # trainees import: certificate for 张伟, an unknown class
    data = xlsx_bytes(
        ["姓名", "身份证号", "培训班", "报名日期", "证书名称", "发证日期"],
        [
            ["张伟", a.id_number, "2023年木雕技艺培训班", "", "木雕技艺结业证书", "2023-03-31"],
            ["张伟", a.id_number, "不存在的班", "", "", ""],
        ],
    )
    staged = roster_import("trainees", data, acting_user=users["town_luzhi"], filename="学员.xlsx")
    assert staged.counts == {"rows": 2, "created": 0, "updated": 1, "unchanged": 0, "rejected": 1}
    assert _errors(staged) == [(3, "培训班", "未登记的培训班“不存在的班”，请先在“培训班”中登记")]
    assert TrainingEnrolment.objects.get(pk=ea.pk).certificate == "木雕技艺结业证书"

    fair = dict(kind="help_day", place="甪直镇文体中心", employers=12, positions=40, attendees=30)
    job_fair_create(
        acting_user=users["town_luzhi"],
        title="助残日专场",
        held_on=date(2023, 5, 21),
        town=luzhi,
        offers=8,
        **fair,
    )
    job_fair_create(
        acting_user=users["district"], title="援助月", held_on=date(2023, 12, 31), town=mudu, offers=0, **fair
    )
    job_fair_create(
        acting_user=users["district"], title="援助月", held_on=date(2024, 1, 1), town=mudu, offers=0, **fair
    )
    with pytest.raises(ValidationFailed) as exc:
        job_fair_create(
            acting_user=users["town_luzhi"],
            title="越权",
            held_on=date(2023, 5, 1),
            town=mudu,
            offers=0,
            **fair,
        )
    assert exc.value.errors == {"town": "请选择您管辖范围内的镇(街道)"}
    with pytest.raises(ValidationFailed) as exc:
        job_fair_create(
            acting_user=users["town_luzhi"],
            title="多",
            held_on=date(2023, 5, 1),
            town=luzhi,
            offers=31,
            **fair,
        )
    assert exc.value.errors == {"offers": "达成就业意向人数不能多于参会残疾人数"}
    assert job_fairs_by_town(2023) == {luzhi.pk: 1, mudu.pk: 1}
    assert JobFair.objects.count() == 3
