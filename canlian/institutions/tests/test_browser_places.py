"""The places that serve in a real browser (Playwright + Debian chromium) against the live server, each step
by the role that owns it: the town clerk completes a milestone of the 甪直镇 project and sees it against its
deadline, the district scores the 2023 star rating and another district officer rates it, and the
残疾人之家's own staff take the day's roll call."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from canlian.institutions import places
from canlian.institutions.models import Attendance, StarRating

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_project_milestone_star_rating_and_roll_call(
    browser_page, login_as, users, home, attendees, home_staff, checker
):
    project = places.project_create(
        acting_user=users["town_luzhi"],
        institution=home,
        name="甪直镇残疾人之家新建项目",
        started_on=date(2023, 3, 1),
        deadline=date(2023, 10, 31),
        milestones=[("选址立项", date(2023, 3, 31)), ("验收运营", date(2023, 10, 31))],
    )
    first = project.milestones.order_by("seq").first()
    # the town clerk: a milestone done, the project against 2023-10-31
    page = login_as(browser_page, "luzhi1")
    page.goto(f"/institutions/places/projects/{project.pk}/")
    assert page.locator("#project-deadline").inner_text() == "2023-10-31"
    page.fill(f"#md-{first.pk}", "2023-03-28")
    with page.expect_navigation():
        page.locator(f"tr[data-milestone='{first.pk}'] button").click()
    row = page.locator(f"tr[data-milestone='{first.pk}']")
    assert "2023-03-28" in row.inner_text() and "按期" in row.inner_text()
    assert page.locator("#project-status").get_attribute("data-status") == "late"  # the deadline has passed
    # the district: the 2023 star rating
    page.context.clear_cookies()
    page = login_as(page, "district1")
    page.goto("/institutions/places/ratings/new/?year=2023")
    page.select_option("#rt-inst", label="甪直镇残疾人之家")
    for item in places.star_checklist(2023).items:
        page.fill(f"#rt-{item['code']}", str(item["points"] - (5 if item["code"] == "S5" else 0)))
    with page.expect_navigation():
        page.click("#rating-form button[type=submit]")
    assert page.locator("#rating-score").inner_text() == "95.0"
    assert page.locator("#rating-stars").inner_text() == "五星级"
    with page.expect_navigation():
        page.click("form[data-move='submit'] button[type=submit]")
    assert page.locator("#maker-withheld").is_visible()
    assert page.locator("form[data-move='rate']").count() == 0
    # another district officer rates it
    page.context.clear_cookies()
    page = login_as(page, "district_checker")
    page.goto("/institutions/places/ratings/")
    page.get_by_role("link", name="甪直镇残疾人之家").click()
    page.wait_for_load_state()
    with page.expect_navigation():
        page.click("form[data-move='rate'] button[type=submit]")
    assert page.locator("#rating-state").get_attribute("data-state") == "rated"
    assert StarRating.objects.get().stars == 5
    # the home's own staff: today's roll call
    page.context.clear_cookies()
    page = login_as(page, "home_staff")
    page.goto(f"/institutions/places/{home.pk}/")
    page.click("a[data-roll-call='day_care']")
    page.wait_for_load_state()
    day = date.today() - timedelta(days=1)
    page.fill("#rc-on", day.isoformat())
    with page.expect_navigation():
        page.click("form[aria-label='选择日期和服务项目'] button")
    assert page.locator("#roll-call-table tbody tr").count() == 3
    page.check(f"#p-{attendees[0].pk}")
    page.check(f"#p-{attendees[2].pk}")
    with page.expect_navigation():
        page.click("#roll-call-save")
    assert "共 2 人" in page.content()
    assert set(Attendance.objects.filter(on=day).values_list("person_id", flat=True)) == {
        attendees[0].pk,
        attendees[2].pk,
    }
    assert page.locator(f"#p-{attendees[0].pk}").is_checked()
    assert not page.locator(f"#p-{attendees[1].pk}").is_checked()
