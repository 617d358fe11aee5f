"""Issue 8 §1, done when: a person file with the circumstance columns imports through the real CLI, and
``canlian eligibility ID YYYY-MM --json`` then pays each group what the parameters say, to the fen."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest
import xlsxwriter
from django.utils import timezone

from canlian.benefits import hooks, selectors
from canlian.benefits.rules import month_bounds
from canlian.cli import main
from canlian.registry.models import Person, PersonCircumstance

HEADERS = [
    "姓名",
    "身份证号",
    "残疾人证号",
    "发证日期",
    "镇(街道)",
    "户口性质",
    "家庭经济状况",
    "无固定收入",
    "无固定收入起始日期",
    "一户多残或依老养残",
    "一户多残或依老养残起始日期",
    "工伤保险生活护理费",
    "孤儿或事实无人抚养",
    "老年护理补贴(元/月)",
    "迁出日期",
]
SINCE = "2025-06-01"
MOVED = date(2025, 7, 31)

pytestmark = pytest.mark.usefixtures("cli_password")  # --user X proves X by password


@pytest.fixture
def people(id_for):
    """name → (ID number, row): severe physical disabilities (grade 1, certificate from 2019), urban."""

    def ident(n):
        return id_for(date(1970, 1, 1), 500 + n)

    rows = {
        "赵无收": ["是", SINCE, "", "", "", "", "", ""],
        "钱多残": ["", "", "是", SINCE, "", "", "", ""],
        "孙低保": ["", "", "", "", "", "", "", ""],
        "李工伤": ["是", SINCE, "", "", "是", "", "", ""],
        "周迁出": ["是", SINCE, "", "", "", "", "", MOVED.isoformat()],
    }
    out = {}
    for n, (name, facts) in enumerate(rows.items(), start=1):
        number = ident(n)
        economic = "低保" if name == "孙低保" else ""
        out[name] = (number, [name, number, f"{number}41", "2019-05-06", "甪直镇", "城镇", economic, *facts])
    return out


def _write(path, rows):
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("残疾人名单")
    text = wb.add_format({"num_format": "@"})
    ws.write_row(0, 0, HEADERS)
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values):
            if value:
                ws.write_string(r, c, value, text)
    wb.close()
    return path


def _eligibility(capsys, number: str, month: str) -> dict:
    capsys.readouterr()
    assert main(["eligibility", number, month, "--json", "--user", "district1"]) == 0
    return json.loads(capsys.readouterr().out)["programmes"]["living_allowance"]


def _yuan_of(standard: Decimal, rate: Decimal) -> str:
    return str((standard * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _import(tmp_path, capsys, people) -> None:
    path = _write(tmp_path / "facts.xlsx", [row for _, row in people.values()])
    capsys.readouterr()
    assert main(["import", "persons", str(path), "--json", "--user", "district1"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert (counts["created"], counts["rejected"]) == (5, 0)


def test_import_then_eligibility_pays_each_group_per_the_parameters(users, tmp_path, capsys, people):
    # given the file imported through the CLI
    _import(tmp_path, capsys, people)
    assert PersonCircumstance.objects.count() == 6
    assert Person.objects.get(name="周迁出").status == Person.Status.MOVED_OUT
    params = selectors.current_parameters()
    this_month = timezone.localdate().replace(day=1)
    month = f"{this_month:%Y-%m}"
    standard = params.at("common.dibao_standard", this_month)

    # then the no-fixed-income severe person gets the full standard, with the date in the reason
    nfi = _eligibility(capsys, people["赵无收"][0], month)
    rate = params.at("living_allowance.rate_no_income_severe", this_month)
    assert nfi["eligible"] is True and nfi["amount"] == _yuan_of(standard, rate)
    assert any(r.startswith(f"✔ 低保外无固定收入（{SINCE} 起）的重度残疾人") for r in nfi["reasons"])

    # the 一户多残 person the 一户多残 rate
    multi = _eligibility(capsys, people["钱多残"][0], month)
    rate = params.at("living_allowance.rate_multiple_in_household", this_month)
    assert multi["amount"] == _yuan_of(standard, rate)
    assert any(f"一户多残或依老养残（{SINCE} 起）" in r for r in multi["reasons"])

    # the 低保 severe person the 低保 severe rate
    dibao = _eligibility(capsys, people["孙低保"][0], month)
    assert dibao["amount"] == _yuan_of(standard, params.at("living_allowance.rate_dibao_severe", this_month))

    # nothing to the person with work-injury care pay (no date in the file: from the import date)
    injury = _eligibility(capsys, people["李工伤"][0], month)
    assert injury["eligible"] is False and injury["amount"] == "0.00"
    imported = timezone.localdate().isoformat()
    assert f"✘ 已领取工伤保险生活护理费（{imported} 起），不享受两项补贴" in injury["reasons"]

    # the person who moved out on 2025-07-31: paid for July (and every month before), stopped from August;
    # the standard changes on 2025-07-01 (1,155 → 1,208)
    number = people["周迁出"][0]
    for month_day, paid in ((date(2025, 6, 1), True), (date(2025, 7, 1), True), (date(2025, 8, 1), False)):
        result = _eligibility(capsys, number, f"{month_day:%Y-%m}")
        expected = _yuan_of(
            params.at("common.dibao_standard", month_day),
            params.at("living_allowance.rate_no_income_severe", month_day),
        )
        assert (result["eligible"], result["amount"]) == ((True, expected) if paid else (False, "0.00"))
    assert "✘ 已迁出（2025-07-31 迁出），次月起停发" in _eligibility(capsys, number, "2025-08")["reasons"]
    assert "✔ 本月迁出（2025-07-31 迁出），当月照发" in _eligibility(capsys, number, "2025-07")["reasons"]
    assert "✔ 户籍在本区" in _eligibility(capsys, number, "2025-06")["reasons"]
    # before the fact started, no fixed income did not count
    assert _eligibility(capsys, number, "2025-05")["eligible"] is False


def test_import_then_eligibility_in_fen_for_the_shipped_values(users, tmp_path, capsys, people):
    """Suzhou's sourced values: 1,208.00 from 2025-07-01 (1,155.00 before); rates 100% / 60% / 35% / 25%."""
    _import(tmp_path, capsys, people)
    month = f"{timezone.localdate():%Y-%m}"
    assert _eligibility(capsys, people["赵无收"][0], month)["amount"] == "1208.00"
    assert _eligibility(capsys, people["钱多残"][0], month)["amount"] == "724.80"
    assert _eligibility(capsys, people["李工伤"][0], month)["amount"] == "0.00"
    assert _eligibility(capsys, people["周迁出"][0], "2025-06")["amount"] == "1155.00"
    assert _eligibility(capsys, people["周迁出"][0], "2025-07")["amount"] == "1208.00"
    assert _eligibility(capsys, people["周迁出"][0], "2025-08")["amount"] == "0.00"


def test_moved_out_on_the_first_and_on_the_last_day_of_a_month(users, make_person):
    from canlian.registry.circumstances import circumstance_add

    first = make_person(name="月初迁", grade=1)
    last = make_person(name="月末迁", grade=1)
    for person, moved in ((first, date(2025, 7, 1)), (last, date(2025, 7, 31))):
        circumstance_add(
            acting_user=users["district"], person=person, kind="no_fixed_income", valid_from=date(2025, 1, 1)
        )
        circumstance_add(acting_user=users["district"], person=person, kind="moved_out", valid_from=moved)
    frames = selectors.registry_frames()
    for month, expected in ((date(2025, 7, 1), False), (date(2025, 8, 1), True)):
        facts = selectors.facts_for_month(frames, month).sort("person_id")
        assert facts["moved_out"].to_list() == [expected, expected]
    for month in (date(2025, 7, 1), date(2025, 8, 1)):  # the move date, in the month of the move too
        facts = selectors.facts_for_month(frames, month).sort("person_id")
        assert facts["moved_out_since"].to_list() == [date(2025, 7, 1), date(2025, 7, 31)]
    june = selectors.facts_for_month(frames, date(2025, 6, 1))
    assert june["moved_out"].to_list() == [False, False] and june["moved_out_since"].to_list() == [None, None]


def test_a_period_counts_for_every_month_it_overlaps(users, make_person):
    from canlian.registry.circumstances import circumstance_add

    person = make_person(name="跨月者", grade=1)
    circumstance_add(
        acting_user=users["district"],
        person=person,
        kind="no_fixed_income",
        valid_from=date(2025, 3, 31),
        valid_to=date(2025, 5, 1),
    )
    circumstance_add(
        acting_user=users["district"],
        person=person,
        kind="elderly_care",
        valid_from=date(2025, 4, 1),
        amount=Decimal("200.00"),
    )
    frames = selectors.registry_frames()
    got = {}
    for m in (2, 3, 4, 5, 6):
        row = selectors.facts_for_month(frames, date(2025, m, 1)).row(0, named=True)
        got[m] = (row["no_fixed_income"], row["no_fixed_income_since"], row["elderly_care_fen"])
    assert got == {
        2: (False, None, 0),
        3: (True, date(2025, 3, 31), 0),
        4: (True, date(2025, 3, 31), 20000),
        5: (True, date(2025, 3, 31), 20000),
        6: (False, None, 20000),
    }


def test_dated_employment_wins_over_the_current_status(users, make_person):
    from canlian.registry.circumstances import employment_status_change

    person = make_person(name="就业者", grade=1, employment_status="未就业")
    today = timezone.localdate()
    start = today.replace(day=1) - timedelta(days=40)
    employment_status_change(
        acting_user=users["district"], person=person, status="employed", valid_from=start
    )
    person.refresh_from_db()
    assert person.employment_status == "employed"
    frames = selectors.registry_frames()
    first_of = start.replace(day=1)
    before = month_bounds(first_of - timedelta(days=1))[0]
    assert selectors.facts_for_month(frames, before)["employed"].to_list() == [False]
    row = selectors.facts_for_month(frames, first_of).row(0, named=True)
    assert (row["employed"], row["employed_since"]) == (True, start)


def test_a_registered_facts_provider_supplies_facts_benefits_does_not_know(users, make_person):
    child = make_person(name="康复童", birth=date(2020, 2, 2), grade=2, issue=date(2021, 1, 1))
    adult = make_person(name="成年人", grade=1)
    calls = []

    def rehab(*, month, person_ids):
        calls.append((month, sorted(person_ids.to_list())))
        return pl.DataFrame({"person_id": [child.pk], "rehab_need": [True], "care_need": [False]})

    hooks.facts_provider_register("test.rehab", rehab)
    try:
        result = selectors.population_eligibility(date(2025, 8, 1)).sort("person_id")
        facts = selectors.month_facts(date(2025, 8, 1)).sort("person_id")
    finally:
        hooks.facts_provider_unregister("test.rehab")
    assert calls[0] == (date(2025, 8, 1), sorted([child.pk, adult.pk]))
    by_id = {r["person_id"]: r for r in facts.iter_rows(named=True)}
    assert (by_id[child.pk]["rehab_need"], by_id[child.pk]["care_need"]) == (True, False)
    assert (by_id[adult.pk]["rehab_need"], by_id[adult.pk]["care_need"]) == (False, None)
    eligible = dict(zip(result["person_id"], result["child_rehab_eligible"], strict=True))
    assert eligible == {child.pk: True, adult.pk: False}
    care = dict(zip(result["person_id"], result["care_allowance_eligible"], strict=True))
    assert care == {child.pk: False, adult.pk: True}  # the provider's assessed "no care need" wins
    assert "test.rehab" not in hooks.facts_providers_registered()
    with pytest.raises(ValueError, match="unknown columns"):
        from canlian.benefits.rules.facts import with_provided

        with_provided(facts, [pl.DataFrame({"person_id": [1], "salary": [3]})])
