"""Dated parameters: every amount, rate, switch and threshold, keyed by effective date.

Shipped values live in ``parameters/<programme>/<name>.yaml`` (the shape OpenFisca uses: a description,
a unit, a legal reference and a list of values each with the date it takes effect). Values added later by
an administrator are rows of ``ParameterValue``; a change of standard is always a new dated value, never an
edit of an old one. ``ParameterSet.at(name, day)`` answers with the value in force on that day.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent / "parameters"
TYPES = {"money", "rate", "bool", "int"}


class ParameterError(ValueError):
    pass


class NoValueYet(ParameterError):
    """No value is known for the day asked (before the earliest sourced value, or none entered at all)."""

    def __init__(self, parameter: Parameter, day: date):
        self.parameter, self.day = parameter, day
        first = parameter.values[0].valid_from if parameter.values else None
        known = f"已知最早取值自 {first.isoformat()} 起" if first else "尚未录入任何取值"
        super().__init__(f"参数“{parameter.description}”在 {day.isoformat()} 尚无取值（{known}）")


def coerce(kind: str, raw):
    if kind in ("money", "rate"):
        value = Decimal(str(raw))
        if kind == "money" and value != value.quantize(Decimal("0.01")):
            raise ParameterError(f"金额须精确到分：{raw}")
        if value < 0:
            raise ParameterError(f"不能为负数：{raw}")
        return value
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "1", "是", "开", "on"):
            return True
        if text in ("false", "0", "否", "关", "off"):
            return False
        raise ParameterError(f"开关值应为 是/否：{raw}")
    if kind == "int":
        return int(raw)
    raise ParameterError(f"未知的参数类型 {kind}")


@dataclass
class DatedValue:
    valid_from: date
    value: object
    reference: str = ""
    source: str = "yaml"  # yaml | db


@dataclass
class Parameter:
    name: str  # "<programme>.<name>"
    description: str
    unit: str
    kind: str
    reference: str
    example: bool
    values: list[DatedValue] = field(default_factory=list)

    def at(self, day: date):
        dates = [v.valid_from for v in self.values]
        i = bisect.bisect_right(dates, day) - 1
        if i < 0:
            raise NoValueYet(self, day)
        return self.values[i].value

    def has_value_on(self, day: date) -> bool:
        return bool(self.values) and self.values[0].valid_from <= day

    def changes_between(self, start: date, end: date) -> list[DatedValue]:
        return [v for v in self.values if start < v.valid_from <= end]


class ParameterSet:
    def __init__(self, parameters: dict[str, Parameter]):
        self.parameters = parameters

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self.parameters[name]
        except KeyError:
            raise ParameterError(f"未定义的参数 {name}") from None

    def at(self, name: str, day: date):
        return self[name].at(day)

    def names(self) -> list[str]:
        return sorted(self.parameters)

    @classmethod
    def from_yaml(cls, root: Path = ROOT) -> ParameterSet:
        parameters: dict[str, Parameter] = {}
        for path in sorted(root.glob("*/*.yaml")):
            name = f"{path.parent.name}.{path.stem}"
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            kind = data.get("type")
            if kind not in TYPES:
                raise ParameterError(f"{path}: type 应为 {sorted(TYPES)} 之一")
            values = []
            for item in data.get("values") or []:
                day = item["from"]
                if not isinstance(day, date):
                    raise ParameterError(f"{path}: from 应为日期 YYYY-MM-DD")
                values.append(DatedValue(day, coerce(kind, item["value"]), item.get("reference", "")))
            values.sort(key=lambda v: v.valid_from)
            if len({v.valid_from for v in values}) != len(values):
                raise ParameterError(f"{path}: 同一生效日期有多个取值")
            parameters[name] = Parameter(
                name=name,
                description=data["description"],
                unit=data.get("unit", ""),
                kind=kind,
                reference=data.get("reference", ""),
                example=bool(data.get("example", False)),
                values=values,
            )
        return cls(parameters)

    def with_values(self, extra: list[tuple[str, date, object, str]]) -> ParameterSet:
        """A copy with more dated values (from the database): a later value for a date that YAML also has wins."""
        import copy

        params = copy.deepcopy(self.parameters)
        for name, day, raw, reference in extra:
            p = params.get(name)
            if p is None:
                continue
            p.values = [v for v in p.values if v.valid_from != day]
            p.values.append(DatedValue(day, coerce(p.kind, raw), reference, "db"))
            p.values.sort(key=lambda v: v.valid_from)
        return ParameterSet(params)


_YAML_CACHE: ParameterSet | None = None


def shipped() -> ParameterSet:
    global _YAML_CACHE
    if _YAML_CACHE is None:
        _YAML_CACHE = ParameterSet.from_yaml()
    return _YAML_CACHE
