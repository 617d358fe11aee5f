"""Employment as dated periods (issue 11 §1): the splice, the services, the current status, the custodial
target reading the periods, and the indicators at their date boundaries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from canlian.casework.programmes.custodial_care import custodial_new_by_town
from canlian.casework.programmes.employment import (
    Employment,
    Period,
    SpliceConflict,
    employed_by_town,
    employed_on,
    employment_net_by_town,
    employment_new_by_town,
    employment_record,
    employment_record_many,
    employment_splice,
)
from canlian.casework.services import case_open
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog
from canlian.registry.models import EmploymentPeriod

D = date
TODAY = date(2026, 6, 1)


def splice(periods, start, end=None, *, prior="", kind="quota", employer="甲公司"):
    return employment_splice(
        periods,
        start=start,
        end=end,
        kind=kind,
        employer=employer,
        source="登记",
        prior_status=prior,
        birth_date=D(1980, 1, 1),
        today=TODAY,
    )


def spans(s):
    return sorted((p.status, p.valid_from, p.valid_to) for p in s.create)


# ---- the splice (pure) -----------------------------------------------------------------------------------


def test_first_employment_keeps_the_earlier_status_and_is_followed_by_unemployed_when_it_ended():
    s = splice([], D(2022, 3, 1), D(2023, 5, 31), prior="unemployed")
    assert s.outcome == "created"
    assert spans(s) == [
        ("employed", D(2022, 3, 1), D(2023, 5, 31)),
        ("unemployed", D(1980, 1, 1), D(2022, 2, 28)),
        ("unemployed", D(2023, 6, 1), None),
    ]
    assert s.status_now == "unemployed"


def test_an_undated_employed_status_is_not_carried_back_and_an_open_employment_is_current():
    s = splice([], D(2022, 3, 1), prior="employed")
    assert spans(s) == [("employed", D(2022, 3, 1), None)]
    assert s.status_now == "employed"


def test_an_employment_ending_after_today_has_no_follow_up():
    s = splice([], D(2026, 1, 1), D(2026, 12, 31))
    assert spans(s) == [("employed", D(2026, 1, 1), D(2026, 12, 31))]
    assert s.status_now == "employed"


def test_a_non_employed_period_is_split_around_the_employment():
    unemployed = Period(1, "unemployed", D(2000, 1, 1), None)
    s = splice([unemployed], D(2022, 1, 1), D(2022, 12, 31))
    assert [(p.pk, p.valid_from, p.valid_to) for p in s.update] == [(1, D(2000, 1, 1), D(2021, 12, 31))]
    assert spans(s) == [
        ("employed", D(2022, 1, 1), D(2022, 12, 31)),
        ("unemployed", D(2023, 1, 1), None),
    ]
    assert s.delete == []


def test_covered_periods_are_deleted_and_later_ones_moved():
    covered = Period(1, "student", D(2022, 2, 1), D(2022, 6, 30))
    later = Period(2, "unemployed", D(2022, 7, 1), None)
    s = splice([covered, later], D(2022, 1, 1), D(2022, 9, 30))
    assert s.delete == [1]
    assert [(p.pk, p.valid_from, p.valid_to) for p in s.update] == [(2, D(2022, 10, 1), None)]


def test_a_new_job_ends_the_open_one_the_day_before_and_other_overlaps_are_refused():
    open_job = Period(1, "employed", D(2020, 1, 1), None, "quota", "甲公司")
    s = splice([open_job], D(2023, 4, 1), kind="flexible", employer="")
    assert [(p.pk, p.valid_to) for p in s.update] == [(1, D(2023, 3, 31))]
    closed = Period(1, "employed", D(2020, 1, 1), D(2023, 3, 31), "quota", "甲公司")
    with pytest.raises(SpliceConflict) as exc:
        splice([closed], D(2023, 3, 31))
    assert exc.value.message == "与已有就业记录（2020-01-01～2023-03-31，按比例就业，甲公司）时间重叠"


def test_the_same_start_is_a_correction_or_unchanged():
    job = Period(1, "employed", D(2020, 1, 1), None, "quota", "甲公司")
    assert splice([job], D(2020, 1, 1)).outcome == "unchanged"
    s = splice([job], D(2020, 1, 1), D(2021, 6, 30))
    assert s.outcome == "updated"
    assert [(p.pk, p.valid_to) for p in s.update] == [(1, D(2021, 6, 30))]
    assert spans(s) == [("unemployed", D(2021, 7, 1), None)]


# ---- the services ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_record_writes_periods_the_current_status_and_one_audit_row(users, make_person):
    person = make_person(employment_status="未就业")
    employment_record(
        acting_user=users["town_luzhi"],
        person=person,
        kind="concentrated",
        employer="吴中福利厂",
        valid_from=D(2023, 3, 1),
    )
    person.refresh_from_db()
    assert person.employment_status == "employed"
    assert list(
        EmploymentPeriod.objects.filter(person=person)
        .order_by("valid_from")
        .values_list("status", "valid_from", "valid_to", "kind", "employer")
    ) == [
        ("unemployed", person.birth_date, D(2023, 2, 28), "", ""),
        ("employed", D(2023, 3, 1), None, "concentrated", "吴中福利厂"),
    ]
    audit = AuditLog.objects.get(action="employment.record")
    assert audit.object_id == str(person.pk)
    assert audit.changes == {
        "valid_from": [None, "2023-03-01"],
        "valid_to": [None, None],
        "kind": [None, "concentrated"],
        "employer": [None, "吴中福利厂"],
        "source": [None, "登记"],
        "employment_status": ["unemployed", "employed"],
    }
    # the same again: nothing written
    employment_record(
        acting_user=users["town_luzhi"],
        person=person,
        kind="concentrated",
        employer="吴中福利厂",
        valid_from=D(2023, 3, 1),
    )
    assert AuditLog.objects.filter(action="employment.record").count() == 1


@pytest.mark.django_db
def test_record_refusals_write_nothing(users, make_person):
    person = make_person()
    with pytest.raises(PermissionDenied):
        employment_record(
            acting_user=users["town_mudu"], person=person, kind="quota", employer="", valid_from=D(2023, 1, 1)
        )
    with pytest.raises(PermissionDenied):
        employment_record(
            acting_user=users["leader"], person=person, kind="quota", employer="", valid_from=D(2023, 1, 1)
        )
    with pytest.raises(ValidationFailed) as exc:
        employment_record(
            acting_user=users["district"],
            person=person,
            kind="nope",
            employer="",
            valid_from=timezone.localdate() + timedelta(days=1),
        )
    assert exc.value.errors == {
        "kind": "请选择就业形式：按比例就业、集中就业、个体就业/自主创业、农村种养加、公益性岗位、辅助性就业、灵活就业",
        "valid_from": "开始日期不能晚于今天",
    }
    assert not EmploymentPeriod.objects.exists()
    assert not AuditLog.objects.filter(action="employment.record").exists()


@pytest.mark.django_db
def test_record_many_applies_a_persons_rows_in_the_order_given(users, make_person):
    a, b = make_person(name="李甲"), make_person(name="李乙", employment_status="未就业")
    outcomes = employment_record_many(
        acting_user=users["district"],
        items=[
            Employment(a, "quota", "甲公司", D(2021, 1, 1), D(2022, 12, 31)),
            Employment(a, "flexible", "", D(2023, 6, 1), None),
            Employment(b, "rural", "", D(2022, 1, 1), None),
        ],
    )
    assert outcomes == ["created", "created", "created"]
    assert list(
        EmploymentPeriod.objects.filter(person=a)
        .order_by("valid_from")
        .values_list("status", "valid_from", "valid_to")
    ) == [
        ("employed", D(2021, 1, 1), D(2022, 12, 31)),
        ("unemployed", D(2023, 1, 1), D(2023, 5, 31)),
        ("employed", D(2023, 6, 1), None),
    ]
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.employment_status, b.employment_status) == ("employed", "employed")
    assert AuditLog.objects.filter(action="employment.record").count() == 3


# ---- readers: custodial care's "not employed", the indicators --------------------------------------------


@pytest.mark.django_db
def test_custodial_target_reads_employment_on_the_start_date(users, make_person, provider):
    person = make_person(name="王壬", category=5, grade=2, employment_status="未就业")
    employment_record(
        acting_user=users["district"],
        person=person,
        kind="auxiliary",
        employer="",
        valid_from=D(2022, 1, 1),
        valid_to=D(2023, 2, 28),
    )
    assert employed_on(person, D(2023, 2, 28)) and not employed_on(person, D(2023, 3, 1))
    case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=person,
        opened_on=D(2023, 3, 1),
        institution=provider,
        state="placed",
        data={"mode": "day_care"},
    )
    person.refresh_from_db()
    assert person.employment_status == "unemployed"
    assert custodial_new_by_town(2023) == {person.town_id: 1}
    # employed on the start day after all: the period now reaches it, so the placement does not count
    employment_record(
        acting_user=users["district"],
        person=person,
        kind="auxiliary",
        employer="",
        valid_from=D(2022, 1, 1),
        valid_to=D(2023, 3, 1),
    )
    assert custodial_new_by_town(2023) == {}


@pytest.mark.django_db
def test_employment_net_and_new_at_the_year_ends(users, towns, make_person):
    luzhi, mudu = towns["甪直镇"].pk, towns["木渎镇"].pk

    def job(person, start, end=None):
        employment_record(
            acting_user=users["district"],
            person=person,
            kind="quota",
            employer="",
            valid_from=start,
            valid_to=end,
        )

    # employed from 31 Dec 2023: employed at the 2023 year end, new in 2023
    job(make_person(name="李甲", birth=D(1990, 1, 1)), D(2023, 12, 31))
    # employed since 2022, ended 31 Dec 2023 (still employed that day): counts at both year ends
    job(make_person(name="李乙", birth=D(1990, 1, 1)), D(2022, 5, 1), D(2023, 12, 31))
    # ended 30 Dec 2023: employed at the 2022 end only
    job(make_person(name="李丙", birth=D(1990, 1, 1), town="木渎镇"), D(2022, 5, 1), D(2023, 12, 30))
    # turns 16 on 1 Jan 2024: not of working age at the 2023 end
    job(make_person(name="李丁", birth=D(2008, 1, 1)), D(2023, 6, 1))
    # turns 60 on 31 Dec 2023: not of working age then
    job(make_person(name="李戊", birth=D(1963, 12, 31)), D(2020, 6, 1))
    # a certificate issued on 1 Jan 2024: not certified at the 2023 end
    job(make_person(name="李己", birth=D(1990, 1, 1), issue=D(2024, 1, 1)), D(2023, 6, 1))
    # a change of job in 2023 is not a new employment
    changer = make_person(name="李庚", birth=D(1990, 1, 1))
    job(changer, D(2021, 1, 1))
    job(changer, D(2023, 7, 1))
    # employed in the registry without dates: employed at both ends, not new
    make_person(name="李辛", birth=D(1990, 1, 1), employment_status="就业")
    # 2023 end: 甲 乙 庚 辛; 2022 end: 乙 庚 辛 and 戊 (59 then), 丙 in 木渎镇
    assert employed_by_town(D(2023, 12, 31)) == {luzhi: 4}
    assert employed_by_town(D(2022, 12, 31)) == {luzhi: 4, mudu: 1}
    assert employment_net_by_town(2023) == {luzhi: 0, mudu: -1}
    assert employment_new_by_town(2023) == {luzhi: 1}


@pytest.mark.parametrize(
    ("start", "end", "prior"),
    [
        (D(2022, 3, 1), D(2023, 5, 31), "unemployed"),
        (D(2022, 3, 1), None, "employed"),
        (D(2022, 3, 1), None, ""),
        (D(2026, 1, 1), D(2026, 12, 31), "student"),
        (D(2026, 6, 1), D(2026, 6, 1), "retired"),
        (D(1980, 1, 1), D(2026, 5, 31), "unemployed"),
    ],
)
def test_the_first_record_fast_path_equals_the_general_walk(start, end, prior):
    from canlian.casework.programmes.employment import _first_splice

    args = dict(start=start, end=end, kind="quota", employer="甲", source="s", prior_status=prior)
    fast = _first_splice(**args, birth_date=D(1980, 1, 1), today=TODAY)
    # the general walk, forced: a period of another person's chain that overlaps nothing (then dropped)
    far = Period(99, "unemployed", D(1900, 1, 1), D(1900, 1, 2))
    slow = employment_splice([far], **args, birth_date=D(1980, 1, 1), today=TODAY)
    assert fast.status_now == slow.status_now
    # the walk adds no "earlier status" period when the person already has periods: compare the rest
    assert [p for p in fast.create if p.source != "此前登记的就业状况"] == slow.create
