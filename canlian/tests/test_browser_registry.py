"""Town clerk in a real browser (Playwright + Debian chromium) against the live server."""

from __future__ import annotations

from datetime import date

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def zhangwei(make_person):
    return make_person(name="张伟", town="甪直镇", birth=date(1975, 3, 8), category=4, grade=2)


def test_town_clerk_finds_person_by_pinyin(browser_page, login_as, users, zhangwei, make_person):
    make_person(name="李娜", town="甪直镇")
    page = login_as(browser_page, "luzhi1")
    page.goto("/registry/persons/")
    page.fill("#q", "zw")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    rows = page.locator("table tbody tr")
    assert rows.count() == 1
    assert "张伟" in rows.first.inner_text()
    assert zhangwei.masked_id in rows.first.inner_text()
    assert zhangwei.id_number not in page.content()
    page.get_by_role("link", name="张伟").first.click()
    page.wait_for_load_state()
    assert "张伟" in page.locator("h1").inner_text()


def test_invalid_id_is_refused_with_the_reason(browser_page, login_as, users, id_for):
    from canlian.registry.models import Person

    page = login_as(browser_page, "luzhi1")
    page.goto("/registry/persons/new/")
    good = id_for(date(1990, 1, 2), 7)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    page.fill("#id_name", "王强")
    page.fill("#id_id_number", bad)
    page.fill("#id_certificate_number", bad + "42")
    page.fill("#id_issue_date", "2020-05-06")
    page.select_option("#id_household_type", label="城镇")
    with page.expect_navigation():
        page.click("#save")
    error = page.locator("#id_id_number_error")
    assert "校验位错误" in error.inner_text()
    assert Person.objects.count() == 0
    page.fill("#id_id_number", good)
    page.fill("#id_certificate_number", good + "42")
    with page.expect_navigation():
        page.click("#save")
    assert Person.objects.filter(name="王强").count() == 1


def test_other_town_cannot_open_the_person(browser_page, login_as, users, zhangwei):
    page = login_as(browser_page, "mudu1")
    response = page.goto(f"/registry/persons/{zhangwei.pk}/")
    assert response.status == 404
    assert "张伟" not in page.content()
    page.goto("/registry/persons/")
    page.fill("#q", zhangwei.id_number)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("table tbody tr td a", has_text="张伟").count() == 0
