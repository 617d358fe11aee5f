"""A service programme is declared in code: ``Programme(...)`` + ``programme_register``.

The declaration names the case workflow (states and moves on ``common.workflow``), the repeatable stages that
fall due (``DueRule``), the dated parameters it reads (YAML under ``casework/parameters/<code>/``, loaded with
the benefits loader), and optionally a roster import (``importing.RosterSpec``). See README.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from canlian.benefits.parameters import ParameterSet
from canlian.common.workflow import Workflow

PARAMETER_ROOT = Path(__file__).resolve().parent / "parameters"


@dataclass(frozen=True)
class DueRule:
    """A repeatable stage: the first occurrence falls ``first_after`` days after the anchor date (the case's
    ``opened_on``), then every ``every`` days, until the case is closed. ``every``/``first_after`` may name a
    dated int parameter (``"custodial_care.visit_interval_days"``) read on the anchor date."""

    kind: str
    label: str
    every: int | str
    first_after: int | str | None = None  # default: same as ``every``
    horizon_days: int = 366  # how far ahead occurrences are scheduled when the stage starts
    start_move: str = ""  # the move that schedules the occurrences ("" = when the case is opened)

    def _days(self, value, on: date, params) -> int:
        return int((params or parameters()).at(value, on)) if isinstance(value, str) else int(value)

    def schedule(self, anchor: date, *, until: date | None = None, params=None) -> list[date]:
        """``params``: the parameter set to read (``parameters()``, one query, when not given; pass it
        when scheduling many cases)."""
        every = self._days(self.every, anchor, params)
        first = self._days(self.first_after if self.first_after is not None else self.every, anchor, params)
        end = anchor + timedelta(days=self.horizon_days)
        if until is not None:
            end = min(end, until)
        out, day = [], anchor + timedelta(days=first)
        while day <= end:
            out.append(day)
            day += timedelta(days=every)
        return out


@dataclass(frozen=True)
class Programme:
    code: str
    name: str
    workflow: Workflow
    due_rules: tuple[DueRule, ...] = ()
    institution_kinds: tuple[str, ...] = ()  # kinds of institution that may serve its cases
    data_fields: dict[str, str] = field(default_factory=dict)  # key → Chinese label of Case.data entries
    data_choices: dict[str, dict[str, str]] = field(default_factory=dict)  # key → {code: label}
    monthly_cap: str = ""  # money parameter: the most one case may be settled per month ("" = no cap)
    # optional programme pages: a template included in the case page with ``detail_context(user, case)`` as
    # ``extra``, and the URL name of the programme's own "new case" page (a button on the case list)
    detail_template: str = ""
    detail_context: Callable[[Any, Any], dict] | None = None
    create_url: str = ""

    def data_display(self, data: dict) -> list[tuple[str, str]]:
        out = []
        for key, label in self.data_fields.items():
            value = data.get(key, "")
            out.append((label, self.data_choices.get(key, {}).get(value, value)))
        return out


_PROGRAMMES: dict[str, Programme] = {}


def programme_register(p: Programme) -> Programme:
    if p.workflow.code != f"case.{p.code}":
        raise ValueError(f"programme {p.code}: its workflow code must be case.{p.code}")
    _PROGRAMMES[p.code] = p
    return p


def programme_get(code: str) -> Programme:
    from canlian.common.exceptions import NotFound

    try:
        return _PROGRAMMES[code]
    except KeyError:
        raise NotFound(f"没有编码为“{code}”的服务项目") from None


def programmes() -> list[Programme]:
    return list(_PROGRAMMES.values())


@lru_cache(maxsize=1)
def _own_parameters() -> ParameterSet:
    return ParameterSet.from_yaml(PARAMETER_ROOT)


def casework_parameter(name: str):
    """One casework parameter (``casework/parameters``), read once per process: these are shipped YAML only
    (``parameters()`` lets them win over any database value of the same name), so no query is needed."""
    return _own_parameters()[name]


def parameters() -> ParameterSet:
    """The benefits parameters (shipped and administrator-added) and the casework ones, one set: a programme
    reads e.g. ``custodial_care.age_min`` (benefits) and ``custodial_care.visit_interval_days`` (casework)."""
    from canlian.benefits.selectors import current_parameters

    return ParameterSet({**current_parameters().parameters, **_own_parameters().parameters})
