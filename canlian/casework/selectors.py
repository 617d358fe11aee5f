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


# ---- indicator counting: first row per person, grouped by town in the database -------------------------------


def firsts_query(qs: QuerySet, *, person: str, town: str, order_by: list, **columns) -> tuple[str, list]:
    """SQL (and parameters) of one row per person among the rows of ``qs``: the first by ``order_by``, with
    its columns ``first_person`` and ``first_town`` and any ``columns`` (name → expression or lookup).

    ``ROW_NUMBER() OVER (PARTITION BY person ORDER BY …)`` in the database (PostgreSQL and SQLite alike), so
    an indicator counts persons by town with one query and no row reaches Python."""
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    inner = qs.annotate(
        first_person=F(person),
        first_town=F(town),
        **{k: F(v) if isinstance(v, str) else v for k, v in columns.items()},
        row_no=Window(RowNumber(), partition_by=[F(person)], order_by=order_by),
    ).values("first_person", "first_town", "row_no", *columns)
    sql, params = inner.order_by().query.sql_with_params()
    return f"SELECT * FROM ({sql}) AS ranked WHERE row_no = 1", list(params)


def firsts_by_town(qs: QuerySet, *, person: str, town: str, order_by: list) -> dict[int, int]:
    """Town id → persons among the rows of ``qs``, each counted once, in the town of their first row."""
    from django.db import connection

    sql, params = firsts_query(qs, person=person, town=town, order_by=order_by)
    with connection.cursor() as cur:
        cur.execute(f"SELECT first_town, COUNT(*) FROM ({sql}) AS firsts GROUP BY first_town", params)
        return {town_id: n for town_id, n in cur.fetchall()}
