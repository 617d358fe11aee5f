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

from canlian.benefits.parameters import NoValueYet, ParameterSet, shipped
from canlian.benefits.rules import evaluate, explain_person, month_bounds, programmes_stopped_by
from canlian.benefits.rules.facts import PERIOD_SCHEMA, from_records, with_economic_flags

DATA = yaml.safe_load((Path(__file__).parent / "scenarios.yaml").read_text(encoding="utf-8"))
SCENARIOS = DATA["scenarios"]


def _month(text) -> date:
    y, m = str(text).split("-")
    return date(int(y), int(m), 1)


def facts_for(scenario: dict, person_id: int = 1) -> pl.DataFrame:
    row = {"person_id": person_id, **DATA["defaults"], **(scenario.get("facts") or {})}
    start, end = month_bounds(_month(scenario["month"]))
    if "moved_out_on" in scenario:
        row["moved_out"] = moved_out_for_month(scenario["moved_out_on"], start)
    facts = from_records([row])
    periods = pl.DataFrame(
        [{"person_id": person_id, "valid_to": None, **p} for p in scenario.get("periods") or []],
        schema=PERIOD_SCHEMA,
    )
    return with_economic_flags(facts, periods, start, end).collect()


def moved_out_for_month(moved_on: date, start: date) -> bool:
    """The rule-facing ``moved_out`` for the month starting ``start``: paid for the month of the move, stopped
    from the next (DOMAIN.md §5), i.e. moved out when the move date is before the month's first day. The
    registry's dated facts (branch ``facts``: ``rules.facts.with_circumstances``) give the same flag."""
    return moved_on < start


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
    result = explain_person(facts_for(SCENARIOS[0]), date(2025, 7, 1), shipped())
    reasons = result["living_allowance"]["reasons"]
    assert reasons == [
        "✔ 本月在世",
        "✔ 户籍在本区",
        "✔ 持有效残疾人证",
        "✔ 非特困供养人员",
        "✔ 未领取工伤保险生活护理费",
        "✔ 未领取孤儿（事实无人抚养儿童）基本生活费",
        "✔ 低保家庭重度残疾人：按城乡统一低保标准 1208.00 元的 35% 发放",
    ]


def test_suzhou_standard_has_only_sourced_values():
    params = shipped()
    standard = params["common.dibao_standard"]
    assert [(v.valid_from, v.value) for v in standard.values] == [
        (date(2025, 5, 1), Decimal("1155.00")),
        (date(2025, 7, 1), Decimal("1208.00")),
    ]
    assert all(v.reference for v in standard.values)
    assert params.at("common.dibao_standard", date(2025, 6, 30)) == Decimal("1155.00")
    assert params.at("common.dibao_standard", date(2025, 7, 1)) == Decimal("1208.00")
    assert params.at("common.dibao_urban_rural_split", date(2025, 7, 1)) is False
    assert params["common.dibao_standard_urban"].values == []
    assert params.at("care_allowance.amount", date(2025, 7, 1)) == Decimal("160.00")
    assert params.at("living_allowance.include_near_dibao", date(2025, 7, 1)) is False
    rates = {
        name: params.at(f"living_allowance.{name}", date(2025, 7, 1))
        for name in (
            "rate_dibao_severe",
            "rate_dibao_other",
            "rate_multiple_in_household",
            "rate_unemployed_grade34_intellectual_mental",
            "rate_no_income_severe",
        )
    }
    assert rates == {
        "rate_dibao_severe": Decimal("0.35"),
        "rate_dibao_other": Decimal("0.25"),
        "rate_multiple_in_household": Decimal("0.60"),
        "rate_unemployed_grade34_intellectual_mental": Decimal("0.60"),
        "rate_no_income_severe": Decimal("1.00"),
    }
    # every shipped value of every parameter carries a legal reference (its own or the parameter's)
    for name in params.names():
        p = params[name]
        assert p.reference, name
        assert not p.example, name


def test_a_month_before_the_first_sourced_standard_is_not_judged():
    """April 2025 (before the earliest sourced standard): the cash allowances are not determined, with the
    reason; the programmes that need no standard are judged as usual."""
    facts = facts_for(
        {"month": "2025-04", "facts": {"category": 5, "grade": 1, "has_intellectual_or_mental": True}}
    )
    result = explain_person(facts, date(2025, 4, 1), shipped())
    for name in ("living_allowance", "care_allowance"):
        assert result[name]["determined"] is False
        assert result[name]["eligible"] is None and result[name]["amount"] is None
        assert "2025-04 没有已知的标准" in result[name]["reasons"][0]
        assert "已知最早取值自 2025-05-01 起" in result[name]["reasons"][0]
    assert result["suhuibao"] == {**result["suhuibao"], "determined": True, "eligible": True}
    with pytest.raises(NoValueYet, match="尚无取值"):
        evaluate(facts, date(2025, 4, 1), shipped())
    # May 2025, the first sourced month, is judged
    may = explain_person(facts, date(2025, 5, 1), shipped())
    assert may["care_allowance"]["determined"] is True and may["care_allowance"]["amount"] == Decimal(
        "160.00"
    )


def test_new_value_never_edits_history():
    params = shipped().with_values([("common.dibao_standard", date(2026, 7, 1), "1250.00", "test")])
    assert params.at("common.dibao_standard", date(2026, 6, 30)) == Decimal("1208.00")
    assert params.at("common.dibao_standard", date(2026, 7, 1)) == Decimal("1250.00")
    assert shipped().at("common.dibao_standard", date(2026, 7, 1)) == Decimal("1208.00")


def test_one_source_for_what_stops_a_programme():
    assert programmes_stopped_by("injury_care") == ("living_allowance", "care_allowance")
    assert programmes_stopped_by("tekun") == ("living_allowance", "care_allowance")
    assert programmes_stopped_by("orphan_allowance") == ("living_allowance",)
    with pytest.raises(KeyError):
        programmes_stopped_by("no_fixed_income")


# ---- properties -------------------------------------------------------------------------------------------

persons = st.fixed_dictionaries(
    {
        "birth_date": st.dates(min_value=date(1930, 1, 1), max_value=date(2025, 6, 1)),
        "death_date": st.none() | st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31)),
        "moved_out": st.booleans(),
        "household_type": st.sampled_from(["urban", "rural"]),
        "employed": st.booleans(),
        "category": st.none() | st.integers(1, 7),
        "grade": st.integers(1, 4),
        "has_intellectual_or_mental": st.booleans(),
        "cert_issue_date": st.dates(min_value=date(2012, 1, 1), max_value=date(2026, 1, 1)),
        "cert_status": st.sampled_from(["valid", "expired", "frozen", "cancelled", "reassessing"]),
        "prev_cert_valid_until": st.none() | st.dates(min_value=date(2020, 1, 1), max_value=date(2027, 1, 1)),
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
months = st.dates(min_value=date(2025, 5, 1), max_value=date(2026, 12, 1)).map(lambda d: d.replace(day=1))


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
