"""Home accessibility renovation end to end on the engine: eligibility (grade, hardship in the month, the
house), one active case per household, the plan against the dated cap, photos, maker ≠ checker, the
indicator's date boundaries and the roster import."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from canlian.casework.importing import roster_import, roster_stage
from canlian.casework.models import Attachment, Case, RenovationItem
from canlian.casework.programmes import renovation as rn
from canlian.casework.services import attachment_read, case_move
from canlian.cli import main
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog, WorkflowHistory
from canlian.registry.services import economic_status_change

from .conftest import xlsx_bytes

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0fake-jpeg-bytes"


@pytest.fixture
def poor(make_person, users):
    def _make(name="张伟", grade=1, status="dibao", since=date(2023, 1, 1), address="甪直镇南港村18号", **kw):
        p = make_person(name=name, grade=grade, address=address, **kw)
        if status:
            economic_status_change(acting_user=users["district"], person=p, status=status, valid_from=since)
        return p

    return _make


def _apply(users, person, on=date(2023, 3, 1), alterable=True, user="town_luzhi"):
    return rn.renovation_apply(
        acting_user=users[user], person=person, applied_on=on, house_alterable=alterable
    )


def _to_planned(users, case):
    c = case_move(acting_user=users["town_luzhi"], case=case, move="town_review", expected_state="applied")
    rn.renovation_photo_add(
        acting_user=users["town_luzhi"],
        case=c,
        stage="survey",
        name="卫生间.jpg",
        content=JPEG,
        content_type="image/jpeg",
    )
    c = case_move(
        acting_user=users["town_luzhi"],
        case=c,
        move="survey",
        expected_state="town_reviewed",
        survey_on=date(2023, 3, 10),
        survey_notes="卫生间无扶手，门槛高 8 厘米",
    )
    rn.renovation_item_add(
        acting_user=users["town_luzhi"],
        case=c,
        name="卫生间扶手",
        unit="套",
        quantity="2",
        unit_price="450.50",
    )
    rn.renovation_item_add(
        acting_user=users["town_luzhi"], case=c, name="门槛坡化", unit="处", quantity="3", unit_price="1200"
    )
    return case_move(acting_user=users["town_luzhi"], case=c, move="plan", expected_state="surveyed")


def test_renovation_through_every_step_by_the_roles_that_do_them(users, poor, make_user):
    person = poor()
    case = _apply(users, person)
    assert (case.state, case.data["hardship"], case.data["household"]) == (
        "applied",
        "低保",
        f"{person.town_id}:甪直镇南港村18号",
    )
    c = _to_planned(users, case)
    assert c.state == "planned" and c.data["plan_total"] == "4501.00"  # 2×450.50 + 3×1200
    # the planner may not approve their own plan; a second district user is not the planner either
    with pytest.raises(PermissionDenied):
        case_move(acting_user=users["town_luzhi"], case=c, move="approve", expected_state="planned")
    c = case_move(acting_user=users["district"], case=c, move="approve", expected_state="planned")
    with pytest.raises(ValidationFailed) as exc:
        case_move(
            acting_user=users["town_luzhi"],
            case=c,
            move="procure",
            expected_state="approved",
            contractor="苏州安居装饰",
            amount_contract=Decimal("4501.01"),
            works_from=date(2023, 4, 1),
        )
    assert exc.value.errors == {
        "amount_contract": "合同金额应大于 0、精确到分，且不超过审定方案合计 4,501.00 元"
    }
    c = case_move(
        acting_user=users["town_luzhi"],
        case=c,
        move="procure",
        expected_state="approved",
        contractor="苏州安居装饰",
        amount_contract=Decimal("4480.00"),
        works_from=date(2023, 4, 1),
    )
    c = case_move(
        acting_user=users["town_luzhi"],
        case=c,
        move="complete",
        expected_state="in_works",
        works_to=date(2023, 4, 20),
    )
    # acceptance needs a photo and someone who neither procured nor recorded the works
    with pytest.raises(ValidationFailed) as exc:
        case_move(
            acting_user=users["district"],
            case=c,
            move="accept",
            expected_state="works_done",
            closed_on=date(2023, 4, 25),
        )
    assert exc.value.errors == {"photo": "请先上传竣工验收照片"}
    rn.renovation_photo_add(
        acting_user=users["town_luzhi"],
        case=c,
        stage="acceptance",
        name="验收.png",
        content=b"png",
        content_type="image/png",
    )
    before = (Case.objects.get(pk=c.pk).version, WorkflowHistory.objects.count(), AuditLog.objects.count())
    with pytest.raises(PermissionDenied) as exc:
        case_move(
            acting_user=users["town_luzhi"],
            case=c,
            move="accept",
            expected_state="works_done",
            closed_on=date(2023, 4, 25),
        )
    assert "经办与审核须由不同人员办理" in exc.value.message
    after = Case.objects.get(pk=c.pk)
    assert (after.state, after.version, WorkflowHistory.objects.count(), AuditLog.objects.count()) == (
        "works_done",
        before[0],
        before[1],
        before[2],
    )
    with pytest.raises(ValidationFailed) as exc:
        case_move(
            acting_user=users["district"],
            case=c,
            move="accept",
            expected_state="works_done",
            closed_on=date(2023, 4, 19),
        )
    assert exc.value.errors == {"closed_on": "验收日期不能早于完工日期 2023-04-20"}
    c = case_move(
        acting_user=users["district"],
        case=c,
        move="accept",
        expected_state="works_done",
        closed_on=date(2023, 4, 25),
    )
    assert (c.state, c.closed_on) == ("accepted", date(2023, 4, 25))
    moves = list(
        AuditLog.objects.filter(object_type="casework.case", object_id=str(c.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert moves == [
        "case.renovation.open",
        "case.renovation.town_review",
        "case.renovation.attach",
        "case.renovation.survey",
        "case.renovation.item_add",
        "case.renovation.item_add",
        "case.renovation.plan",
        "case.renovation.approve",
        "case.renovation.procure",
        "case.renovation.complete",
        "case.renovation.attach",
        "case.renovation.accept",
    ]
    survey = AuditLog.objects.get(action="case.renovation.survey")
    assert survey.changes["survey_notes"] == [None, "卫生间无扶手，门槛高 8 厘米"]
    assert survey.detail == "入户勘查：镇(街道)审核通过 → 已入户勘查"
    item = AuditLog.objects.filter(action="case.renovation.item_add").order_by("id").first()
    assert item.detail == "改造方案增加“卫生间扶手”2套×450.50元=901.00元，合计901.00元"
    # photos are encrypted attachments: the stored text is not the bytes, the read is audited
    att = Attachment.objects.get(name="验收.png")
    assert b"png" not in att.content.encode() or att.content != "png"
    assert attachment_read(acting_user=users["district"], pk=att.pk)[1] == b"png"
    assert rn.renovation_done_by_town(2023) == {person.town_id: 1}


def test_eligibility_grade_hardship_in_the_month_and_the_house(users, poor):
    p3 = poor(name="李娜", grade=3, address="甪直镇1号")
    with pytest.raises(ValidationFailed) as exc:
        _apply(users, p3, alterable=False)
    assert exc.value.errors == {
        "person": "2023-03-01 无有效的一级或二级残疾人证，不在无障碍改造范围",
        "house_alterable": "住房须具备改造条件（自有或经产权人同意、不在拆迁范围）",
    }
    # hardship starting on the last day of the month counts for that month; the next month's does not
    late = poor(name="王芳", status="spending_hardship", since=date(2023, 3, 31), address="甪直镇2号")
    assert _apply(users, late, on=date(2023, 3, 1)).data["hardship"] == "支出型困难"
    later = poor(name="赵强", status="near_dibao", since=date(2023, 4, 1), address="甪直镇3号")
    with pytest.raises(ValidationFailed) as exc:
        _apply(users, later, on=date(2023, 3, 31))
    assert exc.value.errors == {
        "hardship": "2023年03月家庭经济状况不是低保、低保边缘、特困供养或支出型困难，不在无障碍改造范围"
    }
    assert Case.objects.filter(programme="renovation").count() == 1


def test_one_active_case_per_household(users, poor):
    a = poor(name="张伟")
    b = poor(name="张丽", address=" 甪直镇南港村 18号 ")  # same address, spaces aside: the same household
    case = _apply(users, a)
    n = AuditLog.objects.count()
    with pytest.raises(ValidationFailed) as exc:
        _apply(users, b)
    assert exc.value.errors == {
        "household": "同一户已有进行中的无障碍改造（张伟，2023-03-01 申请，已申请），一户一策"
    }
    assert AuditLog.objects.count() == n and Case.objects.filter(programme="renovation").count() == 1
    case_move(
        acting_user=users["town_luzhi"],
        case=case,
        move="reject",
        expected_state="applied",
        close_reason="自愿放弃",
    )
    assert _apply(users, b).state == "applied"  # the rejected case is no longer active


def test_plan_against_the_cap_and_town_scope(users, poor):
    case = _apply(users, poor())
    with pytest.raises(ValidationFailed):  # no plan before the home check
        rn.renovation_item_add(
            acting_user=users["town_luzhi"], case=case, name="扶手", unit="套", quantity=1, unit_price=100
        )
    c = case_move(acting_user=users["town_luzhi"], case=case, move="town_review", expected_state="applied")
    with pytest.raises(ValidationFailed) as exc:
        case_move(
            acting_user=users["town_luzhi"],
            case=c,
            move="survey",
            expected_state="town_reviewed",
            survey_on=date(2023, 3, 10),
            survey_notes="x",
        )
    assert exc.value.errors == {"photo": "请先上传入户勘查照片"}
    with pytest.raises(ValidationFailed) as exc:
        rn.renovation_photo_add(
            acting_user=users["town_luzhi"],
            case=c,
            stage="survey",
            name="a.pdf",
            content=b"x",
            content_type="application/pdf",
        )
    assert exc.value.errors == {"file": "“a.pdf”不是照片（应为 JPG、PNG、HEIC 或 WEBP 图片）"}
    rn.renovation_photo_add(
        acting_user=users["town_luzhi"],
        case=c,
        stage="survey",
        name="a.jpg",
        content=JPEG,
        content_type="image/jpeg",
    )
    c = case_move(
        acting_user=users["town_luzhi"],
        case=c,
        move="survey",
        expected_state="town_reviewed",
        survey_on=date(2023, 3, 10),
        survey_notes="x",
    )
    with pytest.raises(ValidationFailed) as exc:
        case_move(acting_user=users["town_luzhi"], case=c, move="plan", expected_state="surveyed")
    assert exc.value.errors == {"items": "改造方案还没有项目，请先添加改造项目"}
    rn.renovation_item_add(
        acting_user=users["town_luzhi"], case=c, name="坡道", unit="米", quantity="10", unit_price="599.99"
    )
    with pytest.raises(ValidationFailed) as exc:
        rn.renovation_item_add(
            acting_user=users["town_luzhi"], case=c, name="扶手", unit="套", quantity="1", unit_price="0.11"
        )
    assert exc.value.errors == {
        "unit_price": "加上本项 0.11 元后方案合计 6,000.01 元，超过每户上限 6,000.00 元"
    }
    item = rn.renovation_item_add(
        acting_user=users["town_luzhi"], case=c, name="扶手", unit="套", quantity="1", unit_price="0.10"
    )
    assert rn.plan_total(c) == Decimal("6000.00")
    with pytest.raises(PermissionDenied):  # another town's staff
        rn.renovation_item_remove(acting_user=users["town_mudu"], item=item)
    with pytest.raises(PermissionDenied):  # the leader reads, does not write
        rn.renovation_item_add(
            acting_user=users["leader"], case=c, name="x", unit="", quantity=1, unit_price=1
        )
    assert RenovationItem.objects.filter(case=c).count() == 2
    rn.renovation_item_remove(acting_user=users["town_luzhi"], item=item)
    assert rn.plan_total(c) == Decimal("5999.90")
    c = case_move(acting_user=users["town_luzhi"], case=c, move="plan", expected_state="surveyed")
    c = case_move(
        acting_user=users["district"],
        case=c,
        move="return_plan",
        expected_state="planned",
        return_reason="坡道过长",
    )
    assert (c.state, c.data["return_reason"]) == ("surveyed", "坡道过长")


def test_indicator_counts_households_by_acceptance_date_boundaries(users, poor):
    good = [
        ["张伟", None, date(2023, 1, 1), "5000", "2022-12-01", "苏州安居", "扶手"],
    ]
    a = poor(name="张伟", address="甪直镇1号")
    b = poor(name="张丽", address="甪直镇1号")  # same household as 张伟, other year
    c = poor(name="王芳", address="木渎镇9号", town="木渎镇")
    d = poor(name="赵强", address="甪直镇5号")
    rows = [
        ["张伟", a.id_number, date(2023, 1, 1), "5000", "2022-12-01", "苏州安居", "扶手"],
        ["张丽", b.id_number, "2022-12-31", "3,000.50", "", "", ""],
        ["王芳", c.id_number, "2023-12-31", 6000, "2023-06-01", "", ""],
        ["赵强", d.id_number, "2024-01-01", 100, "", "", ""],
    ]
    del good
    staged = roster_import("renovation", xlsx_bytes(HEADERS, rows), acting_user=users["district"])
    assert staged.counts == {"rows": 4, "created": 4, "updated": 0, "unchanged": 0, "rejected": 0}
    assert rn.renovation_done_by_town(2023) == {a.town_id: 1, c.town_id: 1}
    assert rn.renovation_done_by_town(2022) == {a.town_id: 1}
    assert rn.renovation_done_by_town(2024) == {d.town_id: 1}


HEADERS = ["姓名", "身份证号", "验收日期", "改造金额", "申请日期", "施工单位", "改造内容"]


def test_roster_rejects_bad_rows_with_row_and_column(users, cli_token, poor, id_for, tmp_path, capsys):
    cli_token(users["district"])  # an import runs as a proven user
    a = poor(name="张伟")
    b = poor(name="李娜", grade=3, status="", address="甪直镇7号")  # kept with a warning
    c = poor(name="王芳", address="甪直镇8号")
    _apply(users, c)  # a renovation in progress for that household
    rows = [
        ["张伟", a.id_number, "2023-05-01", "4800.00", "2023-03-01", "苏州安居", "卫生间扶手"],
        ["李娜", b.id_number, "2023-05-02", "1000", "", "", ""],
        ["赵六", id_for(date(1988, 1, 1), 77), "2023-05-01", "100", "", "", ""],
        ["张三", a.id_number, "2023-06-01", "100", "", "", ""],
        ["张伟", a.id_number, "2023-13-01", "abc", "", "", ""],
        ["张伟", a.id_number, "2023-07-01", "6000.01", "", "", ""],
        ["张伟", a.id_number, "2023-08-01", "100", "", "", ""],
        ["王芳", c.id_number, "2023-05-01", "100", "", "", ""],
    ]
    staged = roster_stage(
        "renovation", xlsx_bytes(HEADERS, rows), acting_user=users["district"], filename="改造.xlsx"
    )
    assert staged.counts == {"rows": 8, "created": 2, "updated": 0, "unchanged": 0, "rejected": 6}
    errs = [(e["row"], e["column"], e["message"]) for e in staged.errors()]
    assert errs[0][:2] == (4, "身份证号") and errs[0][2].endswith("的持证残疾人，请先登记")
    assert errs[1:] == [
        (5, "姓名", "姓名与登记不符（登记为“张伟”）"),
        (6, "验收日期", "日期“2023-13-01”不存在"),
        (6, "改造金额", "改造金额“abc”应为大于 0 且精确到分的金额"),
        (7, "改造金额", "改造金额 6,000.01 元超过每户上限 6,000.00 元"),
        (8, "身份证号", "与第2行是同一户同一年的改造（同住址），一户一策"),
        (9, "身份证号", "该户有进行中的无障碍改造（王芳，已申请），请在个案中验收"),
    ]
    assert Case.objects.filter(programme="renovation", state="accepted").count() == 0
    path = tmp_path / "改造.xlsx"
    path.write_bytes(xlsx_bytes(HEADERS, rows))
    assert main(["services", "import", "renovation", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["created"], out["rejected"]) == (2, 6)
    accepted = Case.objects.filter(programme="renovation", state="accepted").order_by("closed_on")
    assert [(x.person.name, x.closed_on, x.data["plan_total"]) for x in accepted] == [
        ("张伟", date(2023, 5, 1), "4800.00"),
        ("李娜", date(2023, 5, 2), "1000.00"),
    ]
    # the same file again: unchanged
    assert main(["services", "import", "renovation", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["created"], out["unchanged"]) == (0, 2)


def test_priority_from_the_dated_person_facts(users, poor):
    from canlian.registry.circumstances import circumstance_add

    a = poor(name="张伟", address="甪直镇1号")
    b = poor(name="李娜", address="甪直镇2号")
    # 一户多残 from the last day of the application month counts for that month; the next month's does not
    circumstance_add(
        acting_user=users["district"], person=a, kind="multiple_in_household", valid_from=date(2023, 3, 31)
    )
    circumstance_add(
        acting_user=users["district"], person=b, kind="multiple_in_household", valid_from=date(2023, 4, 1)
    )
    assert _apply(users, a).data["priority"] == "一户多残或以老养残"
    assert _apply(users, b).data["priority"] == "无"
