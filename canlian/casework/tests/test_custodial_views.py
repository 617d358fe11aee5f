"""Custodial care's own pages through the real URLs: the application, the towns' purchase contracts (who may
see, record and end which) and the district's quality inspections with their follow-up. Each write is checked
with its exact audit row; each refusal also checks that nothing changed."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from canlian.casework.models import Case, CustodialContract, Inspection
from canlian.casework.programmes import custodial_contracts as ct
from canlian.casework.services import case_open
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog

TODAY = timezone.localdate()
THIS_YEAR = (date(TODAY.year, 1, 1), date(TODAY.year, 12, 31))


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def person(make_person):
    return make_person(name="陈静", category=5, grade=2, birth=date(1990, 3, 4))


def said(client, url, data) -> list[str]:
    """The messages the page shows after a POST and its redirect (read, so they do not carry over)."""
    r = client.post(url, data, follow=True)
    return [str(m) for m in r.context["messages"]]


def contract_form(towns, provider, **extra):
    return {
        "town": towns["甪直镇"].pk,
        "institution": provider.pk,
        "mode": "day_care",
        "valid_from": THIS_YEAR[0].isoformat(),
        "valid_to": THIS_YEAR[1].isoformat(),
        "places": "20",
        "monthly_price": "1200.50",
        **extra,
    }


# ---- the application -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_apply_page(users, person, make_person):
    c = client_for(users["town_luzhi"])
    url = reverse("casework:custodial_apply")
    assert c.get(url).status_code == 200
    r = c.post(url, {"id_number": person.id_number, "applied_on": "2023-03-01", "mode": "hotel"})
    assert r.status_code == 400 and "请选择托养方式：寄宿制、日间照料或居家托养" in r.content.decode()
    other = make_person(name="王芳", town="木渎镇")
    r = c.post(url, {"id_number": other.id_number, "applied_on": "2023-03-01", "mode": "day_care"})
    assert r.status_code == 400 and "未找到该身份证号的残疾人，或不在您的管辖范围内" in r.content.decode()
    r = c.post(url, {"id_number": "3205", "applied_on": "2023-02-30", "mode": "day_care"})
    html = r.content.decode()
    assert r.status_code == 400 and "身份证号应为18位，实际为4位" in html and "申请日期格式不正确" in html
    assert not Case.objects.exists()
    r = c.post(url, {"id_number": person.id_number, "applied_on": "2023-03-01", "mode": "day_care"})
    case = Case.objects.get(programme="custodial_care")
    assert r.status_code == 302 and r.url == reverse("casework:case_detail", args=[case.pk])
    assert (case.state, case.opened_on, case.data, case.town.name) == (
        "applied",
        date(2023, 3, 1),
        {"mode": "day_care"},
        "甪直镇",
    )
    assert AuditLog.objects.get(action="case.custodial_care.open").username == "luzhi1"
    r = c.post(url, {"id_number": person.id_number, "applied_on": "2023-04-01", "mode": "home"})
    assert r.status_code == 400
    assert "陈静已有进行中的托养个案（2023-03-01，已申请）" in r.content.decode()
    assert Case.objects.count() == 1
    assert client_for(users["institution"]).get(url).status_code == 403
    assert client_for(users["leader"]).get(url).status_code == 403
    listing = c.get(reverse("casework:case_list", args=["custodial_care"])).content.decode()
    assert 'id="case-create"' in listing and url in listing


# ---- contracts -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_town_records_its_own_contract(users, towns, provider):
    c = client_for(users["town_luzhi"])
    assert c.get(reverse("casework:custodial_contract_new")).status_code == 200
    r = c.post(reverse("casework:custodial_contract_new"), contract_form(towns, provider))
    assert r.status_code == 302 and r.url == reverse("casework:custodial_contracts")
    k = CustodialContract.objects.get()
    assert (k.town.name, k.mode, k.places, k.monthly_price, k.created_by.username) == (
        "甪直镇",
        "day_care",
        20,
        Decimal("1200.50"),
        "luzhi1",
    )
    log = AuditLog.objects.get(action="custodial.contract_create")
    assert log.username == "luzhi1" and log.changes == {
        "town": [None, "甪直镇"],
        "institution": [None, "甪直镇阳光托养中心"],
        "mode": [None, "day_care"],
        "period": [None, f"{THIS_YEAR[0]}～{THIS_YEAR[1]}"],
        "places": [None, 20],
        "monthly_price": [None, "1200.50"],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"monthly_price": "1200.005"}, "每人每月价格应为不小于 0 且精确到分的金额"),
        ({"monthly_price": "一千二"}, "每人每月价格格式不正确，应为金额，如 1200.00"),
        ({"places": "0"}, "购买名额应为大于 0 的整数"),
        ({"mode": "hotel"}, "托养方式应为 寄宿制、日间照料 或 居家托养"),
        ({"valid_to": "2020-01-01"}, "截止日期不能早于起始日期"),
        ({"valid_from": "2023-13-01"}, "起始日期格式不正确，应为 2023-05-06"),
        ({"institution": "999999"}, "请从列表中选择托养服务机构"),
    ],
)
def test_contract_form_errors(users, towns, provider, extra, message):
    r = client_for(users["district"]).post(
        reverse("casework:custodial_contract_new"), contract_form(towns, provider, **extra)
    )
    assert r.status_code == 400 and message in r.content.decode()
    assert not CustodialContract.objects.exists()
    assert not AuditLog.objects.filter(action="custodial.contract_create").exists()


@pytest.mark.django_db
def test_contract_scope_and_overlap(users, towns, provider, provider_mudu, inst_staff, make_user):
    town = client_for(users["town_luzhi"])
    # a town records only its own town's contracts: another town is not among its choices, and the service
    # refuses whatever the page does
    r = town.post(
        reverse("casework:custodial_contract_new"),
        contract_form(towns, provider, town=towns["木渎镇"].pk),
    )
    assert r.status_code == 400 and "请选择购买方镇(街道)" in r.content.decode()
    with pytest.raises(PermissionDenied, match="镇\\(街道\\)只能登记本镇\\(街道\\)的托养服务购买合同"):
        ct.contract_create(
            acting_user=users["town_luzhi"],
            town=towns["木渎镇"],
            institution=provider,
            mode="boarding",
            valid_from=THIS_YEAR[0],
            valid_to=THIS_YEAR[1],
            places=5,
            monthly_price="100",
        )
    with pytest.raises(PermissionDenied):
        ct.contract_create(
            acting_user=inst_staff,
            town=towns["甪直镇"],
            institution=provider,
            mode="boarding",
            valid_from=THIS_YEAR[0],
            valid_to=THIS_YEAR[1],
            places=5,
            monthly_price="100",
        )
    assert not CustodialContract.objects.exists()
    assert (
        town.post(reverse("casework:custodial_contract_new"), contract_form(towns, provider)).status_code
        == 302
    )
    r = town.post(
        reverse("casework:custodial_contract_new"),
        contract_form(towns, provider, valid_from=f"{TODAY.year}-06-01", valid_to=f"{TODAY.year + 1}-05-31"),
    )
    assert r.status_code == 400
    assert (
        f"甪直镇与“甪直镇阳光托养中心”已有 {THIS_YEAR[0]}～{THIS_YEAR[1]} 的日间照料合同，期间重叠"
        in r.content.decode()
    )
    # another mode with the same provider is a separate purchase
    assert (
        town.post(
            reverse("casework:custodial_contract_new"), contract_form(towns, provider, mode="home")
        ).status_code
        == 302
    )
    ct.contract_create(
        acting_user=users["district"],
        town=towns["木渎镇"],
        institution=provider_mudu,
        mode="boarding",
        valid_from=THIS_YEAR[0],
        valid_to=THIS_YEAR[1],
        places=8,
        monthly_price=Decimal("2000"),
    )
    seen = {}
    for who, user in {
        "district": users["district"],
        "leader": users["leader"],
        "luzhi": users["town_luzhi"],
        "mudu": users["town_mudu"],
        "inst": inst_staff,
        "inst_none": users["institution"],
    }.items():
        page = client_for(user).get(reverse("casework:custodial_contracts"))
        assert page.status_code == 200
        seen[who] = sorted(
            page.context["rows"][i][0].contract.town.name for i in range(len(page.context["rows"]))
        )
    assert seen == {
        "district": ["木渎镇", "甪直镇", "甪直镇"],
        "leader": ["木渎镇", "甪直镇", "甪直镇"],
        "luzhi": ["甪直镇", "甪直镇"],
        "mudu": ["木渎镇"],
        "inst": ["甪直镇", "甪直镇"],  # the contracts its institution signed
        "inst_none": [],
    }
    assert client_for(users["auditor"]).get(reverse("casework:custodial_contracts")).status_code == 403
    assert client_for(users["leader"]).get(reverse("casework:custodial_contract_new")).status_code == 403
    assert client_for(inst_staff).get(reverse("casework:custodial_contract_new")).status_code == 403
    # filters: the district narrows by town, provider, status
    d = client_for(users["district"])
    rows = d.get(reverse("casework:custodial_contracts"), {"town": towns["木渎镇"].pk}).context["rows"]
    assert [r.contract.places for r, _ in rows] == [8]
    rows = d.get(reverse("casework:custodial_contracts"), {"institution": provider.pk}).context["rows"]
    assert sorted(r.contract.mode for r, _ in rows) == ["day_care", "home"]
    assert len(d.get(reverse("casework:custodial_contracts"), {"status": "ended"}).context["rows"]) == 0
    # a town's filter cannot reach another town
    rows = (
        client_for(users["town_mudu"])
        .get(reverse("casework:custodial_contracts"), {"town": towns["甪直镇"].pk})
        .context["rows"]
    )
    assert [r.contract.town.name for r, _ in rows] == ["木渎镇"]


@pytest.mark.django_db
def test_contract_end_and_places_in_care(users, towns, provider, person, make_person):
    k = ct.contract_create(
        acting_user=users["town_luzhi"],
        town=towns["甪直镇"],
        institution=provider,
        mode="day_care",
        valid_from=THIS_YEAR[0],
        valid_to=THIS_YEAR[1],
        places=20,
        monthly_price="1200",
    )
    for p, mode in (
        (person, "day_care"),
        (make_person(name="李明"), "day_care"),
        (make_person(name="周红"), "home"),
    ):
        case_open(
            acting_user=users["district"],
            programme="custodial_care",
            person=p,
            opened_on=THIS_YEAR[0],
            institution=provider,
            state="placed",
            data={"mode": mode},
        )
    rows = client_for(users["town_luzhi"]).get(reverse("casework:custodial_contracts")).context["rows"]
    ((row, workable),) = rows
    assert (row.status, row.in_care, workable) == ("active", 2, True)
    # another town cannot end it (it does not see it), nor can the provider's staff or a leader
    r = client_for(users["town_mudu"]).post(
        reverse("casework:custodial_contract_end", args=[k.pk]), {"ended_on": str(TODAY), "end_reason": "x"}
    )
    assert r.status_code == 404
    with pytest.raises(PermissionDenied):
        ct.contract_end(acting_user=users["leader"], contract=k, ended_on=TODAY, reason="x")
    c = client_for(users["town_luzhi"])
    end = reverse("casework:custodial_contract_end", args=[k.pk])
    msgs = said(c, end, {"ended_on": "2000-01-01", "end_reason": "机构停业"})
    k.refresh_from_db()
    assert k.ended_on is None
    assert msgs == [f"终止日期应在合同期 {THIS_YEAR[0]}～{THIS_YEAR[1]} 之内"]
    assert said(c, end, {"ended_on": str(TODAY), "end_reason": " "}) == ["请填写终止原因"]
    r = c.post(
        reverse("casework:custodial_contract_end", args=[k.pk]),
        {"ended_on": str(TODAY), "end_reason": "机构停业"},
    )
    k.refresh_from_db()
    assert (k.ended_on, k.end_reason, k.ended_by.username) == (TODAY, "机构停业", "luzhi1")
    log = AuditLog.objects.get(action="custodial.contract_end")
    assert log.changes == {"ended_on": [None, TODAY.isoformat()], "end_reason": [None, "机构停业"]}
    assert log.username == "luzhi1" and log.detail == "甪直镇·甪直镇阳光托养中心"
    with pytest.raises(ValidationFailed, match=f"该合同已于 {TODAY} 终止"):
        ct.contract_end(acting_user=users["district"], contract=k, ended_on=TODAY, reason="再次")
    assert AuditLog.objects.filter(action="custodial.contract_end").count() == 1
    # it runs through its last day, and is "ended" the day after
    assert k.status_on(TODAY) == "active" and k.status_on(TODAY + timedelta(days=1)) == "ended"


# ---- inspections -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_inspections_record_filter_and_follow_up(
    users, towns, provider, provider_mudu, inst_staff, district2
):
    d = client_for(users["district"])
    url = reverse("casework:custodial_inspections")
    on = TODAY - timedelta(days=20)
    form = {"institution": provider.pk, "inspected_on": str(on), "score": "55", "findings": "消防通道堵塞"}
    r = d.post(url, form)
    assert r.status_code == 400 and "得分低于合格线 60 分，请填写整改要求" in r.content.decode()
    r = d.post(url, {**form, "score": "101"})
    assert r.status_code == 400 and "得分应在 0 到 100 之间" in r.content.decode()
    r = d.post(url, {**form, "score": "abc"})
    assert r.status_code == 400 and "得分格式不正确，应为 0 到 100 的数" in r.content.decode()
    r = d.post(url, {**form, "inspected_on": str(TODAY + timedelta(days=1))})
    assert r.status_code == 400 and "检查日期不能晚于今天" in r.content.decode()
    r = d.post(url, {**form, "follow_up": "清理通道", "follow_up_due": str(on - timedelta(days=1))})
    assert r.status_code == 400 and "整改期限不能早于检查日期" in r.content.decode()
    assert (
        not Inspection.objects.exists()
        and not AuditLog.objects.filter(action="custodial.inspection").exists()
    )
    due = TODAY - timedelta(days=5)
    r = d.post(url, {**form, "follow_up": "清理通道，补齐台账", "follow_up_due": str(due)})
    assert r.status_code == 302
    failed = Inspection.objects.get()
    assert (failed.score, failed.passed, failed.follow_up, failed.follow_up_due) == (
        Decimal("55.0"),
        False,
        "清理通道，补齐台账",
        due,
    )
    log = AuditLog.objects.get(action="custodial.inspection")
    assert log.changes == {
        "inspected_on": [None, on.isoformat()],
        "score": [None, "55"],
        "passed": [None, False],
        "follow_up_due": [None, due.isoformat()],
    }
    assert log.detail == "消防通道堵塞；整改要求：清理通道，补齐台账"
    assert (
        d.post(url, {"institution": provider_mudu.pk, "inspected_on": str(on), "score": "92.5"}).status_code
        == 302
    )
    # the towns read every provider's results but do not record them
    town = client_for(users["town_mudu"])
    assert len(town.get(url).context["rows"]) == 2
    assert town.post(url, form).status_code == 403
    # a provider's staff read their own institution's only
    assert [i.institution_id for i, *_ in client_for(inst_staff).get(url).context["rows"]] == [provider.pk]
    # filters
    assert [i.passed for i, *_ in d.get(url, {"result": "failed"}).context["rows"]] == [False]
    overdue = d.get(url, {"follow_up": "overdue"}).context["rows"]
    assert [(i.pk, status, label) for i, status, label in overdue] == [(failed.pk, "overdue", "整改逾期")]
    assert len(d.get(url, {"institution": provider_mudu.pk}).context["rows"]) == 1
    assert len(d.get(url, {"year": on.year - 1}).context["rows"]) == 0
    # the follow-up check: the district only, not before the inspection, once
    fu = reverse("casework:custodial_inspection_follow_up", args=[failed.pk])
    with pytest.raises(PermissionDenied):
        ct.inspection_follow_up_done(
            acting_user=users["town_luzhi"], inspection=failed, done_on=TODAY, result="x"
        )
    msgs = said(d, fu, {"follow_up_done_on": str(on - timedelta(days=1)), "follow_up_result": "已整改"})
    assert msgs == [f"复查日期不能早于检查日期 {on}"]
    r = d.post(fu, {"follow_up_done_on": str(TODAY), "follow_up_result": "通道已清理，台账齐全"})
    failed.refresh_from_db()
    assert (failed.follow_up_done_on, failed.follow_up_result) == (TODAY, "通道已清理，台账齐全")
    assert AuditLog.objects.get(action="custodial.inspection_follow_up").changes == {
        "follow_up_done_on": [None, TODAY.isoformat()],
        "follow_up_result": [None, "通道已清理，台账齐全"],
    }
    with pytest.raises(ValidationFailed, match=f"已于 {TODAY} 复查"):
        ct.inspection_follow_up_done(acting_user=district2, inspection=failed, done_on=TODAY, result="再查")
    assert [i.pk for i, *_ in d.get(url, {"follow_up": "done"}).context["rows"]] == [failed.pk]
    # the audit page shows the moves in Chinese
    audit = client_for(users["auditor"]).get(reverse("common:audit_list")).content.decode()
    assert "托养服务质量检查" in audit and "托养服务质量检查整改复查" in audit


# ---- one custodial-care case end to end in a real browser --------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_custodial_case_end_to_end_in_the_browser(
    browser_page, login_as, users, person, provider, inst_staff
):
    """The town enters the application and its review, the district approves and places the person with a
    provider, the provider's staff record the first return visit, the district inspects the provider; the
    auditor's page then names each of these moves in Chinese, by the user who made it."""
    start = TODAY - timedelta(days=120)

    def switch(username):
        browser_page.context.clear_cookies()
        return login_as(browser_page, username)

    page = login_as(browser_page, "luzhi1")
    page.goto("/services/p/custodial_care/")
    page.click("#case-create")
    page.fill("#c-id", person.id_number)
    page.fill("#c-on", str(start - timedelta(days=30)))
    page.select_option("#c-mode", "day_care")
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('提交申请')")
    assert page.locator("#case-state").get_attribute("data-state") == "applied"
    case = Case.objects.get(programme="custodial_care")
    with page.expect_navigation():
        page.click("form[data-move=town_review] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "town_reviewed"
    assert page.locator("form[data-move=approve]").count() == 0  # the district approves

    page = switch("district1")
    page.goto(f"/services/cases/{case.pk}/")
    with page.expect_navigation():
        page.click("form[data-move=approve] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "approved"
    page.select_option("#mv-place-institution", str(provider.pk))
    page.fill("#mv-place-opened_on", str(start))
    with page.expect_navigation():
        page.click("form[data-move=place] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "placed"
    assert page.locator("#due-items tr[data-status=overdue]").count() >= 1  # the first visit is past due

    page = switch("inst_luzhi")
    page.goto(f"/services/cases/{case.pk}/")
    first = page.locator("#due-items tr[data-status=overdue]").first
    item_pk = first.get_attribute("data-due")
    page.fill(f"#note-{item_pk}", "情况稳定，家属满意")
    with page.expect_navigation():
        first.locator("button[type=submit]").click()
    assert page.locator(f"#due-items tr[data-due='{item_pk}']").get_attribute("data-status") == "done"
    assert page.locator("form[data-move=place]").count() == 0

    page = switch("district1")
    page.goto("/services/custodial/inspections/")
    page.select_option("#i-inst", str(provider.pk))
    page.fill("#i-on", str(TODAY - timedelta(days=1)))
    page.fill("#i-score", "88.5")
    page.fill("#i-findings", "台账齐全")
    with page.expect_navigation():
        page.click("#inspection-form button[type=submit]")
    assert page.locator("#inspections tbody tr[data-inspection]").count() == 1
    assert "合格" in page.locator("#inspections tbody tr[data-inspection]").first.inner_text()

    page = switch("auditor1")
    page.goto("/audit/")
    rows = page.locator("#audit-table tbody tr[data-audit]")
    seen = [
        (r.locator("td").nth(1).inner_text().split("\n")[0], r.locator("td").nth(2).inner_text().strip())
        for r in rows.all()
    ]
    moves = [s for s in reversed(seen) if "托养" in s[1]]
    assert moves == [
        ("luzhi1", "残疾人托养：登记个案"),
        ("luzhi1", "残疾人托养：镇(街道)审核通过"),
        ("district1", "残疾人托养：区残联审定"),
        ("district1", "残疾人托养：安排入托"),
        ("inst_luzhi", "残疾人托养：完成到期事项"),
        ("district1", "托养服务质量检查"),
    ]
    assert ("luzhi1", "按身份证号或证号查询") in seen  # the application's ID lookup
