"""The set-based paths used at scale (COPY on PostgreSQL) answer exactly as the ORM path does."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from django.db.models import TextField
from django.db.models.functions import Cast

from canlian.benefits import selectors
from canlian.benefits.models import Enrolment, PayrollLine, Programme
from canlian.benefits.services.payroll import payroll_generate
from canlian.registry.models import (
    Certificate,
    EconomicStatusPeriod,
    EmploymentPeriod,
    Person,
    PersonCircumstance,
)

pytestmark = pytest.mark.usefixtures(
    "example_standards_2023"
)  # 2023 months: the example standards (root conftest)


@pytest.fixture
def population(make_person):
    """Five persons covering every column the registry read turns into a fact."""
    multiple_im = make_person(name="张伟", category=7, grade=2)
    Certificate.objects.filter(person=multiple_im).update(
        components=[{"category": 4, "grade": 2}, {"category": 5, "grade": 3}]
    )
    multiple_other = make_person(name="李娜", category=7, grade=1, town="木渎镇")
    Certificate.objects.filter(person=multiple_other).update(
        components=[{"category": 1, "grade": 1}, {"category": 2, "grade": 2}]
    )
    mental = make_person(name="王芳", category=6, grade=3, household="农村", employment_status="就业")
    moved = make_person(name="刘洋", category=4, grade=1)
    Person.objects.filter(pk=moved.pk).update(status="moved_out")
    dead = make_person(name="陈静", category=1, grade=2, town="木渎镇")
    Person.objects.filter(pk=dead.pk).update(status="deceased", death_date=date(2023, 6, 15))
    Certificate.objects.filter(person=dead).update(status="cancelled", status_changed_on=date(2023, 6, 20))
    EconomicStatusPeriod.objects.create(
        person=mental, status="dibao", valid_from=date(2020, 1, 1), valid_to=date(2023, 8, 15)
    )
    EconomicStatusPeriod.objects.create(person=mental, status="near_dibao", valid_from=date(2023, 8, 16))
    # the person's circumstances and employment, dated
    PersonCircumstance.objects.create(person=mental, kind="no_fixed_income", valid_from=date(2023, 3, 1))
    PersonCircumstance.objects.create(
        person=multiple_other, kind="elderly_care", amount="212.35", valid_from=date(2023, 1, 1)
    )
    PersonCircumstance.objects.create(
        person=multiple_im, kind="injury_care", valid_from=date(2022, 1, 1), valid_to=date(2023, 6, 30)
    )
    PersonCircumstance.objects.create(person=moved, kind="moved_out", valid_from=date(2023, 6, 30))
    EmploymentPeriod.objects.create(
        person=multiple_im, status="unemployed", valid_from=date(2000, 1, 1), valid_to=date(2023, 7, 31)
    )
    EmploymentPeriod.objects.create(person=multiple_im, status="employed", valid_from=date(2023, 8, 1))
    return {"multiple_im": multiple_im, "multiple_other": multiple_other, "mental": mental, "moved": moved}


def _sorted(df: pl.DataFrame, *keys: str) -> pl.DataFrame:
    return df.sort(list(keys))


@pytest.mark.postgres
def test_copy_read_equals_orm_read(population):
    # given the registry on PostgreSQL
    # when it is read through COPY and through the ORM, for everyone and for a scoped queryset
    for scope in (None, Person.objects.filter(town__name="木渎镇"), Person.objects.none()):
        fast = selectors._registry_frames_copy(scope)
        orm = selectors._registry_frames_orm(scope)
        # then the three frames are identical, column types included
        assert _sorted(fast.persons, "person_id").equals(_sorted(orm.persons, "person_id"))
        assert _sorted(fast.certificates, "person_id").equals(_sorted(orm.certificates, "person_id"))
        assert _sorted(fast.periods, "person_id", "valid_from").equals(
            _sorted(orm.periods, "person_id", "valid_from")
        )
        assert _sorted(fast.circumstances, "person_id", "kind", "valid_from").equals(
            _sorted(orm.circumstances, "person_id", "kind", "valid_from")
        )
        assert _sorted(fast.employment, "person_id", "valid_from").equals(
            _sorted(orm.employment, "person_id", "valid_from")
        )
    everyone = selectors.registry_frames()
    assert everyone.persons.height == 5
    facts = selectors.facts_for_month(everyone, date(2023, 8, 1)).sort("person_id")
    by_id = {r["person_id"]: r for r in facts.iter_rows(named=True)}
    assert by_id[population["multiple_im"].pk]["has_intellectual_or_mental"] is True
    assert by_id[population["multiple_other"].pk]["has_intellectual_or_mental"] is False
    assert (by_id[population["mental"].pk]["dibao"], by_id[population["mental"].pk]["near_dibao"]) == (
        True,
        True,
    )
    assert by_id[population["mental"].pk]["employed"] is True
    assert by_id[population["moved"].pk]["moved_out"] is True  # moved out on 2023-06-30
    assert by_id[population["moved"].pk]["moved_out_since"] == date(2023, 6, 30)
    assert (
        by_id[population["mental"].pk]["no_fixed_income"],
        by_id[population["mental"].pk]["no_fixed_income_since"],
    ) == (
        True,
        date(2023, 3, 1),
    )
    assert by_id[population["multiple_other"].pk]["elderly_care_fen"] == 21235
    assert by_id[population["multiple_im"].pk]["injury_care"] is False  # ended 2023-06-30
    assert (
        by_id[population["multiple_im"].pk]["employed"],
        by_id[population["multiple_im"].pk]["employed_since"],
    ) == (
        True,
        date(2023, 8, 1),
    )
    june = {
        r["person_id"]: r for r in selectors.facts_for_month(everyone, date(2023, 6, 1)).iter_rows(named=True)
    }
    assert june[population["moved"].pk]["moved_out"] is False  # paid for the month of the move
    assert june[population["multiple_im"].pk]["employed"] is False
    assert june[population["multiple_im"].pk]["injury_care"] is True


def test_frame_of_an_empty_queryset_is_an_empty_frame(db):
    schema = {"enrolment_id": pl.Int64, "person_id": pl.Int64}
    frame = selectors.frame_of(Enrolment.objects.filter(pk__in=[]).values_list("pk", "person_id"), schema)
    assert frame.height == 0 and frame.schema == pl.Schema(schema)


def test_payroll_lines_carry_the_stored_account_unchanged(users, population):
    # given two care-allowance enrolments with bank accounts (encrypted at rest)
    care = Programme.objects.get(code="care_allowance")
    for person, account in (
        (population["multiple_im"], "6222020000000001"),
        (population["moved"], "6217000000000002"),
    ):
        Enrolment.objects.create(
            person=person,
            programme=care,
            start_month=date(2023, 7, 1),
            bank_name="农商行",
            bank_account=account,
        )
    # when the July payroll is generated
    payroll = payroll_generate(acting_user=users["district"], programme=care, month=date(2023, 7, 1))
    # then only the payable one has a line (the other moved out), with the enrolment's bank details
    line = PayrollLine.objects.get(payroll=payroll)
    assert (payroll.line_count, payroll.total_fen) == (1, 15000)
    assert (line.person_id, line.kind, line.amount_fen, line.status, line.failure_reason) == (
        population["multiple_im"].pk,
        "regular",
        15000,
        "pending",
        "",
    )
    assert (line.bank_name, line.bank_account) == ("农商行", "6222020000000001")
    stored_line = PayrollLine.objects.annotate(raw=Cast("bank_account", TextField())).get(pk=line.pk).raw
    stored_enrolment = (
        Enrolment.objects.annotate(raw=Cast("bank_account", TextField())).get(pk=line.enrolment_id).raw
    )
    assert stored_line.startswith("v1:") and stored_line == stored_enrolment
