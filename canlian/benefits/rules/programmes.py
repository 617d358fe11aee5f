"""The programmes of DOMAIN.md §5. Adding a programme is a new class here plus its parameters."""

from __future__ import annotations

import polars as pl

from .base import (
    PROGRAMMES,
    Condition,
    Context,
    Programme,
    age_at_least,
    age_years,
    alive,
    basis_points,
    certificate_valid,
    fen,
    in_district,
    no_injury_care,
    not_tekun,
    register,
    since_text,
    times_rate_fen,
)

SEVERE = pl.col("grade") <= 2
URBAN = pl.col("household_type") == "urban"


def no_orphan_allowance(ctx: Context) -> Condition:
    return Condition(
        "no_orphan_allowance",
        ~pl.col("orphan_allowance"),
        "未领取孤儿（事实无人抚养儿童）基本生活费",
        pl.format(
            "已领取孤儿（事实无人抚养儿童）基本生活费{}，不享受生活补贴", since_text("orphan_allowance_since")
        ),
    )


# The facts that stop a programme outright (DOMAIN.md §5 "Both"): fact column → its condition. Each programme
# lists the ones that stop it (``Programme.stopped_by``); the rules build their conditions from that list and
# the data comparison (``verification/findings.py``) reads it through ``programmes_stopped_by``: one source.
STOPS = {
    "tekun": not_tekun,  # 特困供养: neither allowance
    "injury_care": no_injury_care,  # 工伤保险生活护理费: neither allowance
    "orphan_allowance": no_orphan_allowance,  # 孤儿 / 事实无人抚养儿童基本生活费: no living allowance
}


def stop_conditions(programme: Programme, ctx: Context) -> list[Condition]:
    return [STOPS[fact](ctx) for fact in programme.stopped_by]


def programmes_stopped_by(fact: str) -> tuple[str, ...]:
    """The programmes (codes) a fact stops, in registration order: ``("living_allowance", "care_allowance")``
    for 工伤保险生活护理费 and for 特困供养."""
    if fact not in STOPS:
        raise KeyError(f"未定义的停发事实 {fact}")
    return tuple(name for name, prog in PROGRAMMES.items() if fact in prog.stopped_by)


def _urban_rural(ctx: Context, switch: str, single: str, urban: str, rural: str) -> tuple[pl.Expr, str]:
    """One standard for the city, or urban and rural ones (a dated switch): (fen, the label for reasons)."""
    if bool(ctx.p(switch)):
        expr = pl.when(URBAN).then(pl.lit(fen(ctx.p(urban)))).otherwise(pl.lit(fen(ctx.p(rural))))
        return expr, "split"
    return pl.lit(fen(ctx.p(single)), dtype=pl.Int64), "single"


def _standard_label(kind: str) -> pl.Expr:
    if kind == "single":
        return pl.lit("城乡统一")
    return pl.when(URBAN).then(pl.lit("城镇")).otherwise(pl.lit("农村"))


def _yuan(amount_fen: pl.Expr) -> pl.Expr:
    """fen → "123.45" for reasons."""
    return pl.format("{}.{}", amount_fen // 100, (amount_fen % 100).cast(pl.Utf8).str.zfill(2))


@register
class LivingAllowance(Programme):
    """困难残疾人生活补贴: 低保 standard × the rate of the best-fitting case (苏民规〔2022〕4号)."""

    name = "living_allowance"
    label = "困难残疾人生活补贴"
    stopped_by = ("tekun", "injury_care", "orphan_allowance")

    def _cases(self, ctx: Context) -> list[tuple[str, pl.Expr, int]]:
        near = pl.col("near_dibao") & pl.lit(bool(ctx.p("living_allowance.include_near_dibao")))
        in_dibao = pl.col("dibao") | near
        kind = pl.when(pl.col("dibao")).then(pl.lit("低保")).otherwise(pl.lit("低保边缘"))
        bp = {
            k: basis_points(ctx.p(f"living_allowance.{k}"))
            for k in (
                "rate_dibao_severe",
                "rate_dibao_other",
                "rate_no_income_severe",
                "rate_multiple_in_household",
                "rate_unemployed_grade34_intellectual_mental",
            )
        }
        no_income_severe = (
            ~in_dibao & pl.col("no_fixed_income") & SEVERE & pl.col("category").is_in([1, 4, 5, 6])
        )
        unemployed_grade34 = ~pl.col("employed") & ~SEVERE & pl.col("has_intellectual_or_mental")
        return [
            (
                "rate_dibao_severe",
                in_dibao & SEVERE,
                bp["rate_dibao_severe"],
                kind + pl.lit("家庭重度残疾人"),
            ),
            (
                "rate_dibao_other",
                in_dibao & ~SEVERE,
                bp["rate_dibao_other"],
                kind + pl.lit("家庭非重度残疾人"),
            ),
            (
                "rate_no_income_severe",
                no_income_severe,
                bp["rate_no_income_severe"],
                pl.format("低保外无固定收入{}的重度残疾人", since_text("no_fixed_income_since")),
            ),
            (
                "rate_multiple_in_household",
                pl.col("multiple_in_household"),
                bp["rate_multiple_in_household"],
                pl.format("一户多残或依老养残{}", since_text("multiple_in_household_since")),
            ),
            (
                "rate_unemployed_grade34_intellectual_mental",
                unemployed_grade34,
                bp["rate_unemployed_grade34_intellectual_mental"],
                pl.lit("未就业的三、四级智力或精神残疾人"),
            ),
        ]

    def rate_bp(self, ctx: Context) -> pl.Expr:
        cases = self._cases(ctx)
        return pl.max_horizontal(
            [pl.when(cond).then(pl.lit(bp)).otherwise(pl.lit(0)) for _, cond, bp, _ in cases]
        )

    def standard(self, ctx: Context) -> tuple[pl.Expr, str]:
        return _urban_rural(
            ctx,
            "common.dibao_urban_rural_split",
            "common.dibao_standard",
            "common.dibao_standard_urban",
            "common.dibao_standard_rural",
        )

    def standard_fen(self, ctx: Context) -> pl.Expr:
        return self.standard(ctx)[0]

    def conditions(self, ctx: Context) -> list[Condition]:
        cases = self._cases(ctx)
        rate = self.rate_bp(ctx)
        # the case that gives the rate (the first of the highest)
        label = pl.lit("")
        chain = None
        for _, cond, bp, text in cases:
            hit = cond & (rate == bp)
            chain = pl.when(hit).then(text) if chain is None else chain.when(hit).then(text)
        label = chain.otherwise(pl.lit(""))
        pct = pl.format("{}%", (rate // 100).cast(pl.Utf8))
        standard, kind = self.standard(ctx)
        return [
            alive(ctx),
            in_district(ctx),
            certificate_valid(ctx),
            *stop_conditions(self, ctx),
            Condition(
                "hardship_case",
                rate > 0,
                pl.format(
                    "{}：按{}低保标准 {} 元的 {} 发放", label, _standard_label(kind), _yuan(standard), pct
                ),
                "不属于低保家庭，也不属于低保外无固定收入重度残疾人、一户多残或依老养残、"
                "未就业的三、四级智力或精神残疾人",
            ),
        ]

    def amount_fen(self, ctx: Context) -> pl.Expr:
        return times_rate_fen(self.standard_fen(ctx), self.rate_bp(ctx))


@register
class CareAllowance(Programme):
    """重度残疾人护理补贴: grade 1–2 with a long-term care need; extension to grade 3–4 intellectual/mental."""

    name = "care_allowance"
    label = "重度残疾人护理补贴"
    stopped_by = ("tekun", "injury_care")

    def standard(self, ctx: Context) -> tuple[pl.Expr, str]:
        return _urban_rural(
            ctx,
            "care_allowance.urban_rural_split",
            "care_allowance.amount",
            "care_allowance.amount_urban",
            "care_allowance.amount_rural",
        )

    def standard_fen(self, ctx: Context) -> pl.Expr:
        return self.standard(ctx)[0]

    def conditions(self, ctx: Context) -> list[Condition]:
        extension = bool(ctx.p("care_allowance.include_grade34_intellectual_mental"))
        care_need = pl.col("care_need").fill_null(SEVERE)
        severe_case = SEVERE & care_need
        extended_case = pl.lit(extension) & ~SEVERE & pl.col("has_intellectual_or_mental")
        qualifies = severe_case | extended_case
        reason = (
            pl.when(severe_case)
            .then(pl.format("一、二级重度残疾人，需长期照护{}", since_text("care_need_since")))
            .otherwise(pl.lit("三、四级智力或精神残疾人（扩面）"))
        )
        why_not = (
            pl.when(SEVERE & ~care_need)
            .then(pl.lit("一、二级残疾但经评估无长期照护需求"))
            .otherwise(pl.lit("非一、二级重度残疾，且不属三、四级智力或精神残疾扩面范围"))
        )
        amount, kind = self.standard(ctx)
        elderly = pl.col("elderly_care_fen")
        return [
            alive(ctx),
            in_district(ctx),
            certificate_valid(ctx),
            *stop_conditions(self, ctx),
            Condition("severity", qualifies, reason, why_not),
            Condition(
                "higher_than_elderly_care",
                elderly < amount,
                pl.when(elderly > 0)
                .then(
                    pl.format(
                        "本补贴 {} 元高于老年护理补贴 {} 元{}，择高发放本补贴",
                        _yuan(amount),
                        _yuan(elderly),
                        since_text("elderly_care_since"),
                    )
                )
                .otherwise(pl.format("按{}标准 {} 元/月发放", _standard_label(kind), _yuan(amount))),
                pl.format(
                    "老年护理补贴 {} 元{}不低于本补贴 {} 元，择高领取老年护理补贴",
                    _yuan(elderly),
                    since_text("elderly_care_since"),
                    _yuan(amount),
                ),
            ),
        ]

    def amount_fen(self, ctx: Context) -> pl.Expr:
        return self.standard_fen(ctx)


@register
class Suhuibao(Programme):
    """苏惠保: the DPF buys it for every grade 1–2 intellectual or mental disability (a yearly list)."""

    name = "suhuibao"
    label = "苏惠保"
    cash = False

    def conditions(self, ctx: Context) -> list[Condition]:
        max_grade = int(ctx.p("suhuibao.max_grade"))
        return [
            alive(ctx),
            in_district(ctx),
            certificate_valid(ctx),
            Condition(
                "intellectual_or_mental",
                pl.col("has_intellectual_or_mental"),
                "智力或精神残疾",
                "非智力、精神残疾",
            ),
            Condition(
                "grade",
                pl.col("grade") <= max_grade,
                f"残疾等级在{max_grade}级以内（重度）",
                f"残疾等级低于{max_grade}级",
            ),
        ]


@register
class ChildRehab(Programme):
    """残疾儿童康复救助: under 18 (Wuzhong) with an assessed rehabilitation need."""

    name = "child_rehab"
    label = "残疾儿童康复救助"
    cash = False

    def conditions(self, ctx: Context) -> list[Condition]:
        limit = int(ctx.p("child_rehab.age_limit"))
        age = age_years(ctx)
        return [
            alive(ctx),
            in_district(ctx),
            Condition(
                "age",
                ~age_at_least(ctx, limit),  # age < limit
                pl.format("本月初 {} 周岁，未满 {} 周岁", age, pl.lit(limit)),
                pl.format("本月初已满 {} 周岁（{} 周岁），超出救助年龄", pl.lit(limit), age),
            ),
            Condition("rehab_need", pl.col("rehab_need"), "经评估有康复需求", "尚无康复需求评估"),
        ]


@register
class CustodialCare(Programme):
    """残疾人托养: unemployed, 16–59, intellectual, mental, or severe physical or vision disability."""

    name = "custodial_care"
    label = "残疾人托养服务"
    cash = False

    def conditions(self, ctx: Context) -> list[Condition]:
        lo, hi = int(ctx.p("custodial_care.age_min")), int(ctx.p("custodial_care.age_max"))
        age = age_years(ctx)
        kind = pl.col("has_intellectual_or_mental") | (SEVERE & pl.col("category").is_in([1, 4]))
        return [
            alive(ctx),
            in_district(ctx),
            certificate_valid(ctx),
            Condition(
                "age",
                age_at_least(ctx, lo) & ~age_at_least(ctx, hi + 1),  # lo <= age <= hi
                pl.format("本月初 {} 周岁，在 {}-{} 周岁之间", age, pl.lit(lo), pl.lit(hi)),
                pl.format("本月初 {} 周岁，不在 {}-{} 周岁之间", age, pl.lit(lo), pl.lit(hi)),
            ),
            Condition("unemployed", ~pl.col("employed"), "无业", "已就业"),
            Condition(
                "kind",
                kind,
                "智力、精神或重度肢体、视力残疾",
                "不属于智力、精神或重度肢体、视力残疾",
            ),
        ]
