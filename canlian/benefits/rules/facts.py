"""The columns every rule reads: one row per person for one month."""

from __future__ import annotations

import polars as pl

SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.Int64,
    "birth_date": pl.Date,
    "death_date": pl.Date,
    "moved_out": pl.Boolean,
    "household_type": pl.Utf8,  # urban | rural
    "employed": pl.Boolean,
    "category": pl.Int8,  # current certificate, null when none
    "grade": pl.Int8,
    "has_intellectual_or_mental": pl.Boolean,  # category 5/6 or a multiple disability containing them
    "cert_issue_date": pl.Date,
    "cert_valid_until": pl.Date,
    "cert_status": pl.Utf8,  # valid | expired | frozen | cancelled | reassessing
    "cert_status_changed_on": pl.Date,
    "prev_cert_valid_until": pl.Date,  # the end of the person's earlier certificate, when the current one renews it
    "dibao": pl.Boolean,  # for the month
    "near_dibao": pl.Boolean,
    "tekun": pl.Boolean,
    "injury_care": pl.Boolean,  # 工伤保险生活护理费
    "orphan_allowance": pl.Boolean,  # 孤儿 / 事实无人抚养儿童基本生活费
    "elderly_care_fen": pl.Int64,  # a monthly elderly care allowance, in fen (0 when none)
    "no_fixed_income": pl.Boolean,
    "multiple_in_household": pl.Boolean,  # 一户多残 / 依老养残 with income per head ≤ 2× 低保 standard
    "care_need": pl.Boolean,  # assessed long-term care need (null: presumed for grade 1–2)
    "rehab_need": pl.Boolean,  # assessed rehabilitation need (children)
}
DEFAULTS = {
    "moved_out": False,
    "employed": False,
    "has_intellectual_or_mental": False,
    "dibao": False,
    "near_dibao": False,
    "tekun": False,
    "injury_care": False,
    "orphan_allowance": False,
    "elderly_care_fen": 0,
    "no_fixed_income": False,
    "multiple_in_household": False,
    "rehab_need": False,
}


def conform(df: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Add missing columns with their defaults and cast every column to its type."""
    lf = df.lazy()
    names = set(lf.collect_schema().names())
    missing = [pl.lit(DEFAULTS.get(c), dtype=t).alias(c) for c, t in SCHEMA.items() if c not in names]
    if missing:
        lf = lf.with_columns(missing)
    casts = [pl.col(c).cast(t) for c, t in SCHEMA.items()]
    fills = [pl.col(c).fill_null(v) for c, v in DEFAULTS.items()]
    return lf.with_columns(casts).with_columns(fills)


def from_records(rows: list[dict]) -> pl.DataFrame:
    return conform(
        pl.DataFrame(rows, schema_overrides={k: v for k, v in SCHEMA.items() if any(k in r for r in rows)})
    ).collect()


PERIOD_SCHEMA = {"person_id": pl.Int64, "status": pl.Utf8, "valid_from": pl.Date, "valid_to": pl.Date}


def economic_flags(periods: pl.DataFrame | pl.LazyFrame, start, end) -> pl.LazyFrame:
    """Per person: dibao / near_dibao / tekun for the month [start, end].

    A status counts when its period overlaps the month by at least one day (低保 ending mid-month still
    counts for that month, and stops from the next)."""
    lf = periods.lazy().with_columns([pl.col(c).cast(t) for c, t in PERIOD_SCHEMA.items()])
    overlap = (pl.col("valid_from") <= end) & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= start))
    return (
        lf.filter(overlap)
        .group_by("person_id")
        .agg(
            (pl.col("status") == "dibao").any().alias("dibao"),
            (pl.col("status") == "near_dibao").any().alias("near_dibao"),
            (pl.col("status") == "tekun").any().alias("tekun"),
        )
    )


def with_economic_flags(
    persons: pl.DataFrame | pl.LazyFrame, periods: pl.DataFrame | pl.LazyFrame, start, end
) -> pl.LazyFrame:
    flags = economic_flags(periods, start, end)
    base = persons.lazy()
    names = base.collect_schema().names()
    base = base.drop([c for c in ("dibao", "near_dibao", "tekun") if c in names])
    return base.join(flags, on="person_id", how="left")
