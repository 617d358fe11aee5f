"""The benefits workflows on the common engine (issue 9 §1): applications, enrolments and payroll batches.

Each move by the role that makes it (with its history row and its "<workflow>.<move>" audit row), the wrong
role refused, maker ≠ checker refused with the Chinese message, a stale expected state refused, and a
refused move changing nothing (state, version, history, audit count). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.benefits.models import Application, Enrolment, EnrolmentChange, Payroll, PayrollLine
from canlian.benefits.services.applications import application_create, application_transition
from canlian.benefits.services.enrolments import enrolment_change
from canlian.benefits.services.payroll import (
    payroll_discard,
    payroll_generate,
    payroll_move,
    payroll_transition,
    results_apply,
)
from canlian.benefits.workflows import APPLICATION_WORKFLOW, ENROLMENT_WORKFLOW, PAYROLL_WORKFLOW
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog, WorkflowHistory
from canlian.common.workflow import allowed_moves, history_of, maker_withheld_moves, moves_for_many

from . import test_views_pages as shared
from .test_views_pages import enrol

staff_fixture = shared.staff_fixture
living_fixture = shared.living_fixture
dibao_person_fixture = shared.dibao_person_fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("example_standards_2023")]
S = Application.Status
MAKER_MESSAGE = "经办与审核须由不同人员办理：您已办理上一环节，不能再办理“{}”"


def snapshot(obj) -> tuple:
    """What a refused move must leave as it was: state, version, history rows, audit rows."""
    obj = type(obj).objects.get(pk=obj.pk)
    return (
        obj.status,
        getattr(obj, "version", None),
        history_of(obj).count(),
        AuditLog.objects.count(),
    )


def refused(exc_type, obj, match: str, call):
    before = snapshot(obj)
    with pytest.raises(exc_type) as info:
        call()
    assert match in info.value.message
    assert snapshot(obj) == before
    return info.value


def last_audit(obj) -> AuditLog:
    return AuditLog.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).latest("id")


def new_application(staff, person, programme, *, applied_on=date(2023, 5, 10)) -> Application:
    return application_create(
        acting_user=staff["town_luzhi"],
        person=person,
        programme=programme,
        applied_on=applied_on,
        bank_name="农商行",
        bank_account="6222020000000001",
    )


# ---- applications ------------------------------------------------------------------------------------------


def test_every_application_move_by_its_role_writes_history_and_audit(staff, dibao_person, living):
    app = new_application(staff, dibao_person, living)
    steps = [
        ("submit", staff["town_luzhi"], S.SUBMITTED, {}),
        ("town_review", staff["luzhi2"], S.TOWN_REVIEWED, {"note": "材料齐全"}),
        ("post", staff["luzhi2"], S.POSTED, {"today": date(2023, 5, 12)}),
        ("district_review", staff["district"], S.DISTRICT_REVIEWED, {"today": date(2023, 5, 19)}),
        (
            "approve",
            staff["district2"],
            S.APPROVED,
            {"decision_date": date(2023, 5, 25), "decision_doc_no": "吴民〔2023〕12号"},
        ),
        ("enrol", staff["district"], S.ENROLLED, {}),
    ]
    for version, (move, user, to, extra) in enumerate(steps, start=1):
        assert move in [m.name for m in allowed_moves(user, app)]
        app = application_transition(acting_user=user, application=app, to_status=to, **extra)
        assert (app.status, app.version) == (to, version)
        audit = last_audit(app)
        assert (audit.action, audit.username, audit.changes["status"][1]) == (
            f"application.{move}",
            user.username,
            to,
        )
    assert [(h.move, h.by_id, h.from_state, h.to_state) for h in history_of(app)] == [
        ("submit", staff["town_luzhi"].pk, S.DRAFT, S.SUBMITTED),
        ("town_review", staff["luzhi2"].pk, S.SUBMITTED, S.TOWN_REVIEWED),
        ("post", staff["luzhi2"].pk, S.TOWN_REVIEWED, S.POSTED),
        ("district_review", staff["district"].pk, S.POSTED, S.DISTRICT_REVIEWED),
        ("approve", staff["district2"].pk, S.DISTRICT_REVIEWED, S.APPROVED),
        ("enrol", staff["district"].pk, S.APPROVED, S.ENROLLED),
    ]
    assert history_of(app)[1].note == "材料齐全"
    app.refresh_from_db()
    assert (app.posting_start, app.posting_end) == (date(2023, 5, 12), date(2023, 5, 19))
    assert (app.decision_date, app.decision_doc_no) == (date(2023, 5, 25), "吴民〔2023〕12号")
    enrolment = Enrolment.objects.get(application=app)
    assert (enrolment.status, enrolment.start_month) == ("active", date(2023, 5, 1))
    assert last_audit(app).changes["enrolment"] == [None, enrolment.pk]


@pytest.mark.parametrize(
    ("path", "move", "who", "extra"),
    [
        ([], "withdraw", "town_luzhi", {}),
        ([("submit", "town_luzhi")], "withdraw", "town_luzhi", {}),
        ([("submit", "town_luzhi")], "town_reject", "luzhi2", {"reject_reason": "材料不全"}),
        (
            [("submit", "town_luzhi"), ("town_review", "luzhi2"), ("post", "luzhi2")],
            "district_reject",
            "district",
            {"reject_reason": "公示有异议", "objections": "邻居反映收入不实"},
        ),
        (
            [
                ("submit", "town_luzhi"),
                ("town_review", "luzhi2"),
                ("post", "luzhi2"),
                ("district_review", "district"),
            ],
            "decide_reject",
            "district2",
            {
                "reject_reason": "民政不予认定",
                "decision_date": date(2023, 5, 25),
                "decision_doc_no": "吴民〔2023〕13号",
            },
        ),
    ],
)
def test_withdraw_and_each_reject_by_its_role(staff, dibao_person, living, path, move, who, extra):
    app = new_application(staff, dibao_person, living)
    day = {"post": date(2023, 5, 12), "district_review": date(2023, 5, 19)}
    for name, by in path:
        target = APPLICATION_WORKFLOW.move(name).target
        kwargs = {"today": day[name]} if name in day else {}
        app = application_transition(acting_user=staff[by], application=app, to_status=target, **kwargs)
    target = APPLICATION_WORKFLOW.move(move).target
    app = application_transition(acting_user=staff[who], application=app, to_status=target, **extra)
    assert app.status == target
    assert history_of(app).last().move == move
    assert last_audit(app).action == f"application.{move}"
    app.refresh_from_db()
    if "reject_reason" in extra:
        assert app.reject_reason == extra["reject_reason"]
    if "objections" in extra:
        assert app.objections == extra["objections"]
    if "decision_doc_no" in extra:
        assert (app.decision_date, app.decision_doc_no) == (extra["decision_date"], extra["decision_doc_no"])


def test_application_wrong_role_is_refused_and_changes_nothing(staff, dibao_person, living):
    app = new_application(staff, dibao_person, living)
    # a leader reads applications but makes no move
    refused(
        PermissionDenied,
        app,
        "您无权办理“提交”",
        lambda: application_transition(acting_user=staff["leader"], application=app, to_status=S.SUBMITTED),
    )
    app = application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    app = application_transition(acting_user=staff["luzhi2"], application=app, to_status=S.TOWN_REVIEWED)
    app = application_transition(
        acting_user=staff["luzhi2"], application=app, to_status=S.POSTED, today=date(2023, 5, 12)
    )
    # the district review is the district's: a town clerk is refused
    refused(
        PermissionDenied,
        app,
        "您无权办理“区残联审核通过”",
        lambda: application_transition(
            acting_user=staff["town_luzhi"],
            application=app,
            to_status=S.DISTRICT_REVIEWED,
            today=date(2023, 5, 19),
        ),
    )
    assert allowed_moves(staff["town_luzhi"], app) == []
    # a clerk of another town does not find it at all
    refused(
        PermissionDenied,
        app,
        "未找到该记录，或您无权办理",
        lambda: application_transition(
            acting_user=staff["town_mudu"], application=app, to_status=S.REJECTED, reject_reason="x"
        ),
    )
    assert allowed_moves(staff["town_mudu"], app) == []


def test_application_maker_cannot_check_with_the_chinese_message(staff, dibao_person, living):
    app = new_application(staff, dibao_person, living)
    app = application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    # the maker of "submit" may neither pass nor reject it at the town review
    for to, label in ((S.TOWN_REVIEWED, "镇(街道)初审通过"), (S.REJECTED, "初审不通过")):
        refused(
            PermissionDenied,
            app,
            MAKER_MESSAGE.format(label),
            lambda to=to: application_transition(
                acting_user=staff["town_luzhi"], application=app, to_status=to, reject_reason="材料不全"
            ),
        )
    assert [m.name for m in allowed_moves(staff["town_luzhi"], app)] == ["withdraw"]
    assert [m.name for m in maker_withheld_moves(staff["town_luzhi"], app)] == ["town_review", "town_reject"]
    assert [m.name for m in allowed_moves(staff["luzhi2"], app)] == ["withdraw", "town_review", "town_reject"]
    # the list pages' bulk answer agrees with the one-object answer
    assert {
        k: ([m.name for m in a], [m.name for m in w])
        for k, (a, w) in moves_for_many(staff["town_luzhi"], [app]).items()
    } == {app.pk: (["withdraw"], ["town_review", "town_reject"])}
    # the district reviewer may not decide 民政's approval of the same application
    app = application_transition(acting_user=staff["luzhi2"], application=app, to_status=S.TOWN_REVIEWED)
    app = application_transition(
        acting_user=staff["luzhi2"], application=app, to_status=S.POSTED, today=date(2023, 5, 12)
    )
    app = application_transition(
        acting_user=staff["district"], application=app, to_status=S.DISTRICT_REVIEWED, today=date(2023, 5, 19)
    )
    refused(
        PermissionDenied,
        app,
        MAKER_MESSAGE.format("民政审定通过"),
        lambda: application_transition(
            acting_user=staff["district"],
            application=app,
            to_status=S.APPROVED,
            decision_date=date(2023, 5, 25),
            decision_doc_no="吴民〔2023〕12号",
        ),
    )


def test_application_stale_expected_state_is_refused(staff, dibao_person, living):
    app = new_application(staff, dibao_person, living)
    seen = application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    application_transition(acting_user=staff["town_luzhi"], application=seen, to_status=S.WITHDRAWN)
    # clerk 2 acts on the page that still showed "submitted"
    refused(
        DomainError,
        seen,
        "当前状态已变为“已撤回”，请刷新后重试",
        lambda: application_transition(
            acting_user=staff["luzhi2"],
            application=seen,
            to_status=S.TOWN_REVIEWED,
            expected_status=S.SUBMITTED,
        ),
    )
    # a move the table does not have
    refused(
        DomainError,
        seen,
        "不能从“草稿”变为“已纳入发放”",
        lambda: application_transition(
            acting_user=staff["district"], application=seen, to_status=S.ENROLLED, expected_status=S.DRAFT
        ),
    )


def test_application_inline_rules_are_the_moves_hooks(staff, dibao_person, living):
    app = new_application(staff, dibao_person, living)
    app = application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    # a rejection needs its reason
    error = refused(
        ValidationFailed,
        app,
        "请填写不予通过的理由",
        lambda: application_transition(acting_user=staff["luzhi2"], application=app, to_status=S.REJECTED),
    )
    assert error.errors == {"reject_reason": "请填写不予通过的理由"}
    app = application_transition(acting_user=staff["luzhi2"], application=app, to_status=S.TOWN_REVIEWED)
    app = application_transition(
        acting_user=staff["luzhi2"], application=app, to_status=S.POSTED, today=date(2023, 5, 12)
    )
    # the posting period must be over
    refused(
        DomainError,
        app,
        "公示期未满 7 天，2023-05-19 后方可审核",
        lambda: application_transition(
            acting_user=staff["district"],
            application=app,
            to_status=S.DISTRICT_REVIEWED,
            today=date(2023, 5, 18),
        ),
    )
    app = application_transition(
        acting_user=staff["district"], application=app, to_status=S.DISTRICT_REVIEWED, today=date(2023, 5, 19)
    )
    # 民政's approval needs its date and document number, and the date is not in the future
    error = refused(
        ValidationFailed,
        app,
        "请填写民政部门审定日期和文号",
        lambda: application_transition(
            acting_user=staff["district2"],
            application=app,
            to_status=S.APPROVED,
            decision_date=date(2023, 5, 25),
        ),
    )
    assert error.errors == {"decision": "请填写民政部门审定日期和文号"}
    refused(
        ValidationFailed,
        app,
        "民政审定日期不能晚于今天",
        lambda: application_transition(
            acting_user=staff["district2"],
            application=app,
            to_status=S.APPROVED,
            decision_date=date(2023, 5, 25),
            decision_doc_no="吴民〔2023〕12号",
            today=date(2023, 5, 24),
        ),
    )


# ---- enrolments --------------------------------------------------------------------------------------------


def test_every_enrolment_move_by_its_role(staff, dibao_person, living):
    enrolment = Enrolment.objects.get(application=enrol(staff, dibao_person, living))
    for kind, who, month, status in (
        ("suspend", "town_luzhi", date(2023, 8, 1), "suspended"),
        ("resume", "district", date(2023, 10, 1), "active"),
        ("stop", "luzhi2", date(2024, 1, 1), "stopped"),
    ):
        assert kind in [m.name for m in allowed_moves(staff[who], enrolment)]
        enrolment = enrolment_change(
            acting_user=staff[who],
            enrolment=enrolment,
            kind=kind,
            effective_month=month,
            reason=f"{kind} 原因",
        )
        assert enrolment.status == status
        # the audit row is on the person (the person page lists it), naming the enrolment
        audit = last_audit(dibao_person)
        assert (audit.action, audit.username) == (f"enrolment.{kind}", staff[who].username)
        assert audit.changes["effective_month"] == [None, f"{month:%Y-%m}"]
        assert audit.changes["enrolment"] == [enrolment.pk, enrolment.pk]
    enrolment.refresh_from_db()
    assert (enrolment.suspended_from, enrolment.end_month) == (None, date(2023, 12, 1))
    assert list(enrolment.changes.values_list("kind", "effective_month")) == [
        ("suspend", date(2023, 8, 1)),
        ("resume", date(2023, 10, 1)),
        ("stop", date(2024, 1, 1)),
    ]
    assert [h.move for h in history_of(enrolment)] == ["suspend", "resume", "stop"]
    assert allowed_moves(staff["district"], enrolment) == []


def test_enrolment_refusals_change_nothing(staff, dibao_person, living):
    enrolment = Enrolment.objects.get(application=enrol(staff, dibao_person, living))
    changes = EnrolmentChange.objects.count()

    def change(who, kind="suspend", **kw):
        return lambda: enrolment_change(
            acting_user=staff[who],
            enrolment=enrolment,
            kind=kind,
            effective_month=kw.pop("month", date(2023, 8, 1)),
            reason=kw.pop("reason", "外出务工"),
            **kw,
        )

    # wrong role: a leader reads but may not change; another town's clerk does not find it
    refused(PermissionDenied, enrolment, "未找到该记录，或您无权办理", change("town_mudu"))
    refused(PermissionDenied, enrolment, "您无权办理“暂停”", change("leader"))
    # resume is not a move from "active"; a stale page that saw "suspended"
    refused(DomainError, enrolment, "当前状态为“发放中”，不能办理“恢复”", change("district", "resume"))
    refused(
        DomainError,
        enrolment,
        "当前状态已变为“发放中”，请刷新后重试",
        change("district", "resume", expected_status="suspended"),
    )
    # inputs: a reason, a month not before the start
    refused(ValidationFailed, enrolment, "请填写变更原因", change("district", reason=" "))
    refused(
        ValidationFailed,
        enrolment,
        "生效月份不能早于待遇起始月份",
        change("district", month=date(2023, 4, 1)),
    )
    refused(DomainError, enrolment, "没有“pause”这项操作", change("district", "pause"))
    assert EnrolmentChange.objects.count() == changes


# ---- payroll batches ---------------------------------------------------------------------------------------


@pytest.fixture
def july(staff, dibao_person, living) -> Payroll:
    enrol(staff, dibao_person, living)
    return payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 7, 1))


def test_every_payroll_move_by_its_role(staff, july):
    district, district2 = staff["district"], staff["district2"]
    assert [m.name for m in allowed_moves(district, july)] == ["review", "discard"]
    p = payroll_transition(acting_user=district, payroll=july, to_status="reviewed")
    assert (p.status, p.version, p.reviewed_by_id) == ("reviewed", 1, district.pk)
    p = payroll_transition(acting_user=district2, payroll=p, to_status="draft")  # 退回
    p = payroll_transition(acting_user=district2, payroll=p, to_status="reviewed")
    # after the return, the second review was district2's: now district1 may approve
    p = payroll_transition(acting_user=district, payroll=p, to_status="approved")
    assert (p.status, p.approved_by_id, p.reviewed_by_id) == ("approved", district.pk, district2.pk)
    p = payroll_move(acting_user=district2, payroll=p, move="send_to_bank")
    line = PayrollLine.objects.filter(payroll=p).first()
    results_apply(
        acting_user=district2,
        payroll=p,
        results=[
            {"row": 2, "line_id": pk, "paid": True, "reason": ""}
            for pk in p.lines.values_list("pk", flat=True)
        ],
    )
    p.refresh_from_db()
    assert (p.status, p.version) == ("closed", 6)
    assert PayrollLine.objects.get(pk=line.pk).status == "paid"
    assert [(h.move, h.by_id) for h in history_of(p)] == [
        ("review", district.pk),
        ("return", district2.pk),
        ("review", district2.pk),
        ("approve", district.pk),
        ("send_to_bank", district2.pk),
        ("close", district2.pk),
    ]
    actions = list(
        AuditLog.objects.filter(object_type="benefits.payroll", object_id=str(p.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "payroll.generate",
        "payroll.review",
        "payroll.return",
        "payroll.review",
        "payroll.approve",
        "payroll.send_to_bank",
        "payroll.close",
        "payroll.results",
    ]


def test_payroll_refusals_change_nothing(staff, july):
    district, district2 = staff["district"], staff["district2"]
    # wrong role: a town clerk sees the batch but may not move it
    refused(
        PermissionDenied,
        july,
        "您无权办理“复核通过”",
        lambda: payroll_transition(acting_user=staff["town_luzhi"], payroll=july, to_status="reviewed"),
    )
    assert allowed_moves(staff["town_luzhi"], july) == []
    p = payroll_transition(acting_user=district, payroll=july, to_status="reviewed")
    # maker ≠ checker: the reviewer may not approve
    refused(
        PermissionDenied,
        p,
        MAKER_MESSAGE.format("审批通过"),
        lambda: payroll_transition(acting_user=district, payroll=p, to_status="approved"),
    )
    assert [m.name for m in maker_withheld_moves(district, p)] == ["approve"]
    # a stale page that still showed the draft
    refused(
        DomainError,
        p,
        "当前状态已变为“已复核”，请刷新后重试",
        lambda: payroll_transition(
            acting_user=district2, payroll=p, to_status="reviewed", expected_status="draft"
        ),
    )
    # only a draft is discarded; the send to the bank waits for the approval
    refused(
        DomainError,
        p,
        "当前状态为“已复核”，不能办理“作废重算”",
        lambda: payroll_discard(acting_user=district, payroll=p),
    )
    refused(
        DomainError,
        p,
        "当前状态为“已复核”，不能办理“出盘”",
        lambda: payroll_move(acting_user=district2, payroll=p, move="send_to_bank"),
    )


def test_discarding_a_draft_deletes_it_and_keeps_its_history_and_audit(staff, july):
    lines, total = july.line_count, str(july.total)
    payroll_discard(acting_user=staff["district"], payroll=july)
    assert not Payroll.objects.filter(pk=july.pk).exists()
    assert not PayrollLine.objects.filter(payroll_id=july.pk).exists()
    (history,) = WorkflowHistory.objects.filter(workflow="payroll", object_id=str(july.pk))
    assert (history.move, history.from_state, history.to_state) == ("discard", "draft", "discarded")
    audit = AuditLog.objects.get(action="payroll.discard", object_id=str(july.pk))
    assert audit.changes == {"status": ["draft", "discarded"], "lines": [lines, 0], "total": [total, "0.00"]}


def test_workflow_declarations_name_every_model_state():
    """The declared states are the models' choices (the payroll adds the transient 已作废)."""
    assert set(APPLICATION_WORKFLOW.states) == set(Application.Status.values)
    assert set(ENROLMENT_WORKFLOW.states) == set(Enrolment.Status.values)
    assert set(PAYROLL_WORKFLOW.states) == set(Payroll.Status.values) | {"discarded"}
