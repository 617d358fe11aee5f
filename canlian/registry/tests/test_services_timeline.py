"""The person page's timeline of services, benefits and findings: providers registered by the later apps,
newest first, each linking to its record, only what the viewer may see."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from canlian.benefits.models import Application, Enrolment, Programme
from canlian.casework.services import case_open
from canlian.registry.timeline import person_timeline
from canlian.verification.models import Finding, VerificationRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def person_with_history(users, make_person):
    p = make_person(name="张伟", category=5, grade=1)
    care = Programme.objects.get(code="care_allowance")
    Enrolment.objects.create(person=p, programme=care, start_month=date(2022, 1, 1))
    app = Application.objects.create(
        person=p,
        programme=care,
        applied_on=date(2021, 11, 20),
        status="enrolled",
        created_by=users["district"],
    )
    case = case_open(
        acting_user=users["town_luzhi"], programme="custodial_care", person=p, opened_on=date(2023, 2, 1)
    )
    run = VerificationRun.objects.create(started_by=users["district"], month=date(2023, 3, 1), status="done")
    finding = Finding.objects.create(
        run=run, kind=Finding._meta.get_field("kind").choices[0][0], person=p, town=p.town
    )
    return {"person": p, "app": app, "case": case, "finding": finding}


def test_every_area_newest_first_with_links(users, person_with_history):
    h = person_with_history
    rows = person_timeline(users["district"], h["person"])
    areas = [(e.area, e.on) for e in rows]
    assert areas[0][0] == "数据比对"  # found today: the newest
    assert areas[1:] == [("服务", date(2023, 2, 1)), ("待遇", date(2022, 1, 1)), ("待遇", date(2021, 11, 20))]
    assert rows[1].title == "残疾人托养（2023-02-01 起）" and rows[1].state == "已申请"
    assert rows[1].url == reverse("casework:case_detail", args=[h["case"].pk])
    assert rows[3].url == reverse("benefits:application_detail", args=[h["app"].pk])
    assert rows[0].url == reverse("verification:finding_detail", args=[h["finding"].pk])


def test_only_what_the_viewer_may_see(users, person_with_history):
    p = person_with_history["person"]
    assert person_timeline(users["town_mudu"], p) == []  # another town
    assert person_timeline(users["institution"], p) == []  # no institution serves this case
    assert [e.area for e in person_timeline(users["town_luzhi"], p)] == ["数据比对", "服务", "待遇", "待遇"]


def test_person_page_shows_it(users, person_with_history):
    c = Client()
    c.force_login(users["town_luzhi"])
    html = c.get(reverse("registry:person_detail", args=[person_with_history["person"].pk])).content.decode()
    assert "服务与待遇记录" in html and "残疾人托养（2023-02-01 起）" in html
    assert reverse("casework:case_detail", args=[person_with_history["case"].pk]) in html
