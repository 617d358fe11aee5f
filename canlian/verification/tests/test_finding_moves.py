"""Findings and candidate matches on the common workflow engine (issue 9 §1): each move by the right role
writes its history and audit rows; a wrong role, another town, a stale state or a missing reason is refused
and changes nothing; bulk confirmation reports a finding handled meanwhile; the finding page, the person
timeline and the buttons come from the workflow."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from canlian.benefits.models import Enrolment, EnrolmentChange
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog, WorkflowHistory
from canlian.common.workflow import allowed_moves, history_of
from canlian.registry.timeline import person_timeline
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

pytestmark = pytest.mark.urls("canlian.verification.tests.urls")


@pytest.fixture
def ran(staff, make_person):
    w = world.build(make_person)
    world.import_lists(staff["district"], w["persons"])
    w["run"] = verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    return w


def _state(finding) -> tuple:
    """Everything a move may change: the finding, its enrolment, its history, the audit log."""
    f = Finding.objects.get(pk=finding.pk)
    e = Enrolment.objects.get(pk=f.enrolment_id) if f.enrolment_id else None
    return (
        f.status,
        f.action,
        f.dismiss_reason,
        f.handled_by_id,
        f.overpayment_fen,
        e and (e.status, e.end_month, e.suspended_from),
        history_of(f).count(),
        AuditLog.objects.count(),
        EnrolmentChange.objects.count(),
    )


def _names(user, obj) -> set[str]:
    return {m.name for m in allowed_moves(user, obj)}


def test_the_town_confirms_its_own_finding_through_the_engine(ran, staff):
    f = Finding.objects.get(kind="entered_tekun", enrolment__programme__code="living_allowance")  # 甪直镇
    assert _names(staff["town_luzhi"], f) == {"confirm", "dismiss"}
    finding_confirm(acting_user=staff["town_luzhi"], finding=f, action="stop", note="民政已纳入特困")
    f.refresh_from_db()
    assert (f.status, f.handled_by, f.note) == ("confirmed", staff["town_luzhi"], "民政已纳入特困")
    [h] = history_of(f)
    assert (h.workflow, h.move, h.move_label, h.from_state, h.to_state, h.by) == (
        "finding",
        "confirm",
        "确认疑点",
        "open",
        "confirmed",
        staff["town_luzhi"],
    )
    assert h.note == "民政已纳入特困" and h.data == {"action": "stop", "effective_month": None}
    # the audit row stays filed under the person (the person page's change history) and names the finding
    audit = AuditLog.objects.get(action="finding.confirm")
    assert (audit.object_type, audit.object_id) == ("registry.person", str(f.person_id))
    assert audit.changes["finding"] == [f.pk, f.pk]
    assert audit.changes["status"] == ["open", "confirmed"]
    assert audit.changes["enrolment_change"] == [None, "stop"]
    assert Enrolment.objects.get(pk=f.enrolment_id).status == "stopped"
    assert _names(staff["town_luzhi"], f) == set()  # nothing left to do on it


def test_the_district_dismisses_with_a_reason_kept_on_the_finding_and_its_history(ran, staff):
    f = Finding.objects.get(kind="custodial_age")  # 木渎镇
    finding_dismiss(acting_user=staff["district"], finding=f, reason="年龄按证件更正后符合")
    f.refresh_from_db()
    assert (f.status, f.dismiss_reason, f.handled_by) == (
        "dismissed",
        "年龄按证件更正后符合",
        staff["district"],
    )
    [h] = history_of(f)
    assert (h.move, h.to_state, h.data) == (
        "dismiss",
        "dismissed",
        {"dismiss_reason": "年龄按证件更正后符合"},
    )
    audit = AuditLog.objects.get(action="finding.dismiss")
    assert audit.changes["dismiss_reason"] == ["", "年龄按证件更正后符合"]
    assert not EnrolmentChange.objects.exists()  # a dismissal leaves the enrolment alone


@pytest.mark.parametrize("who", ["town_mudu", "leader", "auditor", "institution", "admin"])
def test_a_wrong_role_or_another_town_is_refused_and_nothing_changes(ran, staff, who):
    f = Finding.objects.get(kind="injury_care")  # 甪直镇
    before = _state(f)
    assert _names(staff[who], f) == set()
    with pytest.raises(PermissionDenied):
        finding_confirm(acting_user=staff[who], finding=f, action="stop")
    with pytest.raises(PermissionDenied):
        finding_dismiss(acting_user=staff[who], finding=f, reason="不是")
    assert _state(f) == before


def test_refused_input_changes_nothing(ran, staff):
    f = Finding.objects.get(kind="injury_care")
    before = _state(f)
    with pytest.raises(ValidationFailed) as exc:
        finding_dismiss(acting_user=staff["town_luzhi"], finding=f, reason="   ")
    assert exc.value.errors == {"dismiss_reason": "请填写排除理由"}
    with pytest.raises(ValidationFailed) as exc:
        finding_confirm(acting_user=staff["town_luzhi"], finding=f, action="hold")
    assert exc.value.errors == {"action": "请选择处理方式：暂停或终止"}
    with pytest.raises(ValidationFailed, match="不能早于待遇起始月份 2023-05"):
        finding_confirm(
            acting_user=staff["town_luzhi"], finding=f, action="stop", effective_month=date(2022, 12, 1)
        )
    assert _state(f) == before


def test_a_stale_state_is_refused_and_changes_nothing(ran, staff):
    f = Finding.objects.get(kind="injury_care")  # both clerks of 甪直镇 opened it while it was open
    seen_by_second = Finding.objects.get(pk=f.pk)
    finding_confirm(acting_user=staff["town_luzhi"], finding=f, action="suspend")
    after_first = _state(f)
    with pytest.raises(DomainError, match="当前状态已变为“已确认”，请刷新后重试"):
        finding_dismiss(acting_user=staff["luzhi2"], finding=seen_by_second, reason="已核实不属实")
    with pytest.raises(DomainError, match="当前状态已变为“已确认”，请刷新后重试"):
        finding_confirm(acting_user=staff["luzhi2"], finding=seen_by_second, action="stop")
    assert _state(f) == after_first
    assert Enrolment.objects.get(pk=f.enrolment_id).status == "suspended"  # not stopped by the second


def test_bulk_with_one_finding_handled_meanwhile_reports_it(ran, staff):
    luzhi = list(
        Finding.objects.filter(town__name="甪直镇", enrolment__isnull=False, status="open").order_by("pk")
    )
    ids = [f.pk for f in luzhi]
    handled = luzhi[1]  # another clerk dismissed it after the list page was shown
    finding_dismiss(acting_user=staff["luzhi2"], finding=handled, reason="已核实，名单有误")
    result = findings_confirm_bulk(acting_user=staff["town_luzhi"], finding_ids=ids, action="stop")
    assert result.skipped == [(handled.pk, "当前状态已变为“已排除”，请刷新后重试")]
    assert result.confirmed == [pk for pk in ids if pk != handled.pk]
    assert Finding.objects.get(pk=handled.pk).status == "dismissed"
    ct = ContentType.objects.get_for_model(Finding)
    confirms = WorkflowHistory.objects.filter(content_type=ct, move="confirm")
    assert sorted(int(pk) for pk in confirms.values_list("object_id", flat=True)) == result.confirmed
    assert not confirms.filter(object_id=str(handled.pk)).exists()
    # one audit row per confirmed finding and the batch's own row
    assert AuditLog.objects.filter(action="finding.confirm").count() == len(result.confirmed)
    assert AuditLog.objects.get(action="finding.confirm_bulk").changes == {
        "confirmed": [None, len(result.confirmed)],
        "skipped": [None, 1],
    }


def test_match_moves_and_the_other_candidates_of_the_row(ran, staff, make_person):
    candidate = Match.objects.get(status="pending")  # a 甪直镇 person
    namesake = make_person(name=candidate.person.name, birth=date(1959, 10, 12), grade=4, town="木渎镇")
    other = Match.objects.create(
        row=candidate.row, person=namesake, match_type="name_birth", score=0.8, status="pending"
    )
    assert _names(staff["town_luzhi"], candidate) == {"confirm", "reject"}
    assert _names(staff["town_luzhi"], other) == set()  # not their town
    assert _names(staff["leader"], candidate) == set()
    assert _names(staff["district"], other) == {"confirm", "reject"}  # the automatic move is nobody's to make
    before = (WorkflowHistory.objects.count(), AuditLog.objects.count())
    with pytest.raises(PermissionDenied):
        match_confirm(acting_user=staff["town_mudu"], match=candidate)
    with pytest.raises(PermissionDenied):
        match_reject(acting_user=staff["leader"], match=candidate)
    assert (WorkflowHistory.objects.count(), AuditLog.objects.count()) == before
    match_confirm(acting_user=staff["town_luzhi"], match=candidate)
    candidate.refresh_from_db()
    other.refresh_from_db()
    assert (candidate.status, candidate.decided_by) == ("confirmed", staff["town_luzhi"])
    assert (other.status, other.decided_by) == ("rejected", staff["town_luzhi"])
    [h] = history_of(other)
    assert (h.move, h.from_state, h.to_state) == ("supersede", "pending", "rejected")
    assert f"候选匹配#{candidate.pk}" in h.note
    audit = AuditLog.objects.get(action="match.confirm")
    assert (audit.object_type, audit.object_id) == ("registry.person", str(candidate.person_id))
    assert audit.changes["superseded"] == [None, 1]


def test_match_reject_stale(ran, staff):
    candidate = Match.objects.get(status="pending")
    seen = Match.objects.get(pk=candidate.pk)
    match_reject(acting_user=staff["district"], match=candidate, reason="同名不同人")
    before = (WorkflowHistory.objects.count(), AuditLog.objects.count())
    with pytest.raises(DomainError, match="当前状态已变为“已否定”，请刷新后重试"):
        match_confirm(acting_user=staff["town_luzhi"], match=seen)
    assert (WorkflowHistory.objects.count(), AuditLog.objects.count()) == before
    assert history_of(candidate).get().note == "同名不同人"


def test_the_page_offers_the_moves_shows_them_and_refuses_a_stale_post(ran, staff):
    f = Finding.objects.get(kind="injury_care")
    luzhi, other = Client(), Client()
    luzhi.force_login(staff["town_luzhi"])
    other.force_login(staff["luzhi2"])
    page = luzhi.get(reverse("verification:finding_detail", args=[f.pk])).content.decode()
    assert 'id="confirm-form"' in page and 'id="dismiss-form"' in page
    assert 'name="state" value="open"' in page and 'id="finding-history-empty"' in page
    leader = Client()
    leader.force_login(staff["leader"])
    read_only = leader.get(reverse("verification:finding_detail", args=[f.pk])).content.decode()
    assert 'id="confirm-form"' not in read_only and 'id="dismiss-form"' not in read_only
    # the other clerk confirms first; the first clerk's dismissal, posted from the page they saw, is refused
    assert (
        other.post(
            reverse("verification:finding_confirm", args=[f.pk]), {"action": "stop", "state": "open"}
        ).status_code
        == 302
    )
    before = _state(f)
    response = luzhi.post(
        reverse("verification:finding_dismiss", args=[f.pk]), {"reason": "不属实", "state": "open"}
    )
    assert response.status_code == 400
    assert "当前状态已变为“已确认”，请刷新后重试" in response.content.decode()
    assert _state(f) == before
    page = luzhi.get(reverse("verification:finding_detail", args=[f.pk])).content.decode()
    assert 'id="confirm-form"' not in page and 'id="dismiss-form"' not in page
    assert 'data-move="确认疑点"' in page and "待处理 → 已确认" in page
    # the person timeline: the finding and its move, with who made it
    entries = [e for e in person_timeline(staff["town_luzhi"], f.person) if e.area == "数据比对"]
    moved = [e for e in entries if e.title == "确认疑点：已领取工伤保险生活护理费"]
    assert len(moved) == 1 and moved[0].state == "已确认" and moved[0].detail.startswith("luzhi2")
    assert person_timeline(staff["town_mudu"], f.person) == []  # another town sees none of it
    person_page = luzhi.get(reverse("registry:person_detail", args=[f.person_id])).content.decode()
    assert "确认疑点：已领取工伤保险生活护理费" in person_page and "luzhi2" in person_page


def test_the_candidate_queue_buttons_come_from_the_workflow(ran, staff):
    m = Match.objects.get(status="pending")
    luzhi, leader = Client(), Client()
    luzhi.force_login(staff["town_luzhi"])
    leader.force_login(staff["leader"])
    page = luzhi.get(reverse("verification:candidate_list")).content.decode()
    assert f'data-confirm="{m.pk}"' in page and f'data-reject="{m.pk}"' in page
    assert 'name="state" value="pending"' in page
    page = leader.get(reverse("verification:candidate_list")).content.decode()
    assert f'data-candidate="{m.pk}"' in page and f'data-confirm="{m.pk}"' not in page


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clerks_confirming_at_once_one_wins(staff, make_person):
    """Two clerks press confirm on the same finding at the same moment: the row lock lets one through and
    tells the other the state has changed; the enrolment is stopped once, one history row, one audit row."""
    from django.db import connections

    w = world.build(make_person)
    world.import_lists(staff["district"], w["persons"])
    verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    f = Finding.objects.get(kind="injury_care")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def act(user, action):
        try:
            barrier.wait()
            finding_confirm(acting_user=user, finding=f, action=action, expected_state="open")
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.message)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=act, args=(staff["town_luzhi"], "stop")),
        threading.Thread(target=act, args=(staff["luzhi2"], "suspend")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "当前状态已变为“已确认”，请刷新后重试"]
    assert history_of(f).count() == 1
    assert AuditLog.objects.filter(action="finding.confirm").count() == 1
    assert EnrolmentChange.objects.filter(enrolment_id=f.enrolment_id).count() == 1
