"""The data comparison's two state machines, declared on the common engine (``common.workflow``).

Findings (疑点核实): open → confirmed | dismissed. Town staff handle their own town's findings, district staff
every town's; leaders and the other roles read or nothing. A dismissal needs a reason. Confirming stops or
suspends the enrolment from the effective month (``benefits.services.enrolments.enrolment_change``), brings
the registry up to date where the finding says it is behind (death, move, certificate cancellation) and
records the overpayment for the effective month and after: the ``effect`` of the move, in the same
transaction as the state change, its ``WorkflowHistory`` row and its audit row.

Candidate matches (候选匹配): pending → confirmed | rejected, by town staff for persons of their town and
district staff for all. Confirming one candidate of a list row rejects the row's other candidates (they may be
of other towns, so not the acting user's to move): the effect does it and writes their history rows with
the move ``supersede``, which nobody may make by hand. Exact matches are created ``auto`` and never move.

Audit rows stay filed under the person (``audit_object``), so the moves show in the person's change history.
"""

from __future__ import annotations

from datetime import date

from django.contrib.contenttypes.models import ContentType
from django.db.models import Sum
from django.utils import timezone

from canlian.accounts import access
from canlian.accounts.models import Role
from canlian.common.audit_display import ActionSpec, register_actions
from canlian.common.models import WorkflowHistory
from canlian.common.workflow import Move, Workflow

WRITERS = frozenset({Role.DISTRICT_STAFF, Role.TOWN_STAFF})

# the state codes (the models' TextChoices hold the same codes and labels; this module may not import the
# models, which name these workflows)
OPEN, CONFIRMED, DISMISSED = "open", "confirmed", "dismissed"
AUTO, PENDING, REJECTED = "auto", "pending", "rejected"
SUSPEND, STOP = "suspend", "stop"


# ---- findings ------------------------------------------------------------------------------------------


def _findings_scope(user):
    return access.findings_handleable(user)


def overpayment_fen(enrolment_id: int | None, effective_month: date | None) -> int:
    """Paid (and not failed) for ``effective_month`` and after."""
    from canlian.benefits.models import PayrollLine

    if enrolment_id is None or effective_month is None:
        return 0
    total = (
        PayrollLine.objects.filter(enrolment_id=enrolment_id, for_month__gte=effective_month)
        .exclude(status=PayrollLine.Status.FAILED)
        .aggregate(s=Sum("amount_fen"))["s"]
    )
    return int(total or 0)


def _confirm_month(f, enrolment, given: date | None) -> tuple[date | None, dict]:
    """The first month not due: the one given, else the finding's (not before the enrolment's start)."""
    month = given.replace(day=1) if given else f.effective_month
    if enrolment is None:
        return month, {}
    if month is None:
        return None, {"effective_month": "请填写停发起始月份"}
    if given is None and month < enrolment.start_month:
        month = enrolment.start_month
    if month < enrolment.start_month:
        return month, {"effective_month": f"停发起始月份不能早于待遇起始月份 {enrolment.start_month:%Y-%m}"}
    return month, {}


def _confirm_validate(f, data: dict) -> dict:
    from canlian.benefits.models import Enrolment

    if not f.enrolment_id:
        return {}
    if data.get("action") not in (SUSPEND, STOP):
        return {"action": "请选择处理方式：暂停或终止"}
    enrolment = Enrolment.objects.get(pk=f.enrolment_id)
    return _confirm_month(f, enrolment, data.get("effective_month"))[1]


def _bring_registry_up_to_date(acting_user, f) -> list[str]:
    from canlian.registry.models import Certificate, Person
    from canlian.registry.services import certificate_set_status, person_set_status

    from .models import FindingKind

    done = []
    person = Person.objects.get(pk=f.person_id)
    event = f.row.event_date if f.row_id and f.row else None
    if f.kind == FindingKind.DECEASED and person.status != Person.Status.DECEASED and event:
        person_set_status(
            acting_user=acting_user, person=person, status=Person.Status.DECEASED, death_date=event
        )
        done.append("person_deceased")
    elif f.kind == FindingKind.MOVED_OUT and person.status == Person.Status.ACTIVE and f.row_id:
        # the list's date of the move, so the months before it are still paid (back pay)
        person_set_status(
            acting_user=acting_user, person=person, status=Person.Status.MOVED_OUT, moved_out_on=event
        )
        done.append("person_moved_out")
    elif f.kind == FindingKind.CERT_CANCELLED and event:
        cert = Certificate.objects.filter(person=person, is_current=True).first()
        if cert and cert.status != Certificate.Status.CANCELLED:
            certificate_set_status(
                acting_user=acting_user,
                certificate=cert,
                status=Certificate.Status.CANCELLED,
                on=event,
                reason=f"数据比对疑点#{f.pk}：上级系统注销名单",
            )
            done.append("certificate_cancelled")
    return done


def _confirm_effect(f, *, acting_user, data, history) -> dict:
    """Stop or suspend the enrolment, update the registry, record the overpayment and who handled it."""
    from canlian.benefits.models import Enrolment
    from canlian.benefits.services.enrolments import enrolment_change

    action = data.get("action") or STOP
    note = history.note
    enrolment_done = ""
    e = Enrolment.objects.select_for_update().get(pk=f.enrolment_id) if f.enrolment_id else None
    month, _ = _confirm_month(f, e, data.get("effective_month"))  # validated just before, same transaction
    if e is not None:
        reason = f"数据比对疑点#{f.pk}：{f.get_kind_display()}" + (f"；{note}" if note else "")
        if e.status == Enrolment.Status.ACTIVE or (e.status == Enrolment.Status.SUSPENDED and action == STOP):
            enrolment_change(
                acting_user=acting_user, enrolment=e, kind=action, effective_month=month, reason=reason
            )
            enrolment_done = action
    registry_done = _bring_registry_up_to_date(acting_user, f)
    old_over = f.overpayment_fen
    f.overpayment_fen = overpayment_fen(f.enrolment_id, month)
    f.action = action if f.enrolment_id else ""
    f.effective_month = month
    f.note = note
    f.handled_by, f.handled_at = acting_user, timezone.now()
    f.save(update_fields=["action", "effective_month", "note", "overpayment_fen", "handled_by", "handled_at"])
    return {
        "finding": [f.pk, f.pk],
        "kind": [None, f.kind],
        "action": [None, f.action],
        "effective_month": [None, f"{month:%Y-%m}" if month else None],
        "overpayment_fen": [old_over, f.overpayment_fen],
        "enrolment_change": [None, enrolment_done],
        "registry": [None, registry_done],
    }


def _dismiss_effect(f, *, acting_user, data, history) -> dict:
    f.handled_by, f.handled_at = acting_user, timezone.now()
    f.save(update_fields=["handled_by", "handled_at"])
    return {"finding": [f.pk, f.pk], "kind": [None, f.kind]}


FINDING_WORKFLOW = Workflow(
    code="finding",
    name="疑点核实",
    states={OPEN: "待处理", CONFIRMED: "已确认", DISMISSED: "已排除"},
    initial=OPEN,
    state_field="status",
    scope=_findings_scope,
    audit_object=lambda f: f.person,
    field_labels={"dismiss_reason": "排除理由", "action": "处理方式", "effective_month": "停发起始月份"},
    moves=(
        Move(
            "confirm",
            "确认疑点",
            (OPEN,),
            CONFIRMED,
            WRITERS,
            validate=_confirm_validate,
            effect=_confirm_effect,
        ),
        Move(
            "dismiss",
            "排除疑点",
            (OPEN,),
            DISMISSED,
            WRITERS,
            requires=("dismiss_reason",),
            records=("dismiss_reason",),
            effect=_dismiss_effect,
        ),
    ),
)


# ---- candidate matches ---------------------------------------------------------------------------------


def _matches_scope(user):
    return access.matches_decidable(user)


def _match_confirm_validate(m, data: dict) -> dict:
    from .models import Match

    taken = Match.objects.filter(row_id=m.row_id, status__in=[AUTO, CONFIRMED]).exclude(pk=m.pk)
    return {"match": "该名单行已匹配到其他人员"} if taken.exists() else {}


def _match_confirm_effect(m, *, acting_user, data, history) -> dict:
    """Record the decision and reject the row's other candidates (one row is one person)."""
    from .models import Match

    m.decided_by, m.decided_at, m.applied = acting_user, history.at, False
    m.save(update_fields=["decided_by", "decided_at", "applied"])
    others = list(
        Match.objects.select_for_update()
        .filter(row_id=m.row_id, status=PENDING)
        .exclude(pk=m.pk)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if others:
        Match.objects.filter(pk__in=others).update(
            status=REJECTED, decided_by=acting_user, decided_at=history.at
        )
        supersede = MATCH_WORKFLOW.move("supersede")
        ct = ContentType.objects.get_for_model(Match)
        WorkflowHistory.objects.bulk_create(
            [
                WorkflowHistory(
                    content_type=ct,
                    object_id=str(pk),
                    workflow=MATCH_WORKFLOW.code,
                    move=supersede.name,
                    move_label=supersede.label,
                    from_state=PENDING,
                    to_state=REJECTED,
                    by=acting_user,
                    note=f"名单第{m.row.row_number}行已确认为候选匹配#{m.pk}",
                    data={"match": m.pk},
                )
                for pk in others
            ]
        )
    changes = {"match": [None, m.pk], "row": [None, m.row_id]}
    return {**changes, "superseded": [None, len(others)]} if others else changes


def _match_reject_effect(m, *, acting_user, data, history) -> dict:
    m.decided_by, m.decided_at = acting_user, history.at
    m.save(update_fields=["decided_by", "decided_at"])
    return {"match": [None, m.pk], "row": [None, m.row_id]}


MATCH_WORKFLOW = Workflow(
    code="match",
    name="候选匹配",
    states={AUTO: "自动匹配", PENDING: "待确认", CONFIRMED: "已确认", REJECTED: "已否定"},
    initial=PENDING,
    state_field="status",
    scope=_matches_scope,
    audit_object=lambda m: m.person,
    moves=(
        Move(
            "confirm",
            "确认候选匹配",
            (PENDING,),
            CONFIRMED,
            WRITERS,
            validate=_match_confirm_validate,
            effect=_match_confirm_effect,
        ),
        Move("reject", "否定候选匹配", (PENDING,), REJECTED, WRITERS, effect=_match_reject_effect),
        # made only by the confirm move's effect, on the row's other candidates: no role may make it by hand
        Move("supersede", "同行另一候选已确认，自动否定", (PENDING,), REJECTED, frozenset()),
    ),
)

# The engine labels each move's audit action "<workflow>：<move>"; these keep the labels the auditor knows and
# name the model whose fields the changes are (the rows are filed under the person).
register_actions(
    {
        "finding.confirm": ActionSpec("确认疑点", "verification.Finding"),
        "finding.dismiss": ActionSpec("排除疑点", "verification.Finding"),
        "match.confirm": ActionSpec("确认候选匹配", "verification.Match"),
        "match.reject": ActionSpec("否定候选匹配", "verification.Match"),
    }
)
