"""A custodial case end to end on the engine, by the roles that do each step; institution staff scope;
attachments encrypted at rest with audited reads; settlement with the cap and maker ≠ checker."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from canlian.casework import access
from canlian.casework.models import Attachment, Case, DueItem, Settlement
from canlian.casework.selectors import due_items_open, overdue_by_town
from canlian.casework.services import attachment_add, attachment_read, case_move, case_open, due_item_complete
from canlian.casework.settlements import settlement_create, settlement_decide
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog, WorkflowHistory
from canlian.common.workflow import allowed_moves, transition

pytestmark = pytest.mark.django_db


@pytest.fixture
def applied(users, make_person):
    person = make_person(name="张伟", category=5, grade=2)
    return case_open(
        acting_user=users["town_luzhi"],
        programme="custodial_care",
        person=person,
        opened_on=date(2023, 2, 1),
        data={"mode": "boarding"},
    )


def test_case_through_every_step(users, applied, provider, make_user):
    assert applied.state == "applied" and applied.town.name == "甪直镇"
    assert [m.name for m in allowed_moves(users["town_luzhi"], applied)] == ["town_review", "reject"]
    assert [m.name for m in allowed_moves(users["town_mudu"], applied)] == []
    c = case_move(acting_user=users["town_luzhi"], case=applied, move="town_review", expected_state="applied")
    c = case_move(acting_user=users["district"], case=c, move="approve", expected_state="town_reviewed")
    with pytest.raises(ValidationFailed) as exc:
        case_move(acting_user=users["district"], case=c, move="place", expected_state="approved")
    assert exc.value.errors == {"institution": "请填写服务机构", "opened_on": "请填写托养开始日期"}
    c = case_move(
        acting_user=users["district"],
        case=c,
        move="place",
        expected_state="approved",
        institution=provider,
        opened_on=date(2023, 3, 1),
    )
    assert (c.state, c.institution_id, c.opened_on) == ("placed", provider.pk, date(2023, 3, 1))
    due = list(DueItem.objects.filter(case=c).values_list("due_on", flat=True))
    assert due[:2] == [date(2023, 3, 31), date(2023, 4, 30)] and len(due) == 12
    with pytest.raises(ValidationFailed) as exc:
        case_move(
            acting_user=users["district"],
            case=c,
            move="end",
            expected_state="placed",
            closed_on=date(2023, 2, 28),
            close_reason="家属接回",
        )
    assert exc.value.errors == {"closed_on": "结束日期不能早于开始日期 2023-03-01"}
    c = case_move(
        acting_user=users["district"],
        case=c,
        move="end",
        expected_state="placed",
        closed_on=date(2023, 4, 30),
        close_reason="家属接回",
    )
    assert (c.state, c.closed_on, c.close_reason) == ("ended", date(2023, 4, 30), "家属接回")
    assert DueItem.objects.filter(case=c, cancelled=False).count() == 2
    assert list(
        WorkflowHistory.objects.filter(object_id=str(c.pk), workflow="case.custodial_care").values_list(
            "move", "by__username"
        )
    ) == [("town_review", "luzhi1"), ("approve", "district1"), ("place", "district1"), ("end", "district1")]
    actions = list(
        AuditLog.objects.filter(object_type="casework.case", object_id=str(c.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "case.custodial_care.open",
        "case.custodial_care.town_review",
        "case.custodial_care.approve",
        "case.custodial_care.place",
        "case.custodial_care.end",
    ]
    place = AuditLog.objects.get(action="case.custodial_care.place")
    assert place.changes == {
        "state": ["approved", "placed"],
        "institution": [None, provider.pk],
        "opened_on": ["2023-02-01", "2023-03-01"],
        "due_items": [None, 12],
    }


def test_town_reviewer_may_not_approve_own_review_even_as_district(users, applied, make_user):
    c = case_move(acting_user=users["town_luzhi"], case=applied, move="town_review", expected_state="applied")
    with pytest.raises(PermissionDenied):  # town staff may not approve at all
        case_move(acting_user=users["town_luzhi"], case=c, move="approve", expected_state="town_reviewed")
    c.refresh_from_db()
    assert c.state == "town_reviewed"


def test_institution_staff_see_exactly_their_cases(users, make_person, provider, provider_mudu, inst_staff):
    mine = case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=make_person(name="张伟"),
        opened_on=date(2023, 3, 1),
        institution=provider,
        state="placed",
    )
    case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=make_person(name="李娜", town="木渎镇"),
        opened_on=date(2023, 3, 1),
        institution=provider_mudu,
        state="placed",
    )
    case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=make_person(name="王芳"),
        opened_on=date(2023, 3, 1),
    )  # no institution yet
    assert list(access.cases_visible(inst_staff)) == [mine]
    assert set(due_items_open(inst_staff, today=date(2023, 12, 31)).values_list("case_id", flat=True)) == {
        mine.pk
    }
    assert access.cases_visible(users["institution"]).count() == 0  # belongs to no institution
    assert access.cases_visible(users["town_luzhi"]).count() == 2
    assert access.cases_visible(users["town_mudu"]).count() == 1
    assert access.cases_visible(users["leader"]).count() == 3
    for role in ("admin", "auditor"):
        assert access.cases_visible(users[role]).count() == 0
    # institution staff record the visit and may end the placement; never open or approve
    item = DueItem.objects.filter(case=mine).first()
    done = due_item_complete(acting_user=inst_staff, item=item, done_on=date(2023, 4, 2), note="情况稳定")
    assert (done.done_on, done.done_by, done.status_on(date(2023, 5, 1))) == (
        date(2023, 4, 2),
        inst_staff,
        "done",
    )
    with pytest.raises(DomainError, match="该事项已完成"):
        due_item_complete(acting_user=inst_staff, item=item, done_on=date(2023, 4, 3), note="再次")
    other = DueItem.objects.exclude(case=mine).first()
    with pytest.raises(PermissionDenied):
        due_item_complete(acting_user=inst_staff, item=other, done_on=date(2023, 4, 2), note="x")
    with pytest.raises(PermissionDenied):
        due_item_complete(acting_user=users["leader"], item=other, done_on=date(2023, 4, 2), note="x")
    assert [m.name for m in allowed_moves(inst_staff, mine)] == ["end"]


def test_overdue(users, make_person, provider):
    c = case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=make_person(name="张伟"),
        opened_on=date(2023, 3, 1),
        institution=provider,
        state="placed",
    )
    # due 03-31: on 03-31 scheduled, on 04-01 overdue
    first = DueItem.objects.get(case=c, seq=1)
    assert (first.status_on(date(2023, 3, 31)), first.status_on(date(2023, 4, 1))) == ("scheduled", "overdue")
    assert due_items_open(users["district"], today=date(2023, 4, 1), overdue_only=True).count() == 1
    assert due_items_open(users["district"], today=date(2023, 3, 31), overdue_only=True).count() == 0
    assert overdue_by_town(users["town_luzhi"], programme="custodial_care", today=date(2023, 5, 1)) == {
        "甪直镇": 2
    }
    assert overdue_by_town(users["town_mudu"], programme="custodial_care", today=date(2023, 5, 1)) == {}


def test_attachment_encrypted_at_rest_and_audited(users, make_person, provider, inst_staff):
    c = case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=make_person(name="张伟"),
        opened_on=date(2023, 3, 1),
        institution=provider,
        state="placed",
    )
    content = "托养协议 张伟 320506".encode() * 10
    att = attachment_add(
        acting_user=inst_staff, case=c, name="协议.pdf", content=content, content_type="application/pdf"
    )
    with connection.cursor() as cur:
        cur.execute("SELECT content FROM casework_attachment WHERE id = %s", [att.pk])
        raw = cur.fetchone()[0]
    assert raw.startswith("v1:") and "320506" not in raw
    got, data = attachment_read(acting_user=users["town_luzhi"], pk=att.pk)
    assert data == content and got.size == len(content)
    audit = AuditLog.objects.filter(action="case.custodial_care.download").get()
    assert (audit.username, audit.object_id) == ("luzhi1", str(c.pk))
    for who in ("town_mudu", "leader", "institution", "auditor"):
        with pytest.raises(PermissionDenied):
            attachment_read(acting_user=users[who], pk=att.pk)
    with pytest.raises(PermissionDenied):
        attachment_add(acting_user=users["town_mudu"], case=c, name="x.pdf", content=b"x")
    assert Attachment.objects.count() == 1
    assert AuditLog.objects.filter(action="case.custodial_care.download").count() == 1


def test_settlement_cap_and_maker_checker(users, district2, make_person, provider, inst_staff):
    for i, name in enumerate(["张伟", "李娜"]):
        case_open(
            acting_user=users["district"],
            programme="custodial_care",
            person=make_person(name=name),
            opened_on=date(2023, 3, 31 - i),
            institution=provider,
            state="placed",
        )
    # placed 03-30 and 03-31: both served in March (the last day counts), cap 1,500.00 each
    s = settlement_create(
        acting_user=inst_staff,
        institution=provider,
        programme="custodial_care",
        month=date(2023, 3, 15),
        amount_asked="3200.50",
    )
    assert (s.month, s.cases, s.amount_over_cap) == (date(2023, 3, 1), 2, Decimal("200.50"))
    with pytest.raises(ValidationFailed, match="已申报"):
        settlement_create(
            acting_user=inst_staff,
            institution=provider,
            programme="custodial_care",
            month=date(2023, 3, 1),
            amount_asked="1",
        )
    feb = settlement_create(
        acting_user=users["district"],
        institution=provider,
        programme="custodial_care",
        month=date(2023, 2, 1),
        amount_asked="100.00",
    )
    assert (feb.cases, feb.amount_over_cap) == (0, Decimal("100.00"))
    s = transition(s, "submit", acting_user=inst_staff, expected_state="draft")
    with pytest.raises(PermissionDenied):
        settlement_decide(acting_user=inst_staff, settlement=s, expected_state="submitted")
    with pytest.raises(ValidationFailed) as exc:
        settlement_decide(
            acting_user=users["district"], settlement=s, expected_state="submitted", rejected="100.00"
        )
    assert exc.value.errors == {"reject_reason": "请填写核减理由"}
    s = settlement_decide(
        acting_user=users["district"],
        settlement=s,
        expected_state="submitted",
        rejected="100.00",
        reject_reason="3月30日无服务记录",
        adjusted="-0.50",
        adjust_reason="四舍五入",
    )
    s.refresh_from_db()
    assert (s.state, s.amount_approved, s.amount_rejected, s.amount_adjusted, s.payable) == (
        "approved",
        Decimal("2900.00"),
        Decimal("100.00"),
        Decimal("-0.50"),
        Decimal("2899.50"),
    )
    audit = AuditLog.objects.get(action="settlement.approve")
    assert audit.changes["amount_approved"] == ["0.00", "2900.00"]
    # the district officer who submitted may not approve it
    feb = transition(feb, "submit", acting_user=users["district"], expected_state="draft")
    with pytest.raises(PermissionDenied, match="经办与审核须由不同人员办理"):
        settlement_decide(acting_user=users["district"], settlement=feb, expected_state="submitted")
    feb = settlement_decide(acting_user=district2, settlement=feb, expected_state="submitted")
    assert (feb.amount_approved, feb.amount_over_cap) == (Decimal("0.00"), Decimal("100.00"))
    assert Settlement.objects.filter(state="approved").count() == 2
    assert access.settlements_visible(users["town_luzhi"]).count() == 0


def test_case_open_refused_without_change(users, make_person, provider):
    person = make_person(name="张伟", town="木渎镇")
    n = AuditLog.objects.count()
    for who in ("town_luzhi", "leader", "institution", "auditor"):
        with pytest.raises(PermissionDenied):
            case_open(
                acting_user=users[who], programme="custodial_care", person=person, opened_on=date(2023, 3, 1)
            )
    with pytest.raises(ValidationFailed) as exc:
        case_open(
            acting_user=users["district"],
            programme="custodial_care",
            person=person,
            opened_on=date(2019, 12, 31),
            institution=provider,
            state="placed",
        )
    assert exc.value.errors == {"institution": "“甪直镇阳光托养中心”在 2019-12-31 不在认定有效期内"}
    assert Case.objects.count() == 0 and AuditLog.objects.count() == n
