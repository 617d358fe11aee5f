"""Enrolments: suspend, resume and stop from a month, with a reason; audited."""

from __future__ import annotations

from datetime import date

from django.db import transaction

from canlian.accounts import access
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed

from ..models import Enrolment, EnrolmentChange

E = Enrolment.Status
K = EnrolmentChange.Kind
MOVES = {
    K.SUSPEND: ({E.ACTIVE}, E.SUSPENDED),
    K.RESUME: ({E.SUSPENDED}, E.ACTIVE),
    K.STOP: ({E.ACTIVE, E.SUSPENDED}, E.STOPPED),
}


def previous_month(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


@transaction.atomic
def enrolment_change(
    *, acting_user, enrolment: Enrolment, kind: str, effective_month: date, reason: str
) -> Enrolment:
    """``effective_month``: the first month not paid (suspend, stop) or paid again (resume)."""
    try:
        e = access.enrolments_visible(acting_user).select_for_update().get(pk=enrolment.pk)
    except Enrolment.DoesNotExist:
        raise PermissionDenied("未找到该待遇，或您无权办理") from None
    if not access.can_edit_person(acting_user, e.person):
        raise PermissionDenied("您无权变更该待遇")
    if kind not in MOVES:
        raise DomainError("无效的变更类型")
    sources, target = MOVES[kind]
    if e.status not in sources:
        raise DomainError(f"当前状态为“{e.get_status_display()}”，不能{K(kind).label}")
    if not reason.strip():
        raise ValidationFailed({"reason": "请填写变更原因"})
    month = effective_month.replace(day=1)
    if month < e.start_month:
        raise ValidationFailed({"effective_month": "生效月份不能早于待遇起始月份"})
    old = e.status
    e.status = target
    fields = ["status"]
    if kind == K.SUSPEND:
        e.suspended_from = month
        fields.append("suspended_from")
    elif kind == K.RESUME:
        e.suspended_from = None
        fields.append("suspended_from")
    elif kind == K.STOP:
        e.end_month = previous_month(month)
        fields.append("end_month")
    e.save(update_fields=fields)
    EnrolmentChange.objects.create(
        enrolment=e, kind=kind, effective_month=month, reason=reason.strip(), by=acting_user
    )
    audit_record(
        acting_user=acting_user,
        action=f"enrolment.{kind}",
        obj=e.person,
        changes={
            "enrolment": [e.pk, e.pk],
            "status": [old, target],
            "effective_month": [None, f"{month:%Y-%m}"],
        },
        detail=reason.strip(),
    )
    return e


def enrolment_paid_months(enrolment: Enrolment, month: date) -> bool:
    """Whether the enrolment is payable for ``month`` as far as its own dates go (rules decide the rest)."""
    if month < enrolment.start_month:
        return False
    if enrolment.end_month and month > enrolment.end_month:
        return False
    if enrolment.status == E.SUSPENDED and enrolment.suspended_from and month >= enrolment.suspended_from:
        return False
    return True
