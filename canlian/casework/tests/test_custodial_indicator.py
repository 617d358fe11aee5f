"""``custodial_new``: exactly the new placements the 2023 target means, by town, at the date boundaries."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.casework.programmes.custodial_care import custodial_new_by_town
from canlian.casework.services import case_open
from canlian.workplan.selectors import progress

pytestmark = pytest.mark.django_db


def place(users, person, start, institution, end=None):
    return case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=person,
        opened_on=start,
        closed_on=end,
        institution=institution,
        state="placed",
        data={"mode": "day_care"},
    )


def test_boundaries(users, towns, make_person, provider, provider_mudu):
    start = date(2023, 1, 1)
    # 16 on the start date: counts
    turns16 = make_person(name="王甲", birth=date(2007, 1, 1), category=5, grade=3)
    place(users, turns16, start, provider)
    # 16 the day after the start: does not
    almost16 = make_person(name="王乙", birth=date(2007, 1, 2), category=5, grade=3)
    place(users, almost16, start, provider)
    # 60th birthday the day before the start (so 60 at the start): does not
    sixty = make_person(name="王丙", birth=date(1963, 6, 30), category=6, grade=4)
    place(users, sixty, date(2023, 7, 1), provider)
    # 59, turning 60 on the start date + 1: counts (last day of the year)
    fifty9 = make_person(name="王丁", birth=date(1964, 1, 1), category=6, grade=4, town="木渎镇")
    place(users, fifty9, date(2023, 12, 31), provider_mudu)
    # grade 3 physical: does not; grade 2 physical and grade 1 vision: count
    place(users, make_person(name="王戊", category=4, grade=3), date(2023, 3, 1), provider)
    place(users, make_person(name="王己", category=4, grade=2), date(2023, 3, 1), provider)
    place(
        users, make_person(name="王庚", category=1, grade=1, town="木渎镇"), date(2023, 3, 1), provider_mudu
    )
    # hearing grade 1: does not
    place(users, make_person(name="王辛", category=2, grade=1), date(2023, 3, 1), provider)
    # employed: does not
    place(
        users,
        make_person(name="王壬", category=5, grade=2, employment_status="就业"),
        date(2023, 3, 1),
        provider,
    )
    # first placed last year, a second placement in 2023: does not (not new); placed 2022-12-31 is last year
    again = make_person(name="王癸", category=5, grade=2)
    place(users, again, date(2022, 12, 31), provider, end=date(2023, 1, 31))
    place(users, again, date(2023, 6, 1), provider)
    # two placements in 2023: counted once, in the town of the first
    twice = make_person(name="王子", category=6, grade=2)
    place(users, twice, date(2023, 2, 1), provider, end=date(2023, 2, 28))
    place(users, twice, date(2023, 9, 1), provider_mudu)
    # starting 2024-01-01: next year
    place(users, make_person(name="王丑", category=5, grade=1), date(2024, 1, 1), provider)
    luzhi, mudu = towns["甪直镇"].pk, towns["木渎镇"].pk
    assert custodial_new_by_town(2023) == {luzhi: 3, mudu: 2}
    assert custodial_new_by_town(2022) == {luzhi: 1}
    assert custodial_new_by_town(2024) == {luzhi: 1}
    data = progress(2023)["indicators"]["custodial_new"]
    assert (data["actual"], data["target"], data["by_town"]["甪直镇"], data["by_town"]["木渎镇"]) == (
        5,
        None,
        3,
        2,
    )
    from canlian.registry.models import Region

    # every town-level unit of the county is listed, the 14 towns and streets and the non-town units alike
    units = Region.objects.filter(level=Region.Level.TOWN).count()
    assert data["by_town"]["胥口镇"] == 0 and len(data["by_town"]) == units >= 14


def test_applications_not_yet_placed_do_not_count(users, make_person, provider):
    p = make_person(name="王甲", category=5, grade=2)
    case_open(acting_user=users["district"], programme="custodial_care", person=p, opened_on=date(2023, 3, 1))
    assert custodial_new_by_town(2023) == {}


def test_certificate_valid_at_the_start(users, make_person, provider):
    # a certificate issued after the start does not qualify the placement
    p = make_person(name="王甲", category=5, grade=2, issue=date(2023, 5, 2))
    place(users, p, date(2023, 5, 1), provider)
    assert custodial_new_by_town(2023) == {}
    q = make_person(name="王乙", category=5, grade=2, issue=date(2023, 5, 1))
    place(users, q, date(2023, 5, 1), provider)
    assert sum(custodial_new_by_town(2023).values()) == 1
