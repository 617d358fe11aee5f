"""The benefits workflows, declared on the common engine (``common.workflow``): applications, enrolments and
payroll batches. Each state change goes through ``transition`` (row lock, stale-state message, maker ≠
checker, ``WorkflowHistory`` row and audit row "<code>.<move>" in one transaction); the rules that used to be
written inline in the services are the moves' ``validate`` and ``effect`` hooks here.

``validate`` hooks return field errors (shown next to the field) and raise ``DomainError`` for a refusal that
is about the state of the world rather than an input (a posting period not over, an empty batch). Hooks that
depend on the day read ``data["today"]`` when a caller gives one (tests, back-dated demo data) and the local
date otherwise.
"""

from __future__ import annotations

from datetime import date

from django.db import connection
from django.utils import timezone

from canlian.accounts import access
from canlian.accounts.models import Role
from canlian.common.audit_display import ActionSpec, register_actions
from canlian.common.exceptions import DomainError
from canlian.common.workflow import Move, Workflow

from .models import Application, Enrolment, EnrolmentChange, Payroll, PayrollLine

S = Application.Status
E = Enrolment.Status
P = Payroll.Status
TOWN = frozenset({Role.TOWN_STAFF, Role.DISTRICT_STAFF})
DISTRICT = frozenset({Role.DISTRICT_STAFF})


def _today(data: dict) -> date:
    return data.get("today") or timezone.localdate()


def month_of(day: date) -> date:
    return day.replace(day=1)


def previous_month(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


# ---- applications ------------------------------------------------------------------------------------------


def _posting_rule(on: date, *, second: bool = False):
    from .services.applications import posting_rule

    return posting_rule(on, second=second)


def _post_effect(app: Application, *, acting_user, data, history) -> dict:
    """The village posting (公示) starts today and lasts the period in force today."""
    today = _today(data)
    rule = _posting_rule(today)
    app.posting_start, app.posting_end = today, rule.end(today)
    app.save(update_fields=["posting_start", "posting_end"])
    return {"posting": [None, f"{app.posting_start}～{app.posting_end}（{rule.text}）"]}


def _objections_effect(app: Application, *, acting_user, data, history) -> dict:
    """Objections received during the posting are appended to what was recorded before."""
    text = (data.get("objections") or "").strip()
    if not text:
        return {}
    app.objections = (app.objections + "\n" if app.objections else "") + text
    app.save(update_fields=["objections"])
    return {"objections": [None, text]}


def _posting_over(app: Application, data: dict) -> dict:
    if app.posting_end and _today(data) < app.posting_end:
        length = _posting_rule(app.posting_start).text
        raise DomainError(f"公示期未满 {length}，{app.posting_end:%Y-%m-%d} 后方可审核")
    return {}


def _decision_given(app: Application, data: dict) -> dict:
    decided = data.get("decision_date")
    if not decided or not (data.get("decision_doc_no") or "").strip():
        return {"decision": "请填写民政部门审定日期和文号"}
    if decided > _today(data):
        return {"decision_date": "民政审定日期不能晚于今天"}
    return {}


def _approve_effect(app: Application, *, acting_user, data, history) -> dict:
    """The second posting (审定结果公示), on 民政's side, runs from the decision date."""
    decided = data["decision_date"]
    rule = _posting_rule(decided, second=True)
    app.approval_posting_start, app.approval_posting_end = decided, rule.end(decided)
    app.save(update_fields=["approval_posting_start", "approval_posting_end"])
    return {
        "approval_posting": [
            None,
            f"{app.approval_posting_start}～{app.approval_posting_end}（{rule.text}）",
        ]
    }


def _approval_posting_over(app: Application, data: dict) -> dict:
    if app.approval_posting_end and _today(data) < app.approval_posting_end:
        length = _posting_rule(app.approval_posting_start, second=True).text
        raise DomainError(
            f"民政审定结果公示期未满 {length}（{app.approval_posting_start:%Y-%m-%d} 起），"
            f"{app.approval_posting_end:%Y-%m-%d} 后方可纳入发放"
        )
    return {}


def _enrol_effect(app: Application, *, acting_user, data, history) -> dict:
    """Payment starts in the month of the application, to the account given with it."""
    enrolment = Enrolment.objects.create(
        person=app.person,
        programme=app.programme,
        application=app,
        start_month=month_of(app.applied_on),
        bank_name=app.bank_name,
        bank_account=app.bank_account,
    )
    return {"enrolment": [None, enrolment.pk]}


def _applications_scope(user):
    return access.applications_visible(user)


APPLICATION_WORKFLOW = Workflow(
    code="application",
    name="待遇申请",
    states=dict(S.choices),
    initial=S.DRAFT,
    state_field="status",
    scope=_applications_scope,
    field_labels={
        "reject_reason": "不予通过的理由",
        "decision_date": "民政审定日期",
        "decision_doc_no": "审定文号",
        "objections": "公示异议",
    },
    moves=(
        Move("submit", "提交", (S.DRAFT,), S.SUBMITTED, TOWN),
        Move("withdraw", "撤回", (S.DRAFT, S.SUBMITTED), S.WITHDRAWN, TOWN),
        Move(
            "town_review", "镇(街道)初审通过", (S.SUBMITTED,), S.TOWN_REVIEWED, TOWN, checker_of=("submit",)
        ),
        Move(
            "town_reject",
            "初审不通过",
            (S.SUBMITTED,),
            S.REJECTED,
            TOWN,
            checker_of=("submit",),
            requires=("reject_reason",),
            records=("reject_reason",),
        ),
        Move("post", "开始公示", (S.TOWN_REVIEWED,), S.POSTED, TOWN, effect=_post_effect),
        Move(
            "district_review",
            "区残联审核通过",
            (S.POSTED,),
            S.DISTRICT_REVIEWED,
            DISTRICT,
            validate=_posting_over,
            effect=_objections_effect,
        ),
        Move(
            "district_reject",
            "区残联审核不通过",
            (S.POSTED,),
            S.REJECTED,
            DISTRICT,
            requires=("reject_reason",),
            records=("reject_reason",),
            effect=_objections_effect,
        ),
        Move(
            "approve",
            "民政审定通过",
            (S.DISTRICT_REVIEWED,),
            S.APPROVED,
            DISTRICT,
            checker_of=("district_review",),
            validate=_decision_given,
            records=("decision_date", "decision_doc_no"),
            effect=_approve_effect,
        ),
        Move(
            "decide_reject",
            "民政审定不通过",
            (S.DISTRICT_REVIEWED,),
            S.REJECTED,
            DISTRICT,
            checker_of=("district_review",),
            requires=("reject_reason",),
            records=("reject_reason", "decision_date", "decision_doc_no"),
        ),
        Move(
            "enrol",
            "纳入发放",
            (S.APPROVED,),
            S.ENROLLED,
            DISTRICT,
            validate=_approval_posting_over,
            effect=_enrol_effect,
        ),
    ),
)


# ---- enrolments --------------------------------------------------------------------------------------------


def _enrolment_may_edit(user, e: Enrolment) -> bool:
    return access.can_edit_person(user, e.person)


def _effective_month_ok(e: Enrolment, data: dict) -> dict:
    month = data.get("effective_month")
    if not month:
        return {"effective_month": "请填写生效月份"}
    if month.replace(day=1) < e.start_month:
        return {"effective_month": "生效月份不能早于待遇起始月份"}
    return {}


def _enrolment_effect(kind: str):
    """Record the change with its month (the payroll reads ``EnrolmentChange``) and the dates it implies:
    ``effective_month`` is the first month not paid (suspend, stop) or paid again (resume)."""

    def effect(e: Enrolment, *, acting_user, data, history) -> dict:
        month = data["effective_month"].replace(day=1)
        if kind == EnrolmentChange.Kind.SUSPEND:
            e.suspended_from = month
            e.save(update_fields=["suspended_from"])
        elif kind == EnrolmentChange.Kind.RESUME:
            e.suspended_from = None
            e.save(update_fields=["suspended_from"])
        else:
            e.end_month = previous_month(month)
            e.save(update_fields=["end_month"])
        reason = data["reason"].strip()
        EnrolmentChange.objects.create(
            enrolment=e, kind=kind, effective_month=month, reason=reason, by=acting_user
        )
        return {
            "enrolment": [e.pk, e.pk],
            "effective_month": [None, f"{month:%Y-%m}"],
            "reason": [None, reason],
        }

    return effect


def _enrolment_person(e: Enrolment):
    return e.person


def _enrolments_scope(user):
    return access.enrolments_visible(user)


_ENROLMENT_MOVE = {
    "requires": ("reason",),
    "check": _enrolment_may_edit,
    "validate": _effective_month_ok,
}
ENROLMENT_WORKFLOW = Workflow(
    code="enrolment",
    name="待遇享受",
    states=dict(E.choices),
    initial=E.ACTIVE,
    state_field="status",
    scope=_enrolments_scope,
    # the audit rows stay on the person, as before the engine: the person page lists them
    audit_object=_enrolment_person,
    field_labels={"reason": "变更原因", "effective_month": "生效月份"},
    moves=(
        Move(
            "suspend",
            "暂停",
            (E.ACTIVE,),
            E.SUSPENDED,
            access.PERSON_WRITERS,
            effect=_enrolment_effect(EnrolmentChange.Kind.SUSPEND),
            **_ENROLMENT_MOVE,
        ),
        Move(
            "resume",
            "恢复",
            (E.SUSPENDED,),
            E.ACTIVE,
            access.PERSON_WRITERS,
            effect=_enrolment_effect(EnrolmentChange.Kind.RESUME),
            **_ENROLMENT_MOVE,
        ),
        Move(
            "stop",
            "终止",
            (E.ACTIVE, E.SUSPENDED),
            E.STOPPED,
            access.PERSON_WRITERS,
            effect=_enrolment_effect(EnrolmentChange.Kind.STOP),
            **_ENROLMENT_MOVE,
        ),
    ),
)


# ---- payroll batches ---------------------------------------------------------------------------------------

DISCARDED = "discarded"  # never stored for long: a discarded draft is deleted in the same transaction


def _payroll_may_run(user, p: Payroll) -> bool:
    return access.can_run_payroll(user)


def _not_empty(label: str):
    def validate(p: Payroll, data: dict) -> dict:
        if p.line_count == 0:
            raise DomainError(
                f"{p.programme.name} {p.month.year}年{p.month.month}月的批次没有任何发放明细（0 笔），"
                f"不能{label}：请核对享受名单和发放月份，作废该草稿后重新生成"
            )
        return {}

    return validate


def _set_user(field: str):
    def effect(p: Payroll, *, acting_user, data, history) -> dict:
        setattr(p, field, acting_user)
        p.save(update_fields=[field])
        return {}  # the audit row's user is the one recorded

    return effect


def _discard_effect(p: Payroll, *, acting_user, data, history) -> dict:
    """Delete the draft and its lines; the history and audit rows keep what was discarded.

    A draft's lines are all pending, never failed, so no re-issue line points at one (and the database's
    foreign key on ``reissue_of`` would refuse the delete if one did): one DELETE, instead of the ORM's
    cascade loading every line as a model object to look for re-issues (a million lines: 40 s, 1.8 GB)."""
    changes = {"lines": [p.line_count, 0], "total": [str(p.total), "0.00"]}
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {qn(PayrollLine._meta.db_table)} WHERE {qn('payroll_id')} = %s", [p.pk])
        cursor.execute(f"DELETE FROM {qn(Payroll._meta.db_table)} WHERE {qn('id')} = %s", [p.pk])
    return changes


def _payrolls_scope(user):
    return access.payrolls_visible(user)


PAYROLL_WORKFLOW = Workflow(
    code="payroll",
    name="发放批次",
    states={**dict(P.choices), DISCARDED: "已作废"},
    initial=P.DRAFT,
    state_field="status",
    scope=_payrolls_scope,
    moves=(
        Move(
            "review",
            "复核通过",
            (P.DRAFT,),
            P.REVIEWED,
            DISTRICT,
            check=_payroll_may_run,
            validate=_not_empty("复核通过"),
            effect=_set_user("reviewed_by"),
        ),
        Move("return", "退回", (P.REVIEWED,), P.DRAFT, DISTRICT, check=_payroll_may_run),
        Move(
            "approve",
            "审批通过",
            (P.REVIEWED,),
            P.APPROVED,
            DISTRICT,
            check=_payroll_may_run,
            checker_of=("review",),
            validate=_not_empty("审批通过"),
            effect=_set_user("approved_by"),
        ),
        # made by the bank file with full account numbers (``exporters.payroll_bank_file``), not by a button
        Move("send_to_bank", "出盘", (P.APPROVED,), P.EXPORTED, DISTRICT, check=_payroll_may_run),
        # made by the bank's return file once no line is left pending (``services.payroll.results_apply``)
        Move("close", "回盘办结", (P.EXPORTED,), P.CLOSED, DISTRICT, check=_payroll_may_run),
        Move(
            "discard",
            "作废重算",
            (P.DRAFT,),
            DISCARDED,
            DISTRICT,
            check=_payroll_may_run,
            effect=_discard_effect,
        ),
    ),
)

# Moves offered as buttons on the batch page; the others are made by the bank file and the return file.
PAYROLL_BUTTON_MOVES = ("review", "return", "approve")


def _register_audit_labels() -> None:
    """The engine registers "<workflow>.<move>" with the move's label; the benefits moves also name the model
    whose fields their changes are (audit rows written before the engine hung enrolment changes on the person)."""
    for wf, model in (
        (APPLICATION_WORKFLOW, "benefits.Application"),
        (ENROLMENT_WORKFLOW, "benefits.Enrolment"),
        (PAYROLL_WORKFLOW, "benefits.Payroll"),
    ):
        register_actions(
            {f"{wf.code}.{m.name}": ActionSpec(f"{wf.name}：{m.label}", model) for m in wf.moves}
        )


_register_audit_labels()
