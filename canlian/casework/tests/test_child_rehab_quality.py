"""The autism pathway (order of the stages, the rates by town with their denominators) and the evaluation of
designated rehab institutions (versioned checklist, negative-behaviour deductions, removal grounds)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from canlian.casework.child_rehab_models import AutismScreening, RehabEvaluation, RehabEvaluationLine
from canlian.casework.programmes.child_rehab_quality import (
    autism_event_record,
    checklist_on,
    rehab_evaluation_record,
)
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog
from canlian.workplan.selectors import progress

from .conftest import designated

pytestmark = pytest.mark.django_db
D = Decimal
FULL = {"A1": 15, "A2": 15, "B1": 20, "B2": 15, "C1": 10, "D1": 10, "E1": 15}


@pytest.fixture
def kid(make_person):
    def _make(name, town="甪直镇", birth=date(2020, 4, 1)):
        return make_person(name=name, town=town, birth=birth, category=5, grade=2, issue=date(2022, 1, 5))

    return _make


def event(users, person, stage, on, result, user="town_luzhi"):
    return autism_event_record(
        acting_user=users[user],
        person=person,
        stage=stage,
        on=on,
        result=result,
        place="甪直镇社区卫生服务中心",
    )


def test_pathway_order_and_audit(users, kid):
    a = kid("小安")
    with pytest.raises(ValidationFailed) as exc:
        event(users, a, "rescreen", date(2023, 3, 1), "positive")
    assert exc.value.errors == {"stage": "复筛前须有初筛阳性的记录（2023-03-01 或之前）"}
    with pytest.raises(ValidationFailed) as exc:
        event(users, a, "first", date(2023, 3, 1), "confirmed")
    assert exc.value.errors == {"result": "初筛结果应为 阳性 或 阴性"}
    event(users, a, "first", date(2023, 3, 1), "negative")
    with pytest.raises(ValidationFailed):
        event(users, a, "rescreen", date(2023, 3, 2), "positive")  # a negative first screen leads nowhere
    event(users, a, "first", date(2023, 6, 1), "positive")
    with pytest.raises(ValidationFailed) as exc:
        event(users, a, "rescreen", date(2023, 5, 31), "positive")  # before the positive screen
    assert exc.value.errors == {"stage": "复筛前须有初筛阳性的记录（2023-05-31 或之前）"}
    event(users, a, "rescreen", date(2023, 6, 1), "positive")
    event(users, a, "diagnosis", date(2023, 7, 1), "confirmed", user="district")
    event(users, a, "intervention", date(2023, 7, 15), "started", user="district")
    assert AutismScreening.objects.filter(person=a).count() == 5
    audit = AuditLog.objects.filter(action="autism.event").order_by("id").last()
    assert (audit.user, audit.detail) == (
        users["district"],
        "孤独症干预：已开始干预（甪直镇社区卫生服务中心）",
    )
    with pytest.raises(PermissionDenied):
        event(users, kid("小木", town="木渎镇"), "first", date(2023, 3, 1), "positive")
    with pytest.raises(PermissionDenied):
        event(users, a, "first", date(2023, 8, 1), "positive", user="leader")
    assert AutismScreening.objects.count() == 5


def test_autism_rates_by_town(users, kid, towns):
    luzhi = [kid(n) for n in ("小一", "小二", "小三", "小四")]
    mudu = kid("小五", town="木渎镇")
    for p in luzhi:
        event(users, p, "first", date(2023, 1, 1), "positive")
    event(users, luzhi[0], "rescreen", date(2023, 2, 1), "positive")
    event(users, luzhi[1], "rescreen", date(2023, 12, 31), "negative")
    event(users, luzhi[2], "rescreen", date(2024, 1, 2), "positive")  # rescreened the next year: still counts
    event(users, luzhi[0], "diagnosis", date(2023, 3, 1), "confirmed", user="district")
    event(users, mudu, "first", date(2023, 12, 31), "negative", user="district")
    event(users, kid("小六"), "first", date(2022, 12, 31), "positive")  # last year: not in 2023
    ind = progress(2023)["indicators"]
    first = ind["autism_first_screened"]
    assert (first["actual"], first["by_town"]["甪直镇"], first["by_town"]["木渎镇"]) == (5, 4, 1)
    rescreen = ind["autism_rescreen_rate"]
    assert (rescreen["actual"], rescreen["denominator"], rescreen["rate"]) == (3, 4, "75.0")
    assert rescreen["by_town_denominator"]["甪直镇"] == 4 and rescreen["by_town_denominator"]["木渎镇"] == 0
    diagnosis = ind["autism_diagnosis_rate"]
    assert (diagnosis["actual"], diagnosis["denominator"], diagnosis["rate"]) == (1, 1, "100.0")
    intervention = ind["autism_intervention_rate"]
    assert (intervention["actual"], intervention["denominator"], intervention["rate"]) == (0, 1, "0.0")
    assert progress(2021)["indicators"]["autism_rescreen_rate"]["rate"] is None


@pytest.fixture
def rehab(users, district2, towns):
    return designated(users, district2, towns, "甪直镇启明康复中心", kind="rehab_institution")


def test_checklist_versions():
    c = checklist_on(date(2023, 1, 1))
    assert c.version == "2023" and sum(i["points"] for i in c.items) == 100
    with pytest.raises(DomainError):
        checklist_on(date(2022, 12, 31))


def test_evaluation_with_deductions(users, rehab):
    ev = rehab_evaluation_record(
        acting_user=users["district"],
        institution=rehab,
        evaluated_on=date(2023, 11, 30),
        scores={**FULL, "B1": "17.5", "D1": 8},
        negatives={"N3": "额外收取评估费", "N4": ""},
        note="年度考评",
    )
    assert (ev.checklist_version, ev.score, ev.deductions, ev.final_score) == (
        "2023",
        D("95.5"),
        D("15"),
        D("80.5"),
    )
    assert (ev.pass_mark, ev.passed, ev.removal_grounds) == (60, True, False)
    lines = list(ev.lines.order_by("kind", "code").values_list("kind", "code", "points"))
    assert lines[-2:] == [("negative", "N3", D("10")), ("negative", "N4", D("5"))]
    assert len(lines) == 9
    audit = AuditLog.objects.get(action="rehab.evaluation")
    assert audit.changes["final_score"] == [None, "80.5"] and audit.changes["negatives"] == [
        None,
        ["N3", "N4"],
    ]
    assert audit.detail == "考评细则2023版：细则得分 95.5，负面行为扣 15 分，考评得分 80.5（合格）。年度考评"
    rehab.refresh_from_db()
    assert rehab.state == "designated"


def test_evaluation_removal_grounds_suspend(users, rehab):
    ev = rehab_evaluation_record(
        acting_user=users["district"],
        institution=rehab,
        evaluated_on=date(2023, 11, 30),
        scores=FULL,
        negatives={"N1": "虚报出勤"},
    )
    assert (ev.final_score, ev.passed, ev.removal_grounds) == (D("70"), False, True)
    rehab.refresh_from_db()
    assert (rehab.state, rehab.state_reason) == (
        "suspended",
        "考评发现负面行为：N1 虚报服务人数或出勤天数套取救助资金",
    )
    assert AuditLog.objects.filter(action="institution.suspend", object_id=str(rehab.pk)).count() == 1


def test_evaluation_refusals_write_nothing(users, rehab, district2, towns):
    with pytest.raises(ValidationFailed) as exc:
        rehab_evaluation_record(
            acting_user=users["district"],
            institution=rehab,
            evaluated_on=date(2023, 11, 30),
            scores={"A1": 15},
        )
    assert exc.value.errors == {"scores": "考评细则（2023版）以下项目未评分：A2、B1、B2、C1、D1、E1"}
    with pytest.raises(ValidationFailed) as exc:
        rehab_evaluation_record(
            acting_user=users["district"],
            institution=rehab,
            evaluated_on=date(2023, 11, 30),
            scores={**FULL, "A1": 16},
        )
    assert exc.value.errors == {
        "A1 机构资质、场地与设施符合定点条件": "A1 机构资质、场地与设施符合定点条件：得分应在 0～15 之间，最多一位小数"
    }
    with pytest.raises(PermissionDenied):
        rehab_evaluation_record(
            acting_user=users["town_luzhi"], institution=rehab, evaluated_on=date(2023, 11, 30), scores=FULL
        )
    custodial = designated(users, district2, towns, "托养中心", kind="custodial_provider")
    with pytest.raises(ValidationFailed):
        rehab_evaluation_record(
            acting_user=users["district"], institution=custodial, evaluated_on=date(2023, 11, 30), scores=FULL
        )
    assert RehabEvaluation.objects.count() == 0 and RehabEvaluationLine.objects.count() == 0
    assert not AuditLog.objects.filter(action="rehab.evaluation").exists()


def test_progress_cli_shows_rates_with_their_denominator(users, kid, capsys):
    import json

    from canlian.cli import main

    a, b = kid("小一"), kid("小二")
    event(users, a, "first", date(2023, 1, 1), "positive")
    event(users, b, "first", date(2023, 1, 1), "positive")
    event(users, a, "rescreen", date(2023, 1, 20), "negative")
    assert main(["workplan", "progress", "2023", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["indicators"]
    rate = out["autism_rescreen_rate"]
    assert (rate["actual"], rate["denominator"], rate["rate"], rate["by_town"]["甪直镇"]) == (1, 2, "50.0", 1)
    assert set(out["child_rehab_served"]) == {"name", "actual", "target", "by_town", "by_town_target"}
    assert main(["workplan", "progress", "2023"]) == 0
    text = capsys.readouterr().out
    assert "孤独症复筛率（autism_rescreen_rate）：1 / 2（50.0%），未设目标" in text
    assert "孤独症诊断率（autism_diagnosis_rate）：0 / 0（—），未设目标" in text
