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
    # the start of the dated period that made a fact true this month (null otherwise), for the reasons;
    # ``moved_out_since`` is the move date (moved out counts from the month after it)
    "no_fixed_income_since": pl.Date,
    "multiple_in_household_since": pl.Date,
    "injury_care_since": pl.Date,
    "orphan_allowance_since": pl.Date,
    "elderly_care_since": pl.Date,
    "care_need_since": pl.Date,
    "moved_out_since": pl.Date,  # also set in the month of the move (still paid)
    "employed_since": pl.Date,
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


# ---- the person's circumstances, dated (registry.PersonCircumstance, registry.EmploymentPeriod) ----------

CIRCUMSTANCE_SCHEMA = {
    "person_id": pl.Int64,
    "kind": pl.Utf8,
    "amount_fen": pl.Int64,  # elderly_care only
    "valid_from": pl.Date,
    "valid_to": pl.Date,
}
EMPLOYMENT_SCHEMA = {"person_id": pl.Int64, "status": pl.Utf8, "valid_from": pl.Date, "valid_to": pl.Date}
FLAG_KINDS = ("no_fixed_income", "multiple_in_household", "injury_care", "orphan_allowance")
_MOVED_DATED, _MOVE_RECORDED, _EMPLOYED_DATED = "_moved_out_dated", "_move_recorded", "_employed_dated"


def circumstance_flags(circumstances: pl.DataFrame | pl.LazyFrame, start, end) -> pl.LazyFrame:
    """Per person with any period: the flags of the month [start, end], ``elderly_care_fen``,
    ``care_need`` (True or null: an assessed need, else presumed) and the ``<fact>_since`` dates.

    A period counts when it overlaps the month, like the economic status; a move out counts from the month
    after the move date (paid for the month of the move, stopped from the next)."""
    lf = circumstances.lazy().with_columns([pl.col(c).cast(t) for c, t in CIRCUMSTANCE_SCHEMA.items()])
    kind, since = pl.col("kind"), pl.col("valid_from")
    counts = (since <= end) & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= start))
    # one column per fact first, then plain aggregations (a filter inside the aggregation runs per group:
    # several times slower at a million periods); every person with any period gets a row, so that
    # ``_MOVE_RECORDED`` (a move recorded at all, in any month) comes out of the same pass
    columns, aggs = [(kind == "moved_out").alias(_MOVE_RECORDED)], [pl.col(_MOVE_RECORDED).any()]
    for k in (*FLAG_KINDS, "care_need", "elderly_care", "moved_out"):
        columns.append(pl.when(counts & (kind == k)).then(since).alias(f"{k}_since"))
    for k in FLAG_KINDS:
        columns.append((counts & (kind == k)).alias(k))
        aggs += [pl.col(k).any(), pl.col(f"{k}_since").min()]
    columns += [
        (counts & (kind == "moved_out") & (since < start)).alias(_MOVED_DATED),
        pl.when(counts & (kind == "care_need")).then(pl.lit(True)).alias("care_need"),
        pl.when(counts & (kind == "elderly_care")).then(pl.col("amount_fen")).alias("elderly_care_fen"),
    ]
    aggs += [
        pl.col(_MOVED_DATED).any(),
        pl.col("moved_out_since").max(),  # a move this month too: paid, and the reason says so
        pl.col("care_need").max(),  # True, or null when no assessed need
        pl.col("care_need_since").min(),
        pl.col("elderly_care_fen").max().fill_null(0),
        pl.col("elderly_care_since").min(),
    ]
    return lf.select(pl.col("person_id"), *columns).group_by("person_id").agg(aggs)


def employment_flags(employment: pl.DataFrame | pl.LazyFrame, start, end) -> pl.LazyFrame:
    """Per person with an employment period overlapping the month: employed (any employed day) and since."""
    lf = employment.lazy().with_columns([pl.col(c).cast(t) for c, t in EMPLOYMENT_SCHEMA.items()])
    overlap = (pl.col("valid_from") <= end) & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= start))
    employed = pl.col("status") == "employed"
    return (
        lf.filter(overlap)
        .group_by("person_id")
        .agg(
            employed.any().alias(_EMPLOYED_DATED),
            pl.col("valid_from").filter(employed).min().alias("employed_since"),
        )
    )


def _empty(frame: pl.DataFrame | pl.LazyFrame | None) -> bool:
    return frame is None or (isinstance(frame, pl.DataFrame) and frame.height == 0)


def with_circumstances(
    persons: pl.DataFrame | pl.LazyFrame,
    circumstances: pl.DataFrame | pl.LazyFrame | None,
    employment: pl.DataFrame | pl.LazyFrame | None,
    start,
    end,
) -> pl.LazyFrame:
    """``persons`` (with ``moved_out`` and ``employed`` as the person's current status says) with the dated
    facts of the month. The dated records win: a person with a recorded move is moved out only in the months
    after it (back pay for earlier months stays due); without one, the status 迁出 counts as before. A month
    covered by employment periods takes its employment from them, any other month the current status."""
    base = persons.lazy()
    if not _empty(circumstances):
        names = base.collect_schema().names()
        flags = circumstance_flags(circumstances, start, end)
        own = [
            c for c in flags.collect_schema().names() if c not in ("person_id", _MOVED_DATED, _MOVE_RECORDED)
        ]
        status_moved = pl.col("moved_out") if "moved_out" in names else pl.lit(False)
        base = (
            base.drop([c for c in own if c in names])
            .join(flags, on="person_id", how="left")
            .with_columns(
                pl.when(pl.col(_MOVE_RECORDED).fill_null(False))
                .then(pl.col(_MOVED_DATED).fill_null(False))
                .otherwise(status_moved.fill_null(False))
                .alias("moved_out")
            )
            .drop(_MOVED_DATED, _MOVE_RECORDED)
        )
    if not _empty(employment):
        names = base.collect_schema().names()
        current = pl.col("employed") if "employed" in names else pl.lit(None, dtype=pl.Boolean)
        base = (
            base.drop([c for c in ("employed_since",) if c in names])
            .join(employment_flags(employment, start, end), on="person_id", how="left")
            .with_columns(pl.coalesce(pl.col(_EMPLOYED_DATED), current).alias("employed"))
            .drop(_EMPLOYED_DATED)
        )
    return base


def with_provided(persons: pl.DataFrame | pl.LazyFrame, provided: list[pl.DataFrame]) -> pl.LazyFrame:
    """Facts other apps provide (``benefits.hooks.facts_provider_register``): a provider's non-null value
    wins over the registry's for that person and month; columns must be facts of ``SCHEMA``."""
    base = persons.lazy()
    for frame in provided:
        columns = [c for c in frame.columns if c != "person_id"]
        unknown = sorted(set(columns) - set(SCHEMA))
        if "person_id" not in frame.columns or unknown:
            raise ValueError(f"facts provider returned unknown columns {unknown} or no person_id")
        if not columns or frame.height == 0:
            continue
        right = (
            frame.lazy()
            .select([pl.col(c).cast(SCHEMA[c]) for c in ("person_id", *columns)])
            .unique(subset="person_id", keep="last")
            .rename({c: f"{c}__provided" for c in columns})
        )
        names = base.collect_schema().names()
        base = (
            base.join(right, on="person_id", how="left")
            .with_columns(
                [
                    (
                        pl.coalesce(pl.col(f"{c}__provided"), pl.col(c))
                        if c in names
                        else pl.col(f"{c}__provided")
                    ).alias(c)
                    for c in columns
                ]
            )
            .drop([f"{c}__provided" for c in columns])
        )
    return base
