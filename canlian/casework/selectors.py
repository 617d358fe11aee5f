"""Reads of the case engine: scoped lists, a case's page, due and overdue occurrences, counts by town."""

from __future__ import annotations

from datetime import date

from django.db.models import Count, Q, QuerySet

from . import access
from .models import Case, DueItem


def cases_for_programme(user, programme: str, *, state: str = "", town_id=None, q: str = "") -> QuerySet:
    qs = access.cases_visible(user).filter(programme=programme)
    if state:
        qs = qs.filter(state=state)
    if town_id:
        qs = qs.filter(town_id=town_id)
    if q:
        qs = qs.filter(Q(person__name__contains=q) | Q(institution__name__contains=q))
    return qs.select_related("person", "town", "institution").order_by("-opened_on", "-id")


def due_items_open(user, *, programme: str = "", today: date, overdue_only: bool = False) -> QuerySet:
    qs = access.due_items_visible(user).filter(done_on__isnull=True, cancelled=False)
    if programme:
        qs = qs.filter(case__programme=programme)
    if overdue_only:
        qs = qs.filter(due_on__lt=today)
    return qs.select_related("case__person", "case__town", "case__institution").order_by("due_on", "id")


def case_due_items(case: Case) -> list[DueItem]:
    return list(case.due_items.select_related("done_by").order_by("kind", "seq"))


def overdue_by_town(user, *, programme: str, today: date) -> dict[str, int]:
    rows = (
        due_items_open(user, programme=programme, today=today, overdue_only=True)
        .values("case__town__name")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {r["case__town__name"]: r["n"] for r in rows}
