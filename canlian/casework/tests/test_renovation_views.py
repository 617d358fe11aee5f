"""Renovation pages through the real URLs (the application's Chinese errors, the plan and photo forms, a
refused upload changing nothing) and one household's case end to end in the browser, by the roles that do
each step."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from canlian.casework.models import Attachment, Case, RenovationItem
from canlian.common.models import AuditLog
from canlian.registry.services import economic_status_change

pytestmark = pytest.mark.django_db


@pytest.fixture
def household(users, make_person):
    p = make_person(name="张伟", grade=1, address="甪直镇南港村18号")
    economic_status_change(
        acting_user=users["district"], person=p, status="dibao", valid_from=date(2023, 1, 1)
    )
    return p


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_apply_page_errors_then_success(users, household, make_person):
    c = client_for(users["town_luzhi"])
    assert c.get(reverse("casework:renovation_apply")).status_code == 200
    r = c.post(
        reverse("casework:renovation_apply"), {"id_number": household.id_number, "applied_on": "2023-03-01"}
    )
    html = r.content.decode()
    assert r.status_code == 400 and "住房须具备改造条件（自有或经产权人同意、不在拆迁范围）" in html
    r = c.post(reverse("casework:renovation_apply"), {"id_number": "123", "applied_on": "2023-03-01"})
    assert r.status_code == 400 and "身份证号应为18位，实际为3位" in r.content.decode()
    other = make_person(name="王芳", grade=1, town="木渎镇")
    r = c.post(
        reverse("casework:renovation_apply"), {"id_number": other.id_number, "applied_on": "2023-03-01"}
    )
    assert "未找到该身份证号的残疾人，或不在您的管辖范围内" in r.content.decode()  # another town's person
    search = AuditLog.objects.filter(action="person.search").latest("id")  # the lookup is an audited search
    assert (search.username, search.changes["results"]) == ("luzhi1", [None, 0])
    assert not Case.objects.exists()
    r = c.post(
        reverse("casework:renovation_apply"),
        {"id_number": household.id_number, "applied_on": "2023-03-01", "house_alterable": "yes"},
    )
    case = Case.objects.get(programme="renovation")
    assert r.status_code == 302 and r.url == reverse("casework:case_detail", args=[case.pk])
    assert client_for(users["leader"]).get(reverse("casework:renovation_apply")).status_code == 403


def test_photo_refused_in_the_wrong_stage_changes_nothing(users, household):
    from canlian.casework.programmes.renovation import renovation_apply

    case = renovation_apply(
        acting_user=users["town_luzhi"], person=household, applied_on=date(2023, 3, 1), house_alterable=True
    )
    c = client_for(users["town_luzhi"])
    n = AuditLog.objects.count()
    from django.core.files.uploadedfile import SimpleUploadedFile

    r = c.post(
        reverse("casework:renovation_photo_add", args=[case.pk]),
        {"stage": "acceptance", "file": SimpleUploadedFile("a.jpg", b"\xff\xd8x", content_type="image/jpeg")},
        follow=True,
    )
    assert "上传竣工验收照片只能在“施工完成待验收”时办理，当前为“已申请”" in r.content.decode()
    assert Attachment.objects.count() == 0 and AuditLog.objects.count() == n
    r = client_for(users["town_mudu"]).post(
        reverse("casework:renovation_item_add", args=[case.pk]), {"name": "x"}
    )
    assert r.status_code == 404 and RenovationItem.objects.count() == 0


def test_renovation_case_end_to_end_in_the_browser(browser_page, login_as, users, household, make_user):
    make_user("luzhi2", "town_staff", "甪直镇")
    page = login_as(browser_page, "luzhi1")
    page.goto("/services/p/renovation/")
    page.click("#case-create")
    page.fill("#r-id", household.id_number)
    page.fill("#r-on", "2023-03-01")
    page.check("#r-alt")
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('提交申请')")
    assert page.locator("#case-state").get_attribute("data-state") == "applied"
    case = Case.objects.get(programme="renovation")
    with page.expect_navigation():
        page.click("form[data-move=town_review] button[type=submit]")
    photo = {"name": "卫生间.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff\xe0survey"}
    page.set_input_files("#photo-form input[type=file]", photo)
    with page.expect_navigation():
        page.click("#photo-form button[type=submit]")
    page.fill("#mv-survey-survey_on", "2023-03-10")
    page.fill("#mv-survey-survey_notes", "卫生间无扶手，门槛高 8 厘米")
    with page.expect_navigation():
        page.click("form[data-move=survey] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "surveyed"
    for name, qty, price in (("卫生间扶手", "2", "450.50"), ("门槛坡化", "3", "1200")):
        page.fill("#it-name", name)
        page.fill("#it-qty", qty)
        page.fill("#it-price", price)
        with page.expect_navigation():
            page.click("#item-form button[type=submit]")
    assert page.locator("#plan-total").inner_text() == "4501.00 / 6000.00"
    with page.expect_navigation():
        page.click("form[data-move=plan] button[type=submit]")
    assert page.locator("form[data-move=approve]").count() == 0  # the town does not approve its own plan

    def switch(username):
        browser_page.context.clear_cookies()
        return login_as(browser_page, username)

    page = switch("district1")
    page.goto("/services/worklist/")
    with page.expect_navigation():
        page.click("#worklist-table a:has-text('张伟')")
    with page.expect_navigation():
        page.click("form[data-move=approve] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "approved"

    page = switch("luzhi1")
    page.goto(f"/services/cases/{case.pk}/")
    page.fill("#mv-procure-contractor", "苏州安居装饰")
    page.fill("#mv-procure-amount_contract", "4480.00")
    page.fill("#mv-procure-works_from", "2023-04-01")
    with page.expect_navigation():
        page.click("form[data-move=procure] button[type=submit]")
    page.fill("#mv-complete-works_to", "2023-04-20")
    with page.expect_navigation():
        page.click("form[data-move=complete] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "works_done"
    assert page.locator("form[data-move=accept]").count() == 0  # whoever recorded the works does not accept

    page = switch("luzhi2")
    page.goto(f"/services/cases/{case.pk}/")
    page.set_input_files("#photo-form input[type=file]", {**photo, "name": "验收.jpg"})
    with page.expect_navigation():
        page.click("#photo-form button[type=submit]")
    page.fill("#mv-accept-closed_on", "2023-04-25")
    with page.expect_navigation():
        page.click("form[data-move=accept] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "accepted"
    actions = list(
        AuditLog.objects.filter(object_id=str(case.pk), action__startswith="case.renovation")
        .order_by("id")
        .values_list("action", "username")
    )
    assert actions == [
        ("case.renovation.open", "luzhi1"),
        ("case.renovation.town_review", "luzhi1"),
        ("case.renovation.attach", "luzhi1"),
        ("case.renovation.survey", "luzhi1"),
        ("case.renovation.item_add", "luzhi1"),
        ("case.renovation.item_add", "luzhi1"),
        ("case.renovation.plan", "luzhi1"),
        ("case.renovation.approve", "district1"),
        ("case.renovation.procure", "luzhi1"),
        ("case.renovation.complete", "luzhi1"),
        ("case.renovation.attach", "luzhi2"),
        ("case.renovation.accept", "luzhi2"),
    ]
