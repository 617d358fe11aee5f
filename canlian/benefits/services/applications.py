"""Applications: create, attach, and move along the application workflow (``benefits.workflows``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from canlian.accounts import access
from canlian.accounts.models import Role
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.masking import mask_bank_account
from canlian.common.workflow import Move, transition

from ..models import Application, ApplicationAttachment, Enrolment, Programme
from ..workflows import APPLICATION_WORKFLOW

S = Application.Status
TOWN, DISTRICT = {Role.TOWN_STAFF, Role.DISTRICT_STAFF}, {Role.DISTRICT_STAFF}


def move_to(from_status: str, to_status: str) -> Move | None:
    """The move of the application workflow from ``from_status`` to ``to_status`` (there is at most one)."""
    for m in APPLICATION_WORKFLOW.moves_from(from_status):
        if m.target == to_status:
            return m
    return None


# ---- posting periods (公示): their length and whether it counts working days are dated settings ------------


@dataclass(frozen=True)
class PostingRule:
    days: int
    working_days: bool  # Monday to Friday; public holidays are not known to the system and count as working

    @property
    def text(self) -> str:
        return f"{self.days} 个工作日" if self.working_days else f"{self.days} 天"

    def end(self, start: date) -> date:
        """The day from which the posting is over (the review may happen): ``start`` + N days, or the day after
        N working days counted from the day after ``start``."""
        if not self.working_days:
            return start + timedelta(days=self.days)
        day, left = start, self.days
        while left > 0:
            day += timedelta(days=1)
            if day.weekday() < 5:
                left -= 1
        return day


def posting_rule(on: date, *, second: bool = False) -> PostingRule:
    """The village posting after the town review, or (``second``) the posting of 民政's approval, in force
    on ``on`` (``common.posting_days`` / ``common.approval_posting_days`` and ``common.posting_working_days``)."""
    from ..selectors import current_parameters

    params = current_parameters()
    name = "common.approval_posting_days" if second else "common.posting_days"
    return PostingRule(int(params.at(name, on)), bool(params.at("common.posting_working_days", on)))


@transaction.atomic
def application_create(
    *,
    acting_user,
    person,
    programme: Programme,
    applied_on: date,
    note: str = "",
    bank_name: str = "",
    bank_account: str = "",
) -> Application:
    if not access.can_edit_person(acting_user, person):
        raise PermissionDenied("您无权为该残疾人提交申请")
    if applied_on > timezone.localdate():
        raise ValidationFailed({"applied_on": "申请日期不能晚于今天"})
    if (
        Application.objects.filter(person=person, programme=programme)
        .exclude(status__in=[S.REJECTED, S.ENROLLED, S.WITHDRAWN])
        .exists()
    ):
        raise ValidationFailed({"programme": f"该残疾人已有一份未办结的“{programme.name}”申请"})
    if Enrolment.objects.filter(
        person=person, programme=programme, status__in=["active", "suspended"]
    ).exists():
        raise ValidationFailed({"programme": f"该残疾人已在享受“{programme.name}”"})
    bank_account = "".join(bank_account.split())
    if bank_account and not bank_account.isdigit():
        raise ValidationFailed({"bank_account": "银行账号应为数字"})
    try:
        with transaction.atomic():  # a form submitted twice at once: the partial unique index refuses one
            app = Application.objects.create(
                person=person,
                programme=programme,
                applied_on=applied_on,
                note=note,
                bank_name=bank_name,
                bank_account=bank_account,
                created_by=acting_user,
            )
    except IntegrityError:
        raise ValidationFailed(
            {"programme": f"该残疾人刚刚已提交“{programme.name}”申请（可能是重复提交），请勿重复申请"}
        ) from None
    audit_record(
        acting_user=acting_user,
        action="application.create",
        obj=app,
        changes={
            "programme": [None, programme.code],
            "applied_on": [None, applied_on.isoformat()],
            "bank_account": [None, mask_bank_account(bank_account)],
        },
    )
    return app


@transaction.atomic
def application_attach(*, acting_user, application: Application, upload) -> ApplicationAttachment:
    if (
        not access.applications_visible(acting_user).filter(pk=application.pk).exists()
        or acting_user.role not in TOWN
    ):
        raise PermissionDenied("您无权为该申请上传附件")
    if upload.size > 10 * 1024 * 1024:
        raise ValidationFailed({"file": "附件不能超过 10 MB"})
    att = ApplicationAttachment.objects.create(
        application=application, file=upload, name=upload.name[:200], uploaded_by=acting_user
    )
    audit_record(
        acting_user=acting_user,
        action="application.attach",
        obj=application,
        changes={"file": [None, att.name]},
    )
    return att


def application_transition(
    *,
    acting_user,
    application: Application,
    to_status: str,
    expected_status: str | None = None,
    note: str = "",
    objections: str = "",
    decision_date: date | None = None,
    decision_doc_no: str = "",
    reject_reason: str = "",
    today: date | None = None,
) -> Application:
    """Move an application to ``to_status`` from the status the caller saw (``expected_status``, else the
    status of the ``application`` it holds), through the application workflow (``benefits.workflows``): the
    row is locked, a stale page is told what the status now is, and the history and audit rows are written
    with the move. ``today`` (tests, back-dated demo data) is the day the posting periods are counted from."""
    seen = expected_status or application.status
    move = move_to(seen, to_status)
    if move is None:
        raise DomainError(f"不能从“{S(seen).label}”变为“{S(to_status).label}”")
    data: dict = {}
    if today is not None:
        data["today"] = today
    if objections.strip():
        data["objections"] = objections.strip()
    if decision_date:
        data["decision_date"] = decision_date
    if decision_doc_no.strip():
        data["decision_doc_no"] = decision_doc_no.strip()
    if reject_reason.strip() or "reject_reason" in move.requires:
        data["reject_reason"] = reject_reason
    return transition(application, move.name, acting_user=acting_user, expected_state=seen, note=note, **data)
