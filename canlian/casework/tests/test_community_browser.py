"""Community services in a real browser, one path of each kind by the role that owns it: a town clerk's visit
whose need becomes a 实事 project approved by a second district clerk; a counsellor's hotline call that the
district sees only as a count; special education, legal aid and an activity with an attendee and a photo."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.casework.models import (
    Activity,
    ActivityPhoto,
    HomeTeachingSession,
    HotlineCall,
    LegalAidCase,
    ShishiProject,
    Visit,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _submit(page, selector="#community-submit"):
    with page.expect_navigation():
        page.click(selector)


def _switch(page, login_as, username):
    page.context.clear_cookies()
    return login_as(page, username)


def test_visit_to_project_and_approval(browser_page, login_as, users, make_person, make_user):
    person = make_person(name="张伟", town="甪直镇")
    make_user("district2", "district_staff")
    page = login_as(browser_page, "luzhi1")
    page.goto("/services/community/visit/")
    page.click("#community-entry summary")
    page.select_option("#c-kind", "home")
    page.fill("#c-visited_on", "2023-04-03")
    page.fill("#c-id_number", person.id_number)
    page.fill("#c-visitors", "李委员")
    page.fill("#c-found", "卫生间无扶手")
    page.fill("#c-need", "卫生间加装扶手")
    _submit(page)
    visit = Visit.objects.get()
    assert page.url.endswith(f"/services/community/visit/{visit.pk}/")
    page.fill("#vp-owner", "甪直镇残联")
    page.fill("#vp-budget", "6000")
    page.fill("#vp-year", "2023")
    with page.expect_navigation():
        page.click("#visit-project-form button[type=submit]")
    project = ShishiProject.objects.get()
    assert (project.name, str(project.budget), project.visit_id) == ("卫生间加装扶手", "6000.00", visit.pk)
    assert page.locator("#record-state").get_attribute("data-state") == "proposed"
    assert page.locator("form[data-move=approve]").count() == 0  # town staff do not approve
    page = _switch(browser_page, login_as, "district2")
    page.goto(f"/services/community/project/{project.pk}/")
    with page.expect_navigation():
        page.click("form[data-move=approve] button[type=submit]")
    assert page.locator("#record-state").get_attribute("data-state") == "approved"
    page = _switch(browser_page, login_as, "leader1")
    page.goto("/services/community/project/?year=2023")
    assert page.locator(f"#community-rows tr[data-row='{project.pk}']").count() == 1


def test_hotline_call_by_the_counsellor_and_counts_for_the_district(browser_page, login_as, users, towns):
    page = login_as(browser_page, "counsellor1")
    page.goto("/services/community/hotline/")
    page.click("#community-entry summary")
    page.fill("#c-called_at", "2023-05-06T23:10")
    page.fill("#c-duration_minutes", "abc")
    page.select_option("#c-topic", "crisis")
    page.check("#c-risk")
    page.select_option("#c-town", str(towns["甪直镇"].pk))
    page.fill("#c-summary", "夜间情绪低落，给予支持")
    _submit(page)
    assert page.locator("[data-error=duration_minutes]").inner_text() == "通话时长(分钟)应为不小于 0 的整数"
    page.fill("#c-duration_minutes", "35")
    _submit(page)
    call = HotlineCall.objects.get()
    assert (call.risk, call.summary, call.counsellor.username) == (
        True,
        "夜间情绪低落，给予支持",
        "counsellor1",
    )
    assert "夜间情绪低落" in page.content()
    page = _switch(browser_page, login_as, "district1")
    page.goto("/services/community/hotline/?year=2023")
    assert page.locator("#counselling-counts").count() == 1
    assert "夜间情绪低落" not in page.content()
    row = page.locator("#counselling-counts tr", has_text="甪直镇")
    assert row.locator("[data-count=hotline]").inner_text() == "1"


def test_special_education_legal_aid_and_activity(
    browser_page, login_as, users, make_person, towns, tmp_path
):
    child = make_person(name="王小明", town="甪直镇", birth=date(2015, 3, 1), category=5)
    page = login_as(browser_page, "luzhi1")
    page.goto("/services/community/plan/")
    page.click("#community-entry summary")
    page.fill("#c-id_number", child.id_number)
    page.fill("#c-school_year", "2023-2024")
    page.fill("#c-school", "甪直实验小学")
    page.fill("#c-teacher", "陈老师")
    page.fill("#c-start_on", "2023-09-01")
    page.fill("#c-lessons_planned", "216")
    _submit(page)
    page.fill("#s-on", "2023-09-05")
    page.fill("#s-content", "生活适应")
    with page.expect_navigation():
        page.click("#session-form button[type=submit]")
    assert page.locator("#lessons-done").inner_text() == "3"
    assert HomeTeachingSession.objects.count() == 1

    page.goto("/services/community/legal/")
    page.click("#community-entry summary")
    page.fill("#c-id_number", child.id_number)
    page.fill("#c-received_on", "2023-06-01")
    page.select_option("#c-matter", "family")
    page.fill("#c-request", "抚养费纠纷")
    _submit(page)
    page.select_option("#mv-referred_to", "station")
    page.fill("#mv-referred_on", "2023-06-02")
    with page.expect_navigation():
        page.click("form[data-move=refer] button[type=submit]")
    assert page.locator("#record-state").get_attribute("data-state") == "referred"
    assert LegalAidCase.objects.get().referred_to == "station"

    page.goto("/services/community/activity/")
    page.click("#community-entry summary")
    page.select_option("#c-kind", "reading")
    page.fill("#c-held_on", "2023-04-23")
    page.select_option("#c-town", str(towns["甪直镇"].pk))
    page.fill("#c-title", "世界读书日共读")
    page.fill("#c-organiser", "甪直镇残联")
    page.fill("#c-headcount", "15")
    _submit(page)
    page.fill("#att-id", child.id_number)
    with page.expect_navigation():
        page.click("#attend-form button[type=submit]")
    assert page.locator("#activity-attendees li").all_inner_texts() == ["王小明"]
    photo = tmp_path / "合影.png"
    photo.write_bytes(PNG)
    page.set_input_files("#photo-file", str(photo))
    with page.expect_navigation():
        page.click("#photo-form button[type=submit]")
    assert page.locator("#activity-photos a").inner_text() == "合影.png"
    act = Activity.objects.get()
    assert (act.headcount, act.attendees.count(), ActivityPhoto.objects.filter(activity=act).count()) == (
        15,
        1,
        1,
    )
