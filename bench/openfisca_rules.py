"""The living allowance and care allowance written for OpenFisca, for the side-by-side benchmark only.

The same rules as ``canlian/benefits/rules/programmes.py`` (``LivingAllowance``, ``CareAllowance``) as an
OpenFisca tax-benefit system: one entity (the person), one input variable per fact column, intermediate
variables for the shared conditions, and outputs ``<programme>_eligible`` / ``<programme>_amount_fen``.
The dated parameters are *not* copied here: ``parameter_tree`` converts the project's own YAML values
(``canlian.benefits.parameters``, plus any values an administrator added) into an OpenFisca
``ParameterNode`` at run time, so both sides read the very same numbers.

openfisca-core is a benchmark-only dependency (``bench/requirements-bench.txt``); it is imported inside the
functions so this module imports without it.

    .venv/bin/python bench/openfisca_rules.py        # a 10-person smoke check against canlian's rules

Conventions shared with canlian (so results are identical, fen for fen):
- the month's first day is the reference day for parameters, ages and "stopped on or before";
- money is compared in fen: a yuan parameter becomes ``round(yuan * 100)``; a rate becomes basis points;
  ``amount × rate`` rounds half up in integer arithmetic, ``(fen * bp + 5000) // 10000``;
- the nullable fact columns become OpenFisca inputs with an explicit "missing" state (no certificate:
  ``category == 0``; care need not assessed: ``care_need == unassessed``; no death: ``dead == False``).
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

PROGRAMMES = ("living_allowance", "care_allowance")
OUTPUTS = tuple(f"{p}_{k}" for p in PROGRAMMES for k in ("eligible", "amount_fen"))
DATE_INPUTS = (
    "birth_date",
    "death_date",
    "cert_issue_date",
    "cert_valid_until",
    "cert_status_changed_on",
    "prev_cert_valid_until",
)
BOOL_INPUTS = (
    "moved_out",
    "employed",
    "has_intellectual_or_mental",
    "dibao",
    "near_dibao",
    "tekun",
    "injury_care",
    "orphan_allowance",
    "no_fixed_income",
    "multiple_in_household",
    "rehab_need",
)
# the enum inputs: member names in index order (the OpenFisca enums below are built in this order, and the
# input arrays carry these indices, so no string is encoded per person)
ENUMS = {
    "household_type": ("urban", "rural"),
    "cert_status": ("none", "valid", "expired", "frozen", "cancelled", "reassessing"),
    "care_need": ("unassessed", "needed", "not_needed"),
}
EPOCH = date(1970, 1, 1)  # OpenFisca's default date: used for "no date" with an explicit flag beside it


def parameter_tree(params=None):
    """Our dated YAML parameters (``canlian.benefits.parameters.ParameterSet``) as an OpenFisca node.

    money → float yuan (OpenFisca's usual unit), rate → float, bool → bool, int → int; every dated value
    keeps its date and legal reference."""
    from openfisca_core.parameters import ParameterNode

    from canlian.benefits.parameters import shipped

    params = params or shipped()
    data: dict[str, dict] = {}
    for name in params.names():
        p = params[name]
        if not p.values:  # e.g. the urban and rural standards of a city with one standard (Suzhou)
            continue
        group, leaf = name.split(".", 1)
        values = {}
        for v in p.values:
            if p.kind in ("money", "rate"):
                value = float(v.value)
            elif p.kind == "bool":
                value = bool(v.value)
            else:
                value = int(v.value)
            values[v.valid_from.isoformat()] = {"value": value}
        data.setdefault(group, {})[leaf] = {
            "description": p.description,
            "unit": p.unit,
            "reference": p.reference,
            "values": values,
        }
    return ParameterNode("", data=data)


def build_system(params=None):
    """The OpenFisca ``TaxBenefitSystem`` for the two cash allowances."""
    import numpy as np
    from openfisca_core.entities import build_entity
    from openfisca_core.indexed_enums import Enum
    from openfisca_core.periods import DateUnit
    from openfisca_core.taxbenefitsystems import TaxBenefitSystem
    from openfisca_core.variables import Variable

    MONTH = DateUnit.MONTH
    Person = build_entity("person", "persons", "残疾人", is_person=True)

    class HouseholdType(Enum):
        urban = "城镇"
        rural = "农村"

    class CertStatus(Enum):
        none = "无残疾人证"
        valid = "有效"
        expired = "过期"
        frozen = "冻结"
        cancelled = "注销"
        reassessing = "等级复评中"

    class CareNeed(Enum):
        unassessed = "未评估（一、二级推定需要）"
        needed = "需长期照护"
        not_needed = "无长期照护需求"

    for name, enum in (
        ("household_type", HouseholdType),
        ("cert_status", CertStatus),
        ("care_need", CareNeed),
    ):
        assert tuple(m.name for m in enum) == ENUMS[name], name

    def var(name, kind, label, formula=None, **extra):
        attrs = {
            "value_type": kind,
            "entity": Person,
            "definition_period": MONTH,
            "label": label,
            **extra,
        }
        if formula is not None:
            attrs["formula"] = formula  # a plain function in the class body, as OpenFisca expects
        return type(name, (Variable,), attrs)

    def first_day(period):
        return np.datetime64(period.start.date, "D")

    def last_day(period):
        return np.datetime64(period.stop.date, "D")

    def fen(yuan) -> int:
        return round(float(yuan) * 100)

    def bp(rate) -> int:
        return round(float(rate) * 10000)

    # ---- inputs ----------------------------------------------------------------------------------------
    variables = [var(n, date, n) for n in DATE_INPUTS]
    variables += [var(n, bool, n) for n in BOOL_INPUTS]
    variables += [
        var("dead", bool, "已死亡（death_date 有值）"),
        var("has_prev_cert", bool, "有被新证替换的原残疾人证（prev_cert_valid_until 有值）"),
        var("category", int, "残疾类别 1-7，0 = 无当前残疾人证"),
        var("grade", int, "残疾等级 1-4，0 = 无当前残疾人证"),
        var("elderly_care_fen", int, "老年护理补贴（分/月）"),
        var(
            "household_type",
            Enum,
            "户口性质",
            possible_values=HouseholdType,
            default_value=HouseholdType.rural,
        ),
        var("cert_status", Enum, "证件状态", possible_values=CertStatus, default_value=CertStatus.none),
        var("care_need", Enum, "长期照护需求", possible_values=CareNeed, default_value=CareNeed.unassessed),
    ]

    # ---- shared conditions -----------------------------------------------------------------------------
    def alive(person, period, parameters):
        return ~person("dead", period) | (person("death_date", period) >= first_day(period))

    def has_certificate(person, period, parameters):
        return person("category", period) > 0

    def severe(person, period, parameters):
        return person("has_certificate", period) & (person("grade", period) <= 2)

    def certificate_valid(person, period, parameters):
        """民发〔2021〕70号: valid through the month it ends; paid at the old grade while re-assessed; a new
        certificate after an earlier one: months the earlier one covered, and back pay for at most
        ``certificate_back_pay_months`` months before the new issue month."""
        status = person("cert_status", period)
        first, last = first_day(period), last_day(period)
        stopped = ((status == CertStatus.cancelled) | (status == CertStatus.frozen)) & (
            person("cert_status_changed_on", period) <= first
        )
        issued = person("cert_issue_date", period)
        covered = (issued <= last) & (person("cert_valid_until", period) >= first)
        reassessing = (status == CertStatus.reassessing) & (issued <= last)
        back = int(parameters(period.start).common.certificate_back_pay_months)
        # the last day of month M + back
        limit = (np.datetime64(period.start.date, "M") + back + 1).astype("datetime64[D]") - np.timedelta64(
            1, "D"
        )
        prev = person("prev_cert_valid_until", period)
        not_yet = person("has_prev_cert", period) & (issued > last)
        renewal = not_yet & ((prev >= first) | (issued <= limit))
        return person("has_certificate", period) & ~stopped & (covered | reassessing | renewal)

    def both_allowances_basis(person, period, parameters):
        """alive, in the district, valid certificate, not 特困, no work-injury care pay."""
        return (
            person("alive", period)
            & ~person("moved_out", period)
            & person("certificate_valid", period)
            & ~person("tekun", period)
            & ~person("injury_care", period)
        )

    def urban(person, period, parameters):
        return person("household_type", period) == HouseholdType.urban

    # ---- living allowance ------------------------------------------------------------------------------
    def living_allowance_rate_bp(person, period, parameters):
        p = parameters(period.start).living_allowance
        in_dibao = person("dibao", period) | (person("near_dibao", period) & bool(p.include_near_dibao))
        is_severe = person("severe", period)
        not_severe = person("has_certificate", period) & ~is_severe
        category = person("category", period)
        no_income_severe = (
            ~in_dibao & person("no_fixed_income", period) & is_severe & np.isin(category, [1, 4, 5, 6])
        )
        unemployed_grade34 = (
            ~person("employed", period) & not_severe & person("has_intellectual_or_mental", period)
        )
        cases = (
            (in_dibao & is_severe, bp(p.rate_dibao_severe)),
            (in_dibao & not_severe, bp(p.rate_dibao_other)),
            (no_income_severe, bp(p.rate_no_income_severe)),
            (person("multiple_in_household", period), bp(p.rate_multiple_in_household)),
            (unemployed_grade34, bp(p.rate_unemployed_grade34_intellectual_mental)),
        )
        rate = np.zeros(person.count, dtype=np.int32)
        for cond, value in cases:
            rate = np.maximum(rate, np.where(cond, value, 0))
        return rate

    def living_allowance_standard_fen(person, period, parameters):
        """One urban-rural standard (Suzhou), or urban and rural ones: a dated switch."""
        p = parameters(period.start).common
        if bool(p.dibao_urban_rural_split):
            return np.where(person("urban", period), fen(p.dibao_standard_urban), fen(p.dibao_standard_rural))
        return np.full(person.count, fen(p.dibao_standard), dtype=np.int64)

    def living_allowance_eligible(person, period, parameters):
        return (
            person("both_allowances_basis", period)
            & ~person("orphan_allowance", period)
            & (person("living_allowance_rate_bp", period) > 0)
        )

    def living_allowance_amount_fen(person, period, parameters):
        standard = person("living_allowance_standard_fen", period).astype(np.int64)
        amount = (standard * person("living_allowance_rate_bp", period) + 5000) // 10000
        return np.where(person("living_allowance_eligible", period), amount, 0)

    # ---- care allowance --------------------------------------------------------------------------------
    def care_allowance_standard_fen(person, period, parameters):
        p = parameters(period.start).care_allowance
        if bool(p.urban_rural_split):
            return np.where(person("urban", period), fen(p.amount_urban), fen(p.amount_rural))
        return np.full(person.count, fen(p.amount), dtype=np.int64)

    def care_allowance_qualifies(person, period, parameters):
        p = parameters(period.start).care_allowance
        is_severe = person("severe", period)
        need = person("care_need", period)
        care_need = np.where(need == CareNeed.unassessed, is_severe, need == CareNeed.needed)
        extended = (
            bool(p.include_grade34_intellectual_mental)
            & person("has_certificate", period)
            & ~is_severe
            & person("has_intellectual_or_mental", period)
        )
        return (is_severe & care_need) | extended

    def care_allowance_eligible(person, period, parameters):
        return (
            person("both_allowances_basis", period)
            & person("care_allowance_qualifies", period)
            & (person("elderly_care_fen", period) < person("care_allowance_standard_fen", period))
        )

    def care_allowance_amount_fen(person, period, parameters):
        return np.where(
            person("care_allowance_eligible", period), person("care_allowance_standard_fen", period), 0
        )

    variables += [
        var("alive", bool, "本月在世", alive),
        var("has_certificate", bool, "有当前残疾人证", has_certificate),
        var("severe", bool, "重度（一、二级）", severe),
        var("certificate_valid", bool, "持有效残疾人证", certificate_valid),
        var("both_allowances_basis", bool, "两项补贴的共同条件", both_allowances_basis),
        var("urban", bool, "城镇户口", urban),
        var("living_allowance_rate_bp", int, "生活补贴比例（万分之）", living_allowance_rate_bp),
        var("living_allowance_standard_fen", int, "低保标准（分）", living_allowance_standard_fen),
        var("living_allowance_eligible", bool, "困难残疾人生活补贴：符合", living_allowance_eligible),
        var("living_allowance_amount_fen", int, "困难残疾人生活补贴（分）", living_allowance_amount_fen),
        var("care_allowance_standard_fen", int, "护理补贴标准（分）", care_allowance_standard_fen),
        var("care_allowance_qualifies", bool, "护理补贴对象", care_allowance_qualifies),
        var("care_allowance_eligible", bool, "重度残疾人护理补贴：符合", care_allowance_eligible),
        var("care_allowance_amount_fen", int, "重度残疾人护理补贴（分）", care_allowance_amount_fen),
    ]

    system = TaxBenefitSystem([Person])
    system.parameters = parameter_tree(params)
    for v in variables:
        system.add_variable(v)
    return system


def inputs_from_facts(facts) -> dict:
    """Fact columns (a Polars frame in ``rules.facts.SCHEMA``) → OpenFisca input arrays (numpy).

    Nulls become the explicit "missing" states described in the module docstring."""
    import numpy as np
    import polars as pl

    epoch = pl.lit(EPOCH)
    cols = facts.select(
        *[pl.col(c).fill_null(epoch).alias(c) for c in DATE_INPUTS],
        *[pl.col(c).fill_null(False).alias(c) for c in BOOL_INPUTS],
        pl.col("death_date").is_not_null().alias("dead"),
        pl.col("prev_cert_valid_until").is_not_null().alias("has_prev_cert"),
        pl.col("category").fill_null(0).cast(pl.Int32).alias("category"),
        pl.col("grade").fill_null(0).cast(pl.Int32).alias("grade"),
        pl.col("elderly_care_fen").fill_null(0).cast(pl.Int32).alias("elderly_care_fen"),
        _enum_index("household_type", pl.col("household_type").fill_null("rural")),
        _enum_index("cert_status", pl.col("cert_status").fill_null("none")),
        _enum_index(
            "care_need",
            pl.when(pl.col("care_need").is_null())
            .then(pl.lit("unassessed"))
            .when(pl.col("care_need"))
            .then(pl.lit("needed"))
            .otherwise(pl.lit("not_needed")),
        ),
    )
    out = {}
    for name in cols.columns:
        s = cols[name]
        if s.dtype == pl.Date:
            out[name] = s.to_numpy().astype("datetime64[D]")
        else:
            out[name] = np.ascontiguousarray(s.to_numpy())
    return out


def _enum_index(name: str, text):
    """A text column → the index of its member in ``ENUMS[name]`` (int16, OpenFisca's enum storage)."""
    import polars as pl

    members = ENUMS[name]
    return text.replace_strict(list(members), list(range(len(members))), return_dtype=pl.Int16).alias(name)


def simulate(system, inputs: dict, month: date) -> dict:
    """Build the simulation from the arrays and calculate the outputs: {output: numpy array}."""
    from openfisca_core.simulations import SimulationBuilder

    count = len(next(iter(inputs.values())))
    period = f"{month:%Y-%m}"
    from openfisca_core.indexed_enums import EnumArray

    sim = SimulationBuilder().build_default_simulation(system, count=count)
    for name, values in inputs.items():
        if name in ENUMS:  # indices → OpenFisca's own enum array (what set_input would encode strings into)
            values = EnumArray(values, system.variables[name].possible_values)
        sim.set_input(name, period, values)
    return {name: sim.calculate(name, period) for name in OUTPUTS}


def main(argv: list[str] | None = None) -> int:
    """A smoke check: ten persons through both implementations."""
    try:
        import openfisca_core  # noqa: F401
    except ImportError:
        print("openfisca-core 未安装：pip install -r bench/requirements-bench.txt / not installed, skipped")
        return 0
    from eligibility import compare_with_openfisca, generate_facts_frame

    facts = generate_facts_frame(persons=10_000, seed=7)
    report = compare_with_openfisca(facts, date(2025, 7, 1))
    print(report)
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
