"""Finding workflow: confirm suspends or stops, dismiss needs a reason, town scoping, leaders read only,
bulk confirmation of exact findings, candidate decisions."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.benefits.models import Enrolment, EnrolmentChange
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog
from canlian.registry.models import Certificate, Person
from canlian.verification.models import Finding, Match
from canlian.verification.services import (
    finding_confirm,
    finding_dismiss,
    findings_confirm_bulk,
    match_confirm,
    match_reject,
    verification_run,
)

from . import world

pytestmark = pytest.mark.django_db


@pytest.fixture
def ran(staff, make_person):
    w = world.build(make_person)
    world.import_lists(staff["district"], w["persons"])
    w["run"] = verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    return w


def _snapshot(finding):
    f = Finding.objects.get(pk=finding.pk)
    e = Enrolment.objects.get(pk=f.enrolment_id) if f.enrolment_id else None
    return (
        f.status,
        f.action,
        f.dismiss_reason,
        f.handled_by_id,
        e and (e.status, e.end_month, e.suspended_from),
    )


def test_confirm_stop_from_the_effective_month(ran, staff):
    f = Finding.objects.get(kind="entered_tekun", enrolment__programme__code="living_allowance")
    finding_confirm(acting_user=staff["town_luzhi"], finding=f, action="stop", note="民政已纳入特困")
    f.refresh_from_db()
    e = Enrolment.objects.get(pk=f.enrolment_id)
    assert (f.status, f.action, f.effective_month, f.handled_by) == (
        "confirmed",
        "stop",
        date(2023, 7, 1),
        staff["town_luzhi"],
    )
    assert (e.status, e.end_month) == ("stopped", date(2023, 6, 1))
    change = EnrolmentChange.objects.get(enrolment=e)
    assert (change.kind, change.effective_month, change.by) == ("stop", date(2023, 7, 1), staff["town_luzhi"])
    assert change.reason == f"数据比对疑点#{f.pk}：已纳入特困供养；民政已纳入特困"
    audit = AuditLog.objects.get(action="finding.confirm")
    assert audit.changes["enrolment_change"] == [None, "stop"]


def test_confirm_suspend_with_a_chosen_month(ran, staff):
    f = Finding.objects.get(kind="injury_care")
    finding_confirm(
        acting_user=staff["district"], finding=f, action="suspend", effective_month=date(2023, 8, 1)
    )
    e = Enrolment.objects.get(pk=f.enrolment_id)
    assert (e.status, e.suspended_from, e.end_month) == ("suspended", date(2023, 8, 1), None)
    f.refresh_from_db()
    assert (f.status, f.action, f.effective_month) == ("confirmed", "suspend", date(2023, 8, 1))


def test_confirm_a_death_and_a_move_and_a_cancellation_updates_the_registry(ran, staff):
    p = ran["persons"]
    for f in Finding.objects.filter(kind__in=["deceased", "moved_out", "cert_cancelled"]):
        finding_confirm(acting_user=staff["district"], finding=f, action="stop")
    assert Person.objects.filter(pk=p["dead"].pk).values_list("status", "death_date").get() == (
        "deceased",
        date(2023, 5, 20),
    )
    assert Person.objects.get(pk=p["moved"].pk).status == "moved_out"
    # the move is recorded on the list's date, not the day of confirming: the months before stay paid
    from canlian.registry.models import PersonCircumstance

    finding = Finding.objects.get(kind="moved_out", person=p["moved"])
    move = PersonCircumstance.objects.get(person=p["moved"], kind="moved_out")
    assert finding.row.event_date is not None and move.valid_from == finding.row.event_date
    cert = Certificate.objects.get(person=p["cancelled"], is_current=True)
    assert (cert.status, cert.status_changed_on) == ("cancelled", date(2023, 7, 10))


def test_confirm_month_before_the_enrolment_is_refused(ran, staff):
    f = Finding.objects.get(kind="injury_care")
    before = _snapshot(f)
    with pytest.raises(ValidationFailed, match="不能早于待遇起始月份 2023-05"):
        finding_confirm(
            acting_user=staff["district"], finding=f, action="stop", effective_month=date(2023, 1, 1)
        )
    assert _snapshot(f) == before


def test_dismiss_needs_a_reason(ran, staff):
    f = Finding.objects.get(kind="duplicate_person")
    before = _snapshot(f)
    with pytest.raises(ValidationFailed, match="请填写排除理由"):
        finding_dismiss(acting_user=staff["district"], finding=f, reason="  ")
    assert _snapshot(f) == before
    finding_dismiss(acting_user=staff["town_mudu"], finding=f, reason="同名同生日，经核实为两人")
    f.refresh_from_db()
    assert (f.status, f.dismiss_reason, f.handled_by) == (
        "dismissed",
        "同名同生日，经核实为两人",
        staff["town_mudu"],
    )
    # the engine's refusal of a move from a state it cannot be made in (was "该疑点已处理（已排除）")
    with pytest.raises(DomainError, match="当前状态为“已排除”，不能办理“确认疑点”"):
        finding_confirm(acting_user=staff["district"], finding=f, action="stop")


@pytest.mark.parametrize("who", ["town_mudu", "leader", "auditor", "institution", "admin"])
def test_others_cannot_handle_a_luzhi_finding_and_nothing_changes(ran, staff, who):
    f = Finding.objects.get(kind="injury_care")  # 甪直镇
    before = _snapshot(f)
    with pytest.raises(PermissionDenied):
        finding_confirm(acting_user=staff[who], finding=f, action="stop")
    with pytest.raises(PermissionDenied):
        finding_dismiss(acting_user=staff[who], finding=f, reason="不是")
    assert _snapshot(f) == before
    assert not EnrolmentChange.objects.exists()


def test_bulk_confirm_takes_exact_ones_and_skips_the_rest(ran, staff):
    typo = ran["persons"]["typo"]
    world._enrol(typo, "care_allowance")
    match_confirm(acting_user=staff["district"], match=Match.objects.get(status="pending"))
    fuzzy_run = verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    fuzzy = Finding.objects.get(run=fuzzy_run)
    luzhi = Finding.objects.filter(town__name="甪直镇", run=ran["run"], enrolment__isnull=False)
    mudu = Finding.objects.get(kind="custodial_age")  # 木渎镇
    ids = [*luzhi.values_list("pk", flat=True), mudu.pk, fuzzy.pk]
    result = findings_confirm_bulk(
        acting_user=staff["town_luzhi"], finding_ids=ids, action="stop", note="批量核实"
    )
    assert sorted(result.confirmed) == sorted(luzhi.values_list("pk", flat=True))
    assert dict(result.skipped) == {
        mudu.pk: "未找到该疑点，或您无权处理",
        fuzzy.pk: "模糊匹配产生的疑点须逐条核实确认",
    }
    assert Finding.objects.filter(pk__in=result.confirmed, status="confirmed").count() == len(
        result.confirmed
    )
    assert Finding.objects.get(pk=mudu.pk).status == "open"
    assert Finding.objects.get(pk=fuzzy.pk).status == "open"
    assert EnrolmentChange.objects.filter(kind="stop").count() == len(result.confirmed)
    assert AuditLog.objects.get(action="finding.confirm_bulk").changes == {
        "confirmed": [None, len(result.confirmed)],
        "skipped": [None, 2],
    }


def test_bulk_confirm_by_a_leader_confirms_nothing(ran, staff):
    ids = list(Finding.objects.values_list("pk", flat=True))
    result = findings_confirm_bulk(acting_user=staff["leader"], finding_ids=ids, action="stop")
    assert result.confirmed == []
    assert len(result.skipped) == len(ids)
    assert set(Finding.objects.values_list("status", flat=True)) == {"open"}


def test_candidate_decisions_are_scoped(ran, staff):
    candidate = Match.objects.get(status="pending")  # a 甪直镇 person
    with pytest.raises(PermissionDenied):
        match_confirm(acting_user=staff["town_mudu"], match=candidate)
    with pytest.raises(PermissionDenied):
        match_reject(acting_user=staff["leader"], match=candidate)
    assert Match.objects.get(pk=candidate.pk).status == "pending"
    match_reject(acting_user=staff["town_luzhi"], match=candidate, reason="同名不同人")
    candidate.refresh_from_db()
    assert (candidate.status, candidate.decided_by) == ("rejected", staff["town_luzhi"])
    with pytest.raises(DomainError, match="当前状态为“已否定”，不能办理“确认候选匹配”"):
        match_confirm(acting_user=staff["district"], match=candidate)
    # the engine's audit detail: the move, its states and the reason
    assert AuditLog.objects.get(action="match.reject").detail == "否定候选匹配：待确认 → 已否定。同名不同人"
