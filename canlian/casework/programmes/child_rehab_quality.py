"""Child rehabilitation: the autism pathway (初筛 → 复筛 → 诊断 → 干预, 0～6岁儿童孤独症筛查干预服务规范(试行)
2022) with its rates, and the evaluation (考评) of designated rehab institutions against a versioned checklist
with the negative-behaviour list (负面行为清单) as deductions or grounds for removal."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from canlian.accounts.models import Role
from canlian.common.audit import audit_record
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.workflow import transition

from .. import checklist as _checklist
from ..checklist import ChecklistVersion
from ..child_rehab_models import (
    AutismResult,
    AutismScreening,
    AutismStage,
    RehabEvaluation,
    RehabEvaluationLine,
)
from ..programme import parameters

TOWN, DISTRICT = Role.TOWN_STAFF, Role.DISTRICT_STAFF

# stage → (results allowed, the stage and result that must come first)
PATHWAY = {
    AutismStage.FIRST: ((AutismResult.POSITIVE, AutismResult.NEGATIVE), None),
    AutismStage.RESCREEN: (
        (AutismResult.POSITIVE, AutismResult.NEGATIVE),
        (AutismStage.FIRST, AutismResult.POSITIVE),
    ),
    AutismStage.DIAGNOSIS: (
        (AutismResult.CONFIRMED, AutismResult.EXCLUDED),
        (AutismStage.RESCREEN, AutismResult.POSITIVE),
    ),
    AutismStage.INTERVENTION: ((AutismResult.STARTED,), (AutismStage.DIAGNOSIS, AutismResult.CONFIRMED)),
}
STAGE_LABELS = dict(AutismStage.choices)
RESULT_LABELS = dict(AutismResult.choices)


# ---- autism pathway -------------------------------------------------------------------------------------


@transaction.atomic
def autism_event_record(
    *, acting_user, person, stage: str, on: date, result: str, place: str, note: str = ""
) -> AutismScreening:
    """One dated event of the pathway. A stage needs the one before it with the result that leads on
    (a positive first screen before a rescreen, a positive rescreen before a diagnosis, a confirmed
    diagnosis before intervention), on or before its date."""
    from canlian.accounts import access as core
    from canlian.registry.models import Person

    if acting_user.role not in (TOWN, DISTRICT):
        raise PermissionDenied("孤独症筛查干预记录由镇(街道)或区残联录入")
    try:
        person = core.persons_visible(acting_user).select_for_update().get(pk=person.pk)
    except Person.DoesNotExist:
        raise PermissionDenied("未找到该儿童，或您无权录入") from None
    errors = {}
    if stage not in PATHWAY:
        raise ValidationFailed({"stage": f"未知的环节“{stage}”，应为 初筛、复筛、诊断 或 干预"})
    allowed, before = PATHWAY[stage]
    if result not in allowed:
        errors["result"] = f"{STAGE_LABELS[stage]}结果应为 {' 或 '.join(RESULT_LABELS[r] for r in allowed)}"
    if on > timezone.localdate():
        errors["on"] = "日期不能晚于今天"
    elif on < person.birth_date:
        errors["on"] = "日期不能早于出生日期"
    if not (place or "").strip():
        errors["place"] = "请填写机构"
    if before is not None and not errors:
        prior = AutismScreening.objects.filter(person=person, stage=before[0], result=before[1], on__lte=on)
        if not prior.exists():
            errors["stage"] = (
                f"{STAGE_LABELS[stage]}前须有{STAGE_LABELS[before[0]]}{RESULT_LABELS[before[1]]}的记录"
                f"（{on:%Y-%m-%d} 或之前）"
            )
    if AutismScreening.objects.filter(person=person, stage=stage, on=on).exists():
        errors["on"] = f"{on:%Y-%m-%d} 已有{STAGE_LABELS[stage]}记录"
    if errors:
        raise ValidationFailed(errors)
    event = AutismScreening.objects.create(
        person=person,
        town_id=person.town_id,
        stage=stage,
        on=on,
        result=result,
        place=place.strip()[:100],
        note=(note or "").strip()[:200],
        recorded_by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action="autism.event",
        obj=person,
        changes={
            "stage": [None, stage],
            "on": [None, on.isoformat()],
            "result": [None, result],
            "place": [None, event.place],
        },
        detail=f"孤独症{STAGE_LABELS[stage]}：{RESULT_LABELS[result]}（{event.place}）",
    )
    return event


def _cohort_sql(year: int, stage: str, result: str | None = None) -> tuple[str, list]:
    """SQL of the persons with a ``stage`` (``result``) event in ``year``: their first one (``first_person``,
    ``first_town``, ``first_on``), ranked in the database."""
    from django.db.models import F

    from ..selectors import firsts_query

    qs = AutismScreening.objects.filter(stage=stage, on__gte=date(year, 1, 1), on__lte=date(year, 12, 31))
    if result:
        qs = qs.filter(result=result)
    return firsts_query(
        qs, person="person_id", town="town_id", order_by=[F("on").asc(), F("id").asc()], first_on="on"
    )


def _cohort_by_town(year: int, stage: str, result: str | None = None) -> dict[int, int]:
    from django.db import connection

    sql, params = _cohort_sql(year, stage, result)
    with connection.cursor() as cur:
        cur.execute(f"SELECT first_town, COUNT(*) FROM ({sql}) AS cohort GROUP BY first_town", params)
        return dict(cur.fetchall())


def _followed(year: int, stage: str, result: str, next_stage: str) -> tuple[dict[int, int], dict[int, int]]:
    """(numerator, denominator) by town: of the persons with ``stage`` ``result`` in ``year`` (their first
    such event), those with a ``next_stage`` event on or after it (in any year: a December positive
    rescreened in January counts). One query: the cohort ranked, an ``EXISTS`` per person, grouped by town."""
    from django.db import connection

    sql, params = _cohort_sql(year, stage, result)
    qn = connection.ops.quote_name
    table = qn(AutismScreening._meta.db_table)
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT first_town, COUNT(*), SUM(CASE WHEN EXISTS (SELECT 1 FROM {table} AS nxt "
            f"WHERE nxt.{qn('person_id')} = cohort.first_person AND nxt.{qn('stage')} = %s "
            f"AND nxt.{qn('on')} >= cohort.first_on) THEN 1 ELSE 0 END) "
            f"FROM ({sql}) AS cohort GROUP BY first_town",
            [next_stage, *params],
        )
        rows = cur.fetchall()
    return {t: int(k) for t, _n, k in rows if k}, {t: n for t, n, _k in rows}


def autism_first_screened_by_town(year: int) -> dict[int, int]:
    return _cohort_by_town(year, AutismStage.FIRST)


def autism_rescreen_by_town(year: int):
    return _followed(year, AutismStage.FIRST, AutismResult.POSITIVE, AutismStage.RESCREEN)


def autism_diagnosis_by_town(year: int):
    return _followed(year, AutismStage.RESCREEN, AutismResult.POSITIVE, AutismStage.DIAGNOSIS)


def autism_intervention_by_town(year: int):
    return _followed(year, AutismStage.DIAGNOSIS, AutismResult.CONFIRMED, AutismStage.INTERVENTION)


# ---- institution evaluation (考评) ----------------------------------------------------------------------


CHECKLIST_NAME = "child_rehab_evaluation"


def checklist_versions() -> tuple[ChecklistVersion, ...]:
    return _checklist.checklist_versions(CHECKLIST_NAME)


def checklist_on(day: date) -> ChecklistVersion:
    return _checklist.checklist_on(CHECKLIST_NAME, day)


_points = _checklist.points_cell


@transaction.atomic
def rehab_evaluation_record(
    *,
    acting_user,
    institution,
    evaluated_on: date,
    scores: dict[str, object],
    negatives: dict[str, str] | None = None,
    note: str = "",
) -> RehabEvaluation:
    """The district's evaluation of a designated rehab institution with the checklist version in force on
    ``evaluated_on``: every item scored, each negative behaviour found deducts its points; below the pass
    mark fails; a negative behaviour that is grounds for removal suspends the institution (the institution
    workflow's 暂停服务; revoking the designation stays a decision of its own)."""
    from canlian.institutions.access import institutions_manageable

    if acting_user.role != DISTRICT:
        raise PermissionDenied("定点康复机构考评由区残联录入")
    try:
        institution = institutions_manageable(acting_user).select_for_update().get(pk=institution.pk)
    except institution.__class__.DoesNotExist:
        raise PermissionDenied("未找到该机构，或您无权考评") from None
    if institution.kind != "rehab_institution":
        raise ValidationFailed({"institution": f"“{institution.name}”不是定点康复机构"})
    if evaluated_on > timezone.localdate():
        raise ValidationFailed({"evaluated_on": "考评日期不能晚于今天"})
    if RehabEvaluation.objects.filter(institution=institution, evaluated_on=evaluated_on).exists():
        raise ValidationFailed({"evaluated_on": f"{institution.name}在 {evaluated_on:%Y-%m-%d} 已有考评记录"})
    checklist = checklist_on(evaluated_on)
    negatives = negatives or {}
    errors = {}
    missing = [i["code"] for i in checklist.items if i["code"] not in scores]
    if missing:
        errors["scores"] = f"考评细则（{checklist.version}版）以下项目未评分：{'、'.join(missing)}"
    unknown = [c for c in scores if checklist.item(c) is None]
    unknown += [c for c in negatives if checklist.negative(c) is None]
    if unknown:
        errors["scores"] = f"考评细则（{checklist.version}版）没有以下编号：{'、'.join(unknown)}"
    if errors:
        raise ValidationFailed(errors)
    lines = []
    for item in checklist.items:
        maximum = Decimal(str(item["points"]))
        points = _points(scores[item["code"]], f"{item['code']} {item['text']}", maximum)
        lines.append(
            RehabEvaluationLine(
                kind="item", code=item["code"], text=item["text"], max_points=maximum, points=points
            )
        )
    for code, why in negatives.items():
        n = checklist.negative(code)
        pts = Decimal(str(n["points"]))
        lines.append(
            RehabEvaluationLine(
                kind="negative",
                code=code,
                text=n["text"],
                max_points=pts,
                points=pts,
                removal=bool(n.get("removal")),
                note=(why or "").strip()[:200],
            )
        )
    score = sum((ln.points for ln in lines if ln.kind == "item"), Decimal("0"))
    deductions = sum((ln.points for ln in lines if ln.kind == "negative"), Decimal("0"))
    final = max(Decimal("0"), score - deductions)
    pass_mark = int(parameters().at("child_rehab.evaluation_pass_mark", evaluated_on))
    removal = [ln for ln in lines if ln.removal]
    evaluation = RehabEvaluation.objects.create(
        institution=institution,
        checklist_version=checklist.version,
        evaluated_on=evaluated_on,
        score=score,
        deductions=deductions,
        final_score=final,
        pass_mark=pass_mark,
        passed=final >= pass_mark and not removal,
        removal_grounds=bool(removal),
        note=(note or "").strip(),
        by=acting_user,
    )
    for ln in lines:
        ln.evaluation = evaluation
    RehabEvaluationLine.objects.bulk_create(lines)
    audit_record(
        acting_user=acting_user,
        action="rehab.evaluation",
        obj=institution,
        changes={
            "evaluated_on": [None, evaluated_on.isoformat()],
            "checklist_version": [None, checklist.version],
            "score": [None, str(score)],
            "deductions": [None, str(deductions)],
            "final_score": [None, str(final)],
            "passed": [None, evaluation.passed],
            "negatives": [None, sorted(negatives)],
        },
        detail=f"考评细则{checklist.version}版：细则得分 {score}，负面行为扣 {deductions} 分，考评得分 {final}"
        f"（{'合格' if evaluation.passed else '不合格'}{'，有取消定点资格情形' if removal else ''}）"
        + (f"。{note.strip()}" if note.strip() else ""),
    )
    if removal and institution.state == "designated":
        transition(
            institution,
            "suspend",
            acting_user=acting_user,
            expected_state="designated",
            state_reason=("考评发现负面行为：" + "；".join(f"{ln.code} {ln.text}" for ln in removal))[:200],
        )
    return evaluation
