"""Writes on cases: open, move (through the programme's workflow), record a due occurrence, attach a file,
read an attachment (audited). Every function is atomic, keyword-only, scoped and audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from canlian.accounts.models import Role
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.workflow import transition

from . import access
from .models import Attachment, Case, DueItem, case_repr
from .programme import DueRule, parameters, programme_get

MAX_ATTACHMENT = 10 * 1024 * 1024
OPEN_SLICE = 10_000  # cases built and written at a time by case_open_many (memory: ~10 due items a case)


def _check_institution(programme, institution, on: date) -> None:
    if institution is None:
        return
    if programme.institution_kinds and institution.kind not in programme.institution_kinds:
        raise ValidationFailed({"institution": f"“{institution.name}”不是{programme.name}的服务机构类型"})
    if not institution.designated_on(on):
        raise ValidationFailed({"institution": f"“{institution.name}”在 {on:%Y-%m-%d} 不在认定有效期内"})


def _open_checks(acting_user, p) -> None:
    from canlian.accounts import access as core

    if not (core._active(acting_user) and acting_user.role in {Role.DISTRICT_STAFF, Role.TOWN_STAFF}):
        raise PermissionDenied(f"您无权登记{p.name}个案")


def _open_values(p, *, opened_on, closed_on, institution, state, data) -> tuple[str, dict]:
    """The checked state and programme data of a case about to be opened (ValidationFailed otherwise)."""
    if closed_on and closed_on < opened_on:
        raise ValidationFailed({"closed_on": "结束日期不能早于开始日期"})
    state = state or p.workflow.initial
    if state not in p.workflow.states:
        raise ValidationFailed({"state": f"未知的状态“{state}”"})
    _check_institution(p, institution, opened_on)
    return state, {k: v for k, v in (data or {}).items() if k in p.data_fields}


def _opening_rules(p, state: str) -> list[DueRule]:
    # a stage scheduled by a move is also scheduled when the case is opened directly in that move's state
    # (a roster of people already placed)
    return [r for r in p.due_rules if not r.start_move or p.workflow.move(r.start_move).target == state]


def _open_changes(*, person, state, opened_on, closed_on, institution, clean, scheduled) -> dict:
    return {
        "person": [None, person.pk],
        "state": [None, state],
        "opened_on": [None, opened_on.isoformat()],
        "closed_on": [None, closed_on.isoformat() if closed_on else None],
        "institution": [None, institution.name if institution else None],
        "data": [None, clean],
        "due_items": [None, scheduled],
    }


@transaction.atomic
def case_open(
    *,
    acting_user,
    programme: str,
    person,
    opened_on: date,
    institution=None,
    closed_on: date | None = None,
    state: str | None = None,
    data: dict | None = None,
    source: str = "web",
) -> Case:
    """Open a case in the programme's initial state (an import of a running roster may open it in a later
    state, e.g. custodial care placed). Town staff open cases for persons of their town only."""
    from canlian.accounts import access as core

    p = programme_get(programme)
    _open_checks(acting_user, p)
    if not core.persons_visible(acting_user).filter(pk=person.pk).exists():
        raise PermissionDenied("未找到该残疾人，或您无权为其登记")
    state, clean = _open_values(
        p, opened_on=opened_on, closed_on=closed_on, institution=institution, state=state, data=data
    )
    case = Case.objects.create(
        person=person,
        programme=p.code,
        town_id=person.town_id,
        institution=institution,
        state=state,
        opened_on=opened_on,
        closed_on=closed_on,
        data=clean,
        source=source,
        created_by=acting_user,
    )
    scheduled = sum(_schedule(case, rule) for rule in _opening_rules(p, state))
    audit_record(
        acting_user=acting_user,
        action=f"case.{p.code}.open",
        obj=case,
        changes=_open_changes(
            person=person,
            state=state,
            opened_on=opened_on,
            closed_on=closed_on,
            institution=institution,
            clean=clean,
            scheduled=scheduled,
        ),
    )
    return case


@dataclass(frozen=True)
class Opening:
    """One case for ``case_open_many``: the arguments of ``case_open`` but the programme and source."""

    person: object
    opened_on: date
    institution: object = None
    closed_on: date | None = None
    state: str | None = None
    data: dict | None = None


def _reserve_ids(model, count: int) -> list[int]:
    """``count`` new primary keys for rows written in bulk without reading them back. PostgreSQL: from the
    table's sequence. SQLite: after the largest ever handed out (``sqlite_sequence``, AUTOINCREMENT), safe
    because the transaction holds the write lock from its start (``transaction_mode`` IMMEDIATE); were it
    not, a concurrent insert would collide on the primary key and roll this transaction back."""
    from canlian.common.bulk import reserve_pks

    ids = reserve_pks(model, count)
    if ids is not None or count <= 0:
        return ids or []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("_reserve_ids must run inside a transaction")
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        cursor.execute(f"SELECT MAX({connection.ops.quote_name(model._meta.pk.column)}) FROM {table}")
        top = max(row[0] if row else 0, cursor.fetchone()[0] or 0)
    return list(range(top + 1, top + 1 + count))


@transaction.atomic
def case_open_many(
    *,
    acting_user,
    programme: str,
    openings: list[Opening],
    source: str = "import",
    progress=None,
    params=None,
    schedules: dict | None = None,
) -> list[int]:
    """``case_open`` for many cases at once (a roster import of 100,000 rows): the same checks (the user's
    role, each person visible to them, dates, state, institution) and exactly the same rows (cases, their
    scheduled due items, one ``case.<programme>.open`` audit row each; like ``case_open``, no workflow
    history, as opening is not a move), written set-based in this transaction (``common.bulk``: COPY on
    PostgreSQL, executemany on SQLite). Returns the new cases' ids, in order.

    ``params`` (the parameter set, read here if not given) and ``schedules`` (a memo of due dates by rule,
    start and end) let the calls of one sliced import share what they read and computed."""
    from canlian.accounts import access as core
    from canlian.common.audit import audit_record_many
    from canlian.common.bulk import insert_rows, write_cache

    p = programme_get(programme)
    _open_checks(acting_user, p)
    if not openings:
        return []
    pids = sorted({o.person.pk for o in openings})
    scope = core.persons_visible(acting_user)
    visible = set()
    for start in range(0, len(pids), 2000):
        visible.update(scope.filter(pk__in=pids[start : start + 2000]).values_list("pk", flat=True))
    if len(visible) != len(pids):
        raise PermissionDenied("未找到该残疾人，或您无权为其登记")
    checked = [
        _open_values(
            p,
            opened_on=o.opened_on,
            closed_on=o.closed_on,
            institution=o.institution,
            state=o.state,
            data=o.data,
        )
        for o in openings
    ]
    now, params = timezone.now(), params or parameters()
    ids = _reserve_ids(Case, len(openings))
    rules = {state: _opening_rules(p, state) for state in {state for state, _ in checked}}
    # (kind, start, end) → due dates: many cases share a start, each is scheduled once
    schedules = {} if schedules is None else schedules
    report = progress or (lambda done, total, message="": None)
    with write_cache():  # ~10 due items a case, their due dates in random order: see common.bulk
        for first in range(0, len(openings), OPEN_SLICE):  # a slice at a time: ~10 due items a case
            cases, items, entries = [], [], []
            part = slice(first, first + OPEN_SLICE)
            for o, (state, clean), pk in zip(openings[part], checked[part], ids[part], strict=True):
                cases.append(
                    {
                        "id": pk,
                        "person_id": o.person.pk,
                        "programme": p.code,
                        "town_id": o.person.town_id,
                        "institution_id": o.institution.pk if o.institution else None,
                        "state": state,
                        "opened_on": o.opened_on,
                        "closed_on": o.closed_on,
                        "data": clean,
                        "source": source,
                        "created_by_id": acting_user.pk,
                    }
                )
                scheduled = 0
                for rule in rules[state]:
                    key = (rule.kind, o.opened_on, o.closed_on)
                    days = schedules.get(key)
                    if days is None:
                        days = schedules[key] = rule.schedule(o.opened_on, until=o.closed_on, params=params)
                    items.extend(
                        {"case_id": pk, "kind": rule.kind, "seq": seq, "due_on": day}
                        for seq, day in enumerate(days, start=1)
                    )
                    scheduled += len(days)
                entries.append(
                    {
                        "object_type": Case._meta.label_lower,
                        "object_id": pk,
                        "object_repr": case_repr(p.name, o.person.name, o.opened_on),
                        "changes": _open_changes(
                            person=o.person,
                            state=state,
                            opened_on=o.opened_on,
                            closed_on=o.closed_on,
                            institution=o.institution,
                            clean=clean,
                            scheduled=scheduled,
                        ),
                    }
                )
            insert_rows(Case, cases, now=now, with_pk=True)
            insert_rows(DueItem, items, now=now)
            audit_record_many(acting_user=acting_user, action=f"case.{p.code}.open", entries=entries)
            report(first + len(cases), len(openings), "写入中")
    return ids


def _schedule(case: Case, rule: DueRule, *, anchor: date | None = None) -> int:
    days = rule.schedule(anchor or case.opened_on, until=case.closed_on)
    start = (
        DueItem.objects.filter(case=case, kind=rule.kind)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    ) or 0
    DueItem.objects.bulk_create(
        [DueItem(case=case, kind=rule.kind, seq=start + i, due_on=d) for i, d in enumerate(days, start=1)]
    )
    return len(days)


def schedule_effect(rule_kind: str):
    """A workflow ``effect`` that schedules a programme's repeatable stage when a move is made (anchored on
    the case's start date)."""

    def effect(case: Case, *, acting_user, data, history):
        rule = next(r for r in case.programme_def.due_rules if r.kind == rule_kind)
        return {"due_items": [None, _schedule(case, rule)]}

    return effect


def data_effect(*keys):
    """A workflow ``effect`` that keeps the move's fields on ``Case.data`` (shown on the case page, imported,
    not counted on); dates as ISO text. The audit row gets each field's old and new value."""

    def effect(case: Case, *, acting_user, data, history):
        old = dict(case.data)
        for k in keys:
            if k in data:
                v = data[k]
                case.data[k] = v.isoformat() if isinstance(v, date) else str(v).strip()
        case.save(update_fields=["data"])
        return {k: [old.get(k), case.data.get(k)] for k in keys if k in data}

    return effect


def close_effect(case: Case, *, acting_user, data, history):
    """A workflow ``effect`` for a closing move: cancel the occurrences due after the closing date."""
    n = DueItem.objects.filter(case=case, done_on__isnull=True, due_on__gt=case.closed_on).update(
        cancelled=True
    )
    return {"due_items_cancelled": [None, n]}


@transaction.atomic
def case_update(
    *,
    acting_user,
    case: Case,
    institution=None,
    closed_on: date | None = None,
    close_reason: str = "",
    data: dict | None = None,
) -> Case:
    """Correct a case's institution, end date or programme fields (a roster re-import); audited field by
    field. Occurrences due after a new end date are cancelled."""
    try:
        locked = access.cases_workable(acting_user).select_for_update().get(pk=case.pk)
    except Case.DoesNotExist:
        raise PermissionDenied("未找到该个案，或您无权修改") from None
    p = locked.programme_def
    if closed_on and closed_on < locked.opened_on:
        raise ValidationFailed({"closed_on": "结束日期不能早于开始日期"})
    changes, fields = {}, []
    if institution is not None and institution.pk != locked.institution_id:
        _check_institution(p, institution, locked.opened_on)
        changes["institution"] = [locked.institution.name if locked.institution else None, institution.name]
        locked.institution = institution
        fields.append("institution")
    if closed_on != locked.closed_on:
        changes["closed_on"] = [
            locked.closed_on and locked.closed_on.isoformat(),
            closed_on and closed_on.isoformat(),
        ]
        locked.closed_on = closed_on
        fields.append("closed_on")
        if close_reason:
            locked.close_reason = close_reason
            fields.append("close_reason")
    new_data = {**locked.data, **{k: v for k, v in (data or {}).items() if k in p.data_fields}}
    if new_data != locked.data:
        changes["data"] = [locked.data, new_data]
        locked.data = new_data
        fields.append("data")
    if not fields:
        return locked
    locked.version += 1
    locked.save(update_fields=[*fields, "version", "updated_at"])
    if "closed_on" in fields and closed_on:
        changes["due_items_cancelled"] = [
            None,
            DueItem.objects.filter(
                case=locked, done_on__isnull=True, cancelled=False, due_on__gt=closed_on
            ).update(cancelled=True),
        ]
    audit_record(acting_user=acting_user, action=f"case.{p.code}.update", obj=locked, changes=changes)
    return locked


def case_move(*, acting_user, case: Case, move: str, expected_state: str, note: str = "", **data) -> Case:
    """One move of the programme's workflow; the engine locks, checks roles, scope, maker ≠ checker and
    required fields, and writes history and audit."""
    return transition(case, move, acting_user=acting_user, expected_state=expected_state, note=note, **data)


@transaction.atomic
def due_item_complete(*, acting_user, item: DueItem, done_on: date, note: str) -> DueItem:
    try:
        locked = (
            access.due_items_visible(acting_user)
            .filter(case__in=access.cases_workable(acting_user))
            .select_for_update()
            .get(pk=item.pk)
        )
    except DueItem.DoesNotExist:
        raise PermissionDenied("未找到该事项，或您无权办理") from None
    if locked.done_on or locked.cancelled:
        raise DomainError(f"该事项已{'完成' if locked.done_on else '取消'}，请刷新后查看")
    errors = {}
    if done_on > timezone.localdate():
        errors["done_on"] = "完成日期不能晚于今天"
    if done_on < locked.case.opened_on:
        errors["done_on"] = "完成日期不能早于个案开始日期"
    if not note.strip():
        errors["note"] = "请填写回访记录"
    if errors:
        raise ValidationFailed(errors)
    locked.done_on, locked.done_by, locked.note = done_on, acting_user, note.strip()
    locked.save(update_fields=["done_on", "done_by", "note"])
    audit_record(
        acting_user=acting_user,
        action=f"case.{locked.case.programme}.due_done",
        obj=locked.case,
        changes={
            "kind": [None, locked.kind],
            "seq": [None, locked.seq],
            "done_on": [None, done_on.isoformat()],
        },
        detail=note.strip(),
    )
    return locked


@transaction.atomic
def attachment_add(
    *, acting_user, case: Case, name: str, content: bytes, content_type: str = ""
) -> Attachment:
    if not access.cases_workable(acting_user).filter(pk=case.pk).exists():
        raise PermissionDenied("您无权为该个案上传附件")
    if not content:
        raise ValidationFailed({"file": "附件为空"})
    if len(content) > MAX_ATTACHMENT:
        raise ValidationFailed({"file": "附件不能超过 10 MB"})
    name = (name or "附件").replace("/", "_").replace("\\", "_")[:200]
    att = Attachment.objects.create(
        case=case,
        name=name,
        content_type=content_type[:100],
        uploaded_by=acting_user,
        **Attachment.stored(content),
    )
    audit_record(
        acting_user=acting_user,
        action=f"case.{case.programme}.attach",
        obj=case,
        changes={"attachment": [None, name], "size": [None, len(content)]},
    )
    return att


def attachment_read(*, acting_user, pk) -> tuple[Attachment, bytes]:
    """Decrypt one attachment for download; the read is an audited action."""
    try:
        att = access.attachments_visible(acting_user).select_related("case").get(pk=pk)
    except (Attachment.DoesNotExist, ValueError, TypeError):
        raise PermissionDenied("未找到该附件，或您无权查看") from None
    data = att.data()
    audit_record(
        acting_user=acting_user,
        action=f"case.{att.case.programme}.download",
        obj=att.case,
        changes={"attachment": [att.name, att.name]},
    )
    return att, data
