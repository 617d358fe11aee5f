"""How far each target of the year's published plan has come, from live records (read only).

- **Actual**: a target tied to an indicator counts through the indicator's selector (by town); a rate
  (``%``) is numerator ÷ denominator; a milestone is done (1) or not (0) by its completion date; a qualitative
  target has no number.
- **Pace**: the share expected done by a day: linear from 1 January to the deadline (31 December when the
  plan gives none), or the target's curve of 12 cumulative monthly shares. A rate's pace is the rate itself.
- **Status**: ``done`` (met), ``late`` (deadline passed, not met), ``due_soon`` (deadline within 30 days, not
  met), ``behind`` (below the pace), ``on_track``; ``none`` for a qualitative target.
- **Months**: the indicator's figure at the end of each month: the frozen snapshot of a closed month
  (``snapshot_month``), the live figure for the current month; a closed month with no snapshot is ``None``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from .indicators import Indicator, indicators
from .models import IndicatorSnapshot, Plan, Target, TownQuota

DUE_SOON_DAYS = 30
STATUS_LABELS = {
    "done": "已完成",
    "late": "逾期未完成",
    "due_soon": "临近期限",
    "behind": "落后于进度",
    "on_track": "按进度推进",
    "none": "定性任务",
}


def _pct(a, b) -> Decimal | None:
    if b in (None, 0) or a is None:
        return None
    return (Decimal(a) * 100 / Decimal(b)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def expected_share(target: Target, on: date, year: int) -> Decimal:
    """The share of the target expected done by ``on`` (0..1)."""
    start = date(year, 1, 1)
    end = target.deadline or date(year, 12, 31)
    if on >= end:
        return Decimal(1)
    if on < start:
        return Decimal(0)
    if target.pace and len(target.pace) == 12 and on.year == year:
        before = Decimal(str(target.pace[on.month - 2])) if on.month > 1 else Decimal(0)
        this = Decimal(str(target.pace[on.month - 1]))
        days = calendar.monthrange(year, on.month)[1]
        return (before + (this - before) * Decimal(on.day) / days).quantize(Decimal("0.0001"))
    span = (end - start).days or 1
    return (Decimal((on - start).days) / span).quantize(Decimal("0.0001"))


class Counts:
    """Each indicator counted once per request: ``{town id: n}`` and the denominators of rates."""

    def __init__(self, year: int):
        self.year = year
        self._by_code = {i.code: i for i in indicators()}
        self._counts: dict[str, dict[int, int]] = {}
        self._below: dict[str, dict[int, int]] = {}

    def indicator(self, code: str) -> Indicator | None:
        return self._by_code.get(code)

    def count(self, code: str) -> dict[int, int]:
        if code not in self._counts:
            ind = self._by_code[code]
            self._counts[code] = ind.count(self.year)
        return self._counts[code]

    def denominator(self, code: str) -> dict[int, int] | None:
        ind = self._by_code[code]
        if ind.denominator is None:
            return None
        if code not in self._below:
            self._below[code] = ind.denominator(self.year)
        return self._below[code]


@dataclass
class TownProgress:
    town_id: int
    town: str
    target: Decimal | None
    actual: Decimal | int | None
    percent: Decimal | None


@dataclass
class TargetProgress:
    target: Target
    actual: Decimal | int | None
    percent: Decimal | None  # of the target value
    expected: Decimal | None  # the value expected by today at the pace
    status: str
    by_town: list[TownProgress] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    def as_json(self) -> dict:
        t = self.target

        def num(v):
            if v is None:
                return None
            v = Decimal(v)
            return int(v) if v == v.to_integral() else float(v)

        return {
            "task": t.task.number,
            "text": t.text,
            "value": num(t.value),
            "unit": t.unit,
            "comparator": t.comparator,
            "deadline": t.deadline.isoformat() if t.deadline else None,
            "town": t.town.name if t.town else None,
            "link": t.link or None,
            "indicator": t.indicator or None,
            "department": t.department or None,
            "actual": num(self.actual),
            "percent": num(self.percent),
            "expected": num(self.expected),
            "status": self.status,
            "by_town": {
                tp.town: {"target": num(tp.target), "actual": num(tp.actual), "percent": num(tp.percent)}
                for tp in self.by_town
            },
        }


def _actual(counts: Counts, t: Target, town_id: int | None):
    """The target's actual figure for one town (``None``: the district, or the target's own town)."""
    if t.link == Target.Link.MILESTONE:
        return 1 if t.milestone_done_on else 0
    if t.link != Target.Link.INDICATOR or not counts.indicator(t.indicator):
        return None
    where = town_id if town_id is not None else t.town_id
    by_town = counts.count(t.indicator)
    below = counts.denominator(t.indicator)
    if below is not None:  # a rate in percent
        if where is None:
            return _pct(sum(by_town.values()), sum(below.values()))
        return _pct(by_town.get(where, 0), below.get(where, 0))
    return by_town.get(where, 0) if where is not None else sum(by_town.values())


def _met(t: Target, actual) -> bool:
    if actual is None:
        return False
    if t.link == Target.Link.MILESTONE and t.value is None:
        return bool(actual)
    if t.value is None:
        return bool(actual)
    if t.comparator == Target.Comparator.AT_MOST:
        return Decimal(actual) <= t.value
    return Decimal(actual) >= t.value


def target_progress(t: Target, counts: Counts, on: date, towns: list, quotas: dict) -> TargetProgress:
    year = counts.year
    if t.link in (Target.Link.QUALITATIVE, Target.Link.UNLINKED) or (
        t.link == Target.Link.INDICATOR and not counts.indicator(t.indicator)
    ):
        return TargetProgress(t, None, None, None, "none")
    actual = _actual(counts, t, None)
    is_rate = t.unit == "%"
    percent = None
    if t.value and actual is not None and not is_rate:
        percent = _pct(actual, t.value)
    elif is_rate and t.value and actual is not None:
        percent = _pct(actual, t.value)
    share = expected_share(t, on, year)
    expected = None
    if t.value is not None and not is_rate and t.comparator == Target.Comparator.AT_LEAST:
        expected = (t.value * share).quantize(Decimal("0.01"))
    deadline = t.deadline or date(year, 12, 31)
    if t.link == Target.Link.MILESTONE and t.milestone_done_on:
        status = "done" if t.milestone_done_on <= deadline else "late"
    elif _met(t, actual) and (t.comparator == Target.Comparator.AT_LEAST or on >= deadline):
        status = "done"
    elif on > deadline:
        status = "late"
    elif (deadline - on).days <= DUE_SOON_DAYS:
        status = "due_soon"
    elif expected is not None and actual is not None and Decimal(actual) < expected:
        status = "behind"
    else:
        status = "on_track"
    by_town = []
    shown = [x for x in towns if t.town_id is None or x.pk == t.town_id]
    for town in shown:
        quota = quotas.get((t.pk, town.pk))
        if quota is None and t.town_id == town.pk:
            quota = t.value
        a = _actual(counts, t, town.pk) if t.link == Target.Link.INDICATOR else None
        by_town.append(TownProgress(town.pk, town.name, quota, a, _pct(a, quota) if not is_rate else None))
    return TargetProgress(t, actual, percent, expected, status, by_town)


def published_plan(year: int) -> Plan | None:
    return Plan.objects.filter(year=year, status=Plan.Status.PUBLISHED).first()


def plan_progress(year: int, *, on: date | None = None, towns=None) -> list[TargetProgress]:
    """Every target of the year's published plan with its progress (empty when none is published)."""
    from canlian.registry.models import Region

    plan = published_plan(year)
    if plan is None:
        return []
    on = on or timezone.localdate()
    town_rows = list(
        (towns if towns is not None else Region.objects.filter(level=Region.Level.TOWN)).order_by("code")
    )
    counts = Counts(year)
    targets = list(plan.targets.select_related("task", "town").order_by("task__number", "order", "pk"))
    quotas = {(q.target_id, q.town_id): q.value for q in TownQuota.objects.filter(target__plan=plan)}
    return [target_progress(t, counts, on, town_rows, quotas) for t in targets]


def indicator_targets(year: int) -> dict[str, dict]:
    """For ``canlian workplan progress``: per indicator tied in the published plan, its target (the
    district-wide target's value, else the sum of town targets) and the target by town (quotas, or the
    town-named targets)."""
    plan = published_plan(year)
    out: dict[str, dict] = {}
    if plan is None:
        return out
    targets = (
        plan.targets.filter(link=Target.Link.INDICATOR)
        .select_related("town")
        .prefetch_related("quotas__town")
    )
    for t in targets:
        entry = out.setdefault(t.indicator, {"target": None, "by_town_target": {}, "district": None})
        if t.town is None:
            entry["district"] = t.value if entry["district"] is None else entry["district"] + (t.value or 0)
            for q in t.quotas.all():
                entry["by_town_target"][q.town.name] = entry["by_town_target"].get(q.town.name, 0) + q.value
        else:
            entry["by_town_target"][t.town.name] = entry["by_town_target"].get(t.town.name, 0) + (
                t.value or 0
            )
    for entry in out.values():
        town_sum = sum(entry["by_town_target"].values()) if entry["by_town_target"] else None
        entry["target"] = entry.pop("district") if entry["district"] is not None else town_sum
    return out


# ---- monthly snapshots ---------------------------------------------------------------------------------


def snapshot_month(year: int, month: int) -> int:
    """Freeze every indicator's figures of ``year`` as they stand now, for the month ``month`` (run when the
    month has closed: ``canlian workplan snapshot``). A month already frozen is left as it is. Rows written."""
    from canlian.registry.models import Region

    towns = list(Region.objects.filter(level=Region.Level.TOWN).values_list("pk", flat=True))
    counts = Counts(year)
    written = 0
    for ind in indicators():
        if IndicatorSnapshot.objects.filter(indicator=ind.code, year=year, month=month).exists():
            continue
        by_town = counts.count(ind.code)
        below = counts.denominator(ind.code)
        rows = [
            IndicatorSnapshot(
                indicator=ind.code,
                year=year,
                month=month,
                town_id=pk,
                actual=by_town.get(pk, 0),
                denominator=below.get(pk, 0) if below is not None else None,
            )
            for pk in towns
        ]
        rows.append(
            IndicatorSnapshot(
                indicator=ind.code,
                year=year,
                month=month,
                town=None,
                actual=sum(by_town.values()),
                denominator=sum(below.values()) if below is not None else None,
            )
        )
        try:
            with transaction.atomic():
                IndicatorSnapshot.objects.bulk_create(rows)
        except IntegrityError:
            continue  # frozen by another run meanwhile
        written += len(rows)
    return written


def monthly_series(code: str, year: int, *, on: date | None = None, town_id: int | None = None) -> list:
    """The indicator's figure at the end of each month of ``year`` up to ``on``: the frozen snapshot of a
    closed month, the live figure for the current month, ``None`` for a closed month never frozen."""
    on = on or timezone.localdate()
    frozen = {
        s.month: s.actual
        for s in IndicatorSnapshot.objects.filter(indicator=code, year=year, town_id=town_id)
    }
    last = 12 if on.year > year else (on.month if on.year == year else 0)
    series: list = []
    for month in range(1, last + 1):
        closed = date(year, month, calendar.monthrange(year, month)[1]) < on
        if month in frozen:
            series.append(frozen[month])
        elif not closed:
            counts = Counts(year)
            by_town = counts.count(code)
            series.append(by_town.get(town_id, 0) if town_id is not None else sum(by_town.values()))
        else:
            series.append(None)
    return series


def previous_month(today: date) -> tuple[int, int]:
    first = today.replace(day=1) - timedelta(days=1)
    return first.year, first.month
