"""Programme framework: conditions with reasons, amounts in fen, one pass for everyone or for one person."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from ..parameters import NoValueYet, ParameterSet
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
    stopped_by: tuple[str, ...] = ()  # facts that stop this programme (``programmes.STOPS``)

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
    """A certificate that holds on one day of the month (民发〔2021〕70号):

    - paid through the month its validity ends, stopped from the next;
    - while the grade is being re-assessed (``cert_status`` reassessing) the certificate keeps paying at its
      old grade, even past its end date;
    - a new certificate (the current one) after an earlier one (``prev_cert_valid_until``): months the earlier
      one covered stay payable, and after a gap it pays from its issue month with back pay for at most
      ``common.certificate_back_pay_months`` months before it (the payroll pays them as arrears)."""
    status = pl.col("cert_status")
    changed = pl.col("cert_status_changed_on")
    issued, until, prev = (
        pl.col("cert_issue_date"),
        pl.col("cert_valid_until"),
        pl.col("prev_cert_valid_until"),
    )
    stopped = status.is_in(["cancelled", "frozen"]) & (changed.is_null() | (changed <= ctx.start))
    reassessing = (status == "reassessing") & (issued <= ctx.end)
    covered = (issued <= ctx.end) & (until >= ctx.start)
    back_months = int(ctx.p("common.certificate_back_pay_months"))
    not_yet = prev.is_not_null() & (issued > ctx.end)
    earlier_covers = not_yet & (prev >= ctx.start)
    # issued in month I: months I-N … I-1 are paid back (``issued <= last day of M+N`` ⇔ I ≤ M+N)
    back_pay = (
        not_yet & (prev < ctx.start) & (issued <= _add_months(ctx.start, back_months + 1) - timedelta(1))
    )
    holds = pl.col("category").is_not_null() & ~stopped & (covered | reassessing | earlier_covers | back_pay)
    why_not = (
        pl.when(pl.col("category").is_null())
        .then(pl.lit("无残疾人证"))
        .when(stopped & (status == "cancelled"))
        .then(pl.lit("残疾人证已注销"))
        .when(stopped)
        .then(pl.lit("残疾人证已冻结"))
        .when(not_yet)
        .then(
            pl.format(
                "原残疾人证已于 {} 到期，新证 {} 核发，补发不超过核发前 {} 个月",
                prev.dt.strftime("%Y-%m-%d"),
                issued.dt.strftime("%Y-%m-%d"),
                pl.lit(back_months),
            )
        )
        .when(issued > ctx.end)
        .then(pl.lit("残疾人证本月尚未核发"))
        .otherwise(pl.format("残疾人证已于 {} 到期，次月起停发", until.dt.strftime("%Y-%m-%d")))
    )
    yes = (
        pl.when(reassessing & ~covered)
        .then(pl.lit("残疾人证等级复评中，按原等级标准发放"))
        .when(earlier_covers)
        .then(pl.format("持原残疾人证（{} 到期）", prev.dt.strftime("%Y-%m-%d")))
        .when(back_pay)
        .then(
            pl.format(
                "换领新证补发：原证 {} 到期，新证 {} 核发，补发核发前 {} 个月内",
                prev.dt.strftime("%Y-%m-%d"),
                issued.dt.strftime("%Y-%m-%d"),
                pl.lit(back_months),
            )
        )
        .otherwise(pl.lit("持有效残疾人证"))
    )
    return Condition("certificate_valid", holds, yes, why_not)


def _add_months(day: date, n: int) -> date:
    index = day.year * 12 + day.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


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
    """The same code path for one person: {programme: {eligible, amount (Decimal yuan), amount_fen, reasons}}.

    A programme whose standard is not known for the month (no sourced value yet: ``NoValueYet``) is not
    judged: ``eligible`` and ``amount`` are None, ``determined`` is False and the reason says which value is
    missing; the other programmes are judged as usual."""
    from . import programmes as _  # noqa: F401

    try:
        rows = {None: evaluate(facts_row, month, params, explain=True).row(0, named=True)}
    except NoValueYet:
        rows = {}
        for name in PROGRAMMES:
            try:
                rows[name] = evaluate(facts_row, month, params, programmes=[name], explain=True).row(
                    0, named=True
                )
            except NoValueYet as exc:
                rows[name] = exc
    out = {}
    for name, prog in PROGRAMMES.items():
        row = rows.get(None) or rows[name]
        if isinstance(row, NoValueYet):
            out[name] = {
                "label": prog.label,
                "eligible": None,
                "determined": False,
                "amount_fen": None,
                "amount": None,
                "cash": prog.cash,
                "reasons": [f"✘ {month:%Y-%m} 没有已知的标准，无法测算：{row}"],
            }
            continue
        amount_fen = row[f"{name}_amount_fen"]
        out[name] = {
            "label": prog.label,
            "eligible": row[f"{name}_eligible"],
            "determined": True,
            "amount_fen": amount_fen,
            "amount": (Decimal(amount_fen) / 100).quantize(Decimal("0.01")),
            "cash": prog.cash,
            "reasons": [r for r in row[f"{name}_reasons"]],
        }
    return out
