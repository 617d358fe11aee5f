"""The grouped side navigation in a real browser: a column beside the page on a 1366 px laptop, a drawer
behind a button on a tablet."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_side_navigation_on_a_laptop(browser_page, login_as, users):
    page = login_as(browser_page, "district1")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto("/benefits/payrolls/")
    nav = page.locator("#sidenav")
    assert nav.is_visible()
    nav_box = nav.bounding_box()
    main_box = page.locator("#main").bounding_box()
    # the navigation is a column on the left; the page starts right of it and keeps most of the width
    assert nav_box["x"] == 0 and nav_box["width"] <= 210
    assert main_box["x"] >= nav_box["x"] + nav_box["width"] - 1
    assert main_box["width"] >= 1100
    # groups stack top to bottom and each entry is one line
    titles = nav.locator(".nav-group-title")
    assert titles.nth(1).bounding_box()["y"] > titles.nth(0).bounding_box()["y"] + 20
    assert titles.nth(1).bounding_box()["x"] == titles.nth(0).bounding_box()["x"]
    for box in (link.bounding_box() for link in nav.locator("a.nav-link").all()):
        assert box["height"] <= 40
    # the top bar does not wrap: brand, user and logout on one line
    assert page.locator("header.app-topbar").bounding_box()["height"] <= 64
    current = nav.locator('a[aria-current="page"]')
    assert current.count() == 1 and "发放批次" in current.inner_text()
    nav.get_by_role("link", name="疑点").click()
    page.wait_for_url("**/verification/findings/**")


def test_side_navigation_on_a_tablet(browser_page, login_as, users):
    page = login_as(browser_page, "luzhi1")
    page.set_viewport_size({"width": 800, "height": 1024})
    page.goto("/registry/persons/")
    nav = page.locator("#sidenav")
    assert not nav.get_by_role("link", name="残疾人档案").is_visible()
    page.get_by_role("button", name="展开导航").click()
    link = nav.get_by_role("link", name="发放批次")
    link.wait_for(state="visible")
    link.click()
    page.wait_for_url("**/benefits/payrolls/**")
    assert page.locator("h1").first.is_visible()
