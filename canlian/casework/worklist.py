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
only the first ``limit`` items of the page: each kind's earliest rows are fetched with a LIMIT, the few rows
shown get their history read, and nothing is decided per row of the whole table in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import NamedTuple

from django.contrib.contenttypes.models import ContentType
from django.db.models import BigIntegerField, CharField, Exists, OuterRef
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone

from canlian.common.models import WorkflowHistory

from . import access
from .models import Case, Settlement
from .programme import parameters, programme_get, programmes

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
    """Days allowed for a review whose state was entered on a day (read once per call of the page: the
    parameters come from the database); before the first dated value, the first one (a case waiting since
    before the parameter was set is judged by it rather than failing the page)."""
    p = parameters()["worklist.review_days"]

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

    def history(self, **filters):
        return WorkflowHistory.objects.filter(
            content_type=ContentType.objects.get_for_model(self.model),
            object_id=Cast(OuterRef("pk"), CharField()),
            **filters,
        )

    def own(self, user) -> set[int]:
        """Ids of the waiting objects whose latest ``checker_of`` move the user made (not theirs to check):
        only the objects the user ever made such a move on are looked at."""
        touched = list(
            self.qs.filter(Exists(self.history(move__in=self.checker_of, by_id=user.pk))).values_list(
                "pk", flat=True
            )
        )
        makers = _history(self.model, touched, moves=self.checker_of)
        return {pk for pk in touched if makers.get(pk, (None,))[0] == user.pk}

    def count_overdue(self, qs, cutoff: date, total: int) -> int:
        """How many of ``qs`` (``total``) entered their state before ``cutoff``: all but those with an entering
        history row since (a short list: the history index on type, state and time) and those opened since
        without any history row (roster imports of the last days)."""
        recent = WorkflowHistory.objects.filter(
            content_type=ContentType.objects.get_for_model(self.model),
            to_state__in=self.sources,
            at__gte=_start_of(cutoff),
        ).values(oid=Cast("object_id", BigIntegerField()))
        since = _start_of(cutoff) if self.fallback == "created_at" else cutoff
        fresh = (
            qs.filter(pk__in=recent).count()
            + qs.filter(**{f"{self.fallback}__gte": since})
            .exclude(pk__in=recent)
            .exclude(Exists(self.history(to_state__in=self.sources)))
            .count()
        )
        return total - fresh


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
    return out


def _history(model, ids: list[int], moves=None, states=None):
    """Latest history row per object id among ``moves`` (or entering one of ``states``)."""
    if not ids:
        return {}
    qs = WorkflowHistory.objects.filter(
        content_type=ContentType.objects.get_for_model(model), object_id__in=[str(i) for i in ids]
    )
    if moves is not None:
        qs = qs.filter(move__in=moves)
    if states is not None:
        qs = qs.filter(to_state__in=states)
    latest = {}
    for oid, by, at in qs.order_by("at", "id").values_list("object_id", "by_id", "at"):
        latest[int(oid)] = (by, at)
    return latest


def _since(entered: dict, obj, fallback: date) -> date:
    return timezone.localtime(entered[obj.pk][1]).date() if obj.pk in entered else fallback


def _check_items(user, check: _Check, today: date, own: set[int], limit: int | None, days) -> list[WorkItem]:
    """The first ``limit`` objects waiting for ``check`` (least recently moved first) as work items."""
    if check.model is Case and check.move.check is None:  # plain rows: no model instance per row
        qs = check.qs.exclude(pk__in=own) if own else check.qs
        qs = qs.order_by("updated_at", "id").values_list("pk", "state", "opened_on", "person__name")
        rows = list(qs[:limit] if limit else qs)
        entered = _history(Case, [r[0] for r in rows], states=check.sources)
        label, state_label = check.move.label, check.programme.workflow.state_label
        items = []
        for pk, state, opened_on, name in rows:
            since = timezone.localtime(entered[pk][1]).date() if pk in entered else opened_on
            due = since + timedelta(days=days(since))
            items.append(
                WorkItem(
                    "待审核",
                    check.programme.name,
                    f"{name}：{label}（{state_label(state)}）",
                    due,
                    _case_url(pk),
                    due < today,
                )
            )
        return items
    if check.model is Case:
        qs = check.qs.select_related("person")
    else:
        qs = check.qs.select_related("institution")
    qs = qs.order_by("updated_at", "id")
    if own:
        qs = qs.exclude(pk__in=own)
    rows = list(qs[:limit] if limit else qs)
    if check.move is not None and check.move.check is not None:
        rows = [c for c in rows if check.move.check(user, c)]
    entered = _history(check.model, [r.pk for r in rows], states=check.sources)
    items = []
    for r in rows:
        if check.model is Case:
            since = _since(entered, r, r.opened_on)
            due = since + timedelta(days=days(since))
            items.append(
                WorkItem(
                    "待审核",
                    check.programme.name,
                    f"{r.person.name}：{check.move.label}（{r.state_label}）",
                    due,
                    _case_url(r.pk),
                    due < today,
                )
            )
        else:
            since = _since(entered, r, timezone.localtime(r.created_at).date())
            due = since + timedelta(days=days(since))
            items.append(
                WorkItem(
                    "结算核定",
                    r.programme and _programme_name(r.programme),
                    f"{r.institution.name} {r.month:%Y年%m月} 申报 {r.amount_asked} 元",
                    due,
                    reverse("casework:settlement_list") + f"#settlement-{r.pk}",
                    due < today,
                )
            )
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
    dues = _due_items(user, today)
    shown = dues.order_by("due_on", "id").values_list(
        "seq", "kind", "due_on", "case_id", "case__programme", "case__person__name"
    )
    items = [
        WorkItem(
            f"第{seq}次{_stage_label(programme, kind)}",
            programme_get(programme).name,
            name,
            due_on,
            _case_url(case_id, "#due"),
            due_on < today,
        )
        for seq, kind, due_on, case_id, programme, name in (shown[:limit] if limit else shown)
    ]
    total, overdue = dues.count(), dues.filter(due_on__lt=today).count()
    days = _review_days()
    cutoff = _review_cutoff(today, days)
    for check in _checks(user):
        own = check.own(user)
        waiting = check.qs.exclude(pk__in=own) if own else check.qs
        if check.move is not None and check.move.check is not None:  # a per-case condition: read the cases
            every = _check_items(user, check, today, own, None, days)
            total += len(every)
            overdue += sum(1 for i in every if i.overdue)
            items += every[:limit] if limit else every
            continue
        items += _check_items(user, check, today, own, limit, days)
        n = waiting.count()
        total += n
        overdue += check.count_overdue(waiting, cutoff, n) if n else 0
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
    for check in _checks(user):
        own = check.own(user)
        qs = check.qs.exclude(pk__in=own) if own else check.qs
        if check.move is not None and check.move.check is not None:
            total += sum(1 for c in qs if check.move.check(user, c))
        else:
            total += qs.count()
    return total
