"""Facts for the rules, read set-based from the registry (one query per table, no per-person queries).

``registry_frames`` loads persons, current certificates and economic-status periods once; ``facts_for_month``
turns them into the columns of ``rules.facts`` for any month without going back to the database, so a
payroll that looks back over many months reads the registry once.

On PostgreSQL each table is streamed with ``COPY (SELECT …) TO STDOUT`` as CSV and parsed by Polars (no
Python object per row: 1,000,000 persons in about a second); elsewhere (SQLite) the rows come through the
ORM. Both paths give the same frames (``tests/test_scale_paths.py``)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import date

import polars as pl
from django.core.exceptions import EmptyResultSet
from django.db import connection

from canlian.accounts import access
from canlian.registry.models import (
    Certificate,
    EconomicStatusPeriod,
    EmploymentPeriod,
    Person,
    PersonCircumstance,
)

from .hooks import provided_facts
from .parameters import ParameterSet, shipped
from .rules import evaluate, explain_person, month_bounds
from .rules.facts import (
    CIRCUMSTANCE_SCHEMA,
    EMPLOYMENT_SCHEMA,
    PERIOD_SCHEMA,
    conform,
    with_circumstances,
    with_economic_flags,
    with_provided,
)

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

# what the COPY path reads: multiple-disability components as JSON text, tested in Python afterwards
CERT_COPY_SCHEMA = {
    ("components" if c == "has_intellectual_or_mental" else c): (
        pl.Utf8 if c == "has_intellectual_or_mental" else t
    )
    for c, t in CERT_SCHEMA.items()
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
    circumstances: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CIRCUMSTANCE_SCHEMA))
    employment: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=EMPLOYMENT_SCHEMA))


def _fen(amount) -> int | None:
    return None if amount is None else int(amount * 100)


def registry_frames(*, persons=None) -> RegistryFrames:
    """``persons``: a queryset, already scoped (default: everyone)."""
    if connection.vendor == "postgresql":
        frames = _registry_frames_copy(persons)
    else:
        frames = _registry_frames_orm(persons)
    frames.certificates = _with_previous_certificate(frames.certificates, persons)
    return frames


PREVIOUS_SCHEMA = {"person_id": pl.Int64, "prev_cert_valid_until": pl.Date}


def _with_previous_certificate(certificates: pl.DataFrame, persons) -> pl.DataFrame:
    """``prev_cert_valid_until``: the latest end of the person's earlier (not current, not cancelled)
    certificates, for the renewal rules of ``rules.base.certificate_valid``. One query (few rows)."""
    earlier = Certificate.objects.filter(is_current=False).exclude(status=Certificate.Status.CANCELLED)
    if persons is not None:
        earlier = earlier.filter(person__in=persons.order_by().values("pk"))
    previous = (
        frame_of(earlier.order_by().values_list("person_id", "valid_until"), PREVIOUS_SCHEMA)
        .group_by("person_id")
        .agg(pl.col("prev_cert_valid_until").max())
    )
    return certificates.join(previous, on="person_id", how="left")


def _registry_frames_orm(persons) -> RegistryFrames:
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
    circumstances = PersonCircumstance.objects.all()
    employment = EmploymentPeriod.objects.all()
    if persons is not None:
        circumstances = circumstances.filter(person__in=qs)
        employment = employment.filter(person__in=qs)
    circumstance_df = pl.DataFrame(
        [
            (pid, kind, _fen(amount), since, until)
            for pid, kind, amount, since, until in circumstances.values_list(
                "person_id", "kind", "amount", "valid_from", "valid_to"
            ).iterator(chunk_size=5000)
        ],
        schema=CIRCUMSTANCE_SCHEMA,
        orient="row",
    )
    employment_df = pl.DataFrame(
        list(
            employment.values_list("person_id", "status", "valid_from", "valid_to").iterator(chunk_size=5000)
        ),
        schema=EMPLOYMENT_SCHEMA,
        orient="row",
    )
    return RegistryFrames(person_df, cert_df, period_df, circumstance_df, employment_df)


def copy_frame(sql: str, params: list | tuple, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """PostgreSQL only: ``COPY (sql) TO STDOUT`` as CSV, parsed by Polars into ``schema`` (column order)."""
    buf = io.BytesIO()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params or None) as copy:
            for block in copy:
                buf.write(block)
    if buf.tell() == 0:
        return pl.DataFrame(schema=schema)
    buf.seek(0)
    # PostgreSQL writes booleans as t / f
    read = {c: (pl.Utf8 if t == pl.Boolean else t) for c, t in schema.items()}
    df = pl.read_csv(buf, has_header=False, schema=read)
    flags = [pl.col(c) == "t" for c, t in schema.items() if t == pl.Boolean]
    return df.with_columns(flags) if flags else df


def frame_of(rows, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A ``values_list`` queryset as a Polars frame: ``COPY`` on PostgreSQL, the ORM iterator elsewhere.

    Field conversions of the ORM do not run on the COPY path (an encrypted field comes back as stored):
    use it for plain columns, or annotate a ``Cast`` so that both paths return the same."""
    if connection.vendor == "postgresql":
        try:
            sql, params = rows.query.sql_with_params()
        except EmptyResultSet:  # e.g. ``pk__in=[]``: nothing to read
            return pl.DataFrame(schema=schema)
        return copy_frame(sql, params, schema)
    return pl.DataFrame(list(rows.iterator(chunk_size=5000)), schema=schema, orient="row")


def _registry_frames_copy(persons) -> RegistryFrames:
    qn = connection.ops.quote_name
    person_t, cert_t, period_t, circumstance_t, employment_t = (
        m._meta.db_table
        for m in (Person, Certificate, EconomicStatusPeriod, PersonCircumstance, EmploymentPeriod)
    )
    sub, params = "", []
    if persons is not None:
        try:
            sub, sub_params = persons.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:
            return RegistryFrames(
                pl.DataFrame(schema=PERSON_SCHEMA),
                pl.DataFrame(schema=CERT_SCHEMA),
                pl.DataFrame(schema=PERIOD_SCHEMA),
            )
        params = list(sub_params)

    def scoped(column: str) -> str:
        return f" AND {column} IN ({sub})" if sub else ""

    person_df = copy_frame(
        f"SELECT id, town_id, birth_date, death_date, status = %s, household_type, "
        f"employment_status = %s FROM {qn(person_t)} WHERE TRUE{scoped('id')}",
        [Person.Status.MOVED_OUT.value, "employed", *params],
        PERSON_SCHEMA,
    )
    raw_certs = copy_frame(
        f"SELECT person_id, category, grade, CASE WHEN category = 7 THEN components::text END, issue_date, "
        f"valid_until, status, status_changed_on FROM {qn(cert_t)} WHERE is_current{scoped('person_id')}",
        params,
        CERT_COPY_SCHEMA,
    )
    # the same Python test as the ORM path, run on the few multiple-disability rows only
    cert_df = raw_certs.with_columns(
        pl.when(pl.col("category").is_in(sorted(INTELLECTUAL_OR_MENTAL)))
        .then(True)
        .when((pl.col("category") == 7) & pl.col("components").is_not_null())
        .then(
            pl.col("components").map_elements(
                lambda text: _has_intellectual_or_mental(7, json.loads(text)), return_dtype=pl.Boolean
            )
        )
        .otherwise(False)
        .alias("has_intellectual_or_mental")
    ).select(list(CERT_SCHEMA))
    period_df = copy_frame(
        f"SELECT person_id, status, valid_from, valid_to FROM {qn(period_t)} WHERE TRUE{scoped('person_id')}",
        params,
        PERIOD_SCHEMA,
    )
    circumstance_df = copy_frame(
        f"SELECT person_id, kind, (amount * 100)::bigint, valid_from, valid_to FROM {qn(circumstance_t)} "
        f"WHERE TRUE{scoped('person_id')}",
        params,
        CIRCUMSTANCE_SCHEMA,
    )
    employment_df = copy_frame(
        f"SELECT person_id, status, valid_from, valid_to FROM {qn(employment_t)} WHERE TRUE{scoped('person_id')}",
        params,
        EMPLOYMENT_SCHEMA,
    )
    return RegistryFrames(person_df, cert_df, period_df, circumstance_df, employment_df)


def facts_for_month(frames: RegistryFrames, month: date) -> pl.DataFrame:
    """The facts of every person for the month: certificate, economic status, the dated circumstances and
    employment, then what registered facts providers (``hooks.facts_provider_register``) know."""
    start, end = month_bounds(month)
    facts = frames.persons.lazy().join(frames.certificates.lazy(), on="person_id", how="left")
    facts = with_economic_flags(facts, frames.periods, start, end)
    facts = with_circumstances(facts, frames.circumstances, frames.employment, start, end)
    provided = provided_facts(month=start, person_ids=frames.persons["person_id"])
    if provided:
        facts = with_provided(facts, provided)
    return conform(facts).collect()


def month_facts(month: date, *, persons=None) -> pl.DataFrame:
    return facts_for_month(registry_frames(persons=persons), month)


def person_eligibility(user, person: Person, month: date, params: ParameterSet | None = None) -> dict:
    """Why and how much, for one person and month: the same rules as the payroll."""
    scoped = access.persons_visible(user).filter(pk=person.pk)
    facts = month_facts(month, persons=scoped)
    if facts.height == 0:
        raise Person.DoesNotExist
    return explain_person(facts, month, params or current_parameters())


def population_eligibility(month: date, *, persons=None, params: ParameterSet | None = None) -> pl.DataFrame:
    return evaluate(month_facts(month, persons=persons), month, params or current_parameters())


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
