"""Progress of the year's indicators by town (read only)."""

from __future__ import annotations

from decimal import Decimal

from .indicators import indicators


def progress(year: int, *, towns=None) -> dict:
    """``{"year", "indicators": {code: {"name", "unit", "actual", "target", "by_town": {town name: n}}}}``;
    every town is listed (0 when none), in code order. ``towns``: a queryset of the towns shown (the user's)."""
    from canlian.registry.models import Region

    town_rows = list(
        (towns if towns is not None else Region.objects.filter(level=Region.Level.TOWN)).order_by("code")
    )
    out = {}
    for ind in indicators():
        counts = ind.count(year)
        by_town = {t.name: counts.get(t.pk, 0) for t in town_rows}
        out[ind.code] = {
            "name": ind.name,
            "unit": ind.unit,
            "definition": ind.definition,
            "actual": sum(by_town.values()),
            "target": None,
            "by_town": by_town,
        }
        if ind.denominator is not None:
            # a rate: actual and by_town are numerators; the rate is shown as "n / d (p%)", never bare
            below = ind.denominator(year)
            by_town_d = {t.name: below.get(t.pk, 0) for t in town_rows}
            total = sum(by_town_d.values())
            out[ind.code]["denominator"] = total
            out[ind.code]["by_town_denominator"] = by_town_d
            out[ind.code]["rate"] = (
                str((Decimal(out[ind.code]["actual"]) * 100 / total).quantize(Decimal("0.1")))
                if total
                else None
            )
    from .progress import indicator_targets, plan_progress

    tied = indicator_targets(year)
    for code, entry in out.items():
        t = tied.get(code)
        entry["target"] = _num(t["target"]) if t else None
        entry["by_town_target"] = (
            {name: _num(t["by_town_target"].get(name)) for name in entry["by_town"]}
            if t and t["by_town_target"]
            else {}
        )
    return {
        "year": year,
        "indicators": out,
        "targets": [p.as_json() for p in plan_progress(year, towns=towns)],
    }


def _num(v):
    if v is None:
        return None
    v = Decimal(v)
    return int(v) if v == v.to_integral() else float(v)
