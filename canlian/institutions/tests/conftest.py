"""Fixtures for the places that serve: a designated 残疾人之家 in 甪直镇 with day care and auxiliary employment,
one in 木渎镇, a second district officer (the checker) and the 甪直镇 home's own staff account."""

from __future__ import annotations

from datetime import date

import pytest


@pytest.fixture
def checker(make_user):
    return make_user("district_checker", "district_staff")


@pytest.fixture
def make_place(users, checker, towns):
    from canlian.common.workflow import transition
    from canlian.institutions import places
    from canlian.institutions.services import institution_create

    def _make(name, town, kind="care_home", services=("day_care", "aux_employment"), since=date(2023, 1, 1)):
        inst = institution_create(acting_user=users["district"], name=name, kind=kind, town=towns[town])
        inst = transition(
            inst, "submit", acting_user=users["district"], expected_state="draft", designated_from=since
        )
        inst = transition(inst, "designate", acting_user=checker, expected_state="submitted")
        for s in services:
            places.place_service_add(acting_user=users["district"], institution=inst, service=s, since=since)
        return inst

    return _make


@pytest.fixture
def home(make_place):
    return make_place("甪直镇残疾人之家", "甪直镇")


@pytest.fixture
def other_home(make_place):
    return make_place("木渎镇残疾人之家", "木渎镇")


@pytest.fixture
def home_staff(make_user, home, users):
    staff = make_user("home_staff", "institution_staff")
    staff.institution = home
    staff.save(update_fields=["institution"])
    users["home_staff"] = staff
    return staff


@pytest.fixture
def attendees(home, make_person, users):
    from canlian.institutions import places

    out = []
    for i, name in enumerate(("张伟", "王芳", "李强")):
        p = make_person(name=name, town="甪直镇", birth=date(1980 + i, 5, 6))
        places.member_add(
            acting_user=users["district"],
            institution=home,
            person=p,
            service="day_care",
            joined_on=date(2023, 1, 2),
        )
        out.append(p)
    return out
