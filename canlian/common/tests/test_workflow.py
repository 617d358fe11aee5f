"""The declared workflow engine, tested on a real model (the institution's status)."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog, WorkflowHistory
from canlian.common.workflow import Move, Workflow, allowed_moves, history_of, transition
from canlian.institutions.models import Institution
from canlian.institutions.services import institution_create

S = Institution.State


@pytest.fixture
def district2(make_user):
    return make_user("district2", "district_staff")


@pytest.fixture
def inst(users, towns):
    return institution_create(
        acting_user=users["district"],
        name="甪直镇残疾人之家",
        kind=Institution.Kind.CARE_HOME,
        town=towns["甪直镇"],
        phone="0512-66661234",
    )


def _snapshot(inst):
    inst.refresh_from_db()
    return (
        inst.state,
        inst.version,
        inst.state_reason,
        WorkflowHistory.objects.count(),
        AuditLog.objects.count(),
    )


def test_moves_write_state_history_and_audit(users, district2, inst):
    a = transition(
        inst,
        "submit",
        acting_user=users["district"],
        expected_state=S.DRAFT,
        designated_from=date(2023, 1, 1),
        designated_to=date(2025, 12, 31),
        note="材料齐全",
    )
    assert (a.state, a.version, a.designated_from, a.designated_to) == (
        S.SUBMITTED,
        1,
        date(2023, 1, 1),
        date(2025, 12, 31),
    )
    b = transition(a, "designate", acting_user=district2, expected_state=S.SUBMITTED)
    assert b.state == S.DESIGNATED and b.version == 2
    inst.refresh_from_db()
    assert inst.state == S.DESIGNATED
    rows = list(
        history_of(inst).values_list("move", "from_state", "to_state", "by__username", "note", "data")
    )
    assert rows == [
        (
            "submit",
            "draft",
            "submitted",
            "district1",
            "材料齐全",
            {"designated_from": "2023-01-01", "designated_to": "2025-12-31"},
        ),
        ("designate", "submitted", "designated", "district2", "", {}),
    ]
    audits = list(
        AuditLog.objects.filter(object_type="institutions.institution", object_id=str(inst.pk))
        .order_by("id")
        .values_list("action", "username", "changes", "detail")
    )
    assert audits[1:] == [
        (
            "institution.submit",
            "district1",
            {
                "state": ["draft", "submitted"],
                "designated_from": [None, "2023-01-01"],
                "designated_to": [None, "2025-12-31"],
            },
            "提交认定：待认定 → 认定审核中。材料齐全",
        ),
        (
            "institution.designate",
            "district2",
            {"state": ["submitted", "designated"]},
            "审核认定：认定审核中 → 已认定",
        ),
    ]
    assert audits[0][0] == "institution.create"


def test_maker_may_not_check_own_move(users, district2, inst):
    transition(
        inst,
        "submit",
        acting_user=users["district"],
        expected_state=S.DRAFT,
        designated_from=date(2023, 1, 1),
    )
    before = _snapshot(inst)
    assert [m.name for m in allowed_moves(users["district"], inst)] == []
    assert [m.name for m in allowed_moves(district2, inst)] == ["return", "designate"]
    with pytest.raises(PermissionDenied, match="经办与审核须由不同人员办理"):
        transition(inst, "designate", acting_user=users["district"], expected_state=S.SUBMITTED)
    assert _snapshot(inst) == before


def test_illegal_move_refused_and_nothing_changes(users, inst):
    before = _snapshot(inst)
    with pytest.raises(DomainError) as exc:
        transition(inst, "designate", acting_user=users["district"], expected_state=S.DRAFT)
    assert exc.value.message == "当前状态为“待认定”，不能办理“审核认定”"
    with pytest.raises(DomainError, match="没有“fly”这项操作"):
        transition(inst, "fly", acting_user=users["district"], expected_state=S.DRAFT)
    assert _snapshot(inst) == before


def test_stale_state_is_told_in_chinese(users, district2, inst):
    transition(
        inst,
        "submit",
        acting_user=users["district"],
        expected_state=S.DRAFT,
        designated_from=date(2023, 1, 1),
    )
    before = _snapshot(inst)
    with pytest.raises(DomainError) as exc:
        transition(
            inst, "submit", acting_user=district2, expected_state=S.DRAFT, designated_from=date(2023, 2, 1)
        )
    assert exc.value.message == "当前状态已变为“认定审核中”，请刷新后重试"
    assert _snapshot(inst) == before


@pytest.mark.parametrize("who", ["town_luzhi", "leader", "institution", "auditor", "admin"])
def test_roles_outside_the_move_are_refused(users, inst, who):
    before = _snapshot(inst)
    with pytest.raises(PermissionDenied):
        transition(
            inst, "submit", acting_user=users[who], expected_state=S.DRAFT, designated_from=date(2023, 1, 1)
        )
    assert allowed_moves(users[who], inst) == []
    assert _snapshot(inst) == before


def test_required_fields_named_in_chinese(users, district2, inst):
    with pytest.raises(ValidationFailed) as exc:
        transition(inst, "submit", acting_user=users["district"], expected_state=S.DRAFT)
    assert exc.value.errors == {"designated_from": "请填写认定起始日期"}
    transition(
        inst,
        "submit",
        acting_user=users["district"],
        expected_state=S.DRAFT,
        designated_from=date(2023, 1, 1),
    )
    transition(inst, "designate", acting_user=district2, expected_state=S.SUBMITTED)
    before = _snapshot(inst)
    with pytest.raises(ValidationFailed) as exc:
        transition(
            inst, "suspend", acting_user=users["district"], expected_state=S.DESIGNATED, state_reason="  "
        )
    assert exc.value.errors == {"state_reason": "请填写原因"}
    assert _snapshot(inst) == before
    s = transition(
        inst,
        "suspend",
        acting_user=users["district"],
        expected_state=S.DESIGNATED,
        state_reason=" 消防检查未通过 ",
    )
    assert (s.state, s.state_reason) == (S.SUSPENDED, "消防检查未通过")


def test_scope_hook_and_declaration_errors(users, inst):
    wf = Workflow(
        code="t",
        name="t",
        states={"a": "甲", "b": "乙"},
        initial="a",
        moves=(Move("go", "前进", ("a",), "b", {"district_staff"}, check=lambda u, o: False),),
    )
    assert [m.name for m in wf.moves_from("a")] == ["go"]
    with pytest.raises(ValueError, match="unknown state"):
        Workflow(
            code="t",
            name="t",
            states={"a": "甲"},
            initial="a",
            moves=(Move("go", "前进", ("a",), "x", {"district_staff"}),),
        )
    with pytest.raises(ValueError, match="checks unknown move"):
        Workflow(
            code="t",
            name="t",
            states={"a": "甲"},
            initial="a",
            moves=(Move("go", "前进", ("a",), "a", {"district_staff"}, checker_of="nope"),),
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_one_wins(make_user, towns):
    from django.db import connections

    maker = make_user("maker", "district_staff")
    checkers = [make_user("checker_a", "district_staff"), make_user("checker_b", "district_staff")]
    inst = institution_create(
        acting_user=maker, name="木渎托养中心", kind=Institution.Kind.CUSTODIAL_PROVIDER, town=towns["木渎镇"]
    )
    transition(inst, "submit", acting_user=maker, expected_state=S.DRAFT, designated_from=date(2023, 1, 1))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def act(user, move):
        try:
            barrier.wait()
            transition(inst, move, acting_user=user, expected_state=S.SUBMITTED, state_reason="缺少消防证明")
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.message)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=act, args=(checkers[0], "designate")),
        threading.Thread(target=act, args=(checkers[1], "return")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1
    loser = next(o for o in outcomes if o != "ok")
    assert loser in ("当前状态已变为“已认定”，请刷新后重试", "当前状态已变为“待认定”，请刷新后重试")
    inst.refresh_from_db()
    assert history_of(inst).count() == 2
    assert (
        AuditLog.objects.filter(object_type="institutions.institution", object_id=str(inst.pk)).count() == 3
    )
