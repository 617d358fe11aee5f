"""Demo data for child rehabilitation on the demo registry: three designated rehab institutions, a few dozen
children from the demo persons (applied, assessed, approved by a second officer, served at an institution
with service months held to the yearly cap, a few referred outside the district and reimbursed at the home
standard, a few still waiting for review), the institutions' settlements of last month, the autism pathway
of the young children, one evaluation per institution. Deterministic for a seed; every write goes through the
services (audited). Runs after ``custodial_demo`` (which binds the demo institution account)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from canlian.accounts.services import system_user
from canlian.common.audit import audit_record
from canlian.common.jobs import Progress, noop_progress
from canlian.common.workflow import transition
from canlian.institutions.models import Institution
from canlian.institutions.services import institution_create
from canlian.registry.identity import age_on
from canlian.registry.models import Person, Region

from .child_rehab_models import (
    AutismScreening,
    ChildRehabMonth,
    ChildRehabProfile,
    ChildRehabReferral,
    RehabEvaluation,
)
from .models import Case, Settlement
from .programmes import child_rehab as cr
from .programmes.child_rehab_quality import autism_event_record, rehab_evaluation_record
from .services import case_move

INSTITUTIONS = (
    ("吴中区启明儿童康复中心", "320506100"),  # 甪直镇
    ("木渎镇星语儿童康复中心", "320506103"),  # 木渎镇
    ("胥口镇阳光儿童康复站", "320506104"),  # 胥口镇
)
CATEGORIES = ("autism", "autism", "intellectual", "physical", "hearing", "speech", "vision", "multiple")
NEEDS = {
    "autism": "语言与社交能力训练",
    "intellectual": "认知与生活自理训练",
    "physical": "运动功能康复训练",
    "hearing": "听觉言语康复训练",
    "speech": "言语矫治训练",
    "vision": "视功能训练与定向行走",
    "multiple": "综合康复训练",
}
GUARDIANS = (("母亲", "王"), ("父亲", "李"), ("母亲", "张"), ("祖母", "陈"), ("父亲", "刘"))


def _month_add(day: date, n: int) -> date:
    y, m = divmod(day.month - 1 + n, 12)
    return date(day.year + y, m + 1, 1)


def child_rehab_demo(
    seed: int = 2023, *, today: date | None = None, progress: Progress = noop_progress
) -> dict:
    if Case.objects.filter(programme=cr.CODE).exists():
        return {"skipped": True}
    today = today or timezone.localdate()
    rng = random.Random(seed + 8)
    users = {u.username: u for u in get_user_model().objects.filter(username__startswith="demo_")}
    maker, checker = users.get("demo_district"), users.get("demo_district2")
    if maker is None or checker is None:
        return {"skipped": True}
    towns = {t.code: t for t in Region.objects.filter(level=Region.Level.TOWN)}
    progress(0, 5, "登记定点康复机构")
    with transaction.atomic():
        insts = []
        for name, town in INSTITUTIONS:
            if town not in towns or Institution.objects.filter(name=name).exists():
                continue
            inst = institution_create(
                acting_user=maker,
                name=name,
                kind="rehab_institution",
                town=towns[town],
                contact="周老师",
                phone="0512-6" + str(rng.randint(1000000, 9999999)),
            )
            inst = transition(
                inst,
                "submit",
                acting_user=maker,
                expected_state="draft",
                designated_from=date(2020, 1, 1),
                designated_to=date(today.year + 2, 12, 31),
            )
            insts.append(transition(inst, "designate", acting_user=checker, expected_state="submitted"))
    if not insts:
        return {"skipped": True}
    progress(1, 5, "康复救助申请与审核")
    year_start = date(today.year, 1, 1)
    children = list(
        Person.objects.filter(
            status="active", birth_date__gt=date(today.year - 17, 1, 1), birth_date__lt=year_start
        ).order_by("pk")[:300]
    )
    rng.shuffle(children)
    by_town = {i.town_id: i for i in insts}
    served, waiting, referred = [], 0, 0
    last_month = _month_add(today.replace(day=1), -1)
    for n, child in enumerate(children[:40]):
        start = date(today.year, rng.randint(1, max(1, today.month - 1)), rng.randint(1, 28))
        if start > today or age_on(child.birth_date, start) >= 18:
            continue
        category = rng.choice(CATEGORIES)
        relation, surname = rng.choice(GUARDIANS)
        with transaction.atomic():
            case = cr.child_rehab_apply(
                acting_user=maker,
                person=child,
                applied_on=start,
                category=category,
                need=NEEDS[category],
                residence="hukou" if rng.random() < 0.9 else "residence_permit",
                residence_permit_until=date(today.year + 1, 6, 30),
                guardian_name=surname + rng.choice(("芳", "强", "敏", "军", "红")),
                guardian_relation=relation,
                guardian_phone="139" + str(rng.randint(10000000, 99999999)),
                priority=["orphan"] if rng.random() < 0.05 else [],
                source="demo",
            )
            if n % 10 == 9:  # a few wait for the review
                waiting += 1
                continue
            case = case_move(
                acting_user=maker, case=case, move="assess", expected_state="applied", need=NEEDS[category]
            )
            case = case_move(acting_user=checker, case=case, move="approve", expected_state="assessed")
            if n % 10 == 4:  # served outside the district
                ref = cr.referral_request(
                    acting_user=maker,
                    case=case,
                    destination=rng.choice(("上海市儿童康复中心", "南京市儿童康复中心")),
                    destination_place=rng.choice(("上海市", "南京市")),
                    reason="家长在外地工作，需就近康复",
                    requested_on=start,
                    consent=True,
                )
                ref = transition(
                    ref, "approve", acting_user=checker, expected_state="requested", decision_reason="同意"
                )
                month = start.replace(day=1)
                while month <= last_month:
                    cr.referral_reimburse(
                        acting_user=maker,
                        referral=ref,
                        month=month,
                        days_attended=min(rng.randint(12, 22), cr.service_days(case, month)),
                        amount_paid=Decimal(rng.randint(25, 45) * 100),
                    )
                    month = _month_add(month, 1)
                referred += 1
                continue
            inst = by_town.get(child.town_id) or rng.choice(insts)
            case = case_move(
                acting_user=maker,
                case=case,
                move="choose",
                expected_state="approved",
                institution=inst,
                opened_on=start,
            )
            month = start.replace(day=1)
            while month <= last_month:
                cr.rehab_month_record(
                    acting_user=maker,
                    case=case,
                    month=month,
                    days_attended=min(rng.randint(10, 24), cr.service_days(case, month)),
                    amount_asked=Decimal(rng.randint(15, 38) * 100),
                )
                month = _month_add(month, 1)
            served.append(case)
    progress(2, 5, "机构结算")
    settlements = 0
    with transaction.atomic():
        for inst in insts:
            if ChildRehabMonth.objects.filter(
                institution=inst, month=last_month, settlement__isnull=True
            ).exists():
                s = cr.rehab_settlement_create(acting_user=maker, institution=inst, month=last_month)
                transition(s, "submit", acting_user=maker, expected_state="draft")
                settlements += 1
    progress(3, 5, "孤独症筛查干预")
    screened = 0
    young = [c for c in children if age_on(c.birth_date, today) <= 6][:24]
    for child in young:
        first = max(child.birth_date + timedelta(days=540), year_start)
        if first > today - timedelta(days=90):
            continue
        positive = rng.random() < 0.4
        autism_event_record(
            acting_user=maker,
            person=child,
            stage="first",
            on=first,
            result="positive" if positive else "negative",
            place="社区卫生服务中心",
        )
        screened += 1
        steps = (("rescreen", "positive", "区妇幼保健所"), ("diagnosis", "confirmed", "苏州大学附属儿童医院"))
        day = first
        for stage, result, place in steps:
            if not positive or rng.random() < 0.25:
                break
            day += timedelta(days=rng.randint(10, 30))
            autism_event_record(
                acting_user=maker, person=child, stage=stage, on=day, result=result, place=place
            )
        else:
            if positive and rng.random() < 0.8:
                autism_event_record(
                    acting_user=maker,
                    person=child,
                    stage="intervention",
                    on=day + timedelta(days=7),
                    result="started",
                    place=insts[0].name,
                )
    progress(4, 5, "机构考评")
    for i, inst in enumerate(insts):
        rehab_evaluation_record(
            acting_user=checker,
            institution=inst,
            evaluated_on=today - timedelta(days=20),
            scores={"A1": 14, "A2": 13, "B1": 18 - i, "B2": 14, "C1": 9, "D1": 9, "E1": 13},
            negatives={"N4": "未公示收费标准"} if i == 1 else {},
            note="年度考评",
        )
    progress(5, 5, "完成")
    return {
        "institutions": len(insts),
        "children": len(served) + referred + waiting,
        "served": len(served),
        "referred": referred,
        "waiting": waiting,
        "months": ChildRehabMonth.objects.count(),
        "settlements": settlements,
        "screened": screened,
    }


@transaction.atomic
def child_rehab_demo_delete(*, acting_user=None) -> int:
    """Remove child rehabilitation's records and its institutions (demo reset only; before the custodial
    reset, whose case delete the months and referrals would otherwise protect); one audit row."""
    acting_user = acting_user or system_user()
    cases = Case.objects.filter(programme=cr.CODE)
    count = cases.count()
    ChildRehabMonth.objects.all().delete()
    Settlement.objects.filter(programme=cr.CODE).delete()
    ChildRehabReferral.objects.all().delete()
    ChildRehabProfile.objects.all().delete()
    AutismScreening.objects.all().delete()
    RehabEvaluation.objects.all().delete()  # lines cascade
    ids = [str(pk) for pk in cases.values_list("pk", flat=True)]
    cases.delete()
    from canlian.common.models import WorkflowHistory

    # history rows are append-only through the ORM manager; a demo reset removes them with raw SQL
    with connection.cursor() as cur:
        cur.execute(
            f"DELETE FROM {WorkflowHistory._meta.db_table} WHERE workflow IN (%s, %s)",
            [f"case.{cr.CODE}", "child_rehab_referral"],
        )
    insts = Institution.objects.filter(kind="rehab_institution", name__in=[n for n, _ in INSTITUTIONS])
    get_user_model().objects.filter(institution__in=insts).update(institution=None)
    insts.delete()
    audit_record(
        acting_user=acting_user,
        action="demo.reset",
        object_type="casework.child_rehab",
        changes={"cases": [count, 0], "case_ids": [len(ids), 0]},
    )
    return count
