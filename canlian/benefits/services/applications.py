"""Applications: one transition table, one transition service; maker and checker are different users."""

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

from ..models import Application, ApplicationAttachment, ApplicationTransition, Enrolment, Programme

S = Application.Status
TOWN, DISTRICT = {Role.TOWN_STAFF, Role.DISTRICT_STAFF}, {Role.DISTRICT_STAFF}


@dataclass(frozen=True)
class Move:
    roles: frozenset
    label: str
    checker_of: str | None = None  # the status whose actor may not make this move (maker ≠ checker)


TRANSITIONS: dict[tuple[str, str], Move] = {
    (S.DRAFT, S.SUBMITTED): Move(frozenset(TOWN), "提交"),
    (S.DRAFT, S.WITHDRAWN): Move(frozenset(TOWN), "撤回"),
    (S.SUBMITTED, S.WITHDRAWN): Move(frozenset(TOWN), "撤回"),
    (S.SUBMITTED, S.TOWN_REVIEWED): Move(frozenset(TOWN), "镇(街道)初审通过", checker_of=S.SUBMITTED),
    (S.SUBMITTED, S.REJECTED): Move(frozenset(TOWN), "初审不通过", checker_of=S.SUBMITTED),
    (S.TOWN_REVIEWED, S.POSTED): Move(frozenset(TOWN), "开始公示"),
    (S.POSTED, S.DISTRICT_REVIEWED): Move(frozenset(DISTRICT), "区残联审核通过"),
    (S.POSTED, S.REJECTED): Move(frozenset(DISTRICT), "区残联审核不通过"),
    (S.DISTRICT_REVIEWED, S.APPROVED): Move(
        frozenset(DISTRICT), "民政审定通过", checker_of=S.DISTRICT_REVIEWED
    ),
    (S.DISTRICT_REVIEWED, S.REJECTED): Move(
        frozenset(DISTRICT), "民政审定不通过", checker_of=S.DISTRICT_REVIEWED
    ),
    (S.APPROVED, S.ENROLLED): Move(frozenset(DISTRICT), "纳入发放"),
}


def allowed_moves(user, application: Application) -> list[tuple[str, str]]:
    """(to_status, label) the user may take now — for buttons; the service re-checks everything."""
    out = []
    for (src, dst), move in TRANSITIONS.items():
        if src == application.status and user.role in move.roles:
            out.append((dst, move.label))
    return out


def month_of(day: date) -> date:
    return day.replace(day=1)


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


@transaction.atomic
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
    """Move an application along the table. Concurrent moves: the row is locked; the loser is told clearly."""
    today = today or timezone.localdate()
    try:
        app = access.applications_visible(acting_user).select_for_update().get(pk=application.pk)
    except Application.DoesNotExist:
        raise PermissionDenied("未找到该申请，或您无权办理") from None
    seen = expected_status or application.status
    if app.status != seen:
        raise DomainError(f"该申请已被他人处理，当前状态为“{app.get_status_display()}”，请刷新后再办理")
    move = TRANSITIONS.get((app.status, to_status))
    if move is None:
        raise DomainError(f"不能从“{app.get_status_display()}”变为“{S(to_status).label}”")
    if acting_user.role not in move.roles:
        raise PermissionDenied(f"您的角色不能办理“{move.label}”")
    if move.checker_of:
        maker = app.transitions.filter(to_status=move.checker_of).order_by("-at", "-id").first()
        if maker and maker.by_id == acting_user.pk:
            raise PermissionDenied("经办与审核须由不同人员办理：您已办理上一环节，不能审核自己经办的申请")
    changes: dict[str, list] = {"status": [app.status, to_status]}
    fields = ["status", "version", "updated_at"]
    if to_status == S.POSTED:
        rule = posting_rule(today)
        app.posting_start, app.posting_end = today, rule.end(today)
        fields += ["posting_start", "posting_end"]
        changes["posting"] = [None, f"{app.posting_start}～{app.posting_end}（{rule.text}）"]
    if app.status == S.POSTED and to_status == S.DISTRICT_REVIEWED:
        if today < app.posting_end:
            length = posting_rule(app.posting_start).text
            raise DomainError(f"公示期未满 {length}，{app.posting_end:%Y-%m-%d} 后方可审核")
    if app.status == S.APPROVED and to_status == S.ENROLLED:
        if app.approval_posting_end and today < app.approval_posting_end:
            length = posting_rule(app.approval_posting_start, second=True).text
            raise DomainError(
                f"民政审定结果公示期未满 {length}（{app.approval_posting_start:%Y-%m-%d} 起），"
                f"{app.approval_posting_end:%Y-%m-%d} 后方可纳入发放"
            )
    if objections:
        app.objections = (app.objections + "\n" if app.objections else "") + objections.strip()
        fields.append("objections")
        changes["objections"] = [None, objections.strip()]
    if to_status == S.APPROVED:
        if not decision_date or not decision_doc_no.strip():
            raise ValidationFailed({"decision": "请填写民政部门审定日期和文号"})
        if decision_date > today:
            raise ValidationFailed({"decision_date": "民政审定日期不能晚于今天"})
        app.decision_date, app.decision_doc_no = decision_date, decision_doc_no.strip()
        fields += ["decision_date", "decision_doc_no"]
        changes["decision"] = [None, f"{decision_date} {app.decision_doc_no}"]
        # the second posting (审定结果公示), on 民政's side, from the decision date
        rule = posting_rule(decision_date, second=True)
        app.approval_posting_start, app.approval_posting_end = decision_date, rule.end(decision_date)
        fields += ["approval_posting_start", "approval_posting_end"]
        changes["approval_posting"] = [
            None,
            f"{app.approval_posting_start}～{app.approval_posting_end}（{rule.text}）",
        ]
    if to_status == S.REJECTED:
        if not reject_reason.strip():
            raise ValidationFailed({"reject_reason": "请填写不予通过的理由"})
        app.reject_reason = reject_reason.strip()
        if decision_date:
            app.decision_date, app.decision_doc_no = decision_date, decision_doc_no.strip()
            fields += ["decision_date", "decision_doc_no"]
        fields.append("reject_reason")
        changes["reject_reason"] = [None, app.reject_reason]
    old = app.status
    app.status = to_status
    app.version += 1
    app.save(update_fields=fields)
    ApplicationTransition.objects.create(
        application=app, from_status=old, to_status=to_status, by=acting_user, note=note
    )
    if to_status == S.ENROLLED:
        enrolment = Enrolment.objects.create(
            person=app.person,
            programme=app.programme,
            application=app,
            start_month=month_of(app.applied_on),
            bank_name=app.bank_name,
            bank_account=app.bank_account,
        )
        changes["enrolment"] = [None, enrolment.pk]
    audit_record(
        acting_user=acting_user, action="application.transition", obj=app, changes=changes, detail=note
    )
    return app
