"""Findings of every kind from one small world; re-runs add nothing; dismissed evidence is not raised
again; a confirmed candidate acts on the next run; a complete 低保 roll finds who left by absence."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.benefits.models import Programme
from canlian.common.models import AuditLog
from canlian.registry.models import EconomicStatusPeriod
from canlian.verification.models import Finding, FindingKind, Match
from canlian.verification.selectors import open_findings_count
from canlian.verification.services import (
    finding_dismiss,
    match_confirm,
    outside_list_import,
    verification_run,
)

from . import world
from .conftest import xlsx_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def ran(staff, make_person):
    w = world.build(make_person)
    w["imports"] = world.import_lists(staff["district"], w["persons"])
    w["run"] = verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    return w


def _rows(run):
    return sorted(
        (
            f.kind,
            f.person.name,
            f.enrolment.programme.code if f.enrolment_id else None,
            f"{f.effective_month:%Y-%m}",
            f.money_at_stake_fen,
            f.evidence["source"],
        )
        for f in Finding.objects.filter(run=run).select_related("person", "enrolment__programme")
    )


def test_every_kind_of_finding_once(ran):
    run = ran["run"]
    assert set(run.stats["findings"]) == set(FindingKind.values)
    assert run.stats["candidates"] == 1  # the typo row of the deaths list waits for a person
    assert _rows(run) == [
        ("cert_cancelled", "吴六", "care_allowance", "2023-08", 15000, "list"),
        ("cert_expired", "郑七", "care_allowance", "2023-04", 15000, "registry"),
        ("child_rehab_age", "冯八", "child_rehab", "2023-04", 0, "registry"),
        ("custodial_age", "陈九", "custodial_care", "2023-02", 0, "registry"),
        ("deceased", "赵一", "care_allowance", "2023-06", 15000, "list"),
        ("deceased", "赵一", "living_allowance", "2023-06", 35250, "list"),
        ("duplicate_person", "王方", None, "2023-08", 0, "registry"),
        ("elderly_care_overlap", "周五", "care_allowance", "2023-07", 15000, "list"),
        ("entered_tekun", "孙三", "care_allowance", "2023-07", 15000, "list"),
        ("entered_tekun", "孙三", "living_allowance", "2023-07", 35250, "list"),
        ("injury_care", "李四", "care_allowance", "2023-07", 15000, "list"),
        ("left_dibao", "钱二", "living_allowance", "2023-07", 29375, "list"),
        ("moved_out", "褚十", "living_allowance", "2023-07", 29375, "list"),
    ]
    assert run.stats["money_at_stake_fen"] == 15000 * 6 + 35250 * 2 + 29375 * 2
    dup = Finding.objects.get(kind="duplicate_person")
    assert dup.evidence["other_person_id"] == ran["persons"]["twin_a"].pk
    elderly = Finding.objects.get(kind="elderly_care_overlap")
    assert elderly.evidence["elderly_fen"] == 20000
    assert "200.00 元" in elderly.evidence["reason"]
    # towns for scoping come from the registry
    assert Finding.objects.get(kind="custodial_age").town.name == "木渎镇"
    assert AuditLog.objects.filter(action="finding.create").count() == 13
    assert AuditLog.objects.get(action="verification.run").changes["findings"] == [None, 13]


def test_a_second_run_adds_nothing(ran, staff):
    again = verification_run(acting_user=staff["district"], month=world.RUN_MONTH, all_lists=True)
    assert again.stats["findings"] == {}
    assert Finding.objects.count() == 13


def test_dismissed_evidence_is_not_raised_again(ran, staff):
    f = Finding.objects.get(kind="cert_expired")
    finding_dismiss(acting_user=staff["district"], finding=f, reason="已换发新证，档案待补录")
    again = verification_run(acting_user=staff["district"], month=world.RUN_MONTH, all_lists=True)
    assert again.stats["findings"] == {}
    assert Finding.objects.filter(kind="cert_expired").count() == 1


def test_confirmed_candidate_produces_findings_on_the_next_run(ran, staff, programmes):
    typo_person = ran["persons"]["typo"]
    world._enrol(typo_person, "care_allowance")
    candidate = Match.objects.get(status="pending")
    assert candidate.person_id == typo_person.pk
    match_confirm(acting_user=staff["town_luzhi"], match=candidate)
    run = verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    assert run.stats["findings"] == {"deceased": 1}
    f = Finding.objects.get(run=run)
    assert (f.person_id, f.effective_month, f.evidence["match_type"]) == (
        typo_person.pk,
        date(2023, 7, 1),
        "id_typo_same_name",
    )
    assert f.is_exact is False


def test_complete_dibao_roll_finds_who_left_by_absence(staff, make_person):
    on_roll = make_person(name="张伟", birth=date(1960, 1, 1), grade=3)
    off_roll = make_person(name="李娜", birth=date(1961, 2, 2), grade=3)
    for p in (on_roll, off_roll):
        EconomicStatusPeriod.objects.create(person=p, status="dibao", valid_from=date(2020, 1, 1))
        world._enrol(p, "living_allowance")
    content = xlsx_bytes(["姓名", "身份证号"], [["张伟", on_roll.id_number]])
    outside_list_import(
        acting_user=staff["district"],
        source=content,
        kind="dibao",
        filename="低保.xlsx",
        source_name="民政",
        received_on=date(2023, 8, 2),
        complete=True,
    )
    run = verification_run(acting_user=staff["district"], month=date(2023, 8, 1))
    assert run.stats["findings"] == {"left_dibao": 1}
    f = Finding.objects.get()
    assert (f.person_id, f.effective_month, f.row_id) == (off_roll.pk, date(2023, 9, 1), None)
    assert f.evidence["reason"] == "档案为低保对象，但不在 2023-08-02 收到的全量低保名单中"


def test_open_findings_count_for_the_payroll_page(ran):
    living = Programme.objects.get(code="living_allowance")
    care = Programme.objects.get(code="care_allowance")
    assert open_findings_count(living, date(2023, 8, 1)) == 4  # dead, tekun, left 低保, moved out
    assert open_findings_count(care, date(2023, 8, 1)) == 6
    assert open_findings_count(care, date(2023, 6, 1)) == 2  # expired from April, deceased from June


def test_injury_care_and_tekun_lists_stop_both_allowances_as_the_rules_do(staff, make_person):
    """工伤保险生活护理费 and 特困 stop both allowances: the findings follow the benefit programmes' own list
    (``programmes_stopped_by``), so a person on both gets a finding for each, from the month the other
    benefit starts (1st of July and 31st of July 2025: both from July), with the money at stake of the
    real Suzhou standards for July 2025 (1,208 × 35% = 422.80 and 160.00)."""
    from canlian.benefits.rules import programmes_stopped_by

    injured = make_person(name="李四", birth=date(1953, 4, 5), grade=1)
    poor = make_person(name="孙三", birth=date(1952, 3, 4), grade=2)
    for p in (injured, poor):
        EconomicStatusPeriod.objects.create(person=p, status="dibao", valid_from=date(2020, 1, 1))
        for code in ("living_allowance", "care_allowance"):
            world._enrol(p, code, start=date(2025, 5, 1))
    for kind, person, day, source in (
        ("injury_care", injured, "2025-07-31", "区人社局工伤科"),
        ("tekun", poor, "2025-07-01", "区民政局特困科"),
    ):
        outside_list_import(
            acting_user=staff["district"],
            source=xlsx_bytes(["姓名", "身份证号", "起始日期"], [[person.name, person.id_number, day]]),
            kind=kind,
            filename=f"{kind}.xlsx",
            source_name=source,
            received_on=date(2025, 8, 2),
        )
    run = verification_run(acting_user=staff["district"], month=date(2025, 8, 1))
    assert run.stats["findings"] == {"injury_care": 2, "entered_tekun": 2}
    rows = sorted(
        (
            f.kind,
            f.enrolment.programme.code,
            f"{f.effective_month:%Y-%m}",
            f.money_at_stake_fen,
            f.evidence["reason"],
        )
        for f in Finding.objects.filter(run=run).select_related("enrolment__programme")
    )
    assert rows == [
        (
            "entered_tekun",
            "care_allowance",
            "2025-07",
            16000,
            "特困供养名单：2025-07-01 起纳入特困供养，两项补贴均停发",
        ),
        (
            "entered_tekun",
            "living_allowance",
            "2025-07",
            42280,
            "特困供养名单：2025-07-01 起纳入特困供养，两项补贴均停发",
        ),
        (
            "injury_care",
            "care_allowance",
            "2025-07",
            16000,
            "工伤保险生活护理费名单：2025-07-01 起领取，两项补贴均停发",
        ),
        (
            "injury_care",
            "living_allowance",
            "2025-07",
            42280,
            "工伤保险生活护理费名单：2025-07-01 起领取，两项补贴均停发",
        ),
    ]
    assert {r[1] for r in rows if r[0] == "injury_care"} == set(programmes_stopped_by("injury_care"))
