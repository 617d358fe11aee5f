"""The indicator registry: code, Chinese name, unit, how it is counted, and a selector that counts for a
year by town. The work-plan board and ``canlian workplan progress`` read it; targets come later (null now).

An indicator's ``count(year)`` returns ``{town id: count}``; ``progress(year)`` adds the names and totals.
Services register their indicators here (workplan may import casework; casework never imports workplan)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    unit: str
    definition: str  # how it is counted, in Chinese, shown on the board
    count: Callable[[int], dict[int, int]]


_INDICATORS: dict[str, Indicator] = {}


def indicator_register(ind: Indicator) -> Indicator:
    _INDICATORS[ind.code] = ind
    return ind


def indicators() -> list[Indicator]:
    return list(_INDICATORS.values())


def _custodial_new(year: int) -> dict[int, int]:
    from canlian.casework.programmes.custodial_care import custodial_new_by_town

    return custodial_new_by_town(year)


indicator_register(
    Indicator(
        code="custodial_new",
        name="新增残疾人托养",
        unit="人",
        definition=(
            "当年首次开始托养服务（此前从未托养）的残疾人：开始托养时年满16周岁未满60周岁、未就业，"
            "持有效残疾人证且为智力、精神残疾（不限等级）或一至二级肢体、视力残疾；按首次托养时所在镇(街道)统计"
        ),
        count=_custodial_new,
    )
)
