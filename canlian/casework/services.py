"""Writes on cases: open, move (through the programme's workflow), record a due occurrence, attach a file,
read an attachment (audited). Every function is atomic, keyword-only, scoped and audited."""

from __future__ import annotations

import base64
import hashlib
from datetime import date

from django.db import transaction
from django.utils import timezone

from canlian.accounts.models import Role
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.workflow import transition

from . import access
from .models import Attachment, Case, DueItem
from .programme import DueRule, programme_get

MAX_ATTACHMENT = 10 * 1024 * 1024


def _check_institution(programme, institution, on: date) -> None:
    if institution is None:
        return
    if programme.institution_kinds and institution.kind not in programme.institution_kinds:
        raise ValidationFailed({"institution": f"“{institution.name}”不是{programme.name}的服务机构类型"})
    if not institution.designated_on(on):
        raise ValidationFailed({"institution": f"“{institution.name}”在 {on:%Y-%m-%d} 不在认定有效期内"})


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
    if not (core._active(acting_user) and acting_user.role in {Role.DISTRICT_STAFF, Role.TOWN_STAFF}):
        raise PermissionDenied(f"您无权登记{p.name}个案")
    if not core.persons_visible(acting_user).filter(pk=person.pk).exists():
        raise PermissionDenied("未找到该残疾人，或您无权为其登记")
    if closed_on and closed_on < opened_on:
        raise ValidationFailed({"closed_on": "结束日期不能早于开始日期"})
    state = state or p.workflow.initial
    if state not in p.workflow.states:
        raise ValidationFailed({"state": f"未知的状态“{state}”"})
    _check_institution(p, institution, opened_on)
    clean = {k: v for k, v in (data or {}).items() if k in p.data_fields}
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
    scheduled = 0
    for rule in p.due_rules:
        # a stage scheduled by a move is also scheduled when the case is opened directly in that move's
        # state (a roster of people already placed)
        if not rule.start_move or p.workflow.move(rule.start_move).target == state:
            scheduled += _schedule(case, rule)
    audit_record(
        acting_user=acting_user,
        action=f"case.{p.code}.open",
        obj=case,
        changes={
            "person": [None, person.pk],
            "state": [None, state],
            "opened_on": [None, opened_on.isoformat()],
            "closed_on": [None, closed_on.isoformat() if closed_on else None],
            "institution": [None, institution.name if institution else None],
            "data": [None, clean],
            "due_items": [None, scheduled],
        },
    )
    return case


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
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=base64.b64encode(content).decode("ascii"),
        uploaded_by=acting_user,
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
    data = base64.b64decode(att.content)
    if hashlib.sha256(data).hexdigest() != att.sha256:
        raise DomainError("附件内容校验失败，请联系管理员")
    audit_record(
        acting_user=acting_user,
        action=f"case.{att.case.programme}.download",
        obj=att.case,
        changes={"attachment": [att.name, att.name]},
    )
    return att, data
