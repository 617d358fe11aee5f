"""Progress of the year's indicators by town (read only)."""

from __future__ import annotations

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
    return {"year": year, "indicators": out}
