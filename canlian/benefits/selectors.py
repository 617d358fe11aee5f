"""Facts for the rules, read set-based from the registry (one query per table, no per-person queries)."""

from __future__ import annotations

from datetime import date

import polars as pl

from canlian.accounts import access
from canlian.registry.models import Certificate, EconomicStatusPeriod, Person

from .parameters import ParameterSet, shipped
from .rules import evaluate, explain_person, month_bounds
from .rules.facts import PERIOD_SCHEMA, conform, with_economic_flags

INTELLECTUAL_OR_MENTAL = {5, 6}


def _has_intellectual_or_mental(category: int, components) -> bool:
    if category in INTELLECTUAL_OR_MENTAL:
        return True
    if category == 7 and components:
        return any(
            int(c.get("category", 0)) in INTELLECTUAL_OR_MENTAL for c in components if isinstance(c, dict)
        )
    return False


def month_facts(month: date, *, persons=None) -> pl.DataFrame:
    """One row per person (``persons``: a queryset, already scoped; default all) for the month."""
    start, end = month_bounds(month)
    qs = persons if persons is not None else Person.objects.all()
    person_rows = qs.values_list(
        "pk", "birth_date", "death_date", "status", "household_type", "employment_status"
    )
    base = pl.DataFrame(
        [
            {
                "person_id": pk,
                "birth_date": born,
                "death_date": died,
                "moved_out": status == Person.Status.MOVED_OUT,
                "household_type": household,
                "employed": employment == "employed",
            }
            for pk, born, died, status, household, employment in person_rows.iterator(chunk_size=5000)
        ],
        schema={
            "person_id": pl.Int64,
            "birth_date": pl.Date,
            "death_date": pl.Date,
            "moved_out": pl.Boolean,
            "household_type": pl.Utf8,
            "employed": pl.Boolean,
        },
    )
    certs = Certificate.objects.filter(is_current=True, person__in=qs).values_list(
        "person_id",
        "category",
        "grade",
        "components",
        "issue_date",
        "valid_until",
        "status",
        "status_changed_on",
    )
    cert_df = pl.DataFrame(
        [
            {
                "person_id": pid,
                "category": cat,
                "grade": grade,
                "has_intellectual_or_mental": _has_intellectual_or_mental(cat, comps),
                "cert_issue_date": issued,
                "cert_valid_until": until,
                "cert_status": status,
                "cert_status_changed_on": changed,
            }
            for pid, cat, grade, comps, issued, until, status, changed in certs.iterator(chunk_size=5000)
        ],
        schema={
            "person_id": pl.Int64,
            "category": pl.Int8,
            "grade": pl.Int8,
            "has_intellectual_or_mental": pl.Boolean,
            "cert_issue_date": pl.Date,
            "cert_valid_until": pl.Date,
            "cert_status": pl.Utf8,
            "cert_status_changed_on": pl.Date,
        },
    )
    periods = EconomicStatusPeriod.objects.filter(person__in=qs, valid_from__lte=end).values_list(
        "person_id", "status", "valid_from", "valid_to"
    )
    period_df = pl.DataFrame(list(periods.iterator(chunk_size=5000)), schema=PERIOD_SCHEMA, orient="row")
    facts = base.lazy().join(cert_df.lazy(), on="person_id", how="left")
    return conform(with_economic_flags(facts, period_df, start, end)).collect()


def person_eligibility(user, person: Person, month: date, params: ParameterSet | None = None) -> dict:
    """Why and how much, for one person and month: the same rules as the payroll."""
    scoped = access.persons_visible(user).filter(pk=person.pk)
    facts = month_facts(month, persons=scoped)
    if facts.height == 0:
        raise Person.DoesNotExist
    return explain_person(facts, month, params or shipped())


def population_eligibility(month: date, *, persons=None, params: ParameterSet | None = None) -> pl.DataFrame:
    return evaluate(month_facts(month, persons=persons), month, params or shipped())
