"""Findings as pure Polars rules: matches that act + enrolments + payroll lines + registry facts → findings.

No ORM here: ``engine.py`` reads the frames and writes the result. Every rule returns the same columns
(``FINDING_SCHEMA``); ``effective_month`` is the first month no longer due, with the conventions of the
benefit rules (``benefits/rules``): a status that holds on one day of a month counts for that month.

- deceased: paid for the month of death, not after (month after death);
- left_dibao: 低保 ending in a month still counts for it (month after the end);
- entered_tekun, injury_care, elderly_care_overlap: not due from the month the other benefit starts; which
  programmes 特困 and 工伤保险生活护理费 stop is the benefit programmes' own list
  (``benefits.rules.programmes_stopped_by``), the one the eligibility rules use;
- cert_cancelled: stops from the month of cancellation when cancelled on the 1st, else from the next;
- cert_expired: valid through the month of ``valid_until`` (month after);
- moved_out: month after the move (the registry has no date: the run month);
- child_rehab_age: the first month that starts on or after the 18th birthday;
- custodial_age: the first month that starts on or after the 60th birthday (too young: from enrolment).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from canlian.benefits.rules import PROGRAMMES, programmes_stopped_by

CASH_PROGRAMMES = ("living_allowance", "care_allowance")
CERT_PROGRAMMES = ("living_allowance", "care_allowance", "suhuibao", "custodial_care")
OPEN = ("active", "suspended")

FINDING_SCHEMA = {
    "kind": pl.Utf8,
    "person_id": pl.Int64,
    "enrolment_id": pl.Int64,
    "row_id": pl.Int64,
    "match_id": pl.Int64,
    "effective_month": pl.Date,
    "reason": pl.Utf8,
    "other_person_id": pl.Int64,
    "elderly_fen": pl.Int64,
}
RESULT_SCHEMA = {
    **FINDING_SCHEMA,
    "town_id": pl.Int64,
    "money_at_stake_fen": pl.Int64,
    "overpayment_fen": pl.Int64,
}

ACTING_SCHEMA = {
    "row_id": pl.Int64,
    "match_id": pl.Int64,
    "person_id": pl.Int64,
    "list_id": pl.Int64,
    "list_kind": pl.Utf8,
    "received_on": pl.Date,
    "event_date": pl.Date,
    "end_date": pl.Date,
    "amount_fen": pl.Int64,
    "row_number": pl.Int64,  # evidence only
    "match_type": pl.Utf8,
    "score": pl.Float64,
}
PERSON_SCHEMA = {
    "person_id": pl.Int64,
    "town_id": pl.Int64,
    "name_pinyin": pl.Utf8,
    "birth_date": pl.Date,
    "status": pl.Utf8,
    "death_date": pl.Date,
}
CERT_SCHEMA = {
    "person_id": pl.Int64,
    "cert_status": pl.Utf8,
    "cert_valid_until": pl.Date,
    "cert_status_changed_on": pl.Date,
}
ENROLMENT_SCHEMA = {
    "enrolment_id": pl.Int64,
    "person_id": pl.Int64,
    "programme": pl.Utf8,
    "status": pl.Utf8,
    "start_month": pl.Date,
    "monthly_fen": pl.Int64,  # the amount of the latest regular line, else what the rules would pay
    "last_paid_month": pl.Date,  # for_month of the latest regular line
    "programme_last_payroll": pl.Date,  # the latest payroll month of the programme
}
LINE_SCHEMA = {"enrolment_id": pl.Int64, "for_month": pl.Date, "amount_fen": pl.Int64}
PERIOD_SCHEMA = {"person_id": pl.Int64, "status": pl.Utf8, "valid_from": pl.Date, "valid_to": pl.Date}
ROLL_SCHEMA = {"list_id": pl.Int64, "received_on": pl.Date}


@dataclass
class Facts:
    month: date  # the run month (first day)
    acting: pl.DataFrame  # ACTING_SCHEMA: exact and confirmed matches of the lists in scope
    persons: pl.DataFrame  # PERSON_SCHEMA
    certificates: pl.DataFrame  # CERT_SCHEMA (current certificate)
    enrolments: pl.DataFrame  # ENROLMENT_SCHEMA (every enrolment; open ones have status active/suspended)
    lines: pl.DataFrame  # LINE_SCHEMA: payroll lines that were not failed
    periods: pl.DataFrame  # PERIOD_SCHEMA: economic status periods
    complete_rolls: pl.DataFrame  # ROLL_SCHEMA: 低保 lists marked complete (全量)
    child_age_limit: int = 18
    custodial_min: int = 16
    custodial_max: int = 59
    registry_checks: bool = True


def _month(col: str | pl.Expr) -> pl.Expr:
    expr = pl.col(col) if isinstance(col, str) else col
    return expr.dt.truncate("1mo")


def _next_month(col: str | pl.Expr) -> pl.Expr:
    return _month(col).dt.offset_by("1mo")


def _fmt(d: str) -> pl.Expr:
    return pl.col(d).dt.strftime("%Y-%m-%d")


def _yuan(col: str) -> pl.Expr:
    fen = pl.col(col)
    return pl.format("{}.{}", fen // 100, (fen % 100).cast(pl.Utf8).str.zfill(2))


def _out(df: pl.DataFrame | pl.LazyFrame, kind: str) -> pl.LazyFrame:
    lf = df.lazy().with_columns(pl.lit(kind).alias("kind"))
    names = lf.collect_schema().names()
    fill = [pl.lit(None, dtype=t).alias(c) for c, t in FINDING_SCHEMA.items() if c not in names]
    return lf.with_columns(fill).select([pl.col(c).cast(t) for c, t in FINDING_SCHEMA.items()])


def _open(f: Facts, programmes: tuple[str, ...] | None = None) -> pl.LazyFrame:
    lf = f.enrolments.lazy().filter(pl.col("status").is_in(OPEN))
    if programmes:
        lf = lf.filter(pl.col("programme").is_in(programmes))
    return lf.select("enrolment_id", "person_id", "programme", "start_month")


def _acting(f: Facts, kind: str) -> pl.LazyFrame:
    return f.acting.lazy().filter(pl.col("list_kind") == kind)


# ---- from outside lists ----------------------------------------------------------------------------------


def _deaths(f: Facts) -> list[pl.LazyFrame]:
    rows = _acting(f, "deaths").with_columns(_next_month("event_date").alias("effective_month"))
    reason = pl.format("死亡名单：{} 死亡，次月起停发", _fmt("event_date"))
    # enrolled (open) or paid for a month after the death on any enrolment
    paid_after = (
        rows.join(f.enrolments.lazy().select("enrolment_id", "person_id"), on="person_id")
        .join(f.lines.lazy(), on="enrolment_id")
        .filter(pl.col("for_month") >= pl.col("effective_month"))
        .select("row_id", "enrolment_id")
        .unique()
    )
    open_ = rows.join(_open(f).select("enrolment_id", "person_id"), on="person_id").select(
        "row_id", "enrolment_id"
    )
    hits = pl.concat([open_, paid_after]).unique()
    with_enrolment = rows.join(hits, on="row_id").with_columns(reason.alias("reason"))
    # on no roll at all but still alive in the registry: the registry needs the death recorded
    registry_alive = (
        rows.join(hits, on="row_id", how="anti")
        .join(f.persons.lazy().select("person_id", "status"), on="person_id")
        .filter(pl.col("status") != "deceased")
        .with_columns(pl.format("死亡名单：{} 死亡，档案仍为在册", _fmt("event_date")).alias("reason"))
    )
    return [_out(with_enrolment, "deceased"), _out(registry_alive, "deceased")]


def _left_dibao(f: Facts) -> list[pl.LazyFrame]:
    rows = (
        _acting(f, "dibao")
        .filter(pl.col("end_date").is_not_null())
        .with_columns(_next_month("end_date").alias("effective_month"))
        .join(_open(f, ("living_allowance",)), on="person_id")
        .with_columns(pl.format("低保名单：低保已于 {} 终止", _fmt("end_date")).alias("reason"))
    )
    out = [_out(rows, "left_dibao")]
    if f.complete_rolls.height:
        # enrolled in the living allowance as a 低保 household (registry) on the day the complete roll came,
        # but not on it
        on_roll = f.acting.lazy().filter(pl.col("list_kind") == "dibao").select("list_id", "person_id")
        enrolled = _open(f, ("living_allowance",))
        dibao_then = (
            f.complete_rolls.lazy()
            .join(f.periods.lazy().filter(pl.col("status") == "dibao"), how="cross")
            .filter(
                (pl.col("valid_from") <= pl.col("received_on"))
                & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= pl.col("received_on")))
            )
            .select("list_id", "received_on", "person_id")
            .unique()
        )
        absent = (
            dibao_then.join(enrolled, on="person_id")
            .join(on_roll, on=["list_id", "person_id"], how="anti")
            .with_columns(
                _next_month("received_on").alias("effective_month"),
                pl.format("档案为低保对象，但不在 {} 收到的全量低保名单中", _fmt("received_on")).alias(
                    "reason"
                ),
            )
            .sort("received_on", descending=True)
            .unique(["person_id", "enrolment_id"], keep="first")
        )
        out.append(_out(absent, "left_dibao"))
    return out


def _start_of(kind: str, f: Facts) -> pl.LazyFrame:
    return _acting(f, kind).with_columns(
        _month(pl.coalesce("event_date", "received_on")).alias("effective_month")
    )


def stopped_text(fact: str) -> str:
    """“两项补贴均停发” / “护理补贴停发”: the programmes the benefit rules stop for ``fact``."""
    stopped = programmes_stopped_by(fact)
    if set(CASH_PROGRAMMES) <= set(stopped):
        return "两项补贴均停发"
    return "、".join(PROGRAMMES[name].label for name in stopped) + "停发"


# list kind → the fact of the benefit rules it reports, and the finding kind
STOPPING_LISTS = {"tekun": ("tekun", "entered_tekun"), "injury_care": ("injury_care", "injury_care")}
STOPPING_TEXT = {
    "tekun": "特困供养名单：{} 起纳入特困供养，",
    "injury_care": "工伤保险生活护理费名单：{} 起领取，",
}


def _stopping(f: Facts, list_kind: str) -> list[pl.LazyFrame]:
    fact, kind = STOPPING_LISTS[list_kind]
    rows = (
        _start_of(list_kind, f)
        .join(_open(f, programmes_stopped_by(fact)), on="person_id")
        .with_columns(
            pl.format(STOPPING_TEXT[list_kind] + stopped_text(fact), _fmt("effective_month")).alias("reason")
        )
    )
    return [_out(rows, kind)]


def _tekun(f: Facts) -> list[pl.LazyFrame]:
    return _stopping(f, "tekun")


def _injury_care(f: Facts) -> list[pl.LazyFrame]:
    return _stopping(f, "injury_care")


def _elderly_care(f: Facts) -> list[pl.LazyFrame]:
    care = f.enrolments.lazy().filter(
        pl.col("status").is_in(OPEN) & (pl.col("programme") == "care_allowance")
    )
    rows = (
        _start_of("elderly_care", f)
        .filter(pl.col("amount_fen").is_not_null())
        .join(care.select("enrolment_id", "person_id", "monthly_fen"), on="person_id")
        .filter(pl.col("amount_fen") >= pl.col("monthly_fen"))
        .with_columns(
            pl.col("amount_fen").alias("elderly_fen"),
            pl.format(
                "老年护理补贴每月 {} 元，不低于护理补贴每月 {} 元：择高领取老年护理补贴，护理补贴停发",
                _yuan("amount_fen"),
                _yuan("monthly_fen"),
            ).alias("reason"),
        )
    )
    return [_out(rows, "elderly_care_overlap")]


def _moved_out(f: Facts) -> list[pl.LazyFrame]:
    rows = _acting(f, "moved_out").with_columns(_next_month("event_date").alias("effective_month"))
    enrolled = rows.join(_open(f), on="person_id").with_columns(
        pl.format("户籍迁出名单：{} 迁出本区", _fmt("event_date")).alias("reason")
    )
    registry_here = (
        rows.join(_open(f).select("person_id").unique(), on="person_id", how="anti")
        .join(f.persons.lazy().select("person_id", "status"), on="person_id")
        .filter(pl.col("status") == "active")
        .with_columns(
            pl.format("户籍迁出名单：{} 迁出本区，档案仍为在册", _fmt("event_date")).alias("reason")
        )
    )
    return [_out(enrolled, "moved_out"), _out(registry_here, "moved_out")]


def _cancel_month(col: str) -> pl.Expr:
    return pl.when(pl.col(col).dt.day() == 1).then(_month(col)).otherwise(_next_month(col))


def _cert_cancelled(f: Facts) -> list[pl.LazyFrame]:
    rows = _acting(f, "cert_cancelled").with_columns(_cancel_month("event_date").alias("effective_month"))
    enrolled = rows.join(_open(f, CERT_PROGRAMMES), on="person_id").with_columns(
        pl.format("上级系统残疾人证注销名单：{} 注销", _fmt("event_date")).alias("reason")
    )
    registry_valid = (
        rows.join(_open(f, CERT_PROGRAMMES).select("person_id").unique(), on="person_id", how="anti")
        .join(f.certificates.lazy(), on="person_id")
        .filter(pl.col("cert_status") != "cancelled")
        .with_columns(
            pl.format("上级系统残疾人证注销名单：{} 注销，档案中证件仍为有效", _fmt("event_date")).alias(
                "reason"
            )
        )
    )
    return [_out(enrolled, "cert_cancelled"), _out(registry_valid, "cert_cancelled")]


# ---- from the registry itself ----------------------------------------------------------------------------


def _registry(f: Facts) -> list[pl.LazyFrame]:
    start = f.month
    persons = f.persons.lazy()
    dead = (
        persons.filter(pl.col("status") == "deceased")
        .join(_open(f), on="person_id")
        .with_columns(
            _next_month("death_date").alias("effective_month"),
            pl.format("档案记载已于 {} 死亡，待遇仍在享受", _fmt("death_date")).alias("reason"),
        )
    )
    moved = (
        persons.filter(pl.col("status") == "moved_out")
        .join(_open(f), on="person_id")
        .with_columns(
            pl.lit(start).alias("effective_month"),
            pl.lit("档案记载户籍已迁出本区，待遇仍在享受").alias("reason"),
        )
    )
    certs = f.certificates.lazy().join(_open(f, CERT_PROGRAMMES), on="person_id")
    cancelled = certs.filter(pl.col("cert_status") == "cancelled").with_columns(
        pl.coalesce(_cancel_month("cert_status_changed_on"), pl.lit(start)).alias("effective_month"),
        pl.format(
            "档案中残疾人证已注销（{}），待遇仍在享受",
            pl.col("cert_status_changed_on").dt.strftime("%Y-%m-%d").fill_null("日期未记载"),
        ).alias("reason"),
    )
    expired = certs.filter(
        pl.col("cert_status").is_in(["valid", "expired"]) & (pl.col("cert_valid_until") < pl.lit(start))
    ).with_columns(
        _next_month("cert_valid_until").alias("effective_month"),
        pl.format("残疾人证已于 {} 到期，待遇仍在享受", _fmt("cert_valid_until")).alias("reason"),
    )

    # the first month starting on or after a birthday: the birthday's month if it is the 1st, else the next
    def birthday_month(years: int) -> pl.Expr:
        birthday = pl.col("birth_date").dt.offset_by(f"{years}y")
        return pl.when(birthday.dt.day() == 1).then(_month(birthday)).otherwise(_next_month(birthday))

    limit = f.child_age_limit
    child = (
        persons.join(_open(f, ("child_rehab",)), on="person_id")
        .filter(birthday_month(limit) <= pl.lit(start))
        .with_columns(
            birthday_month(limit).alias("effective_month"),
            # the age, never the birth date: beside the masked ID number it rebuilds the full number
            pl.format("已满 {} 周岁，超出康复救助年龄", pl.lit(limit)).alias("reason"),
        )
    )
    lo, hi = f.custodial_min, f.custodial_max
    custodial = (
        persons.join(_open(f, ("custodial_care",)), on="person_id")
        .with_columns(
            birthday_month(hi + 1).alias("too_old_from"),
            birthday_month(lo).alias("old_enough_from"),
        )
        .filter((pl.col("too_old_from") <= pl.lit(start)) | (pl.col("old_enough_from") > pl.lit(start)))
        .with_columns(
            pl.when(pl.col("too_old_from") <= pl.lit(start))
            .then(pl.col("too_old_from"))
            .otherwise(pl.col("start_month"))
            .alias("effective_month"),
            pl.format("本月初不在 {}-{} 周岁之间", pl.lit(lo), pl.lit(hi)).alias("reason"),
        )
    )
    # two registry records with the same pinyin name and birth date: the newer one is the suspect
    pairs = (
        persons.filter(pl.col("status") != "deceased")
        .select("person_id", "name_pinyin", "birth_date")
        .filter(pl.col("name_pinyin") != "")
    )
    duplicates = (
        pairs.join(pairs, on=["name_pinyin", "birth_date"], suffix="_other")
        .filter(pl.col("person_id_other") < pl.col("person_id"))
        .group_by("person_id")
        .agg(pl.col("person_id_other").min().alias("other_person_id"))
        .with_columns(
            pl.lit(start).alias("effective_month"),
            pl.format("与档案 #{} 姓名拼音和出生日期相同，疑似重复建档", pl.col("other_person_id")).alias(
                "reason"
            ),
        )
    )
    return [
        _out(dead, "deceased"),
        _out(moved, "moved_out"),
        _out(cancelled, "cert_cancelled"),
        _out(expired, "cert_expired"),
        _out(child, "child_rehab_age"),
        _out(custodial, "custodial_age"),
        _out(duplicates, "duplicate_person"),
    ]


# ---- all together ----------------------------------------------------------------------------------------


def findings_frame(f: Facts) -> pl.DataFrame:
    """Every finding once per (kind, person, enrolment), with its town (no money yet: ``with_money``).

    Findings from lists come before those from the registry for the same key (they carry the evidence)."""
    parts = _deaths(f) + _left_dibao(f) + _tekun(f) + _injury_care(f) + _elderly_care(f)
    parts += _moved_out(f) + _cert_cancelled(f)
    if f.registry_checks:
        parts += _registry(f)
    return (
        pl.concat(parts)
        .with_columns(pl.col("row_id").is_null().alias("_from_registry"))
        .sort(["_from_registry", "effective_month", "row_id"], nulls_last=True)
        .unique(["kind", "person_id", "enrolment_id"], keep="first", maintain_order=True)
        .drop("_from_registry")
        .join(f.persons.lazy().select("person_id", "town_id"), on="person_id", how="left")
        .collect()
    )


def with_money(found: pl.DataFrame, enrolments: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """Money at stake (the monthly amount an active enrolment would keep being paid) and overpayment (what
    was paid, and not failed, for the effective month and after).

    ``enrolments``: ENROLMENT_SCHEMA with ``monthly_fen`` for at least the enrolments of ``found`` and those
    of duplicates' other records; ``lines``: LINE_SCHEMA for at least the enrolments of ``found``."""
    f = found.lazy()
    monthly = enrolments.lazy().select(
        "enrolment_id",
        pl.when(pl.col("status") == "active")
        .then(pl.col("monthly_fen").fill_null(0))
        .otherwise(0)
        .alias("monthly"),
        "last_paid_month",
        "programme_last_payroll",
    )
    open_cash = enrolments.lazy().filter(
        pl.col("status").is_in(OPEN) & pl.col("programme").is_in(CASH_PROGRAMMES)
    )
    # duplicates: the newer record's monthly amounts in cash programmes the older one also holds
    dup_money = (
        f.filter(pl.col("kind") == "duplicate_person")
        .select("person_id", "other_person_id")
        .join(open_cash.select("person_id", "programme", "enrolment_id"), on="person_id")
        .join(
            open_cash.select(pl.col("person_id").alias("other_person_id"), "programme"),
            on=["other_person_id", "programme"],
        )
        .join(monthly.select("enrolment_id", "monthly"), on="enrolment_id")
        .group_by("person_id")
        .agg(pl.col("monthly").sum().alias("dup_fen"))
    )
    over = (
        f.filter(pl.col("enrolment_id").is_not_null())
        .select("kind", "person_id", "enrolment_id", "effective_month")
        .join(lines.lazy(), on="enrolment_id")
        .filter(pl.col("for_month") >= pl.col("effective_month"))
        .group_by("kind", "person_id", "enrolment_id")
        .agg(pl.col("amount_fen").sum().alias("overpayment_fen"))
    )
    # still being paid: a payroll paid the effective month or later, or no payroll has reached it yet (the
    # payroll rules already leave out whoever the registry shows as dead, moved out, without a valid
    # certificate or in 特困: nothing is at stake for them any more)
    paying = (
        (pl.col("last_paid_month") >= pl.col("effective_month"))
        | pl.col("programme_last_payroll").is_null()
        | (pl.col("programme_last_payroll") < pl.col("effective_month"))
    ).fill_null(False)
    return (
        f.join(monthly, on="enrolment_id", how="left")
        .with_columns(pl.when(paying).then(pl.col("monthly")).otherwise(0).alias("monthly"))
        .join(dup_money, on="person_id", how="left")
        .join(over, on=["kind", "person_id", "enrolment_id"], how="left")
        .with_columns(
            pl.when(pl.col("kind") == "duplicate_person")
            .then(pl.col("dup_fen").fill_null(0))
            .otherwise(pl.col("monthly").fill_null(0))
            .alias("money_at_stake_fen"),
            pl.col("overpayment_fen").fill_null(0),
        )
        .select([pl.col(c).cast(t) for c, t in RESULT_SCHEMA.items()])
        .collect()
    )


def empty(schema: dict) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)
