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


def test_counts_are_exact_and_the_page_lists_the_earliest(users, world, make_person):
    """``worklist_summary`` counts in the database what the whole list holds; the page lists the first items."""
    from canlian.casework import worklist as wl
    from canlian.casework.worklist import worklist_summary

    # a roster case opened directly in the review state: no history, due from its opening date (05-03 + 10)
    c = make_person(name="陈静", category=6, grade=2)
    case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=c,
        opened_on=date(2023, 5, 3),
        state="town_reviewed",
    )
    for day in (date(2023, 5, 12), date(2023, 5, 13), date(2023, 5, 14), TODAY):
        everything = worklist(users["district"], today=day, limit=None)
        summary = worklist_summary(users["district"], today=day)
        assert (summary.total, summary.overdue) == (len(everything), sum(i.overdue for i in everything))
        assert worklist_count(users["district"], today=day) == summary.total
    roster = next(
        i for i in worklist(users["district"], today=TODAY, limit=None) if i.title.startswith("陈静")
    )
    assert (roster.due_on, roster.overdue) == (date(2023, 5, 13), True)
    assert worklist_summary(users["district"], today=date(2023, 5, 13)).overdue == 1  # the 04-14 visit
    assert worklist_summary(users["district"], today=date(2023, 5, 14)).overdue == 2  # + the roster case
    first = worklist(users["district"], today=TODAY, limit=2)
    assert [(i.kind, i.due_on) for i in first] == [
        ("第1次回访", date(2023, 4, 14)),
        ("待审核", date(2023, 5, 13)),
    ]
    assert worklist_summary(users["leader"], today=TODAY) == wl.WorklistSummary(0, 0)


def test_a_review_is_overdue_the_day_after_it_falls_due(users, make_person):
    from canlian.casework.worklist import worklist_summary

    p = make_person(name="赵强", category=5, grade=2)
    c = case_open(
        acting_user=users["town_luzhi"], programme="custodial_care", person=p, opened_on=date(2023, 5, 1)
    )
    case_move(acting_user=users["town_luzhi"], case=c, move="town_review", expected_state="applied")
    entered = timezone.localdate()
    assert worklist_summary(users["district"], today=entered + timedelta(days=10)) == (1, 0)
    assert worklist_summary(users["district"], today=entered + timedelta(days=11)) == (1, 1)
    assert worklist_summary(users["town_luzhi"], today=entered + timedelta(days=11)) == (0, 0)  # the maker


def test_page_says_how_many_are_not_listed(users, world, monkeypatch):
    from canlian.casework import worklist as wl

    monkeypatch.setattr(wl.worklist_page, "__kwdefaults__", {"today": None, "limit": 1})
    client = Client()
    client.force_login(users["town_luzhi"])
    html = client.get(reverse("casework:worklist")).content.decode()
    assert '<strong id="total-count">12</strong>' in html
    assert "下表列出最早到期的 1 项" in html
    assert html.count("第1次回访") == 1 and "第2次回访" not in html


def test_a_review_waiting_since_before_the_parameter_has_a_due_date(users, make_person):
    """``worklist.review_days`` starts in 2020: an older waiting case takes the first value, not a 500."""
    p = make_person(name="孙丽", category=5, grade=2)
    case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=p,
        opened_on=date(2019, 6, 1),
        state="town_reviewed",
    )
    [item] = [i for i in worklist(users["district"], today=TODAY) if i.kind == "待审核"]
    assert (item.due_on, item.overdue) == (date(2019, 6, 11), True)


def _works_done(users, make_person, name, by=None):
    """A renovation case of Luzhi waiting for acceptance; ``by`` recorded the works (the maker)."""
    from django.contrib.contenttypes.models import ContentType

    from canlian.casework.models import Case
    from canlian.common.models import WorkflowHistory

    p = make_person(name=name, category=4, grade=2)
    c = case_open(
        acting_user=users["town_luzhi"],
        programme="renovation",
        person=p,
        opened_on=date(2023, 5, 2),
        state="works_done",
        data={"household": name},
    )
    if by is not None:
        WorkflowHistory.objects.create(
            content_type=ContentType.objects.get_for_model(Case),
            object_id=str(c.pk),
            workflow="case.renovation",
            move="complete",
            from_state="in_works",
            to_state="works_done",
            by=by,
        )
    return c


def test_the_maker_of_one_case_still_checks_the_others(users, make_person):
    """Two checks of one programme (plan approval and acceptance) and the maker ≠ checker rule per case: the
    clerk who recorded one case's works is not asked to accept it, but is asked for the other one; the counts
    (page and badge) agree with the whole list, and a later maker's move makes the case theirs to check."""
    from canlian.casework.worklist import worklist_summary

    mine = _works_done(users, make_person, "钱伟", by=users["town_luzhi"])
    other = _works_done(users, make_person, "孙芳", by=users["district"])
    roster = _works_done(users, make_person, "周杰")  # a roster import: no history, due from its opening
    today = date(2023, 5, 20)
    items = worklist(users["town_luzhi"], today=today, limit=None)
    titles = sorted(i.title for i in items if i.kind == "待审核")
    assert titles == ["周杰：竣工验收（施工完成待验收）", "孙芳：竣工验收（施工完成待验收）"]
    summary = worklist_summary(users["town_luzhi"], today=today)
    assert summary == (len(items), sum(i.overdue for i in items))
    assert worklist_count(users["town_luzhi"], today=today) == summary.total
    roster_item = next(i for i in items if i.title.startswith("周杰"))
    assert (roster_item.due_on, roster_item.overdue) == (date(2023, 5, 12), True)
    district = {i.title for i in worklist(users["district"], today=today, limit=None)}
    assert (
        "孙芳：竣工验收（施工完成待验收）" not in district and "钱伟：竣工验收（施工完成待验收）" in district
    )
    assert mine.pk != other.pk != roster.pk


def test_a_user_without_scope_has_an_empty_worklist(make_user):
    """Institution staff attached to no institution: no due items, no reviews, nothing read that fails."""
    from canlian.casework.worklist import worklist_summary

    lost = make_user("inst_lost", "institution_staff")
    assert worklist(lost, today=TODAY) == []
    assert worklist_summary(lost, today=TODAY) == (0, 0)
    assert worklist_count(lost, today=TODAY) == 0


def test_review_days_are_the_casework_parameter():
    from canlian.casework.programme import casework_parameter, parameters

    p = casework_parameter("worklist.review_days")
    assert [(v.valid_from, v.value) for v in p.values] == [
        (v.valid_from, v.value) for v in parameters()["worklist.review_days"].values
    ]
