"""A deaths list in → a run → a deceased finding with the overpayment → confirm → the next payroll leaves
the person out and pays no arrears."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.benefits.models import Enrolment, PayrollLine
from canlian.benefits.services.payroll import payroll_generate
from canlian.registry.models import EconomicStatusPeriod, Person
from canlian.verification.models import Finding
from canlian.verification.services import finding_confirm, outside_list_import, verification_run

from .conftest import enrol, pay_month, xlsx_bytes

pytestmark = pytest.mark.django_db


def test_deaths_list_to_next_payroll(staff, programmes, make_person):
    # given a 低保 person with a severe disability on both allowances, paid for May, June and July 2023
    person = make_person(name="王芳", category=4, grade=1)
    EconomicStatusPeriod.objects.create(person=person, status="dibao", valid_from=date(2020, 1, 1))
    living = enrol(staff, person, programmes["living_allowance"])
    care = enrol(staff, person, programmes["care_allowance"])
    paid = {}
    for month in (date(2023, 5, 1), date(2023, 6, 1), date(2023, 7, 1)):
        for code in ("living_allowance", "care_allowance"):
            payroll = pay_month(staff, programmes[code], month)
            paid[(code, month)] = payroll.total_fen
    assert paid == {
        ("living_allowance", date(2023, 5, 1)): 32850,
        ("care_allowance", date(2023, 5, 1)): 13000,
        ("living_allowance", date(2023, 6, 1)): 32850,
        ("care_allowance", date(2023, 6, 1)): 13000,
        ("living_allowance", date(2023, 7, 1)): 35250,
        ("care_allowance", date(2023, 7, 1)): 15000,
    }

    # when a deaths list says they died on 20 May 2023 and a comparison runs for August
    content = xlsx_bytes(["姓名", "身份证号", "死亡日期"], [["王芳", person.id_number, "2023-05-20"]])
    result = outside_list_import(
        acting_user=staff["district"],
        source=content,
        kind="deaths",
        filename="死亡名单.xlsx",
        source_name="吴中区殡仪馆",
        received_on=date(2023, 8, 2),
    )
    assert result.counts == {"rows": 1, "matched_exact": 1, "candidates": 0, "unmatched": 0, "invalid_ids": 0}
    run = verification_run(acting_user=staff["district"], month=date(2023, 8, 1))

    # then one deceased finding per enrolment, overpayment = what was paid for June and July
    assert run.stats["findings"] == {"deceased": 2}
    found = {f.enrolment_id: f for f in Finding.objects.filter(run=run)}
    assert set(found) == {living.pk, care.pk}
    assert (found[living.pk].effective_month, found[living.pk].overpayment_fen) == (date(2023, 6, 1), 68100)
    assert (found[care.pk].effective_month, found[care.pk].overpayment_fen) == (date(2023, 6, 1), 28000)
    assert found[living.pk].money_at_stake_fen == 35250
    assert found[care.pk].money_at_stake_fen == 15000
    assert found[living.pk].evidence["match_type"] == "exact"
    assert found[living.pk].evidence["row_number"] == 2

    # when town staff confirm both with "stop from June"
    for f in found.values():
        finding_confirm(
            acting_user=staff["town_luzhi"], finding=f, action="stop", effective_month=date(2023, 6, 1)
        )

    # then the enrolments are stopped after May, the person is recorded deceased, the overpayment recorded
    person.refresh_from_db()
    assert (person.status, person.death_date) == ("deceased", date(2023, 5, 20))
    for enrolment in Enrolment.objects.filter(pk__in=[living.pk, care.pk]):
        assert (enrolment.status, enrolment.end_month) == ("stopped", date(2023, 5, 1))
    assert sorted(Finding.objects.values_list("status", "overpayment_fen")) == [
        ("confirmed", 28000),
        ("confirmed", 68100),
    ]
    # and the August payrolls have no line for them: nothing regular, no arrears
    for code in ("living_allowance", "care_allowance"):
        august = payroll_generate(
            acting_user=staff["district"], programme=programmes[code], month=date(2023, 8, 1)
        )
        assert PayrollLine.objects.filter(payroll=august, person=person).count() == 0
    # a second run raises nothing again
    again = verification_run(acting_user=staff["district"], month=date(2023, 8, 1))
    assert again.stats["findings"] == {}
    assert Person.objects.get(pk=person.pk).status == "deceased"
