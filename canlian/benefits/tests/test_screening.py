from datetime import date

import pytest

from canlian.benefits.models import Enrolment, Programme
from canlian.benefits.selectors import screening
from canlian.registry.models import EconomicStatusPeriod

pytestmark = pytest.mark.usefixtures(
    "example_standards_2023"
)  # 2023 months: the example standards (root conftest)


def test_screening_lists_both_ways_and_is_scoped(users, make_person):
    care = Programme.objects.get(code="care_allowance")
    owed = make_person(name="赵一", grade=1)  # eligible, not enrolled
    stale = make_person(name="钱二", grade=3)  # enrolled, not eligible
    Enrolment.objects.create(person=stale, programme=care, start_month=date(2023, 1, 1))
    fine = make_person(name="孙三", grade=2)
    Enrolment.objects.create(person=fine, programme=care, start_month=date(2023, 1, 1))
    elsewhere = make_person(name="李四", grade=1, town="木渎镇")
    EconomicStatusPeriod.objects.create(person=owed, status="dibao", valid_from=date(2020, 1, 1))

    district = screening(users["district"], programme="care_allowance", month=date(2023, 7, 1))
    assert district.eligible_not_enrolled["person_id"].to_list() == [owed.pk, elsewhere.pk]
    assert district.eligible_not_enrolled["amount_fen"].to_list() == [15000, 15000]
    assert district.enrolled_not_eligible["person_id"].to_list() == [stale.pk]

    town = screening(users["town_mudu"], programme="care_allowance", month=date(2023, 7, 1))
    assert town.eligible_not_enrolled["person_id"].to_list() == [elsewhere.pk]
    assert town.enrolled_not_eligible.height == 0
    assert (
        screening(
            users["auditor"], programme="care_allowance", month=date(2023, 7, 1)
        ).eligible_not_enrolled.height
        == 0
    )
