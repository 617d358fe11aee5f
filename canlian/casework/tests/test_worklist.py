"""我的待办 across programmes: return visits due within a week or overdue, reviews waiting for a checker who
is not the maker, settlements to approve; scoped, sorted overdue first, and the navigation badge."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from canlian.casework.services import case_move, case_open
from canlian.casework.settlements import settlement_create
from canlian.casework.worklist import worklist, worklist_count
from canlian.common.workflow import transition

pytestmark = pytest.mark.django_db

TODAY = date(2023, 5, 15)


@pytest.fixture
def world(users, make_person, provider, inst_staff):
    a = make_person(name="张伟", category=5, grade=2)
    b = make_person(name="王芳", category=5, grade=1, town="木渎镇")
    placed = case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=a,
        opened_on=date(2023, 3, 15),  # visits every 30 days: 04-14 (overdue), 05-14 (overdue), 06-13
        institution=provider,
        state="placed",
        data={"mode": "boarding"},
    )
    applied = case_open(
        acting_user=users["town_mudu"], programme="custodial_care", person=b, opened_on=date(2023, 5, 1)
    )
    reviewed = case_move(
        acting_user=users["town_mudu"], case=applied, move="town_review", expected_state="applied"
    )
    s = settlement_create(
        acting_user=inst_staff,
        institution=provider,
        programme="custodial_care",
        month=date(2023, 4, 1),
        amount_asked="900.00",
    )
    s = transition(s, "submit", acting_user=inst_staff, expected_state="draft")
    return {"placed": placed, "reviewed": reviewed, "settlement": s}


def test_each_user_sees_their_own_work_overdue_first(users, world, make_user, inst_staff):
    luzhi = worklist(users["town_luzhi"], today=TODAY)
    assert [(i.kind, i.title, i.due_on, i.overdue) for i in luzhi] == [
        ("第1次回访", "张伟", date(2023, 4, 14), True),
        ("第2次回访", "张伟", date(2023, 5, 14), True),
    ]
    assert worklist(users["town_mudu"], today=TODAY) == []  # the review is the district's; no visit in Mudu
    district = worklist(users["district"], today=TODAY)
    kinds = [(i.kind, i.programme, i.overdue) for i in district]
    assert kinds[:2] == [("第1次回访", "残疾人托养", True), ("第2次回访", "残疾人托养", True)]
    rest = {(i.kind, i.title) for i in district[2:]}
    assert ("待审核", "王芳：区残联审定（镇(街道)审核通过）") in rest
    assert any(k == "结算核定" for k, _ in rest)
    review = next(i for i in district if i.kind == "待审核")
    assert review.url == reverse("casework:case_detail", args=[world["reviewed"].pk])
    assert worklist(inst_staff, today=TODAY)[0].title == "张伟"  # their institution's case
    assert all(i.kind != "结算核定" for i in worklist(inst_staff, today=TODAY))  # they made it
    assert worklist(users["leader"], today=TODAY) == []  # leaders read cases, they do not work them
    assert worklist_count(users["leader"], today=TODAY) == 0
    assert worklist_count(users["town_luzhi"], today=TODAY) == 2


def test_the_maker_is_not_asked_to_check(users, make_person):
    p = make_person(name="赵强", category=5, grade=2)
    c = case_open(
        acting_user=users["town_luzhi"], programme="custodial_care", person=p, opened_on=date(2023, 5, 1)
    )
    case_move(acting_user=users["town_luzhi"], case=c, move="town_review", expected_state="applied")
    today = timezone.localdate()
    assert [i.kind for i in worklist(users["town_luzhi"], today=today)] == []
    items = [i for i in worklist(users["district"], today=today) if i.kind == "待审核"]
    assert [(i.due_on, i.overdue) for i in items] == [(today + timedelta(days=10), False)]
    later = [i for i in worklist(users["district"], today=today + timedelta(days=11)) if i.kind == "待审核"]
    assert [i.overdue for i in later] == [True]


def test_page_and_badge(users, world):
    client = Client()
    client.force_login(users["town_luzhi"])
    page = client.get(reverse("casework:worklist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "我的待办" in html and "张伟" in html and "已逾期" in html
    n = worklist_count(users["town_luzhi"])
    assert n == 12  # all twelve visits of the year are past by now
    assert reverse("casework:worklist_count") in html  # the badge is loaded after the page
    r = client.get(reverse("casework:worklist_count"))
    assert "sessionid" not in r.cookies  # a background fetch does not extend the idle session
    badge = r.content.decode()
    assert (
        badge
        == f'<span class="badge rounded-pill text-bg-danger" id="worklist-badge" aria-label="{n} 项待办">{n}</span>'
    )

    client.force_login(users["leader"])
    assert client.get(reverse("casework:worklist")).status_code == 404
    assert client.get(reverse("casework:worklist_count")).content == b""
    assert (
        Client().get(reverse("casework:worklist_count")).status_code == 200
    )  # anonymous: empty, no redirect
