"""The payroll pages warn about open findings that would stop a payment in that payroll, through the check
this app registers with ``benefits.hooks`` (benefits never imports verification): the count is what the user
may see (district-wide, or the clerk's own town), links to the open findings, leaves out confirmed and
dismissed findings and findings effective after the month, says nothing when there are none, and never
blocks approval.

The world (``world.build``), compared for August 2023: open findings on the care allowance effective by then
are 5 in 甪直镇 and 1 in 木渎镇 (周五, elderly); on the living allowance 4, all in 甪直镇."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from canlian.benefits.hooks import payroll_checks_registered, payroll_warnings
from canlian.benefits.models import Payroll, Programme
from canlian.benefits.services.payroll import payroll_generate, payroll_transition
from canlian.verification.models import Finding
from canlian.verification.payroll_checks import CHECK_NAME
from canlian.verification.selectors import open_findings_count, open_findings_count_visible
from canlian.verification.services import finding_confirm, finding_dismiss, verification_run

from . import world
from .test_views import client_for

pytestmark = pytest.mark.urls("canlian.verification.tests.urls")
AUGUST = world.RUN_MONTH
FINDINGS_URL = "/verification/findings/?status=open&amp;programme=care_allowance&amp;payroll_month=2023-08"


def counts_on(html: str) -> list[str]:
    """``data-count`` of every open-findings warning on a page, in page order."""
    marker = f'data-warning="{CHECK_NAME}" data-count="'
    return [chunk.split('"', 1)[0] for chunk in html.split(marker)[1:]]


@pytest.fixture
def built(staff, make_person):
    w = world.build(make_person)
    world.import_lists(staff["district"], w["persons"])
    return w


@pytest.fixture
def ran(staff, built):
    built["run"] = verification_run(acting_user=staff["district"], month=AUGUST)
    return built


@pytest.fixture
def care(db):
    return Programme.objects.get(code="care_allowance")


@pytest.fixture
def living(db):
    return Programme.objects.get(code="living_allowance")


@pytest.fixture
def care_payroll(staff, ran, care):
    return payroll_generate(acting_user=staff["district"], programme=care, month=AUGUST)


def test_the_check_is_registered_when_the_app_is_ready():
    assert CHECK_NAME in payroll_checks_registered()


def test_counts_scoped_like_the_findings_list(staff, ran, care, living):
    assert open_findings_count(care, AUGUST) == 6
    expected = {"district": (6, 4), "leader": (6, 4), "town_luzhi": (5, 4), "town_mudu": (1, 0)}
    for who, (on_care, on_living) in expected.items():
        user = staff[who]
        assert open_findings_count_visible(user, care, AUGUST) == on_care, who
        assert open_findings_count_visible(user, living, AUGUST) == on_living, who
        for programme, count in ((care, on_care), (living, on_living)):
            # the warning's link lists exactly the findings it counts
            listed = (
                client_for(user)
                .get(
                    reverse("verification:finding_list"),
                    {"status": "open", "programme": programme.code, "payroll_month": f"{AUGUST:%Y-%m}"},
                )
                .content.decode()
            )
            assert listed.count("<tr data-finding=") == count, (who, programme.code)
            assert f"仅显示影响{programme.name} 2023年8月发放的疑点" in listed


def test_findings_list_payroll_month_is_a_cut_off(staff, ran, care):
    """Findings effective after the payroll month do not stop that payroll; a bad month is ignored."""
    url = reverse("verification:finding_list")
    user = client_for(staff["district"])
    before = user.get(url, {"status": "open", "programme": "care_allowance", "payroll_month": "2000-01"})
    assert before.content.decode().count("<tr data-finding=") == 0
    bad = user.get(url, {"status": "open", "programme": "care_allowance", "payroll_month": "2023-13"})
    assert bad.status_code == 200 and bad.content.decode().count("<tr data-finding=") == 6
    for who in ("auditor", "institution", "admin"):  # may not read findings: count none
        assert open_findings_count_visible(staff[who], care, AUGUST) == 0


def test_detail_page_district_sees_all_town_staff_their_town(staff, care_payroll):
    url = reverse("benefits:payroll_detail", args=[care_payroll.pk])
    district = client_for(staff["district"]).get(url).content.decode()
    assert counts_on(district) == ["6"]
    assert (
        "重度残疾人护理补贴 2023年8月发放：全区有 6 条待处理的数据比对疑点涉及本项目（应停发月份在本月或之前）。"
        in district
    )
    assert f'href="{FINDINGS_URL}">查看待处理疑点</a>' in district
    assert 'id="move-warning" data-count="6"' in district  # right by the review button

    luzhi = client_for(staff["town_luzhi"]).get(url).content.decode()
    assert counts_on(luzhi) == ["5"]
    assert "甪直镇有 5 条待处理的数据比对疑点" in luzhi
    mudu = client_for(staff["town_mudu"]).get(url).content.decode()
    assert counts_on(mudu) == ["1"]
    assert "木渎镇有 1 条待处理的数据比对疑点" in mudu
    assert counts_on(client_for(staff["leader"]).get(url).content.decode()) == ["6"]


def test_list_page_before_generating(staff, ran):
    url = reverse("benefits:payroll_list")
    district = client_for(staff["district"]).get(url, {"month": "2023-08"}).content.decode()
    assert counts_on(district) == ["4", "6"]  # living allowance, then care allowance
    assert "困难残疾人生活补贴 2023年8月发放：全区有 4 条" in district
    assert "重度残疾人护理补贴 2023年8月发放：全区有 6 条" in district
    assert counts_on(client_for(staff["town_luzhi"]).get(url, {"month": "2023-08"}).content.decode()) == [
        "4",
        "5",
    ]
    assert counts_on(client_for(staff["town_mudu"]).get(url, {"month": "2023-08"}).content.decode()) == ["1"]
    # June: only the findings effective by then (expired certificate from April, deceased from June)
    june = client_for(staff["district"]).get(url, {"month": "2023-06"}).content.decode()
    assert "重度残疾人护理补贴 2023年6月发放：全区有 2 条" in june


def test_nothing_shown_without_open_findings(staff, built, care):
    """Lists imported but no comparison run yet: no findings, no warning."""
    assert Finding.objects.count() == 0
    payroll = payroll_generate(acting_user=staff["district"], programme=care, month=AUGUST)
    for who in ("district", "town_luzhi", "leader"):
        client = client_for(staff[who])
        detail = client.get(reverse("benefits:payroll_detail", args=[payroll.pk])).content.decode()
        listed = client.get(reverse("benefits:payroll_list"), {"month": "2023-08"}).content.decode()
        assert counts_on(detail) == counts_on(listed) == []
        assert "payroll-warning" not in detail
        assert 'id="move-warning"' not in detail
    assert payroll_warnings(user=staff["district"], programme=care, month=AUGUST) == []


def test_nothing_shown_for_a_month_before_every_finding(staff, ran, care):
    assert payroll_warnings(user=staff["district"], programme=care, month=date(2023, 3, 1)) == []
    page = client_for(staff["district"]).get(reverse("benefits:payroll_list"), {"month": "2023-03"})
    assert counts_on(page.content.decode()) == []


def test_dismissed_and_confirmed_findings_are_not_counted(staff, ran, care, care_payroll):
    luzhi_care = list(
        Finding.objects.filter(
            status=Finding.Status.OPEN,
            enrolment__programme=care,
            town__name="甪直镇",
            effective_month__lte=AUGUST,
        ).order_by("id")
    )
    assert len(luzhi_care) == 5
    finding_dismiss(acting_user=staff["town_luzhi"], finding=luzhi_care[0], reason="已核实：名单有误")
    finding_confirm(acting_user=staff["district"], finding=luzhi_care[1], action="suspend")
    url = reverse("benefits:payroll_detail", args=[care_payroll.pk])
    assert counts_on(client_for(staff["district"]).get(url).content.decode()) == ["4"]
    assert counts_on(client_for(staff["town_luzhi"]).get(url).content.decode()) == ["3"]
    assert counts_on(client_for(staff["town_mudu"]).get(url).content.decode()) == ["1"]
    assert Finding.objects.filter(status=Finding.Status.OPEN, enrolment__programme=care).count() == 4


def test_approval_is_not_blocked_and_the_warning_stops_once_approved(staff, care_payroll):
    url = reverse("benefits:payroll_detail", args=[care_payroll.pk])
    move = reverse("benefits:payroll_move", args=[care_payroll.pk])
    open_before = sorted(Finding.objects.filter(status=Finding.Status.OPEN).values_list("pk", flat=True))
    assert len(open_before) == 13
    payroll_transition(acting_user=staff["district"], payroll=care_payroll, to_status="reviewed")
    page = client_for(staff["district2"]).get(url).content.decode()
    assert 'data-move="approved" aria-describedby="move-warning"' in page
    assert 'id="move-warning" data-count="6"' in page

    response = client_for(staff["district2"]).post(
        move, {"to_status": "approved", "expected_status": "reviewed"}
    )
    assert response.status_code == 302
    assert Payroll.objects.get(pk=care_payroll.pk).status == "approved"
    # nothing handled on the way: the same findings are still open
    assert (
        sorted(Finding.objects.filter(status=Finding.Status.OPEN).values_list("pk", flat=True)) == open_before
    )
    assert counts_on(client_for(staff["district"]).get(url).content.decode()) == []


def test_generation_job_page_warns(staff, ran):
    client = client_for(staff["district"])
    response = client.post(
        reverse("benefits:payroll_generate"), {"programme": "care_allowance", "month": "2023-08"}
    )
    assert response.status_code == 302
    assert counts_on(client.get(response.url).content.decode()) == ["6"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_month_change_updates_the_warning(browser_page, login_as, staff, make_person):
    """District staff pick another month in the generation form: the warning follows without a reload."""
    w = world.build(make_person)
    world.import_lists(staff["district"], w["persons"])
    verification_run(acting_user=staff["district"], month=AUGUST)
    page = login_as(browser_page, "district1")
    page.goto(reverse("benefits:payroll_list") + "?month=2023-03")
    assert page.locator(".payroll-warning").count() == 0
    page.fill("#id_month", "2023-08")
    page.locator("#id_month").dispatch_event("change")
    page.wait_for_selector('#payroll-warnings[data-month="2023-08"]')
    alerts = page.locator(".payroll-warning")
    assert [alerts.nth(i).get_attribute("data-count") for i in range(alerts.count())] == ["4", "6"]
    assert "全区有 6 条待处理的数据比对疑点" in alerts.nth(1).inner_text()
    page.fill("#id_month", "2023-06")
    page.locator("#id_month").dispatch_event("change")
    page.wait_for_selector('#payroll-warnings[data-month="2023-06"]')
    assert [a.get_attribute("data-count") for a in page.locator(".payroll-warning").all()] == [
        "1",
        "2",
    ]  # deceased from June
    # the batch page: the warning above the figures and next to the review button
    payroll = payroll_generate(
        acting_user=staff["district"], programme=Programme.objects.get(code="care_allowance"), month=AUGUST
    )
    page.goto(reverse("benefits:payroll_detail", args=[payroll.pk]))
    assert page.locator(".payroll-warning").get_attribute("data-count") == "6"
    assert page.locator(".page-header .actions #move-warning").is_visible()
