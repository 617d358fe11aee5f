"""Versioned checklists (考评细则, 星级评定标准, 建设清单): YAML files in ``casework/checklists/``, versions by the
date they take effect; a new version is a new entry, never an edit. Each version has items (code, text,
points, optionally a section) that add up to the file's ``total`` (100 unless said), and optionally negative
behaviours (deductions) and rating bands (``ratings``: the least score for each rating).

Used by the evaluation of designated rehab institutions (child rehabilitation) and by the places that serve
(残疾人之家: the 强基 and 赋能 build checklists and the star rating)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

import yaml

from canlian.common.exceptions import DomainError, ValidationFailed

CHECKLISTS = Path(__file__).resolve().parent / "checklists"


@dataclass(frozen=True)
class ChecklistVersion:
    version: str
    valid_from: date
    items: tuple[dict, ...]  # {code, text, points, section?}
    negatives: tuple[dict, ...] = ()  # {code, text, points, removal}
    ratings: tuple[dict, ...] = ()  # {rating, label, min}: highest first
    name: str = ""

    def item(self, code):
        return next((i for i in self.items if i["code"] == code), None)

    def negative(self, code):
        return next((n for n in self.negatives if n["code"] == code), None)

    @property
    def total(self) -> Decimal:
        return sum((Decimal(str(i["points"])) for i in self.items), Decimal("0"))

    def rating_for(self, score: Decimal) -> dict | None:
        """The highest rating band whose least score ``score`` reaches (None: below every band)."""
        return next((r for r in self.ratings if score >= Decimal(str(r["min"]))), None)


@lru_cache(maxsize=16)
def checklist_versions(name: str) -> tuple[ChecklistVersion, ...]:
    """The versions of ``checklists/<name>.yaml``, oldest first; the items of each must add up to the total."""
    path = CHECKLISTS / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    total = Decimal(str(data.get("total", 100)))
    out = []
    for v in data["versions"]:
        items = tuple(v["items"])
        if sum(Decimal(str(i["points"])) for i in items) != total:
            raise ValueError(f"{path}: version {v['version']}: the items must add up to {total}")
        ratings = tuple(sorted(v.get("ratings") or (), key=lambda r: -Decimal(str(r["min"]))))
        out.append(
            ChecklistVersion(
                str(v["version"]),
                v["from"],
                items,
                tuple(v.get("negatives") or ()),
                ratings,
                str(data.get("name", "")),
            )
        )
    return tuple(sorted(out, key=lambda c: c.valid_from))


def checklist_on(name: str, day: date, *, what: str = "考评细则") -> ChecklistVersion:
    """The version of checklist ``name`` in force on ``day``."""
    versions = [c for c in checklist_versions(name) if c.valid_from <= day]
    if not versions:
        raise DomainError(f"{day:%Y-%m-%d} 尚无适用的{what}")
    return versions[-1]


def points_cell(value, label: str, maximum: Decimal) -> Decimal:
    """A score typed for one item: 0 to the item's points, at most one decimal place."""
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed({label: f"{label}：得分格式不正确"}) from None
    if not d.is_finite() or d < 0 or d > maximum or d != d.quantize(Decimal("0.1")):
        raise ValidationFailed({label: f"{label}：得分应在 0～{maximum} 之间，最多一位小数"})
    return d
