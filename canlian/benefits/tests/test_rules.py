"""Scenario tables and properties for the benefit rules (pure: no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from canlian.benefits.parameters import ParameterError, ParameterSet, shipped
from canlian.benefits.rules import evaluate, explain_person, month_bounds
from canlian.benefits.rules.facts import PERIOD_SCHEMA, from_records, with_economic_flags

DATA = yaml.safe_load((Path(__file__).parent / "scenarios.yaml").read_text(encoding="utf-8"))
SCENARIOS = DATA["scenarios"]


def _month(text) -> date:
    y, m = str(text).split("-")
    return date(int(y), int(m), 1)


def facts_for(scenario: dict, person_id: int = 1) -> pl.DataFrame:
    row = {"person_id": person_id, **DATA["defaults"], **(scenario.get("facts") or {})}
    facts = from_records([row])
    periods = pl.DataFrame(
        [{"person_id": person_id, "valid_to": None, **p} for p in scenario.get("periods") or []],
        schema=PERIOD_SCHEMA,
    )
    start, end = month_bounds(_month(scenario["month"]))
    return with_economic_flags(facts, periods, start, end).collect()


def params_for(scenario: dict) -> ParameterSet:
    extra = [(name, day, value, "scenario") for name, (day, value) in (scenario.get("params") or {}).items()]
    return shipped().with_values(extra) if extra else shipped()


def test_there_are_at_least_40_scenarios():
    assert len(SCENARIOS) >= 40
    assert len({s["name"] for s in SCENARIOS}) == len(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_scenario(scenario):
    result = explain_person(facts_for(scenario), _month(scenario["month"]), params_for(scenario))
    for programme, expected in scenario["expect"].items():
        got = result[programme]
        assert got["eligible"] is expected["eligible"], got["reasons"]
        if "amount" in expected:
            assert got["amount"] == Decimal(expected["amount"]), got["reasons"]
        joined = " | ".join(got["reasons"])
        for fragment in expected.get("reasons", []):
            assert fragment in joined, joined


def test_every_condition_explains_itself():
    result = explain_person(facts_for(SCENARIOS[0]), date(2023, 7, 1), shipped())
    reasons = result["living_allowance"]["reasons"]
    assert reasons == [
        "✔ 本月在世",
        "✔ 户籍在本区",
        "✔ 持有效残疾人证",
        "✔ 非特困供养人员",
        "✔ 未领取工伤保险生活护理费",
        "✔ 未领取孤儿（事实无人抚养儿童）基本生活费",
        "✔ 低保家庭重度残疾人：按城镇低保标准 1175.00 元的 30% 发放",
    ]


def test_parameter_without_value_yet_is_a_clear_error():
    with pytest.raises(ParameterError, match="尚无取值"):
        explain_person(facts_for(SCENARIOS[0]), date(2022, 12, 1), shipped())


def test_new_value_never_edits_history():
    params = shipped().with_values([("common.dibao_standard_urban", date(2024, 1, 1), "1250.00", "test")])
    assert params.at("common.dibao_standard_urban", date(2023, 12, 31)) == Decimal("1175.00")
    assert params.at("common.dibao_standard_urban", date(2024, 1, 1)) == Decimal("1250.00")
    assert shipped().at("common.dibao_standard_urban", date(2024, 1, 1)) == Decimal("1175.00")


# ---- properties -------------------------------------------------------------------------------------------

persons = st.fixed_dictionaries(
    {
        "birth_date": st.dates(min_value=date(1930, 1, 1), max_value=date(2023, 6, 1)),
        "death_date": st.none() | st.dates(min_value=date(2022, 1, 1), max_value=date(2024, 12, 31)),
        "moved_out": st.booleans(),
        "household_type": st.sampled_from(["urban", "rural"]),
        "employed": st.booleans(),
        "category": st.none() | st.integers(1, 7),
        "grade": st.integers(1, 4),
        "has_intellectual_or_mental": st.booleans(),
        "cert_issue_date": st.dates(min_value=date(2010, 1, 1), max_value=date(2024, 1, 1)),
        "cert_status": st.sampled_from(["valid", "expired", "frozen", "cancelled"]),
        "dibao": st.booleans(),
        "near_dibao": st.booleans(),
        "tekun": st.booleans(),
        "injury_care": st.booleans(),
        "orphan_allowance": st.booleans(),
        "elderly_care_fen": st.sampled_from([0, 10000, 20000]),
        "no_fixed_income": st.booleans(),
        "multiple_in_household": st.booleans(),
        "care_need": st.none() | st.booleans(),
        "rehab_need": st.booleans(),
    }
)
months = st.dates(min_value=date(2023, 4, 1), max_value=date(2024, 12, 1)).map(lambda d: d.replace(day=1))


def _frame(rows: list[dict]) -> pl.DataFrame:
    out = []
    for i, r in enumerate(rows, start=1):
        r = dict(r, person_id=i)
        issued = r["cert_issue_date"]
        r["cert_valid_until"] = date(issued.year + 10, issued.month, min(issued.day, 28))
        out.append(r)
    return from_records(out)


@settings(max_examples=60, deadline=None)
@given(st.lists(persons, min_size=1, max_size=30), months)
def test_amounts_never_negative_and_nothing_after_death(rows, month):
    df = _frame(rows)
    result = evaluate(df, month, shipped()).join(df.select("person_id", "death_date"), on="person_id")
    for name in ("living_allowance", "care_allowance"):
        assert result[f"{name}_amount_fen"].min() >= 0
        dead = result.filter(pl.col("death_date").is_not_null() & (pl.col("death_date") < month))
        assert dead[f"{name}_eligible"].sum() == 0
        assert dead[f"{name}_amount_fen"].sum() == 0
        unpaid = result.filter(~pl.col(f"{name}_eligible"))
        assert unpaid[f"{name}_amount_fen"].sum() == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(persons, min_size=2, max_size=30), months, st.data())
def test_one_person_alone_equals_inside_population(rows, month, data):
    df = _frame(rows)
    everyone = evaluate(df, month, shipped(), explain=True)
    i = data.draw(st.integers(0, len(rows) - 1))
    alone = evaluate(df.slice(i, 1), month, shipped(), explain=True)
    assert alone.row(0) == everyone.row(i)
