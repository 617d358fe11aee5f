"""Employment in the browser, as the 甪直镇 clerk who owns it: one path for each kind of record (an
employment, a job fair, a training class with enrolment, attendance and a certificate, an auxiliary-employment
project with a person, a blind-massage practitioner, a special-service file through the "四个一", a
graduate's plan to employment). One test, one browser session: CI time is tight."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.casework.models import (
    AuxProjectMember,
    Case,
    JobFair,
    MassagePractitioner,
    TrainingAttendance,
    TrainingEnrolment,
)
from canlian.registry.models import EmploymentPeriod

from .conftest import designated

pytestmark = pytest.mark.django_db(transaction=True)


def test_employment_records_in_the_browser(browser_page, login_as, users, district2, towns, make_person):
    home = designated(users, district2, towns, "甪直镇残疾人之家", kind="care_home")
    a = make_person(name="张伟", birth=date(1990, 1, 1), employment_status="未就业")
    b = make_person(name="李娜", birth=date(1992, 1, 1), category=1, grade=1)
    page = login_as(browser_page, "luzhi1")

    def submit(selector="#record-form button[type=submit]"):
        with page.expect_navigation():
            page.click(selector)

    # an employment, from the side navigation
    page.goto("/")
    page.click("a:has-text('就业服务')")
    page.click("#record-new")
    page.fill("#r-id_number", b.id_number)
    page.select_option("#r-kind", "concentrated")
    page.fill("#r-employer", "吴中盲人按摩中心")
    page.fill("#r-valid_from", "2023-03-01")
    submit()
    assert page.locator("#record-table tbody tr").count() == 1
    assert EmploymentPeriod.objects.get(person=b, status="employed").employer == "吴中盲人按摩中心"

    # a job fair
    page.goto("/services/employment/list/job_fairs/")
    page.click("#record-new")
    page.select_option("#r-kind", "help_day")
    page.fill("#r-title", "2023年全国助残日招聘会")
    page.fill("#r-held_on", "2023-05-21")
    page.select_option("#r-town", str(towns["甪直镇"].pk))
    page.fill("#r-place", "甪直镇文体中心")
    for name, value in (("employers", "12"), ("positions", "40"), ("attendees", "35"), ("offers", "9")):
        page.fill(f"#r-{name}", value)
    submit()
    assert JobFair.objects.get().offers == 9

    # a training class: enrolment, a session with attendance, a certificate
    page.goto("/services/employment/list/training/")
    page.click("#record-new")
    page.select_option("#r-kind", "heritage")
    page.fill("#r-name", "2023年非遗木雕技艺培训班")
    page.fill("#r-subject", "木雕")
    page.select_option("#r-town", str(towns["甪直镇"].pk))
    page.fill("#r-starts_on", "2023-04-01")
    page.fill("#r-ends_on", "2023-04-30")
    submit()
    page.fill("#e-id", a.id_number)
    submit("#enrol-form button[type=submit]")
    enrolment = TrainingEnrolment.objects.get(person=a)
    page.fill("#s-on", "2023-04-02")
    page.fill("#s-topic", "工具与安全")
    page.check(f"#p-{enrolment.pk}")
    submit("#session-form button[type=submit]")
    assert TrainingAttendance.objects.get().enrolment == enrolment
    row = page.locator(f"tr[data-enrolment='{enrolment.pk}']")
    row.locator("input[name=certificate]").fill("木雕技艺结业证书")
    row.locator("input[name=certified_on]").fill("2023-04-30")
    submit(f"tr[data-enrolment='{enrolment.pk}'] button[type=submit]")
    assert "1 / 1" in page.locator("#trainee-table").inner_text()

    # an auxiliary-employment project at the 残疾人之家, with a person
    page.goto("/services/employment/list/aux_projects/")
    page.click("#record-new")
    page.fill("#r-name", "电子元件来料加工")
    page.fill("#r-company", "吴中电子厂")
    page.select_option("#r-institution", str(home.pk))
    page.fill("#r-started_on", "2023-02-01")
    submit()
    page.fill("#m-id", a.id_number)
    page.fill("#m-on", "2023-02-15")
    submit("#member-form button[type=submit]")
    assert AuxProjectMember.objects.get().person == a

    # a blind-massage practitioner
    page.goto("/services/employment/list/practitioners/")
    page.click("#record-new")
    page.fill("#r-id_number", b.id_number)
    page.fill("#r-qualification", "保健按摩师（中级）")
    page.fill("#r-since", "2020-03-01")
    submit()
    assert MassagePractitioner.objects.get().person == b

    # a special-service file: listed, then the "四个一"
    page.goto("/services/p/job_support/")
    page.click("#case-create")
    page.fill("#c-id", a.id_number)
    page.fill("#c-on", "2023-03-01")
    submit("#apply-form button[type=submit]")
    for move, fields in (
        ("check", {"check_on": "2023-03-02", "check_note": "电话核实，有就业意愿"}),
        ("assess", {"assess_on": "2023-03-10", "assessment": "可从事简单手工"}),
        ("register", {"demand_on": "2023-03-11", "demand": "手工装配"}),
        ("serve", {"service_on": "2023-03-20", "service": "推荐面试"}),
    ):
        for name, value in fields.items():
            page.fill(f"#mv-{move}-{name}", value)
        submit(f"form[data-move={move}] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "served"

    # a graduate: plan, then employed
    page.goto("/services/p/graduate/")
    page.click("#case-create")
    page.fill("#c-id", b.id_number)
    page.fill("#c-on", "2023-06-30")
    page.fill("#c-school", "南京特殊教育师范学院")
    submit("#apply-form button[type=submit]")
    page.fill("#mv-plan-plan_on", "2023-07-01")
    page.fill("#mv-plan-plan", "一、职业测评；二、推荐岗位")
    submit("form[data-move=plan] button[type=submit]")
    page.fill("#mv-employ-closed_on", "2023-09-01")
    page.fill("#mv-employ-employer", "吴中盲人按摩中心")
    submit("form[data-move=employ] button[type=submit]")
    assert page.locator("#case-state").get_attribute("data-state") == "employed"
    assert Case.objects.get(programme="graduate").data["employer"] == "吴中盲人按摩中心"
