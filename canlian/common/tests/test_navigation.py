"""The grouped side navigation: every entry a role is offered opens for that role, the current page is
marked once, and the groups come in their fixed order."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from canlian.common.navigation import GROUPS, NavEntry, menu_for, nav_entries, nav_register

ROLE_USERS = ["admin", "district", "town_luzhi", "leader", "auditor", "institution"]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _side_nav(html: str) -> str:
    return html.split('aria-label="主导航"')[1].split("</nav>")[0]


@pytest.mark.parametrize("key", ROLE_USERS)
def test_every_offered_entry_opens_for_the_role(key, users):
    user = users[key]
    client = _client(user)
    page = reverse("registry:region_list") if key != "auditor" else reverse("common:audit_list")
    nav = _side_nav(client.get(page).content.decode())
    links = re.findall(r'class="nav-link[^"]*"[^>]*href="([^"]+)"', nav)
    assert links, f"{key} is offered nothing"
    for url in links:
        assert client.get(url).status_code == 200, url
    # and every registered entry the role is not offered answers 403/404 (or redirects to login)
    offered = set(links)
    for entry in nav_entries():
        url = reverse(entry.url_name)
        if url not in offered:
            assert client.get(url).status_code in (302, 403, 404), url


def test_groups_in_fixed_order_and_one_current_entry(users):
    client = _client(users["district"])
    html = client.get(reverse("benefits:payroll_list")).content.decode()
    nav = _side_nav(html)
    titles = re.findall(r'class="nav-group-title"[^>]*>.*?</i> (\S+)</h2>', nav)
    order = [label for _, label, _ in GROUPS]
    assert titles == [t for t in order if t in titles]
    assert titles[:3] == ["档案", "待遇", "数据比对"]
    assert nav.count('aria-current="page"') == 1
    current = re.search(r'class="nav-link active" aria-current="page" href="([^"]+)"', nav).group(1)
    assert current == reverse("benefits:payroll_list")


def test_a_detail_page_marks_its_section(users, make_person):
    person = make_person()
    client = _client(users["district"])
    nav = _side_nav(client.get(reverse("registry:person_detail", args=[person.pk])).content.decode())
    assert re.search(
        r'class="nav-link active" aria-current="page" href="' + re.escape(reverse("registry:person_list")),
        nav,
    )


def test_anonymous_sees_no_navigation(db):
    html = Client().get(reverse("accounts:login")).content.decode()
    assert 'aria-label="主导航"' not in html


def test_register_refuses_an_unknown_group():
    with pytest.raises(ValueError):
        nav_register(NavEntry("nowhere", "x", "bi-x", "home", lambda u: True))


def test_menu_for_inactive_user_is_empty(users):
    user = users["district"]
    user.is_active = False
    assert menu_for(user, None) == []
