"""我的待办: what is due or overdue for one user across every programme on the case engine.

Three kinds of work, each scoped exactly as the page that does it:
- occurrences of repeatable stages (return visits, sessions) of cases the user may work on, due within
  ``HORIZON_DAYS`` or overdue;
- reviews waiting for a checker: a case in a source state of a move with ``checker_of`` that the user's role
  may make, unless the user made the move it checks (maker ≠ checker); due ``worklist.review_days`` after the
  case entered that state;
- settlements submitted by an institution waiting for a district checker who did not submit them.

Sorted overdue first, then by due date. Reads only; ``worklist_count`` is the navigation badge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from canlian.common.models import WorkflowHistory

from . import access
from .models import Case, DueItem, Settlement
from .programme import parameters, programmes

HORIZON_DAYS = 7
LIMIT = 500  # rows per kind on the page; the count is exact


@dataclass(frozen=True)
class WorkItem:
    kind: str  # Chinese: 回访 / 待审核 / 结算核定
    programme: str
    title: str
    due_on: date
    url: str
    overdue: bool


def _review_days(day: date) -> int:
    return int(parameters().at("worklist.review_days", day))


def _due_items(user, today: date):
    return (
        access.due_items_visible(user)
        .filter(case__in=access.cases_workable(user))
        .filter(done_on__isnull=True, cancelled=False, due_on__lte=today + timedelta(days=HORIZON_DAYS))
    )


def _review_candidates(user):
    """(programme, move, case queryset) for every checker move the user's role may make."""
    out = []
    for p in programmes():
        for m in p.workflow.moves:
            if m.checker_of and user.role in m.roles:
                qs = access.cases_workable(user).filter(programme=p.code, state__in=m.sources)
                out.append((p, m, qs))
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


def _reviews(user, today: date, *, limit: int | None = LIMIT) -> list[WorkItem]:
    items = []
    for p, m, qs in _review_candidates(user):
        cases = list(qs.select_related("person").order_by("updated_at", "id")[:limit] if limit else qs)
        ids = [c.pk for c in cases]
        makers = _history(Case, ids, moves=m.checker_of)
        entered = _history(Case, ids, states=m.sources)
        for c in cases:
            if makers.get(c.pk, (None,))[0] == user.pk:
                continue
            if m.check is not None and not m.check(user, c):
                continue
            since = timezone.localtime(entered[c.pk][1]).date() if c.pk in entered else c.opened_on
            due = since + timedelta(days=_review_days(since))
            items.append(
                WorkItem(
                    "待审核",
                    p.name,
                    f"{c.person.name}：{m.label}（{c.state_label}）",
                    due,
                    reverse("casework:case_detail", args=[c.pk]),
                    due < today,
                )
            )
    return items


def _settlements(user, today: date) -> list[WorkItem]:
    from .settlements import SETTLEMENT_WORKFLOW

    moves = [m for m in SETTLEMENT_WORKFLOW.moves if m.checker_of and user.role in m.roles]
    if not moves:
        return []
    sources = {s for m in moves for s in m.sources}
    rows = list(
        access.settlements_workable(user).filter(state__in=sources).select_related("institution")[:LIMIT]
    )
    ids = [s.pk for s in rows]
    makers = _history(Settlement, ids, moves={c for m in moves for c in m.checker_of})
    entered = _history(Settlement, ids, states=sources)
    items = []
    for s in rows:
        if makers.get(s.pk, (None,))[0] == user.pk:
            continue
        since = timezone.localtime(entered[s.pk][1]).date() if s.pk in entered else s.created_at.date()
        due = since + timedelta(days=_review_days(since))
        items.append(
            WorkItem(
                "结算核定",
                s.programme and _programme_name(s.programme),
                f"{s.institution.name} {s.month:%Y年%m月} 申报 {s.amount_asked} 元",
                due,
                reverse("casework:settlement_list") + f"#settlement-{s.pk}",
                due < today,
            )
        )
    return items


def _programme_name(code: str) -> str:
    from .programme import programme_get

    try:
        return programme_get(code).name
    except Exception:
        return code


def worklist(user, *, today: date | None = None) -> list[WorkItem]:
    """Everything due or overdue for ``user``, overdue first, then by due date."""
    if not access.can_read_cases(user):
        return []
    today = today or timezone.localdate()
    items = [
        WorkItem(
            f"第{d.seq}次{_stage_label(d)}",
            d.case.programme_def.name,
            f"{d.case.person.name}",
            d.due_on,
            reverse("casework:case_detail", args=[d.case_id]) + "#due",
            d.due_on < today,
        )
        for d in _due_items(user, today).select_related("case__person").order_by("due_on", "id")[:LIMIT]
    ]
    items += _reviews(user, today)
    items += _settlements(user, today)
    return sorted(items, key=lambda i: (not i.overdue, i.due_on, i.title))


def _stage_label(item: DueItem) -> str:
    rule = next((r for r in item.case.programme_def.due_rules if r.kind == item.kind), None)
    return rule.label if rule else item.kind


def worklist_count(user, *, today: date | None = None) -> int:
    """The badge: due items, reviews and settlements waiting for ``user`` (0 for readers who cannot act)."""
    if not access.can_read_cases(user) or user.role == "leader":
        return 0
    today = today or timezone.localdate()
    return (
        _due_items(user, today).count()
        + len(_reviews(user, today, limit=None))
        + len(_settlements(user, today))
    )
