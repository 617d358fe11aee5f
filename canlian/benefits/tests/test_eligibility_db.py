"""Facts read from the registry feed the same rules; the CLI answers for one person and month."""

import json
from datetime import date

import pytest

from canlian.benefits.selectors import month_facts, population_eligibility
from canlian.cli import main
from canlian.registry.models import EconomicStatusPeriod

pytestmark = pytest.mark.usefixtures(
    "example_standards_2023"
)  # 2023 months: the example standards (root conftest)


def test_facts_from_registry_and_cli_json(make_person, users, capsys):
    person = make_person(category=5, grade=2, issue=date(2019, 5, 6))
    EconomicStatusPeriod.objects.create(
        person=person, status="dibao", valid_from=date(2020, 1, 1), valid_to=date(2023, 8, 15)
    )
    other = make_person(name="李娜", category=4, grade=3, town="木渎镇")

    facts = month_facts(date(2023, 8, 1))
    row = facts.filter(facts["person_id"] == person.pk).row(0, named=True)
    assert (row["dibao"], row["has_intellectual_or_mental"], row["grade"]) == (True, True, 2)

    result = population_eligibility(date(2023, 9, 1))
    by_id = {r["person_id"]: r for r in result.iter_rows(named=True)}
    assert by_id[person.pk]["living_allowance_eligible"] is False  # 低保 ended in August
    assert by_id[person.pk]["care_allowance_amount_fen"] == 15000
    assert by_id[other.pk]["care_allowance_eligible"] is False

    code = main(["eligibility", person.id_number, "2023-08", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["person"] == person.masked_id and out["month"] == "2023-08"
    assert out["programmes"]["living_allowance"]["eligible"] is True
    assert out["programmes"]["living_allowance"]["amount"] == "352.50"
    assert out["programmes"]["suhuibao"]["eligible"] is True
    assert person.id_number not in json.dumps(out)


def test_cli_rejects_bad_input(db, capsys):
    assert main(["eligibility", "12345", "2023-08"]) == 2
    assert "身份证号无效" in capsys.readouterr().err
    assert main(["eligibility", "11010519491231002X", "2023-13"]) == 2
    assert main(["eligibility", "11010519491231002X", "2023-08"]) == 1
