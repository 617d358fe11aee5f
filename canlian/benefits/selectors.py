"""Facts for the rules, read set-based from the registry (one query per table, no per-person queries).

``registry_frames`` loads persons, current certificates and economic-status periods once; ``facts_for_month``
turns them into the columns of ``rules.facts`` for any month without going back to the database, so a
payroll that looks back over many months reads the registry once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from canlian.accounts import access
from canlian.registry.models import Certificate, EconomicStatusPeriod, Person

from .parameters import ParameterSet, shipped
from .rules import evaluate, explain_person, month_bounds
from .rules.facts import PERIOD_SCHEMA, conform, with_economic_flags

INTELLECTUAL_OR_MENTAL = {5, 6}
PERSON_SCHEMA = {
    "person_id": pl.Int64,
    "town_id": pl.Int64,
    "birth_date": pl.Date,
    "death_date": pl.Date,
    "moved_out": pl.Boolean,
    "household_type": pl.Utf8,
    "employed": pl.Boolean,
}
CERT_SCHEMA = {
    "person_id": pl.Int64,
    "category": pl.Int8,
    "grade": pl.Int8,
    "has_intellectual_or_mental": pl.Boolean,
    "cert_issue_date": pl.Date,
    "cert_valid_until": pl.Date,
    "cert_status": pl.Utf8,
    "cert_status_changed_on": pl.Date,
}


def _has_intellectual_or_mental(category: int, components) -> bool:
    if category in INTELLECTUAL_OR_MENTAL:
        return True
    if category == 7 and components:
        return any(
            int(c.get("category", 0)) in INTELLECTUAL_OR_MENTAL for c in components if isinstance(c, dict)
        )
    return False


@dataclass
class RegistryFrames:
    persons: pl.DataFrame
    certificates: pl.DataFrame
    periods: pl.DataFrame


def registry_frames(*, persons=None) -> RegistryFrames:
    """``persons``: a queryset, already scoped (default: everyone)."""
    qs = persons if persons is not None else Person.objects.all()
    rows = qs.values_list(
        "pk", "town_id", "birth_date", "death_date", "status", "household_type", "employment_status"
    )
    person_df = pl.DataFrame(
        [
            (pk, town, born, died, status == Person.Status.MOVED_OUT, household, employment == "employed")
            for pk, town, born, died, status, household, employment in rows.iterator(chunk_size=5000)
        ],
        schema=PERSON_SCHEMA,
        orient="row",
    )
    certs = Certificate.objects.filter(is_current=True)
    if persons is not None:
        certs = certs.filter(person__in=qs)
    cert_rows = certs.values_list(
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
            (pid, cat, grade, _has_intellectual_or_mental(cat, comps), issued, until, status, changed)
            for pid, cat, grade, comps, issued, until, status, changed in cert_rows.iterator(chunk_size=5000)
        ],
        schema=CERT_SCHEMA,
        orient="row",
    )
    periods = EconomicStatusPeriod.objects.all()
    if persons is not None:
        periods = periods.filter(person__in=qs)
    period_df = pl.DataFrame(
        list(periods.values_list("person_id", "status", "valid_from", "valid_to").iterator(chunk_size=5000)),
        schema=PERIOD_SCHEMA,
        orient="row",
    )
    return RegistryFrames(person_df, cert_df, period_df)


def facts_for_month(frames: RegistryFrames, month: date) -> pl.DataFrame:
    start, end = month_bounds(month)
    facts = frames.persons.lazy().join(frames.certificates.lazy(), on="person_id", how="left")
    return conform(with_economic_flags(facts, frames.periods, start, end)).collect()


def month_facts(month: date, *, persons=None) -> pl.DataFrame:
    return facts_for_month(registry_frames(persons=persons), month)


def person_eligibility(user, person: Person, month: date, params: ParameterSet | None = None) -> dict:
    """Why and how much, for one person and month: the same rules as the payroll."""
    scoped = access.persons_visible(user).filter(pk=person.pk)
    facts = month_facts(month, persons=scoped)
    if facts.height == 0:
        raise Person.DoesNotExist
    return explain_person(facts, month, params or shipped())


def population_eligibility(month: date, *, persons=None, params: ParameterSet | None = None) -> pl.DataFrame:
    return evaluate(month_facts(month, persons=persons), month, params or shipped())


def current_parameters() -> ParameterSet:
    """Shipped YAML values plus the values administrators added (never edits: new dated values)."""
    from .models import ParameterValue

    extra = [(v.name, v.valid_from, v.value, v.reference) for v in ParameterValue.objects.all()]
    return shipped().with_values(extra) if extra else shipped()


@dataclass
class Screening:
    """应保尽保 (eligible, not enrolled) and 应退则退 (enrolled, no longer eligible) for one programme and month."""

    programme: str
    month: date
    eligible_not_enrolled: pl.DataFrame  # person_id, town_id, amount_fen
    enrolled_not_eligible: pl.DataFrame  # person_id, town_id, enrolment_id


def screening(user, *, programme: str, month: date, town_id: int | None = None) -> Screening:
    from .models import Enrolment

    scoped = access.persons_visible(user)
    if town_id:
        scoped = scoped.filter(town_id=town_id)
    frames = registry_frames(persons=scoped)
    result = evaluate(facts_for_month(frames, month), month, current_parameters(), programmes=[programme])
    result = result.join(frames.persons.select("person_id", "town_id"), on="person_id")
    enrolled = pl.DataFrame(
        list(
            Enrolment.objects.filter(
                programme__code=programme, status__in=["active", "suspended"], person__in=scoped
            ).values_list("person_id", "pk")
        ),
        schema={"person_id": pl.Int64, "enrolment_id": pl.Int64},
        orient="row",
    )
    eligible = pl.col(f"{programme}_eligible")
    missing = (
        result.filter(eligible)
        .join(enrolled, on="person_id", how="anti")
        .select("person_id", "town_id", pl.col(f"{programme}_amount_fen").alias("amount_fen"))
        .sort("person_id")
    )
    stale = (
        result.filter(~eligible)
        .join(enrolled, on="person_id")
        .select("person_id", "town_id", "enrolment_id")
        .sort("person_id")
    )
    return Screening(programme, month, missing, stale)
