"""Targets split across towns, progress from live counts, pace and status, frozen monthly snapshots."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from canlian.cli import main
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog
from canlian.workplan import indicators as registry
from canlian.workplan import progress, services
from canlian.workplan.models import IndicatorSnapshot, Target, TownQuota

SEED = Path(__file__).resolve().parent / "data" / "wuzhong_2023.txt"
LIVE: dict[str, dict] = {}  # what the test indicators count, set by each test


@pytest.fixture
def test_indicators(towns):
    """Two indicators whose counts the test sets: a count and a rate."""
    saved = dict(registry._INDICATORS)
    registry.indicator_register(
        registry.Indicator(
            "t_count", "测试计数", "人", "测试", count=lambda year: dict(LIVE.get("count", {}))
        )
    )
    registry.indicator_register(
        registry.Indicator(
            "t_rate",
            "测试比例",
            "%",
            "测试",
            count=lambda year: dict(LIVE.get("num", {})),
            denominator=lambda year: dict(LIVE.get("den", {})),
        )
    )
    yield
    registry._INDICATORS.clear()
    registry._INDICATORS.update(saved)
    LIVE.clear()


@pytest.fixture
def published(users, towns, test_indicators):
    """The seed published: custodial (100 人) tied to t_count, the employment rate (97%) to t_rate, the rest
    milestones."""
    staff = users["district"]
    plan = services.plan_import(acting_user=staff, year=2023, data=SEED.read_bytes(), filename="a.txt").plan
    by_task = {t.task.number: t for t in plan.targets.select_related("task")}
    services.target_update(acting_user=staff, target_id=by_task[8].pk, data={"indicator": "t_count"})
    services.target_update(acting_user=staff, target_id=by_task[6].pk, data={"indicator": "t_rate"})
    for n in (7, 9):
        services.target_update(acting_user=staff, target_id=by_task[n].pk, data={"link": "milestone"})
    services.plan_publish(acting_user=staff, plan_id=plan.pk)
    return {n: Target.objects.get(pk=t.pk) for n, t in by_task.items()}


def test_split_by_hand_must_add_up(users, towns, published):
    staff, custodial = users["district"], published[8]
    with pytest.raises(ValidationFailed) as err:
        services.quotas_set(
            acting_user=staff,
            target_id=custodial.pk,
            values={towns["木渎镇"].pk: "60", towns["甪直镇"].pk: "30"},
        )
    assert err.value.errors["total"] == "各镇(街道)合计 90人，与目标值 100人 不符（相差 10）"
    assert not TownQuota.objects.exists()
    services.quotas_set(
        acting_user=staff, target_id=custodial.pk, values={towns["木渎镇"].pk: "60", towns["甪直镇"].pk: "40"}
    )
    assert {q.town.name: q.value for q in custodial.quotas.all()} == {"木渎镇": 60, "甪直镇": 40}
    with pytest.raises(PermissionDenied):
        services.quotas_set(acting_user=users["town_luzhi"], target_id=custodial.pk, values={})
    with pytest.raises(ValidationFailed):  # a rate is not split
        services.quotas_proportional(acting_user=staff, target_id=published[6].pk)
    log = AuditLog.objects.filter(action="workplan.quotas").get()
    assert log.changes["quotas"][1] == {"木渎镇": "60", "甪直镇": "40"}


def test_proportional_split_is_whole_and_adds_up_exactly():
    parts = progress_parts = services.proportional(Decimal(100), {"a": 1, "b": 1, "c": 1}, whole=True)
    assert sorted(parts.values()) == [33, 33, 34] and sum(progress_parts.values()) == 100
    parts = services.proportional(Decimal(163), {"a": 7, "b": 5, "c": 3, "d": 0}, whole=True)
    assert parts == {"a": 76, "b": 54, "c": 33, "d": 0} and sum(parts.values()) == 163
    with pytest.raises(ValidationFailed):
        services.proportional(Decimal(10), {"a": 0}, whole=True)


def test_proportional_split_by_persons(users, towns, published, make_person):
    for _ in range(3):
        make_person(town="木渎镇")
    make_person(town="甪直镇")
    services.quotas_proportional(acting_user=users["district"], target_id=published[8].pk)
    assert {q.town.name: q.value for q in published[8].quotas.all()} == {"木渎镇": 75, "甪直镇": 25}


def test_progress_status_and_pace(users, towns, published):
    mudu, luzhi = towns["木渎镇"], towns["甪直镇"]
    services.quotas_set(
        acting_user=users["district"], target_id=published[8].pk, values={mudu.pk: "60", luzhi.pk: "40"}
    )
    LIVE.update(
        {
            "count": {mudu.pk: 30, luzhi.pk: 5},
            "num": {mudu.pk: 9, luzhi.pk: 1},
            "den": {mudu.pk: 10, luzhi.pk: 0},
        }
    )
    rows = {p.target.task.number: p for p in progress.plan_progress(2023, on=date(2023, 7, 1))}
    custodial = rows[8]
    # 35 of 100 on 1 July, when about half is expected (linear to 31 December): behind
    assert (custodial.actual, custodial.percent, custodial.status) == (35, Decimal("35.0"), "behind")
    assert Decimal("49") < custodial.expected < Decimal("50")
    towns_seen = {tp.town: (tp.target, tp.actual, tp.percent) for tp in custodial.by_town}
    assert towns_seen["木渎镇"] == (Decimal("60.00"), 30, Decimal("50.0"))
    assert towns_seen["甪直镇"] == (Decimal("40.00"), 5, Decimal("12.5"))
    assert towns_seen["长桥街道"] == (None, 0, None)
    # the rate: 10 of 10 employed → 100% ≥ 97%: done; per town the rate itself
    rate = rows[6]
    assert (rate.actual, rate.status) == (Decimal("100.0"), "done")
    assert {tp.town: tp.actual for tp in rate.by_town}["甪直镇"] is None  # no graduates: no rate, not 0%
    # the milestone due 31 October: within 30 days on 10 October, late on 1 November, done when marked
    assert progress.plan_progress(2023, on=date(2023, 10, 10))[1].status == "due_soon"
    assert progress.plan_progress(2023, on=date(2023, 11, 1))[1].status == "late"
    services.milestone_complete(
        acting_user=users["district"], target_id=published[7].pk, on=date(2023, 10, 20)
    )
    assert progress.plan_progress(2023, on=date(2023, 11, 1))[1].status == "done"
    # on track when ahead of the pace
    LIVE["count"] = {mudu.pk: 60, luzhi.pk: 0}
    assert {p.target.task.number: p for p in progress.plan_progress(2023, on=date(2023, 7, 1))}[
        8
    ].status == "on_track"
    # a curve instead of a line: 10% expected by the end of June
    Target.objects.filter(pk=published[8].pk).update(
        pace=[0, 0, 0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1]
    )
    t = Target.objects.get(pk=published[8].pk)
    assert progress.expected_share(t, date(2023, 6, 30), 2023) == Decimal("0.1000")


def test_cli_progress_json_has_targets_and_town_targets(users, towns, published, capsys):
    mudu = towns["木渎镇"]
    services.quotas_set(acting_user=users["district"], target_id=published[8].pk, values={mudu.pk: "100"})
    LIVE.update({"count": {mudu.pk: 12}})
    assert main(["workplan", "progress", "2023", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ind = out["indicators"]["t_count"]
    assert (ind["target"], ind["actual"], ind["by_town"]["木渎镇"], ind["by_town_target"]["木渎镇"]) == (
        100,
        12,
        12,
        100,
    )
    assert ind["by_town_target"]["甪直镇"] is None
    row = next(t for t in out["targets"] if t["task"] == 8)
    assert (row["value"], row["actual"], row["indicator"]) == (100, 12, "t_count")
    assert row["by_town"]["木渎镇"] == {"target": 100, "actual": 12, "percent": 12.0}


def test_a_closed_month_is_frozen(users, towns, published):
    mudu = towns["木渎镇"]
    LIVE.update({"count": {mudu.pk: 7}})
    assert progress.snapshot_month(2023, 5) > 0
    LIVE.update({"count": {mudu.pk: 9}})  # records entered later with May dates
    assert progress.snapshot_month(2023, 5) == 0  # already frozen: unchanged
    total = IndicatorSnapshot.objects.get(indicator="t_count", year=2023, month=5, town=None)
    assert total.actual == 7
    # May frozen, June never frozen, July (the current month) live
    assert progress.monthly_series("t_count", 2023, on=date(2023, 7, 15)) == [
        None,
        None,
        None,
        None,
        7,
        None,
        9,
    ]
    assert progress.monthly_series("t_count", 2023, on=date(2023, 7, 15), town_id=mudu.pk)[4] == 7


def test_cli_snapshot(users, towns, test_indicators, capsys):
    assert main(["workplan", "snapshot", "--month", "2023-05"]) == 0
    assert "冻结" in capsys.readouterr().out
    assert IndicatorSnapshot.objects.filter(year=2023, month=5, town=None).count() == len(
        registry.indicators()
    )
    assert AuditLog.objects.filter(action="workplan.snapshot").count() == 1
    assert main(["workplan", "snapshot", "--month", "2023-13"]) == 2
    assert main(["workplan", "snapshot", "--month", "2999-01"]) == 2
