"""Assistive-device pages through the real URLs (application, catalogue import and diff, loans), and one
fitting case end to end in a real browser as the roles that do each step: the town enters the application
and both reviews, the district assesses, a second district officer approves, the service point delivers."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from canlian.casework.device_models import DeviceFitting, DeviceLoan
from canlian.casework.models import Case
from canlian.casework.programmes import devices as dv
from canlian.common.models import AuditLog

from .conftest import designated, xlsx_bytes
from .test_devices import HEADERS, V2019


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def catalogue(users):
    return dv.catalogue_import(
        acting_user=users["district"],
        source=xlsx_bytes(HEADERS, V2019),
        filename="目录2019.xlsx",
        version="2019版",
        effective_from=date(2019, 1, 1),
    )


@pytest.fixture
def point(users, district2, towns):
    return designated(users, district2, towns, "甪直镇辅具服务点", kind="device_service_point")


@pytest.fixture
def point_staff(make_user, point):
    u = make_user("inst_point", "institution_staff")
    u.institution = point
    u.save(update_fields=["institution"])
    return u


@pytest.fixture
def person(make_person):
    return make_person(name="李强", category=4, grade=1, issue=date(2018, 5, 6))


@pytest.mark.django_db
def test_apply_page_errors_and_success(users, catalogue, person):
    c = client_for(users["town_luzhi"])
    assert c.get(reverse("casework:devices_apply")).status_code == 200
    r = c.post(
        reverse("casework:devices_apply"),
        {"id_number": person.id_number, "applied_on": "2023-03-01", "device": "飞机"},
    )
    assert r.status_code == 400 and "辅具目录 2019版 中没有“飞机”" in r.content.decode()
    assert not Case.objects.exists()
    r = c.post(
        reverse("casework:devices_apply"), {"id_number": "123", "applied_on": "2023-13-01", "device": ""}
    )
    assert r.status_code == 400 and "申请日期格式不正确" in r.content.decode()
    r = c.post(
        reverse("casework:devices_apply"),
        {
            "id_number": person.id_number,
            "applied_on": "2023-03-01",
            "device": "122203",
            "village_worker": "王村委",
        },
    )
    case = Case.objects.get(programme="devices")
    assert r.status_code == 302 and r.url == reverse("casework:case_detail", args=[case.pk])
    page = c.get(r.url).content.decode()
    assert "12 22 03 普通轮椅" in page and "王村委" in page
    assert client_for(users["institution"]).get(reverse("casework:devices_apply")).status_code == 403


@pytest.mark.django_db
def test_catalogue_page_imports_and_shows_the_diff(users, catalogue):
    c = client_for(users["district"])
    page = c.get(reverse("casework:devices_catalogue")).content.decode()
    assert "2019版" in page and "耳背式助听器" in page
    rows = [r[:] for r in V2019]
    rows[4][2] = 80
    bad = io.BytesIO(xlsx_bytes(HEADERS, [["1", "x", "y", 1, "肢体", "", ""]]))
    bad.name = "bad.xlsx"
    r = c.post(
        reverse("casework:devices_catalogue"), {"version": "坏", "effective_from": "2024-01-01", "file": bad}
    )
    assert r.status_code == 200 and "第2行A列（编码）" in r.content.decode()
    good = io.BytesIO(xlsx_bytes(HEADERS, rows))
    good.name = "目录2024.xlsx"
    r = c.post(
        reverse("casework:devices_catalogue"),
        {"version": "2024版", "effective_from": "2024-01-01", "file": good},
    )
    assert r.status_code == 302
    page = c.get(r.url).content.decode()
    assert "与 2019版 相比的变化" in page and "补贴上限 60.00 → 80.00" in page
    town = client_for(users["town_luzhi"])
    assert town.get(reverse("casework:devices_catalogue")).status_code == 200
    assert town.post(reverse("casework:devices_catalogue"), {"version": "x"}).status_code == 403


@pytest.mark.django_db
def test_loans_page_lend_overdue_and_return(users, catalogue, person, point, point_staff):
    c = client_for(point_staff)
    r = c.post(
        reverse("casework:devices_loans"),
        {
            "institution": point.pk,
            "id_number": person.id_number,
            "device": "普通轮椅",
            "asset_no": "LZ-7",
            "lent_on": "2023-01-01",
        },
    )
    assert r.status_code == 302
    loan = DeviceLoan.objects.get()
    assert loan.due_on == date(2023, 4, 1)
    page = c.get(reverse("casework:devices_loans") + "?show=overdue").content.decode()
    assert "LZ-7" in page and "已逾期" in page
    assert (
        "LZ-7" not in client_for(users["town_mudu"]).get(reverse("casework:devices_loans")).content.decode()
    )
    r = c.post(reverse("casework:devices_loan_return", args=[loan.pk]), {"returned_on": "2023-04-01"})
    loan.refresh_from_db()
    assert r.status_code == 302 and loan.returned_on == date(2023, 4, 1)
    assert AuditLog.objects.get(action="devices.loan_return").changes["days_late"] == [None, 0]


# ---- the browser --------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_devices_case_end_to_end_in_the_browser(
    browser_page, login_as, users, district2, catalogue, person, point, point_staff
):
    page = login_as(browser_page, "luzhi1")
    page.goto("/services/p/devices/")
    page.click("#case-create")
    page.fill("#a-id", person.id_number)
    page.fill("#a-on", "2023-03-01")
    page.fill("#a-vw", "王村委")
    page.fill("#a-dev", "122203")
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('提交申请')")
    assert page.locator("#case-state").get_attribute("data-state") == "applied"
    case = Case.objects.get(programme="devices")
    for move, state in (("village_review", "village_reviewed"), ("town_review", "town_reviewed")):
        with page.expect_navigation():
            page.click(f"form[data-move={move}] button[type=submit]")
        assert page.locator("#case-state").get_attribute("data-state") == state
    assert page.locator("form[data-move=assess]").count() == 0  # the town does not assess

    def switch(username):
        browser_page.context.clear_cookies()
        return login_as(browser_page, username)

    page = switch("district1")
    page.goto(f"/services/cases/{case.pk}/")
    page.fill("#mv-assess-item_code", "12 22 03")
    page.select_option("#mv-assess-institution", str(point.pk))
    with page.expect_navigation():
        page.click("form[data-move=assess] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "assessed"
    assert page.locator("form[data-move=approve]").count() == 0  # maker ≠ checker

    page = switch("district2")
    page.goto(f"/services/cases/{case.pk}/")
    with page.expect_navigation():
        page.click("form[data-move=approve] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "approved"

    page = switch("inst_point")
    page.goto(f"/services/cases/{case.pk}/")
    page.fill("#mv-deliver-amount_price", "1234.56")
    page.fill("#mv-deliver-fitted_on", "2023-04-30")
    with page.expect_navigation():
        page.click("form[data-move=deliver] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "fitted"
    assert page.locator("#device-subsidy").inner_text() == "800.00 元"
    assert page.locator("#device-share").inner_text() == "434.56 元"
    assert page.locator("#due-items tr[data-due]").count() == 1
    f = DeviceFitting.objects.get(case=case)
    assert (f.price, f.subsidy, f.own_share) == (Decimal("1234.56"), Decimal("800.00"), Decimal("434.56"))
    assert list(
        AuditLog.objects.filter(action__startswith="case.devices.", object_id=str(case.pk))
        .order_by("id")
        .values_list("action", "username")
    ) == [
        ("case.devices.open", "luzhi1"),
        ("case.devices.apply", "luzhi1"),
        ("case.devices.village_review", "luzhi1"),
        ("case.devices.town_review", "luzhi1"),
        ("case.devices.assess", "district1"),
        ("case.devices.approve", "district2"),
        ("case.devices.deliver", "inst_point"),
    ]


@pytest.mark.django_db
def test_loan_lookup_is_scoped_and_audited(users, catalogue, person, point, point_staff, make_person, id_for):
    """The point's staff look up persons of the point's town only: a number registered in another town gets
    the answer a number registered nowhere gets, and every lookup is an audited ID search."""
    from canlian.common.exceptions import PermissionDenied
    from canlian.common.masking import mask_id_number

    elsewhere = make_person(name="王芳", town="木渎镇", category=4, grade=1)
    nowhere = id_for(date(1970, 1, 1), 777)
    c = client_for(point_staff)
    form = {"institution": point.pk, "device": "普通轮椅", "asset_no": "LZ-9", "lent_on": "2023-01-01"}
    pages = {}
    for key, number in (("elsewhere", elsewhere.id_number), ("nowhere", nowhere)):
        r = c.post(reverse("casework:devices_loans"), {**form, "id_number": number})
        assert r.status_code == 200
        pages[key] = r.content.decode()
        assert "未找到该身份证号的残疾人，或不在您的管辖范围内" in pages[key]
    assert "王芳" not in pages["elsewhere"]
    assert not DeviceLoan.objects.exists()
    searches = list(AuditLog.objects.filter(action="person.search").order_by("id"))
    assert [(s.username, s.changes) for s in searches] == [
        ("inst_point", {"q": [None, mask_id_number(elsewhere.id_number)], "results": [None, 0]}),
        ("inst_point", {"q": [None, mask_id_number(nowhere)], "results": [None, 0]}),
    ]
    assert elsewhere.id_number not in str(searches[0].changes)
    # the service refuses too, whatever the page does
    with pytest.raises(PermissionDenied):
        dv.loan_lend(
            acting_user=point_staff,
            institution=point,
            person=elsewhere,
            item=dv.item_find(catalogue, "普通轮椅"),
            asset_no="LZ-9",
            lent_on=date(2023, 1, 1),
        )
    assert not DeviceLoan.objects.exists()
    # the own town's person is found (and that search is audited with one result)
    r = c.post(reverse("casework:devices_loans"), {**form, "id_number": person.id_number})
    assert r.status_code == 302 and DeviceLoan.objects.get().person == person
    last = AuditLog.objects.filter(action="person.search").latest("id")
    assert last.changes["results"] == [None, 1]
    # district staff may lend anyone at any point
    r = client_for(users["district"]).post(
        reverse("casework:devices_loans"), {**form, "asset_no": "LZ-10", "id_number": elsewhere.id_number}
    )
    assert r.status_code == 302 and DeviceLoan.objects.filter(person=elsewhere).count() == 1
