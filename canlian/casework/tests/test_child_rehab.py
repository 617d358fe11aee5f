"""Child rehabilitation aid: eligibility at the age boundaries, the case by the roles that do each step
(maker ≠ checker), the yearly cap across months and at the 7th and 18th birthdays exact to the fen, the meal
subsidy, the monthly settlement, the referral reimbursed at the home standard, audit rows for every move and
nothing changed on a refused one."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from canlian.casework.child_rehab_models import ChildRehabMonth, ChildRehabProfile, ChildRehabReferral
from canlian.casework.models import Case, Settlement
from canlian.casework.programmes.child_rehab import (
    child_rehab_apply,
    child_rehab_served_by_town,
    month_amounts,
    referral_reimburse,
    referral_request,
    rehab_month_record,
    rehab_need_facts,
    rehab_settlement_create,
    year_cap,
)
from canlian.casework.services import case_move
from canlian.casework.settlements import settlement_decide
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog, WorkflowHistory
from canlian.common.workflow import allowed_moves, transition

from .conftest import designated

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def rehab(users, district2, towns):
    return designated(users, district2, towns, "甪直镇启明康复中心", kind="rehab_institution")


@pytest.fixture
def rehab_mudu(users, district2, towns):
    return designated(users, district2, towns, "木渎镇星语康复中心", kind="rehab_institution", town="木渎镇")


@pytest.fixture
def rehab_staff(make_user, rehab):
    u = make_user("inst_rehab", "institution_staff")
    u.institution = rehab
    u.save(update_fields=["institution"])
    return u


@pytest.fixture
def child(make_person):
    def _make(name="小明", birth=date(2018, 3, 10), town="甪直镇"):
        return make_person(name=name, birth=birth, town=town, category=5, grade=2, issue=date(2022, 1, 5))

    return _make


def apply(users, person, *, on=date(2023, 1, 10), category="autism", user="town_luzhi", **extra):
    values = {
        "need": "语言与社交训练",
        "residence": "hukou",
        "guardian_name": "王芳",
        "guardian_relation": "母亲",
        "guardian_phone": "13912345678",
        **extra,
    }
    return child_rehab_apply(
        acting_user=users[user], person=person, applied_on=on, category=category, **values
    )


def in_service(users, district2, person, institution, *, start=date(2023, 1, 1), on=None, category="autism"):
    case = apply(users, person, on=on or start, category=category)
    case = case_move(
        acting_user=users["town_luzhi"], case=case, move="assess", expected_state="applied", need="训练"
    )
    case = case_move(acting_user=district2, case=case, move="approve", expected_state="assessed")
    return case_move(
        acting_user=users["district"],
        case=case,
        move="choose",
        expected_state="approved",
        institution=institution,
        opened_on=start,
    )


# ---- the cap table (pure) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "age", "cap"),
    [
        ("vision", 0, "8200.00"),
        ("vision", 6, "8200.00"),
        ("vision", 7, "6970.00"),
        ("vision", 17, "1970.00"),
        ("hearing", 6, "20500.00"),
        ("speech", 7, "17425.00"),
        ("intellectual", 8, "16925.00"),
        ("physical", 6, "23000.00"),
        ("autism", 7, "19550.00"),
        ("autism", 8, "19050.00"),
        ("autism", 17, "14550.00"),
        ("multiple", 7, "23800.00"),
        ("multiple", 17, "18800.00"),
        ("autism", 18, "0"),
    ],
)
def test_year_cap_table(category, age, cap):
    assert year_cap(category, age, date(2023, 5, 1)).amount == D(cap)


def test_month_amounts_cut_and_meal_reasons():
    cap = year_cap("autism", 6, date(2023, 3, 1))
    m = month_amounts(
        asked=D("5000.00"),
        cap=cap,
        used_before=D("20000.01"),
        days=23,
        meal_months_before=0,
        day=date(2023, 3, 1),
    )
    assert (m.allowed, m.cut, m.meal_days, m.meal_amount) == (D("2999.99"), D("2000.01"), 22, D("220.00"))
    assert m.cut_reason == (
        "超出年度救助上限：孤独症类 0～6 周岁年度上限 23,000.00 元，本年度此前已核定 20,000.01 元，"
        "剩余 2,999.99 元；申报 5,000.00 元，核减 2,000.01 元"
    )
    assert m.meal_reason == "出勤 23 天，每月最多按 22 天计算"
    tenth = month_amounts(
        asked=D("1.00"), cap=cap, used_before=D("0"), days=20, meal_months_before=9, day=date(2023, 10, 1)
    )
    assert (tenth.meal_days, tenth.meal_amount, tenth.meal_reason) == (
        0,
        D("0.00"),
        "本年度已补助 9 个月伙食费，达到上限",
    )


# ---- application and eligibility ------------------------------------------------------------------------


def test_apply_the_day_before_the_18th_birthday_and_not_on_it(users, child):
    teen = child(name="小刚", birth=date(2005, 7, 20))
    with pytest.raises(ValidationFailed) as exc:
        apply(users, teen, on=date(2023, 7, 20))
    assert exc.value.errors == {
        "applied_on": "申请日 2023-07-20 儿童已满 18 周岁（18 周岁），不在康复救助范围（0 至未满 18 周岁）"
    }
    assert (
        Case.objects.count() == 0
        and not AuditLog.objects.filter(action__startswith="case.child_rehab").exists()
    )
    case = apply(users, teen, on=date(2023, 7, 19))
    assert (case.state, case.opened_on, case.town.name) == ("applied", date(2023, 7, 19), "甪直镇")


def test_apply_records_guardian_encrypted_and_priority(users, child):
    from canlian.registry.models import EconomicStatusPeriod

    kid = child()
    EconomicStatusPeriod.objects.create(person=kid, status="dibao", valid_from=date(2022, 1, 1))
    case = apply(users, kid, priority=["orphan"])
    p = ChildRehabProfile.objects.get(pk=case.pk)
    assert (p.guardian_name, p.guardian_relation, p.guardian_phone) == ("王芳", "母亲", "13912345678")
    assert p.priority == ["dibao", "orphan"] and p.priority_labels == ["低保家庭", "孤儿"]
    with connection.cursor() as cur:
        cur.execute("SELECT guardian_phone FROM casework_childrehabprofile WHERE case_id = %s", [case.pk])
        stored = cur.fetchone()[0]
    assert "13912345678" not in stored
    audit = AuditLog.objects.get(action="case.child_rehab.apply")
    assert audit.user == users["town_luzhi"] and audit.changes["guardian_phone"] == [None, "139****5678"]
    assert AuditLog.objects.filter(action="case.child_rehab.open", object_id=str(case.pk)).count() == 1


def test_apply_refusals_by_field_and_nothing_written(users, child, make_person):
    kid = child()
    with pytest.raises(ValidationFailed) as exc:
        apply(users, kid, residence="none", need=" ", guardian_name="", guardian_phone="123", category="x")
    assert exc.value.errors == {
        "residence": "须为本区户籍或持有本区居住证",
        "need": "请填写康复需求",
        "category": "未知的康复类别“x”",
        "guardian_name": "请填写监护人姓名",
        "guardian_phone": "监护人电话应为11位手机号或带区号的固定电话",
    }
    with pytest.raises(ValidationFailed) as exc:
        apply(users, kid, residence="residence_permit", residence_permit_until=date(2023, 1, 9))
    assert exc.value.errors == {"residence_permit_until": "居住证须在申请日有效，请填写居住证有效期"}
    assert Case.objects.count() == 0
    apply(users, kid, residence="residence_permit", residence_permit_until=date(2023, 1, 10))
    with pytest.raises(ValidationFailed) as exc:
        apply(users, kid)
    assert exc.value.errors == {"person": "小明已有办理中的康复救助，不能重复申请"}
    other_town = child(name="小红", town="木渎镇")
    with pytest.raises(PermissionDenied):
        apply(users, other_town)
    assert Case.objects.count() == 1


# ---- the case by the roles that do each step ------------------------------------------------------------


def test_case_review_maker_checker_and_institution_choice(users, district2, child, rehab, towns):
    case = apply(users, child())
    assert [m.name for m in allowed_moves(users["town_luzhi"], case)] == ["assess", "reject"]
    assert allowed_moves(users["town_mudu"], case) == []
    case = case_move(
        acting_user=users["district"], case=case, move="assess", expected_state="applied", need="需康复训练"
    )
    assert ChildRehabProfile.objects.get(pk=case.pk).need == "需康复训练"
    with pytest.raises(PermissionDenied) as exc:
        case_move(acting_user=users["district"], case=case, move="approve", expected_state="assessed")
    assert "经办与审核须由不同人员办理" in exc.value.message
    assert Case.objects.get(pk=case.pk).state == "assessed"
    case = case_move(acting_user=district2, case=case, move="approve", expected_state="assessed")
    not_yet = designated(
        users, district2, towns, "未到期机构", kind="rehab_institution", start=date(2023, 3, 1)
    )
    custodial = designated(users, district2, towns, "托养中心", kind="custodial_provider")
    for inst, message in (
        (not_yet, "“未到期机构”在 2023-02-01 不在定点认定有效期内"),
        (custodial, "“托养中心”不是定点康复机构"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            case_move(
                acting_user=users["district"],
                case=case,
                move="choose",
                expected_state="approved",
                institution=inst,
                opened_on=date(2023, 2, 1),
            )
        assert exc.value.errors == {"institution": message}
    with pytest.raises(ValidationFailed) as exc:
        case_move(
            acting_user=users["district"],
            case=case,
            move="choose",
            expected_state="approved",
            institution=rehab,
            opened_on=date(2023, 1, 9),
        )
    assert exc.value.errors == {"opened_on": "服务开始日期不能早于申请日期 2023-01-10"}
    case = case_move(
        acting_user=users["town_luzhi"],
        case=case,
        move="choose",
        expected_state="approved",
        institution=rehab,
        opened_on=date(2023, 2, 1),
    )
    assert (case.state, case.institution_id, case.opened_on) == ("in_service", rehab.pk, date(2023, 2, 1))
    moves = list(
        WorkflowHistory.objects.filter(workflow="case.child_rehab", object_id=str(case.pk))
        .order_by("id")
        .values_list("move", "by__username")
    )
    assert moves == [("assess", "district1"), ("approve", "district2"), ("choose", "luzhi1")]
    assert list(
        AuditLog.objects.filter(object_id=str(case.pk), action__startswith="case.child_rehab")
        .order_by("id")
        .values_list("action", flat=True)
    ) == [
        "case.child_rehab.open",
        "case.child_rehab.apply",
        "case.child_rehab.assess",
        "case.child_rehab.approve",
        "case.child_rehab.choose",
    ]


def test_reject_needs_reason(users, child):
    case = apply(users, child())
    with pytest.raises(ValidationFailed) as exc:
        case_move(acting_user=users["town_luzhi"], case=case, move="reject", expected_state="applied")
    assert exc.value.errors == {"close_reason": "请填写原因"}
    case = case_move(
        acting_user=users["town_luzhi"],
        case=case,
        move="reject",
        expected_state="applied",
        close_reason="经评估暂无康复需求",
    )
    assert (case.state, case.close_reason) == ("rejected", "经评估暂无康复需求")


# ---- service months against the yearly cap --------------------------------------------------------------


def test_cap_across_months_exact_to_the_fen(users, district2, child, rehab, rehab_staff):
    case = in_service(users, district2, child(), rehab)
    jan = rehab_month_record(
        acting_user=rehab_staff, case=case, month=date(2023, 1, 1), days_attended=31, amount_asked="9999.99"
    )
    assert (jan.age, jan.year_cap, jan.amount_allowed, jan.amount_cut) == (
        4,
        D("23000.00"),
        D("9999.99"),
        D("0"),
    )
    assert (jan.meal_days, jan.meal_amount) == (22, D("220.00"))
    feb = rehab_month_record(
        acting_user=rehab_staff, case=case, month=date(2023, 2, 28), days_attended=20, amount_asked="10000.00"
    )
    assert (feb.month, feb.amount_allowed, feb.meal_amount) == (date(2023, 2, 1), D("10000.00"), D("200.00"))
    mar = rehab_month_record(
        acting_user=rehab_staff, case=case, month=date(2023, 3, 1), days_attended=5, amount_asked="3500.50"
    )
    assert (mar.used_before, mar.amount_allowed, mar.amount_cut) == (D("19999.99"), D("3000.01"), D("500.49"))
    assert mar.cut_reason == (
        "超出年度救助上限：孤独症类 0～6 周岁年度上限 23,000.00 元，本年度此前已核定 19,999.99 元，"
        "剩余 3,000.01 元；申报 3,500.50 元，核减 500.49 元"
    )
    apr = rehab_month_record(
        acting_user=rehab_staff, case=case, month=date(2023, 4, 1), days_attended=1, amount_asked="100.00"
    )
    assert (apr.amount_allowed, apr.amount_cut, apr.meal_amount) == (D("0.00"), D("100.00"), D("10.00"))
    # the next year starts again
    jan24 = rehab_month_record(
        acting_user=rehab_staff, case=case, month=date(2024, 1, 31), days_attended=3, amount_asked="100.00"
    )
    assert (jan24.used_before, jan24.amount_allowed) == (D("0"), D("100.00"))
    audit = AuditLog.objects.filter(action="case.child_rehab.month").order_by("id")[2]
    assert audit.user == rehab_staff and audit.changes["amount_cut"] == [None, "500.49"]
    assert audit.detail == (
        "2023年03月出勤 5 天，申报 3,500.50 元，核定 3,000.01 元，伙食补助 50.00 元；" + mar.cut_reason
    )


def test_seventh_birthday_changes_the_cap(users, district2, child, rehab):
    on_first = child(name="七一", birth=date(2016, 7, 1))  # 7 on 1 July: July already at 7
    on_second = child(name="七二", birth=date(2016, 7, 2))  # 7 on 2 July: July still at 6
    a = in_service(users, district2, on_first, rehab)
    b = in_service(users, district2, on_second, rehab)
    for case in (a, b):
        for m in (1, 2):
            rehab_month_record(
                acting_user=users["district"],
                case=case,
                month=date(2023, m, 1),
                days_attended=10,
                amount_asked="10000.00",
            )
    ja = rehab_month_record(
        acting_user=users["district"],
        case=a,
        month=date(2023, 7, 1),
        days_attended=10,
        amount_asked="1000.00",
    )
    jb = rehab_month_record(
        acting_user=users["district"],
        case=b,
        month=date(2023, 7, 1),
        days_attended=10,
        amount_asked="1000.00",
    )
    assert (ja.age, ja.year_cap, ja.amount_allowed, ja.amount_cut) == (
        7,
        D("19550.00"),
        D("0.00"),
        D("1000.00"),
    )
    assert "孤独症类 7 周岁年度上限 19,550.00 元" in ja.cut_reason
    assert (jb.age, jb.year_cap, jb.amount_allowed, jb.amount_cut) == (6, D("23000.00"), D("1000.00"), D("0"))
    ab = rehab_month_record(
        acting_user=users["district"],
        case=b,
        month=date(2023, 8, 1),
        days_attended=10,
        amount_asked="1000.00",
    )
    assert (ab.age, ab.year_cap, ab.amount_allowed) == (7, D("19550.00"), D("0.00"))


def test_month_of_the_18th_birthday_is_not_paid(users, district2, child, rehab):
    teen = child(name="小强", birth=date(2005, 8, 1))
    case = in_service(users, district2, teen, rehab, start=date(2023, 7, 1), on=date(2023, 7, 1))
    jul = rehab_month_record(
        acting_user=users["district"],
        case=case,
        month=date(2023, 7, 1),
        days_attended=31,
        amount_asked="1200.00",
    )
    assert (jul.age, jul.year_cap, jul.amount_allowed) == (17, D("14550.00"), D("1200.00"))
    aug = rehab_month_record(
        acting_user=users["district"],
        case=case,
        month=date(2023, 8, 1),
        days_attended=31,
        amount_asked="1200.00",
    )
    assert (aug.age, aug.year_cap, aug.amount_allowed, aug.amount_cut) == (
        18,
        D("0"),
        D("0.00"),
        D("1200.00"),
    )
    assert (aug.meal_amount, aug.meal_reason) == (D("0.00"), "月初已满 18 周岁，不再享受康复救助")


def test_month_refusals_leave_nothing(users, district2, child, rehab, rehab_mudu, make_user):
    case = in_service(users, district2, child(), rehab, start=date(2023, 3, 31))
    other = make_user("inst_mudu", "institution_staff")
    other.institution = rehab_mudu
    other.save(update_fields=["institution"])
    with pytest.raises(PermissionDenied):
        rehab_month_record(
            acting_user=other, case=case, month=date(2023, 3, 1), days_attended=1, amount_asked="1"
        )
    with pytest.raises(PermissionDenied):
        rehab_month_record(
            acting_user=users["town_luzhi"],
            case=case,
            month=date(2023, 3, 1),
            days_attended=1,
            amount_asked="1",
        )
    with pytest.raises(ValidationFailed) as exc:
        rehab_month_record(
            acting_user=users["district"],
            case=case,
            month=date(2023, 3, 1),
            days_attended=2,
            amount_asked="1",
        )
    assert exc.value.errors == {"days_attended": "出勤天数应在 1～1 天之间（2023年03月的服务天数）"}
    with pytest.raises(ValidationFailed) as exc:
        rehab_month_record(
            acting_user=users["district"],
            case=case,
            month=date(2023, 2, 1),
            days_attended=1,
            amount_asked="1",
        )
    assert exc.value.errors == {"month": "服务开始于 2023-03-31，不能录入之前月份"}
    with pytest.raises(ValidationFailed) as exc:
        rehab_month_record(
            acting_user=users["district"],
            case=case,
            month=date(2023, 3, 1),
            days_attended=1,
            amount_asked="1.001",
        )
    assert exc.value.errors == {"amount_asked": "金额须精确到分"}
    assert ChildRehabMonth.objects.count() == 0
    assert not AuditLog.objects.filter(action="case.child_rehab.month").exists()
    rehab_month_record(
        acting_user=users["district"], case=case, month=date(2023, 3, 1), days_attended=1, amount_asked="1"
    )
    with pytest.raises(ValidationFailed) as exc:
        rehab_month_record(
            acting_user=users["district"],
            case=case,
            month=date(2023, 3, 15),
            days_attended=1,
            amount_asked="1",
        )
    assert exc.value.errors == {"month": "2023年03月的服务已录入"}
    case = case_move(
        acting_user=users["district"],
        case=case,
        move="end",
        expected_state="in_service",
        closed_on=date(2023, 4, 30),
        close_reason="康复训练结束",
    )
    with pytest.raises(ValidationFailed) as exc:
        rehab_month_record(
            acting_user=users["district"],
            case=case,
            month=date(2023, 5, 1),
            days_attended=1,
            amount_asked="1",
        )
    assert exc.value.errors == {"month": "服务已于 2023-04-30 结束，不能录入之后月份"}
    assert (
        rehab_month_record(
            acting_user=users["district"],
            case=case,
            month=date(2023, 4, 1),
            days_attended=30,
            amount_asked="1",
        ).days_attended
        == 30
    )


def test_institution_suspended_in_the_month(users, district2, child, rehab):
    case = in_service(users, district2, child(), rehab)
    transition(
        rehab, "suspend", acting_user=users["district"], expected_state="designated", state_reason="整改"
    )
    with pytest.raises(ValidationFailed) as exc:
        rehab_month_record(
            acting_user=users["district"],
            case=case,
            month=date(2023, 1, 1),
            days_attended=1,
            amount_asked="1",
        )
    assert exc.value.errors == {"month": "“甪直镇启明康复中心”在 2023-01-01 不在定点认定有效期内"}


# ---- settlement with the institution --------------------------------------------------------------------


def test_monthly_settlement_maker_checker(users, district2, child, rehab, rehab_staff):
    a = in_service(users, district2, child(name="小甲"), rehab)
    b = in_service(users, district2, child(name="小乙"), rehab)
    rehab_month_record(
        acting_user=rehab_staff, case=a, month=date(2023, 1, 1), days_attended=22, amount_asked="20000.00"
    )
    rehab_month_record(
        acting_user=rehab_staff, case=a, month=date(2023, 2, 1), days_attended=20, amount_asked="4000.00"
    )
    rehab_month_record(
        acting_user=rehab_staff, case=b, month=date(2023, 2, 1), days_attended=10, amount_asked="2500.50"
    )
    with pytest.raises(ValidationFailed) as exc:
        rehab_settlement_create(acting_user=rehab_staff, institution=rehab, month=date(2023, 3, 1))
    assert exc.value.errors == {"month": "甪直镇启明康复中心 2023年03月没有待结算的服务记录"}
    s = rehab_settlement_create(acting_user=rehab_staff, institution=rehab, month=date(2023, 2, 1))
    # asked: 4000.00 + 200.00 meals + 2500.50 + 100.00 meals; over the cap: a's 1000.00
    assert (s.cases, s.amount_asked, s.amount_over_cap) == (2, D("6800.50"), D("1000.00"))
    assert ChildRehabMonth.objects.filter(settlement=s).count() == 2
    with pytest.raises(ValidationFailed):
        rehab_settlement_create(acting_user=users["district"], institution=rehab, month=date(2023, 2, 1))
    s = transition(s, "submit", acting_user=rehab_staff, expected_state="draft")
    with pytest.raises(PermissionDenied):
        settlement_decide(acting_user=rehab_staff, settlement=s, expected_state="submitted")
    s = settlement_decide(acting_user=users["district"], settlement=s, expected_state="submitted")
    assert (s.state, s.amount_approved, s.payable) == ("approved", D("5800.50"), D("5800.50"))
    assert Settlement.objects.get(pk=s.pk).amount_approved == D("5800.50")
    assert AuditLog.objects.filter(action="settlement.create", object_id=str(s.pk)).get().user == rehab_staff


# ---- referral outside the district ----------------------------------------------------------------------


def test_referral_approved_and_reimbursed_at_home_standard(users, district2, child):
    case = apply(users, child(), on=date(2023, 1, 5))
    case = case_move(
        acting_user=users["town_luzhi"], case=case, move="assess", expected_state="applied", need="训练"
    )
    case = case_move(acting_user=users["district"], case=case, move="approve", expected_state="assessed")
    with pytest.raises(ValidationFailed) as exc:
        referral_request(
            acting_user=users["town_luzhi"],
            case=case,
            destination="",
            destination_place="上海市",
            reason="本区无人工耳蜗术后康复",
            requested_on=date(2023, 1, 6),
            consent=False,
        )
    assert exc.value.errors == {"destination": "请填写转介机构", "consent": "须有监护人书面同意"}
    assert ChildRehabReferral.objects.count() == 0
    ref = referral_request(
        acting_user=users["district"],
        case=case,
        destination="上海市某儿童康复中心",
        destination_place="上海市",
        reason="家长在上海工作",
        requested_on=date(2023, 1, 6),
        consent=True,
    )
    assert ref.state == "requested"
    with pytest.raises(DomainError):
        referral_reimburse(
            acting_user=users["district"],
            referral=ref,
            month=date(2023, 1, 1),
            days_attended=1,
            amount_paid="1",
        )
    with pytest.raises(PermissionDenied):
        transition(ref, "approve", acting_user=users["district"], expected_state="requested")
    assert ChildRehabReferral.objects.get(pk=ref.pk).state == "requested"
    ref = transition(
        ref, "approve", acting_user=district2, expected_state="requested", decision_reason="同意"
    )
    assert Case.objects.get(pk=case.pk).state == "referred"
    paid = referral_reimburse(
        acting_user=users["district"],
        referral=ref,
        month=date(2023, 1, 1),
        days_attended=20,
        amount_paid="15000.00",
    )
    assert (paid.amount_allowed, paid.amount_cut, paid.meal_amount) == (D("15000.00"), D("0"), D("200.00"))
    paid2 = referral_reimburse(
        acting_user=users["district"],
        referral=ref,
        month=date(2023, 2, 1),
        days_attended=20,
        amount_paid="12000.00",
    )
    assert (paid2.amount_allowed, paid2.amount_cut) == (D("8000.00"), D("4000.00"))
    assert "外地机构（上海市某儿童康复中心）收费 12,000.00 元，核减 4,000.00 元" in paid2.cut_reason
    ref = transition(
        ref, "complete", acting_user=users["district"], expected_state="approved", done_on=date(2023, 3, 1)
    )
    assert (ref.state, ChildRehabReferral.objects.get(pk=ref.pk).reimbursed_total) == ("done", D("23400.00"))
    actions = list(
        AuditLog.objects.filter(action__startswith="child_rehab_referral")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "child_rehab_referral.create",
        "child_rehab_referral.request",
        "child_rehab_referral.approve",
        "child_rehab_referral.complete",
    ]
    assert AuditLog.objects.filter(action="case.child_rehab.refer", object_id=str(case.pk)).count() == 1
    assert AuditLog.objects.filter(action="case.child_rehab.reimburse").count() == 2


def test_referral_rejected_with_reason(users, district2, child):
    case = apply(users, child())
    case = case_move(
        acting_user=users["town_luzhi"], case=case, move="assess", expected_state="applied", need="训练"
    )
    case = case_move(acting_user=district2, case=case, move="approve", expected_state="assessed")
    ref = referral_request(
        acting_user=users["town_luzhi"],
        case=case,
        destination="外地机构",
        destination_place="无锡市",
        reason="就近",
        requested_on=date(2023, 2, 1),
        consent=True,
    )
    with pytest.raises(ValidationFailed) as exc:
        transition(ref, "reject", acting_user=users["district"], expected_state="requested")
    assert exc.value.errors == {"decision_reason": "请填写审批意见"}
    ref = transition(
        ref,
        "reject",
        acting_user=users["district"],
        expected_state="requested",
        decision_reason="本区定点机构可提供",
    )
    assert (ref.state, ref.decision_reason) == ("rejected", "本区定点机构可提供")
    assert Case.objects.get(pk=case.pk).state == "approved"


# ---- what other parts read ------------------------------------------------------------------------------


def test_served_indicator_by_town_at_year_boundaries(users, district2, child, rehab, towns):
    from canlian.workplan.selectors import progress

    a = in_service(users, district2, child(name="小甲"), rehab, start=date(2022, 12, 31))
    b = in_service(users, district2, child(name="小乙"), rehab, start=date(2022, 12, 1))
    mudu = child(name="小丙", town="木渎镇")
    case = child_rehab_apply(
        acting_user=users["district"],
        person=mudu,
        applied_on=date(2023, 12, 1),
        category="physical",
        need="肢体训练",
        residence="hukou",
        guardian_name="丙母亲",
    )
    case = case_move(
        acting_user=users["district"], case=case, move="assess", expected_state="applied", need="训练"
    )
    case = case_move(acting_user=district2, case=case, move="approve", expected_state="assessed")
    case = case_move(
        acting_user=district2,
        case=case,
        move="choose",
        expected_state="approved",
        institution=rehab,
        opened_on=date(2023, 12, 31),
    )
    for c, m in (
        (a, date(2022, 12, 1)),
        (a, date(2023, 1, 1)),
        (b, date(2022, 12, 1)),
        (case, date(2023, 12, 1)),
    ):
        rehab_month_record(
            acting_user=users["district"], case=c, month=m, days_attended=1, amount_asked="100.00"
        )
    assert child_rehab_served_by_town(2023) == {towns["甪直镇"].pk: 1, towns["木渎镇"].pk: 1}
    assert child_rehab_served_by_town(2022) == {towns["甪直镇"].pk: 2}
    ind = progress(2023)["indicators"]["child_rehab_served"]
    assert (ind["actual"], ind["by_town"]["甪直镇"], ind["by_town"]["木渎镇"]) == (2, 1, 1)


def test_rehab_need_facts(users, district2, child, rehab):
    import polars as pl

    approved = in_service(users, district2, child(name="小甲"), rehab, start=date(2023, 3, 31))
    only_applied = apply(users, child(name="小乙"))
    ids = pl.Series([approved.person_id, only_applied.person_id, 999999])
    assert rehab_need_facts(month=date(2023, 2, 1), person_ids=ids) is None
    frame = rehab_need_facts(month=date(2023, 3, 1), person_ids=ids)
    assert frame.to_dicts() == [{"person_id": approved.person_id, "rehab_need": True}]
    case_move(
        acting_user=users["district"],
        case=approved,
        move="end",
        expected_state="in_service",
        closed_on=date(2023, 4, 30),
        close_reason="结束",
    )
    assert rehab_need_facts(month=date(2023, 4, 1), person_ids=ids).height == 1
    assert rehab_need_facts(month=date(2023, 5, 1), person_ids=ids) is None


def test_rehab_need_provider_registered_when_the_hook_exists():
    from canlian.benefits import hooks

    if not hasattr(hooks, "facts_provider_register"):
        pytest.skip("benefits.hooks has no facts-provider hook on this branch (the facts branch adds it)")
    assert "casework.rehab_need" in hooks.facts_providers_registered()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_months_recorded_at_once_share_the_cap(users, district2, child, rehab):
    """Two officers record two months of one child at the same time: the first holds its transaction open
    while the second records; the child's cases are locked, so the second waits, sees the first's amount
    and is cut to what is left (never 15,000 + 15,000 past a 23,000 cap)."""
    import threading
    import time

    from django.db import connections, transaction

    case = in_service(users, district2, child(), rehab)
    first_written, second_started = threading.Event(), threading.Event()
    errors: list[str] = []

    def first():
        try:
            with transaction.atomic():
                rehab_month_record(
                    acting_user=users["district"],
                    case=case,
                    month=date(2023, 1, 1),
                    days_attended=5,
                    amount_asked="15000.00",
                )
                first_written.set()
                second_started.wait(5)
                time.sleep(0.5)  # the second is now waiting for the lock (or, unlocked, reading too early)
        except Exception as exc:  # reported by the assertion below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    def second():
        try:
            first_written.wait(5)
            second_started.set()
            rehab_month_record(
                acting_user=district2,
                case=case,
                month=date(2023, 2, 1),
                days_attended=5,
                amount_asked="15000.00",
            )
        except Exception as exc:  # reported by the assertion below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    months = dict(ChildRehabMonth.objects.values_list("month", "amount_allowed"))
    assert months == {date(2023, 1, 1): D("15000.00"), date(2023, 2, 1): D("8000.00")}
    feb = ChildRehabMonth.objects.get(month=date(2023, 2, 1))
    assert (feb.used_before, feb.amount_cut) == (D("15000.00"), D("7000.00"))
