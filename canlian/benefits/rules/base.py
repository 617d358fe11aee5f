"""Programme framework: conditions with reasons, amounts in fen, one pass for everyone or for one person."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from ..parameters import ParameterSet
from .facts import conform


def month_bounds(month: date) -> tuple[date, date]:
    start = month.replace(day=1)
    return start, start.replace(day=calendar.monthrange(start.year, start.month)[1])


def fen(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def basis_points(rate: Decimal) -> int:
    bp = rate * 10000
    if bp != bp.to_integral_value():
        raise ValueError(f"比例精度不能超过万分之一：{rate}")
    return int(bp)


def times_rate_fen(amount_fen: pl.Expr, bp: pl.Expr | int) -> pl.Expr:
    """amount × rate, rounded half up to the fen, in exact integer arithmetic."""
    return (amount_fen.cast(pl.Int64) * bp + 5000) // 10000


@dataclass(frozen=True)
class Condition:
    code: str
    holds: pl.Expr  # Boolean, never null
    yes: pl.Expr | str  # reason shown when it holds
    no: pl.Expr | str  # reason shown when it does not


@dataclass
class Context:
    month: date
    start: date
    end: date
    params: ParameterSet

    def p(self, name: str):
        return self.params.at(name, self.start)


def _text(value: pl.Expr | str) -> pl.Expr:
    return pl.lit(value) if isinstance(value, str) else value


class Programme:
    name: str = ""
    label: str = ""
    cash: bool = True

    def conditions(self, ctx: Context) -> list[Condition]:
        raise NotImplementedError

    def amount_fen(self, ctx: Context) -> pl.Expr:
        return pl.lit(0, dtype=pl.Int64)

    def columns(self, ctx: Context, *, explain: bool) -> list[pl.Expr]:
        conds = self.conditions(ctx)
        eligible = pl.all_horizontal([c.holds.fill_null(False) for c in conds])
        out = [
            eligible.alias(f"{self.name}_eligible"),
            pl.when(eligible)
            .then(self.amount_fen(ctx))
            .otherwise(0)
            .cast(pl.Int64)
            .alias(f"{self.name}_amount_fen"),
        ]
        if explain:
            reasons = [
                pl.when(c.holds.fill_null(False))
                .then(pl.lit("✔ ") + _text(c.yes))
                .otherwise(pl.lit("✘ ") + _text(c.no))
                for c in conds
            ]
            out.append(pl.concat_list(reasons).alias(f"{self.name}_reasons"))
        return out


# ---- shared conditions --------------------------------------------------------------------------------------


def age_years(ctx: Context) -> pl.Expr:
    """Completed years on the first day of the month."""
    s = ctx.start
    born = pl.col("birth_date")
    before_birthday = (born.dt.month() > s.month) | ((born.dt.month() == s.month) & (born.dt.day() > s.day))
    return (pl.lit(s.year) - born.dt.year() - before_birthday.cast(pl.Int32)).cast(pl.Int32)


def age_at_least(ctx: Context, years: int) -> pl.Expr:
    """``age_years(ctx) >= years`` as one date comparison (no year/month/day extraction per row).

    On the 1st of a month, completed years ≥ k exactly when the birth date is on or before the 1st of the
    same month k years earlier (the 1st always exists, so there is no leap-day case)."""
    s = ctx.start
    assert s.day == 1, "months start on the 1st"
    return pl.col("birth_date") <= date(s.year - years, s.month, 1)


def alive(ctx: Context) -> Condition:
    death = pl.col("death_date")
    return Condition(
        "alive",
        death.is_null() | (death >= ctx.start),
        "本月在世",
        pl.format("已于 {} 死亡，次月起停发", death.dt.strftime("%Y-%m-%d")),
    )


def since_text(column: str, *, word: str = "起") -> pl.Expr:
    """``（2024-03-01 起）`` from a ``<fact>_since`` date column; empty when the date is unknown."""
    when = pl.col(column)
    return (
        pl.when(when.is_not_null())
        .then(pl.format("（{} {}）", when.dt.strftime("%Y-%m-%d"), pl.lit(word)))
        .otherwise(pl.lit(""))
    )


def in_district(ctx: Context) -> Condition:
    moved_on = pl.col("moved_out_since")
    why_not = (
        pl.when(moved_on.is_not_null())
        .then(pl.format("已迁出（{} 迁出），次月起停发", moved_on.dt.strftime("%Y-%m-%d")))
        .otherwise(pl.lit("户籍已迁出本区"))
    )
    yes = (
        pl.when(moved_on.is_not_null())
        .then(pl.format("本月迁出（{} 迁出），当月照发", moved_on.dt.strftime("%Y-%m-%d")))
        .otherwise(pl.lit("户籍在本区"))
    )
    return Condition("in_district", ~pl.col("moved_out"), yes, why_not)


def certificate_valid(ctx: Context) -> Condition:
    status = pl.col("cert_status")
    changed = pl.col("cert_status_changed_on")
    stopped = status.is_in(["cancelled", "frozen"]) & (changed.is_null() | (changed <= ctx.start))
    holds = (
        pl.col("category").is_not_null()
        & (pl.col("cert_issue_date") <= ctx.end)
        & (pl.col("cert_valid_until") >= ctx.start)
        & ~stopped
    )
    why_not = (
        pl.when(pl.col("category").is_null())
        .then(pl.lit("无残疾人证"))
        .when(stopped & (status == "cancelled"))
        .then(pl.lit("残疾人证已注销"))
        .when(stopped)
        .then(pl.lit("残疾人证已冻结"))
        .when(pl.col("cert_issue_date") > ctx.end)
        .then(pl.lit("残疾人证本月尚未核发"))
        .otherwise(pl.format("残疾人证已于 {} 到期", pl.col("cert_valid_until").dt.strftime("%Y-%m-%d")))
    )
    return Condition("certificate_valid", holds, "持有效残疾人证", why_not)


def not_tekun(ctx: Context) -> Condition:
    return Condition("not_tekun", ~pl.col("tekun"), "非特困供养人员", "特困供养人员不享受两项补贴")


def no_injury_care(ctx: Context) -> Condition:
    return Condition(
        "no_injury_care",
        ~pl.col("injury_care"),
        "未领取工伤保险生活护理费",
        pl.format("已领取工伤保险生活护理费{}，不享受两项补贴", since_text("injury_care_since")),
    )


# ---- evaluation --------------------------------------------------------------------------------------------

PROGRAMMES: dict[str, Programme] = {}


def register(programme: type[Programme]) -> type[Programme]:
    PROGRAMMES[programme.name] = programme()
    return programme


def evaluate(
    facts: pl.DataFrame | pl.LazyFrame,
    month: date,
    params: ParameterSet,
    *,
    programmes: list[str] | None = None,
    explain: bool = False,
    lazy: bool = False,
):
    """Eligibility and amount (fen) of every programme for every row, in one pass."""
    from . import programmes as _  # noqa: F401  (registers the programmes)

    start, end = month_bounds(month)
    ctx = Context(month=start, start=start, end=end, params=params)
    chosen = [PROGRAMMES[n] for n in (programmes or PROGRAMMES)]
    exprs = [e for prog in chosen for e in prog.columns(ctx, explain=explain)]
    lf = conform(facts).select(pl.col("person_id"), *exprs)
    return lf if lazy else lf.collect()


def explain_person(facts_row: pl.DataFrame, month: date, params: ParameterSet) -> dict:
    """The same code path for one person: {programme: {eligible, amount (Decimal yuan), amount_fen, reasons}}."""
    from . import programmes as _  # noqa: F401

    result = evaluate(facts_row, month, params, explain=True)
    row = result.row(0, named=True)
    out = {}
    for name, prog in PROGRAMMES.items():
        amount_fen = row[f"{name}_amount_fen"]
        out[name] = {
            "label": prog.label,
            "eligible": row[f"{name}_eligible"],
            "amount_fen": amount_fen,
            "amount": (Decimal(amount_fen) / 100).quantize(Decimal("0.01")),
            "cash": prog.cash,
            "reasons": [r for r in row[f"{name}_reasons"]],
        }
    return out
