"""我的待办: what is due or overdue for one user across every programme on the case engine.

Three kinds of work, each scoped exactly as the page that does it:
- occurrences of repeatable stages (return visits, sessions) of cases the user may work on, due within
  ``HORIZON_DAYS`` or overdue;
- reviews waiting for a checker: a case in a source state of a move with ``checker_of`` that the user's role
  may make, unless the user made the move it checks (maker ≠ checker); due ``worklist.review_days`` after the
  case entered that state;
- settlements submitted by an institution waiting for a district checker who did not submit them.

Sorted overdue first, then by due date. Reads only. Counting is done in the database (``worklist_summary``:
total and overdue, exact, whatever the size; ``worklist_count`` is the navigation badge); ``worklist`` builds
only the first ``limit`` items of the page: each kind's earliest rows are fetched with a LIMIT, with when each
entered its state, and nothing is decided per row of the whole table in Python. A page is about ten queries
whatever the number of programmes (the counts of every kind in one ``UNION ALL``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import NamedTuple

from django.contrib.contenttypes.models import ContentType
from django.db.models import (
    CharField,
    F,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone

from canlian.common.models import WorkflowHistory

from . import access
from .models import Case, DueItem, Settlement
from .programme import casework_parameter, programme_get, programmes

HORIZON_DAYS = 7
PAGE_SIZE = 100  # items on the page (the counts above it are exact)


@dataclass(frozen=True)
class WorkItem:
    kind: str  # Chinese: 回访 / 待审核 / 结算核定
    programme: str
    title: str
    due_on: date
    url: str
    overdue: bool


class WorklistSummary(NamedTuple):
    total: int
    overdue: int


def _review_days():
    """Days allowed for a review whose state was entered on a day; before the first dated value, the first one
    (a case waiting since before the parameter was set is judged by it rather than failing the page). A
    casework parameter: shipped YAML, read once per process (``programme.casework_parameter``)."""
    p = casework_parameter("worklist.review_days")

    @cache
    def days(day: date) -> int:
        return int(p.at(day) if p.has_value_on(day) else p.values[0].value)

    return days


def _review_cutoff(today: date, days) -> date:
    """Reviews whose state was entered before this day are overdue (entered + review days < today). The
    allowance is a dated parameter: walk back from today until a day is overdue."""
    day = today
    while day + timedelta(days=days(day)) >= today:
        day -= timedelta(days=1)
    return day + timedelta(days=1)


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _due_items(user, today: date):
    return access.due_items_workable(user).filter(
        done_on__isnull=True, cancelled=False, due_on__lte=today + timedelta(days=HORIZON_DAYS)
    )


def _due_page(user, today: date, limit: int | None) -> tuple[list[WorkItem], int, int]:
    """The first ``limit`` open due items (earliest first) as work items, and how many there are in all and
    overdue. Two queries: the ids of the first items with both counts as window aggregates, then the shown
    items. The user's open items are gathered first (a materialized CTE: the open-items index hash-joined to
    the user's cases, both read from their indexes); left to itself, PostgreSQL would walk the items in due
    order and probe the cases one by one, as if the counts over all of them did not have to be read whole."""
    from django.db import connection

    mine = _due_items(user, today).order_by().values_list("pk", "due_on")
    if mine.query.is_empty():
        return [], 0, 0
    sql, params = mine.query.get_compiler(connection=connection).as_sql()
    sql = (
        f"WITH mine (id, due_on) AS MATERIALIZED ({sql}) "
        "SELECT id, COUNT(*) OVER (), SUM(CASE WHEN due_on < %s THEN 1 ELSE 0 END) OVER () "
        "FROM mine ORDER BY due_on, id"
    )
    params = (*params, connection.ops.adapt_datefield_value(today))
    if limit:
        sql, params = f"{sql} LIMIT %s", (*params, limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        head = cursor.fetchall()
    if not head:
        return [], 0, 0
    shown = DueItem.objects.filter(pk__in=[pk for pk, _n, _l in head]).values_list(
        "pk", "seq", "kind", "due_on", "case_id", "case__programme", "case__person__name"
    )
    rows = {r[0]: r[1:] for r in shown}
    items = []
    for pk, _n, _l in head:
        seq, kind, due_on, case_id, programme, name = rows[pk]
        items.append(
            WorkItem(
                f"第{seq}次{_stage_label(programme, kind)}",
                programme_get(programme).name,
                name,
                due_on,
                _case_url(case_id, "#due"),
                due_on < today,
            )
        )
    return items, int(head[0][1]), int(head[0][2])


# ---- reviews waiting for a checker (cases and settlements alike) ----------------------------------------------


@dataclass(frozen=True)
class _Check:
    """One checker move the user may make: the objects waiting for it and how to read their history."""

    model: type
    checker_of: tuple[str, ...]
    sources: tuple[str, ...]
    qs: object  # the objects in a source state, scoped to the user
    fallback: str  # the object's own date when no history row says when it entered the state
    programme: object = None
    move: object = None

    @property
    def per_object(self) -> bool:
        """The move has a per-object condition (``Move.check``): its objects are read one by one."""
        return self.move is not None and self.move.check is not None

    def history(self, **filters):
        return WorkflowHistory.objects.filter(
            content_type=ContentType.objects.get_for_model(self.model),
            object_id=Cast(OuterRef("pk"), CharField()),
            **filters,
        )

    def waiting(self, own: set[int]):
        return self.qs.exclude(pk__in=own) if own else self.qs


def _checks(user) -> list[_Check]:
    """Every checker move the user's role may make, with the objects waiting for it."""
    from .settlements import SETTLEMENT_WORKFLOW

    out = []
    for p in programmes():
        for m in p.workflow.moves:
            if m.checker_of and user.role in m.roles:
                qs = access.cases_workable(user).filter(programme=p.code, state__in=m.sources)
                out.append(_Check(Case, m.checker_of, tuple(m.sources), qs, "opened_on", p, m))
    moves = [m for m in SETTLEMENT_WORKFLOW.moves if m.checker_of and user.role in m.roles]
    if moves:
        sources = tuple(sorted({s for m in moves for s in m.sources}))
        out.append(
            _Check(
                Settlement,
                tuple(sorted({c for m in moves for c in m.checker_of})),
                sources,
                access.settlements_workable(user).filter(state__in=sources),
                "created_at",
            )
        )
    return [c for c in out if not c.qs.query.is_empty()]


def _history_rows(wanted: list[tuple[_Check, list[int]]], field: str) -> dict[tuple[type, int], list[tuple]]:
    """One query: the history rows of the objects in ``wanted`` (per check, its object ids) that concern the
    check (``field`` "move": its ``checker_of`` moves; "to_state": entering one of its sources), oldest first,
    as ``(model, id) -> [(move or state, by, at), ...]``."""
    cond = Q()
    for check, ids in wanted:
        if ids:
            cond |= Q(
                content_type=ContentType.objects.get_for_model(check.model),
                object_id__in=[str(i) for i in ids],
                **{f"{field}__in": check.checker_of if field == "move" else check.sources},
            )
    if not cond:
        return {}
    models = {ContentType.objects.get_for_model(c.model).pk: c.model for c, _ids in wanted}
    out: dict[tuple[type, int], list[tuple]] = {}
    rows = WorkflowHistory.objects.filter(cond).order_by("at", "id")
    for ct, oid, what, by, at in rows.values_list("content_type_id", "object_id", field, "by_id", "at"):
        out.setdefault((models[ct], int(oid)), []).append((what, by, at))
    return out


def _latest(rows: list[tuple], among) -> tuple | None:
    """The last of ``rows`` (oldest first) whose move or state is ``among``."""
    return next((r for r in reversed(rows) if r[0] in among), None)


class _Sql:
    """Plain SQL around each check's waiting objects, compiled once per request (building an ORM query per
    count was most of the page's Python time): ``bases`` select the id (``wl_id``) and the fallback date
    (``wl_since``) of the objects waiting for each check, scoped by ``access``; the counts and the maker's
    moves are read around them."""

    def __init__(self, checks: list[_Check]):
        from django.db import connection

        q = connection.ops.quote_name
        self.ops = connection.ops
        self.bases = [
            c.qs.order_by()
            .values(wl_id=F("pk"), wl_since=F(c.fallback))
            .query.get_compiler(connection=connection)
            .as_sql()
            for c in checks
        ]
        self.types = [ContentType.objects.get_for_model(c.model).pk for c in checks]
        h = {f: q(WorkflowHistory._meta.get_field(f).column) for f in ("content_type", "object_id", "move")}
        h.update({f: q(WorkflowHistory._meta.get_field(f).column) for f in ("to_state", "by", "at")})
        self.h, self.table = h, q(WorkflowHistory._meta.db_table)

    def history(self, n: int, column: str, values, extra: str = "") -> tuple[str, list]:
        """``EXISTS`` a history row of the object ``b`` with ``column`` among ``values``."""
        h = self.h
        return (
            f"EXISTS (SELECT 1 FROM {self.table} h WHERE h.{h['content_type']} = %s AND "
            f"h.{h['object_id']} = CAST(b.wl_id AS VARCHAR(64)) AND h.{h[column]} IN "
            f"({', '.join(['%s'] * len(values))}){extra})",
            [self.types[n], *values],
        )

    def recent(self, n: int, states, since: datetime) -> tuple[str, list]:
        """The ids of the objects with a history row entering one of ``states`` since ``since``."""
        h = self.h
        return (
            f"SELECT CAST(h.{h['object_id']} AS BIGINT) FROM {self.table} h WHERE h.{h['content_type']} = %s "
            f"AND h.{h['to_state']} IN ({', '.join(['%s'] * len(states))}) AND h.{h['at']} >= %s",
            [self.types[n], *states, self.ops.adapt_datetimefield_value(since)],
        )

    def not_own(self, n: int, own: set[int]) -> tuple[str, list]:
        if not own:
            return "", []
        return f" AND b.wl_id NOT IN ({', '.join(['%s'] * len(own))})", sorted(own)

    def run(self, parts: list[tuple[str, list]]) -> list[tuple]:
        from django.db import connection

        if not parts:
            return []
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(sql for sql, _p in parts), [x for _s, p in parts for x in p])
            return cursor.fetchall()


def _own(user, checks: list[_Check], sql: _Sql) -> list[set[int]]:
    """Per check, the ids of the waiting objects whose latest ``checker_of`` move the user made (not theirs to
    check). Two queries for every check together: the waiting objects the user ever made such a move on (the
    ``by`` index), then those objects' ``checker_of`` moves."""
    parts = []
    for n, c in enumerate(checks):
        base, params = sql.bases[n]
        made, made_params = sql.history(n, "move", c.checker_of, f" AND h.{sql.h['by']} = %s")
        parts.append((f"SELECT {n}, b.wl_id FROM ({base}) b WHERE {made}", [*params, *made_params, user.pk]))
    touched: list[list[int]] = [[] for _ in checks]
    for n, pk in sql.run(parts):
        touched[n].append(pk)
    history = _history_rows(list(zip(checks, touched, strict=True)), "move")
    own = []
    for check, ids in zip(checks, touched, strict=True):
        latest = {pk: _latest(history.get((check.model, pk), []), check.checker_of) for pk in ids}
        own.append({pk for pk, row in latest.items() if row and row[1] == user.pk})
    return own


def _review_counts(
    checks: list[_Check], own: list[set[int]], cutoff: date | None, sql: _Sql
) -> list[tuple[int, int]]:
    """Per check, how many objects wait for it and (with ``cutoff``) how many of them are overdue: all but
    those that entered their state since ``cutoff`` — those with an entering history row since (a short list:
    the history index on type, state and time), and those opened since without any history row (roster
    imports of the last days). One ``UNION ALL`` of counts for every check together, each on its index."""
    parts = []
    for n, check in enumerate(checks):
        if check.per_object:
            continue
        base, params = sql.bases[n]
        mine, mine_params = sql.not_own(n, own[n])
        head = f"FROM ({base}) b WHERE 1 = 1{mine}"
        parts.append((f"SELECT {n}, 0, COUNT(*) {head}", [*params, *mine_params]))
        if cutoff:
            recent, recent_params = sql.recent(n, check.sources, _start_of(cutoff))
            parts.append(
                (
                    f"SELECT {n}, 1, COUNT(*) {head} AND b.wl_id IN ({recent})",
                    [*params, *mine_params, *recent_params],
                )
            )
            since = (  # opened on or after the cutoff day (a settlement: created since its start)
                sql.ops.adapt_datetimefield_value(_start_of(cutoff))
                if check.fallback == "created_at"
                else sql.ops.adapt_datefield_value(cutoff)
            )
            entered, entered_params = sql.history(n, "to_state", check.sources)
            parts.append(
                (
                    f"SELECT {n}, 2, COUNT(*) {head} AND b.wl_since >= %s "
                    f"AND b.wl_id NOT IN ({recent}) AND NOT {entered}",
                    [*params, *mine_params, since, *recent_params, *entered_params],
                )
            )
    counts = [[0, 0] for _ in checks]
    for k, j, n in sql.run(parts):
        counts[k][0] += n if j == 0 else 0
        counts[k][1] += n if j == 0 else -n
    return [(total, late if cutoff else 0) for total, late in counts]


_CASE_ROW = ("pk", "state", "opened_on", "person__name")
_SETTLEMENT_ROW = ("pk", "created_at", "institution__name", "month", "amount_asked", "programme")


def _first_waiting(checks: list[_Check], own: list[set[int]], limit: int | None) -> list[list[tuple]]:
    """Per check, its first ``limit`` waiting objects (least recently moved first) as plain rows ending with
    when the object entered its state (its latest history row entering a source state: read for the rows
    listed only): the case checks in one query (``UNION ALL`` of their ``LIMIT`` subqueries where the
    database allows it), the settlements in another."""
    from django.db import connection

    def rows(n, check):
        fields = _CASE_ROW if check.model is Case else _SETTLEMENT_ROW
        entered = check.history(to_state__in=check.sources).order_by("-at", "-id").values("at")[:1]
        qs = (
            check.waiting(own[n])
            .order_by("updated_at", "id")
            .annotate(entered=Subquery(entered))
            .values_list(Value(n), *fields, "entered")
        )
        return qs[:limit] if limit else qs

    out: list[list[tuple]] = [[] for _ in checks]
    cases = [rows(n, c) for n, c in enumerate(checks) if c.model is Case]
    others = [rows(n, c) for n, c in enumerate(checks) if c.model is not Case]
    for group in (cases, others):
        if len(group) > 1 and connection.features.supports_slicing_ordering_in_compound:
            group = [group[0].union(*group[1:], all=True)]
        for qs in group:
            for n, *row in qs:
                out[n].append(tuple(row))
    return out


def _review_items(user, checks, own, today: date, limit: int | None, days) -> list[WorkItem]:
    """The first ``limit`` objects waiting for each check (least recently moved first) as work items, due
    ``worklist.review_days`` after they entered their state."""
    plain = [c for c in checks if not c.per_object]
    plain_own = [own[checks.index(c)] for c in plain]
    waiting = _first_waiting(plain, plain_own, limit)
    settlements = reverse("casework:settlement_list")
    items = []
    for check, rows in zip(plain, waiting, strict=True):
        for row in rows:
            pk, entered = row[0], row[-1]
            if check.model is Case:
                _pk, state, opened_on, name, _entered = row
                since = timezone.localtime(entered).date() if entered else opened_on
                due = since + timedelta(days=days(since))
                title = f"{name}：{check.move.label}（{check.programme.workflow.state_label(state)}）"
                items.append(WorkItem("待审核", check.programme.name, title, due, _case_url(pk), due < today))
            else:
                _pk, created_at, institution, month, amount, programme, _entered = row
                since = timezone.localtime(entered or created_at).date()
                due = since + timedelta(days=days(since))
                items.append(
                    WorkItem(
                        "结算核定",
                        programme and _programme_name(programme),
                        f"{institution} {month:%Y年%m月} 申报 {amount} 元",
                        due,
                        f"{settlements}#settlement-{pk}",
                        due < today,
                    )
                )
    return items


def _per_object_items(user, check: _Check, own: set[int], today: date, days) -> list[WorkItem]:
    """Every object waiting for a check with a per-object condition (``Move.check``): read one by one."""
    rows = [c for c in check.waiting(own).select_related("person").order_by("updated_at", "id")]
    rows = [c for c in rows if check.move.check(user, c)]
    entered = _history_rows([(check, [r.pk for r in rows])], "to_state")
    items = []
    for r in rows:
        last = _latest(entered.get((Case, r.pk), []), check.sources)
        since = timezone.localtime(last[2]).date() if last else r.opened_on
        due = since + timedelta(days=days(since))
        title = f"{r.person.name}：{check.move.label}（{r.state_label}）"
        items.append(WorkItem("待审核", check.programme.name, title, due, _case_url(r.pk), due < today))
    return items


def _case_url(pk: int, anchor: str = "") -> str:
    """``reverse("casework:case_detail", args=[pk])`` without resolving the pattern for every row."""
    prefix, suffix = _case_url_parts()
    return f"{prefix}{pk}{suffix}{anchor}"


@cache
def _case_url_parts() -> tuple[str, str]:
    prefix, suffix = reverse("casework:case_detail", args=[987654321]).split("987654321")
    return prefix, suffix


def _programme_name(code: str) -> str:
    try:
        return programme_get(code).name
    except Exception:
        return code


def _can_work(user) -> bool:
    return access.can_read_cases(user) and user.role != "leader"


# ---- the page, the counts, the badge ------------------------------------------------------------------------


def worklist_page(
    user, *, today: date | None = None, limit: int | None = PAGE_SIZE
) -> tuple[list[WorkItem], WorklistSummary]:
    """The first ``limit`` items due or overdue for ``user`` (all of them with ``limit=None``), overdue
    first, then by due date; and how many there are in all and overdue (counted in the database)."""
    if not access.can_read_cases(user):
        return [], WorklistSummary(0, 0)
    today = today or timezone.localdate()
    items, total, overdue = _due_page(user, today, limit)
    days = _review_days()
    checks = _checks(user)
    sql = _Sql(checks)
    own = _own(user, checks, sql)
    counts = _review_counts(checks, own, _review_cutoff(today, days), sql)
    total += sum(n for n, _late in counts)
    overdue += sum(late for _n, late in counts)
    items += _review_items(user, checks, own, today, limit, days)
    for n, check in enumerate(checks):
        if check.per_object:  # a per-case condition: every waiting case is read
            every = _per_object_items(user, check, own[n], today, days)
            total += len(every)
            overdue += sum(1 for i in every if i.overdue)
            items += every
    items.sort(key=lambda i: (not i.overdue, i.due_on, i.title))
    return (items[:limit] if limit else items), WorklistSummary(total, overdue)


def worklist(user, *, today: date | None = None, limit: int | None = PAGE_SIZE) -> list[WorkItem]:
    """The first ``limit`` items due or overdue for ``user``, overdue first, then by due date."""
    return worklist_page(user, today=today, limit=limit)[0]


def worklist_summary(user, *, today: date | None = None) -> WorklistSummary:
    """How many items are waiting for ``user`` and how many of them are overdue: counted in the database."""
    if not _can_work(user):
        return WorklistSummary(0, 0)
    return worklist_page(user, today=today, limit=1)[1]


def _stage_label(programme: str, kind: str) -> str:
    rule = next((r for r in programme_get(programme).due_rules if r.kind == kind), None)
    return rule.label if rule else kind


def worklist_count(user, *, today: date | None = None) -> int:
    """The badge: due items, reviews and settlements waiting for ``user`` (0 for readers who cannot act),
    counted in the database."""
    if not _can_work(user):
        return 0
    today = today or timezone.localdate()
    total = _due_items(user, today).count()
    checks = _checks(user)
    sql = _Sql(checks)
    own = _own(user, checks, sql)
    total += sum(n for n, _late in _review_counts(checks, own, None, sql))
    for n, check in enumerate(checks):
        if check.per_object:
            total += sum(1 for c in check.waiting(own[n]) if check.move.check(user, c))
    return total
