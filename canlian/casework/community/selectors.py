"""The reads of the community services: a kind's list page (scoped, filtered by town, month and kind,
newest first on an indexed date, paged without a COUNT), the counselling counts the open readers see, and
the indicators' counts by town for a year (each one ``GROUP BY town`` in the database)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Count, Q, Sum
from django.utils import timezone

from . import access
from .kinds import SENSITIVE, Kind

PAGE = 50


@dataclass(frozen=True)
class Filters:
    town: int | None = None
    month: str = ""  # YYYY-MM
    year: int | None = None
    kind: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, get) -> Filters:
        town = get.get("town", "")
        month = get.get("month", "")
        year = get.get("year", "")
        page = get.get("page", "")
        try:
            if month:
                datetime.strptime(month, "%Y-%m")
        except ValueError:
            month = ""
        return cls(
            town=int(town) if town.isdigit() else None,
            month=month,
            year=int(year) if year.isdigit() and len(year) == 4 else None,
            kind=get.get("kind", "")[:32],
            page=max(1, int(page)) if page.isdigit() and len(page) < 6 else 1,
        )


def _span(kind: Kind, first: date, last: date) -> dict:
    if kind.is_datetime:
        tz = timezone.get_current_timezone()
        start = datetime.combine(first, time.min, tzinfo=tz)
        end = datetime.combine(last, time.max, tzinfo=tz)
        return {f"{kind.date_field}__gte": start, f"{kind.date_field}__lte": end}
    return {f"{kind.date_field}__gte": first, f"{kind.date_field}__lte": last}


def filtered(qs, kind: Kind, f: Filters):
    """``qs`` narrowed by the filters (the town filter within the scope ``qs`` already has)."""
    if f.town:
        qs = qs.filter(town_id=f.town)
    if f.month:
        y, m = map(int, f.month.split("-"))
        qs = qs.filter(**_span(kind, date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1])))
    if f.year:
        if kind.code == "project" or kind.code == "rating":
            qs = qs.filter(year=f.year)
        else:
            qs = qs.filter(**_span(kind, date(f.year, 1, 1), date(f.year, 12, 31)))
    if f.kind and kind.kind_field and f.kind in dict(kind.kind_choices()):
        qs = qs.filter(**{kind.kind_field: f.kind})
    return qs


def ordered(qs, kind: Kind):
    return qs.order_by(f"-{kind.date_field}", "-id")


def page_of(user, kind: Kind, f: Filters) -> tuple[list, bool]:
    """(rows of the page, whether there is a next page): one query of PAGE + 1 rows, no COUNT."""
    base = access.content_visible(user, kind.model) if kind.sensitive else access.visible(user, kind.model)
    qs = ordered(filtered(base, kind, f), kind).select_related(*kind.related)
    start = (f.page - 1) * PAGE
    rows = list(qs[start : start + PAGE + 1])
    return rows[:PAGE], len(rows) > PAGE


def export_rows(user, kind: Kind, f: Filters):
    """Every row the list would show (all pages), for the export; streamed in chunks."""
    base = access.content_visible(user, kind.model) if kind.sensitive else access.visible(user, kind.model)
    return ordered(filtered(base, kind, f), kind).select_related(*kind.related).iterator(chunk_size=2000)


def counselling_counts(user, f: Filters) -> list[dict]:
    """For the open readers: per town, how many calls (and risk-flagged calls), individual and group sessions
    in the filtered period. Numbers only: no row, no person, no topic."""
    from canlian.accounts.access import towns_visible

    towns = {t.pk: t.name for t in towns_visible(user).order_by("code")}
    out = {
        pk: {"town": name, "hotline": 0, "risk": 0, "counselling": 0, "group": 0}
        for pk, name in towns.items()
    }
    for kind in SENSITIVE:
        qs = filtered(
            access.counts_visible(user, kind.model), kind, Filters(town=f.town, month=f.month, year=f.year)
        )
        agg = {"n": Count("id")}
        if kind.code == "hotline":
            agg["risk"] = Count("id", filter=Q(risk=True))
        for row in qs.values("town_id").annotate(**agg).order_by():
            if row["town_id"] in out:
                out[row["town_id"]][kind.code] = row["n"]
                if "risk" in row:
                    out[row["town_id"]]["risk"] = row["risk"]
    return [v for v in out.values() if not f.town or v is out.get(f.town)]


# ---- indicators ----------------------------------------------------------------------------------------------


def _year(kind_field: str, year: int, *, aware: bool = False) -> dict:
    first, last = date(year, 1, 1), date(year, 12, 31)
    if aware:
        tz = timezone.get_current_timezone()
        return {
            f"{kind_field}__gte": datetime.combine(first, time.min, tzinfo=tz),
            f"{kind_field}__lt": datetime.combine(date(year + 1, 1, 1), time.min, tzinfo=tz),
        }
    return {f"{kind_field}__gte": first, f"{kind_field}__lte": last}


def _by_town(qs, agg=None) -> dict[int, int]:
    agg = agg if agg is not None else Count("id")
    return {r["town_id"]: r["n"] or 0 for r in qs.values("town_id").annotate(n=agg).order_by()}


def visits_by_town(year: int) -> dict[int, int]:
    """Home and institution visits (访视) made in ``year``; 送法上门 visits are legal aid's."""
    from canlian.casework.models import Visit

    return _by_town(Visit.objects.filter(kind__in=["home", "institution"], **_year("visited_on", year)))


def shishi_projects_by_town(year: int) -> dict[int, int]:
    """The year's 实事 projects taken on (立项: approved, in progress or done)."""
    from canlian.casework.models import ShishiProject

    return _by_town(ShishiProject.objects.filter(year=year, state__in=["approved", "in_progress", "done"]))


def hotline_calls_by_town(year: int) -> dict[int, int]:
    from canlian.casework.models import HotlineCall

    return _by_town(HotlineCall.objects.filter(**_year("called_at", year, aware=True)))


def home_teaching_sessions_by_town(year: int) -> dict[int, int]:
    from canlian.casework.models import HomeTeachingSession

    return _by_town(HomeTeachingSession.objects.filter(**_year("held_on", year)))


def legal_aid_cases_by_town(year: int) -> dict[int, int]:
    from canlian.casework.models import LegalAidCase

    return _by_town(LegalAidCase.objects.filter(**_year("received_on", year)))


def activities_by_town(year: int) -> dict[int, int]:
    from canlian.casework.models import Activity

    return _by_town(Activity.objects.filter(**_year("held_on", year)))


def activity_participants_by_town(year: int) -> dict[int, int]:
    """Person-times at the year's activities: the registered attendees plus the head count of those not
    registered (two ``GROUP BY town`` sums)."""
    from canlian.casework.models import Activity

    acts = Activity.objects.filter(**_year("held_on", year))
    out = _by_town(acts, Sum("headcount"))
    registered = _by_town(acts, Count("attendees"))
    for town, n in registered.items():
        out[town] = out.get(town, 0) + n
    return {t: n for t, n in out.items() if n}
