"""Child rehabilitation pages through the real URLs, and one case end to end in a real browser as the roles
that do each step: the town clerk applies and assesses, the district approves, the town records the chosen
institution, the institution records a month (cut to the yearly cap) and makes its settlement."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from canlian.casework.child_rehab_models import AutismScreening, ChildRehabMonth, RehabEvaluation
from canlian.casework.models import Case, Settlement
from canlian.common.models import AuditLog

from .conftest import designated


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def rehab(users, district2, towns):
    return designated(users, district2, towns, "甪直镇启明康复中心", kind="rehab_institution")


@pytest.fixture
def rehab_staff(make_user, rehab):
    u = make_user("inst_rehab", "institution_staff")
    u.institution = rehab
    u.save(update_fields=["institution"])
    return u


@pytest.fixture
def kid(make_person):
    return make_person(name="小明", birth=date(2018, 3, 10), category=5, grade=2, issue=date(2022, 1, 5))


FORM = {
    "applied_on": "2023-01-10",
    "category": "autism",
    "service_type": "training",
    "need": "语言训练",
    "residence": "hukou",
    "guardian_name": "王芳",
    "guardian_relation": "母亲",
    "guardian_phone": "13912345678",
}


@pytest.mark.django_db
def test_apply_page_errors_and_success(users, kid):
    c = client_for(users["town_luzhi"])
    assert c.get(reverse("casework:child_rehab_apply")).status_code == 200
    r = c.post(
        reverse("casework:child_rehab_apply"),
        {**FORM, "id_number": kid.id_number, "applied_on": "2000-01-01"},
    )
    assert r.status_code == 400 and "申请日期不能早于出生日期" in r.content.decode()
    assert Case.objects.count() == 0
    # an ID number that is not one: the reason at the field, never a 500
    r = c.post(reverse("casework:child_rehab_apply"), {**FORM, "id_number": "32050612"})
    assert r.status_code == 400 and "身份证号" in r.content.decode() and Case.objects.count() == 0
    r = c.post(
        reverse("casework:child_rehab_apply"), {**FORM, "id_number": kid.id_number, "priority": ["orphan"]}
    )
    case = Case.objects.get()
    assert r.status_code == 302 and r["Location"] == reverse("casework:case_detail", args=[case.pk])
    page = c.get(r["Location"]).content.decode()
    assert "孤独症" in page and "139****5678" in page and "13912345678" not in page and "孤儿" in page
    assert client_for(users["institution"]).get(reverse("casework:child_rehab_apply")).status_code == 403
    other = client_for(users["town_mudu"]).post(
        reverse("casework:child_rehab_apply"), {**FORM, "id_number": kid.id_number}
    )
    assert other.status_code == 400 and Case.objects.count() == 1


@pytest.mark.django_db
def test_autism_and_evaluation_pages(users, kid, rehab):
    c = client_for(users["town_luzhi"])
    r = c.post(
        reverse("casework:child_rehab_autism"),
        {
            "id_number": kid.id_number,
            "stage": "first",
            "on": "2023-03-01",
            "result": "positive",
            "place": "社区卫生服务中心",
        },
    )
    assert r.status_code == 302 and AutismScreening.objects.count() == 1
    assert "社区卫生服务中心" in c.get(reverse("casework:child_rehab_autism")).content.decode()
    assert client_for(users["institution"]).get(reverse("casework:child_rehab_autism")).status_code == 403
    assert c.get(reverse("casework:child_rehab_evaluations")).status_code == 403
    d = client_for(users["district"])
    post = {"institution": rehab.pk, "evaluated_on": "2023-11-30", "neg_N3": "1"}
    post.update(
        {
            f"score_{k}": v
            for k, v in {"A1": 15, "A2": 15, "B1": 20, "B2": 15, "C1": 10, "D1": 10, "E1": 15}.items()
        }
    )
    assert d.post(reverse("casework:child_rehab_evaluations"), post).status_code == 302
    ev = RehabEvaluation.objects.get()
    assert (ev.final_score, ev.passed) == (Decimal("90"), True)


# ---- the browser --------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_child_rehab_case_end_to_end_in_the_browser(
    browser_page, login_as, users, district2, kid, rehab, rehab_staff
):
    page = login_as(browser_page, "luzhi1")
    page.goto("/services/p/child_rehab/")
    page.click("#case-create")
    page.fill("#a-id", kid.id_number)
    page.fill("#a-on", "2023-01-10")
    page.select_option("#a-cat", "autism")
    page.fill("#a-need", "语言与社交训练")
    page.fill("#a-g", "王芳")
    page.fill("#a-rel", "母亲")
    page.fill("#a-phone", "13912345678")
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('提交申请')")
    assert page.locator("#case-state").get_attribute("data-state") == "applied"
    case = Case.objects.get(programme="child_rehab")
    page.fill("#mv-assess-need", "需语言训练")
    with page.expect_navigation():
        page.click("form[data-move=assess] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "assessed"
    assert page.locator("form[data-move=approve]").count() == 0  # the town does not approve

    def switch(username):
        browser_page.context.clear_cookies()
        return login_as(browser_page, username)

    page = switch("district1")
    page.goto(f"/services/cases/{case.pk}/")
    with page.expect_navigation():
        page.click("form[data-move=approve] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "approved"

    page = switch("luzhi1")
    page.goto(f"/services/cases/{case.pk}/")
    page.select_option("#mv-choose-institution", str(rehab.pk))
    page.fill("#mv-choose-opened_on", "2023-01-16")
    with page.expect_navigation():
        page.click("form[data-move=choose] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "in_service"
    assert page.locator("#case-institution").inner_text() == rehab.name

    page = switch("inst_rehab")
    page.goto("/services/p/child_rehab/")
    assert page.locator("#case-table tbody tr[data-case]").count() == 1
    page.goto(f"/services/cases/{case.pk}/")
    page.fill("#m-month", "2023-01")
    page.fill("#m-days", "12")
    page.fill("#m-asked", "24000.00")
    with page.expect_navigation():
        page.click("#month-form button[type=submit]")
    row = page.locator("#rehab-months tr[data-month='2023-01']")
    assert row.locator("[data-allowed]").inner_text() == "23000.00"
    assert row.locator("[data-cut]").inner_text() == "1000.00"
    assert row.locator("[data-meal]").inner_text() == "120.00"
    page.fill("#s-month", "2023-01")
    with page.expect_navigation():
        page.click("#settlement-form button[type=submit]")
    assert "申报 24120.00 元，超出上限 1000.00 元" in page.content()
    s = Settlement.objects.get(programme="child_rehab")
    assert (s.amount_asked, s.amount_over_cap, s.cases) == (Decimal("24120.00"), Decimal("1000.00"), 1)
    row = page.locator(f"tr[data-settlement='{s.pk}']")
    assert row.locator("form[data-move=approve]").count() == 0  # the institution does not approve
    with page.expect_navigation():
        row.locator("form[data-move=submit] button").click()
    assert page.locator(f"tr[data-settlement='{s.pk}']").get_attribute("data-state") == "submitted"

    page = switch("district1")
    page.goto("/services/settlements/")
    row = page.locator(f"tr[data-settlement='{s.pk}']")
    row.locator("#st-rej-" + str(s.pk)).fill("100.00")
    row.locator("#st-rr-" + str(s.pk)).fill("1月出勤记录缺1天")
    with page.expect_navigation():
        row.locator("form[data-move=approve] button").click()
    assert page.locator(f"tr[data-settlement='{s.pk}']").get_attribute("data-state") == "approved"
    s.refresh_from_db()
    assert (s.amount_approved, s.amount_rejected, s.reject_reason) == (
        Decimal("23020.00"),
        Decimal("100.00"),
        "1月出勤记录缺1天",
    )
    assert list(
        AuditLog.objects.filter(object_type="casework.settlement", object_id=str(s.pk))
        .order_by("id")
        .values_list("action", "username")
    ) == [
        ("settlement.create", "inst_rehab"),
        ("settlement.submit", "inst_rehab"),
        ("settlement.approve", "district1"),
    ]
    assert ChildRehabMonth.objects.get().settlement_id == s.pk
    actions = list(
        AuditLog.objects.filter(object_id=str(case.pk), action__startswith="case.child_rehab")
        .order_by("id")
        .values_list("action", "username")
    )
    assert actions == [
        ("case.child_rehab.open", "luzhi1"),
        ("case.child_rehab.apply", "luzhi1"),
        ("case.child_rehab.assess", "luzhi1"),
        ("case.child_rehab.approve", "district1"),
        ("case.child_rehab.choose", "luzhi1"),
        ("case.child_rehab.month", "inst_rehab"),
    ]


@pytest.mark.django_db
def test_institution_and_town_staff_see_only_their_children(
    users, district2, towns, make_person, rehab, rehab_staff
):
    from canlian.casework.programmes.child_rehab import child_rehab_apply
    from canlian.casework.services import case_move

    other_inst = designated(
        users, district2, towns, "木渎镇星语康复中心", kind="rehab_institution", town="木渎镇"
    )
    cases = {}
    for name, town, inst in (("小甲", "甪直镇", rehab), ("小乙", "木渎镇", other_inst)):
        person = make_person(
            name=name, town=town, birth=date(2018, 1, 1), category=5, grade=2, issue=date(2022, 1, 5)
        )
        case = child_rehab_apply(
            acting_user=users["district"],
            person=person,
            applied_on=date(2023, 1, 10),
            category="autism",
            need="训练",
            residence="hukou",
            guardian_name="王芳",
        )
        case = case_move(
            acting_user=users["district"], case=case, move="assess", expected_state="applied", need="训练"
        )
        case = case_move(acting_user=district2, case=case, move="approve", expected_state="assessed")
        cases[name] = case_move(
            acting_user=district2,
            case=case,
            move="choose",
            expected_state="approved",
            institution=inst,
            opened_on=date(2023, 1, 10),
        )
    inst_client = client_for(rehab_staff)
    listing = inst_client.get(reverse("casework:case_list", args=["child_rehab"])).content.decode()
    assert "小甲" in listing and "小乙" not in listing
    assert inst_client.get(reverse("casework:case_detail", args=[cases["小乙"].pk])).status_code == 404
    r = inst_client.post(
        reverse("casework:child_rehab_month", args=[cases["小乙"].pk]),
        {"month": "2023-01", "days_attended": "5", "amount_asked": "100.00"},
    )
    assert r.status_code == 404 and not ChildRehabMonth.objects.exists()
    town = client_for(users["town_mudu"])
    listing = town.get(reverse("casework:case_list", args=["child_rehab"])).content.decode()
    assert "小乙" in listing and "小甲" not in listing
    assert town.get(reverse("casework:case_detail", args=[cases["小甲"].pk])).status_code == 404


@pytest.mark.django_db
def test_settlement_moves_from_the_list_checked_by_the_services(
    users, district2, make_person, rehab, rehab_staff
):
    from canlian.casework.programmes.child_rehab import (
        child_rehab_apply,
        rehab_month_record,
        rehab_settlement_create,
    )
    from canlian.casework.services import case_move

    person = make_person(name="小甲", birth=date(2018, 1, 1), category=5, grade=2, issue=date(2022, 1, 5))
    case = child_rehab_apply(
        acting_user=users["district"],
        person=person,
        applied_on=date(2023, 1, 1),
        category="vision",
        need="训练",
        residence="hukou",
        guardian_name="王芳",
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
        opened_on=date(2023, 1, 1),
    )
    rehab_month_record(
        acting_user=rehab_staff, case=case, month=date(2023, 1, 1), days_attended=3, amount_asked="500.00"
    )
    s = rehab_settlement_create(acting_user=rehab_staff, institution=rehab, month=date(2023, 1, 1))
    inst = client_for(rehab_staff)
    url = reverse("casework:settlement_move", args=[s.pk])
    inst.post(url, {"move": "submit", "expected_state": "draft"})
    s.refresh_from_db()
    assert s.state == "submitted"
    r = inst.post(url, {"move": "approve", "expected_state": "submitted"}, follow=True)
    assert "您无权办理“核定”" in r.content.decode()
    s.refresh_from_db()
    assert (s.state, s.amount_approved) == ("submitted", Decimal("0"))
    assert (
        client_for(users["town_luzhi"])
        .post(url, {"move": "approve", "expected_state": "submitted"})
        .status_code
        == 404
    )
    d = client_for(users["district"])
    r = d.post(url, {"move": "reject", "expected_state": "submitted"}, follow=True)
    assert "请填写退回理由" in r.content.decode()
    d.post(
        url,
        {
            "move": "approve",
            "expected_state": "submitted",
            "amount_rejected": "30.00",
            "reject_reason": "重复计费",
        },
    )
    s.refresh_from_db()
    # asked 500.00 + meals 30.00; approved 530.00 − 30.00
    assert (s.state, s.amount_asked, s.amount_approved, s.amount_rejected) == (
        "approved",
        Decimal("530.00"),
        Decimal("500.00"),
        Decimal("30.00"),
    )
