"""Demo data for the community services on the demo registry, through the services (audited), deterministic
for a seed: visits (some needs turned into 实事 projects, approved by a second clerk and carried out), hotline
calls and counselling by the demo counsellor, special-education screening and 送教上门 with sessions, legal-aid
cases referred and closed, activities with attendees, interest teams and reading-organisation ratings."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from canlian.accounts.services import system_user
from canlian.common.audit import audit_record
from canlian.common.jobs import Progress, noop_progress
from canlian.common.workflow import transition

from . import services as sv
from .kinds import KINDS

TOWN_CODES = ("320506100", "320506103", "320506104", "320506107")  # 甪直 木渎 胥口 临湖
NEEDS = ("卫生间加装扶手", "门口坡道改造", "申请助听器", "就业技能培训", "居家康复指导", "")
FOUND = ("居住条件尚可，家属照护到位", "独居，生活自理有困难", "房屋老旧，出入不便", "希望参加社区活动")


def _day(rng, today: date) -> date:
    return date(today.year, 1, 1) + timedelta(
        days=rng.randint(0, max(0, (today - date(today.year, 1, 1)).days))
    )


def _pick(ids: list, k: int) -> str:
    return ids[k % len(ids)]


def community_demo(
    seed: int = 2023, *, today: date | None = None, progress: Progress = noop_progress
) -> dict:
    from canlian.casework.models import Visit
    from canlian.registry.models import Person, Region

    if Visit.objects.exists():
        return {"skipped": True}
    today = today or timezone.localdate()
    rng = random.Random(seed)
    users = {u.username: u for u in get_user_model().objects.filter(username__startswith="demo_")}
    clerk, checker = users.get("demo_district"), users.get("demo_district2")
    counsellor = users.get("demo_counsellor")
    if clerk is None or checker is None or counsellor is None:
        return {"skipped": True}
    towns = list(Region.objects.filter(level=Region.Level.TOWN, code__in=TOWN_CODES).order_by("code"))
    people = {
        t.pk: list(
            Person.objects.filter(town=t, status="active")
            .order_by("pk")
            .values_list("id_number", flat=True)[:60]
        )
        for t in towns
    }
    # towns with too few demo persons (a small demo) are left out: records would repeat one another
    towns = [t for t in towns if len(people[t.pk]) >= 50]
    if not towns:
        return {"skipped": True}
    children = list(
        Person.objects.filter(
            town__in=towns,
            status="active",
            birth_date__gt=date(today.year - 15, 1, 1),
            birth_date__lte=date(today.year - 6, 1, 1),
        )
        .order_by("pk")
        .values_list("id_number", flat=True)[:12]
    )

    def make(user, code, **values):
        return sv.record_create(acting_user=user, kind=KINDS[code], values=values)

    counts = dict.fromkeys(("visits", "projects", "calls", "sessions", "legal", "activities"), 0)
    tz = timezone.get_current_timezone()
    progress(0, 4, "访视与实事项目")
    with transaction.atomic():
        for town in towns:
            ids = people[town.pk]
            if not ids:
                continue
            for i in range(8):
                need = rng.choice(NEEDS)
                visit = make(
                    clerk,
                    "visit",
                    kind="home",
                    visited_on=_day(rng, today),
                    id_number=_pick(ids, i),
                    visitors="区残联业务科、村委会",
                    found=rng.choice(FOUND),
                    need=need,
                )
                counts["visits"] += 1
                if need and i % 3 == 0:
                    p = sv.visit_to_project(
                        acting_user=clerk,
                        visit=visit,
                        name=f"{town.name}{need}",
                        owner=f"{town.name}残联",
                        budget=Decimal(rng.randint(20, 300) * 100),
                        year=today.year,
                    )
                    p = transition(p, "approve", acting_user=checker, expected_state="proposed")
                    if rng.random() < 0.6:
                        p = transition(p, "start", acting_user=clerk, expected_state="approved")
                    counts["projects"] += 1
    progress(1, 4, "心理热线与咨询")
    with transaction.atomic():
        for i in range(40):
            town = rng.choice(towns)
            ids = people[town.pk]
            day = _day(rng, today)
            make(
                counsellor,
                "hotline",
                called_at=datetime.combine(day, time(rng.randint(0, 23), rng.randint(0, 59)), tzinfo=tz),
                duration_minutes=rng.randint(5, 60),
                topic=rng.choice(("emotion", "family", "rehab", "employment", "policy", "crisis")),
                risk=rng.random() < 0.1,
                town=town.pk,
                id_number=ids[i % len(ids)] if ids and i % 2 == 0 else "",
                summary="来电倾诉近期情绪低落，给予倾听与支持",
                follow_up="一周后电话回访" if i % 3 == 0 else "",
            )
            counts["calls"] += 1
        for town in towns:
            for i in range(3):
                if people[town.pk]:
                    make(
                        counsellor,
                        "counselling",
                        id_number=_pick(people[town.pk], 10 + i),
                        held_on=_day(rng, today),
                        duration_minutes=50,
                        mode=rng.choice(("face", "phone", "home")),
                        notes="评估情绪状况，约定下次咨询",
                    )
            make(
                counsellor,
                "group",
                held_on=_day(rng, today),
                town=town.pk,
                place_kind="home",
                place=f"{town.name}残疾人之家",
                participants=rng.randint(8, 20),
                topic="情绪管理与同伴支持",
            )
    progress(2, 4, "特殊教育与法律援助")
    with transaction.atomic():
        for i, id_number in enumerate(children):
            make(
                clerk,
                "screening",
                id_number=id_number,
                screened_on=date(today.year, 3, 1),
                school_year=f"{today.year - 1}-{today.year}",
                result="home_teaching" if i < 4 else rng.choice(("mainstream", "special_school")),
                school="区特殊教育学校",
                note="教育局联合筛查",
            )
            if i < 4:
                plan = make(
                    clerk,
                    "plan",
                    id_number=id_number,
                    school_year=f"{today.year - 1}-{today.year}",
                    school="区特殊教育学校",
                    teacher="陈老师",
                    start_on=date(today.year, 3, 1),
                    lessons_planned=216,
                )
                day = date(today.year, 3, 2)
                for _ in range(12):
                    if day > today:
                        break
                    make(
                        clerk,
                        "session",
                        plan=plan.pk,
                        held_on=day,
                        lessons=3,
                        teacher="陈老师",
                        content="生活适应与识字",
                    )
                    counts["sessions"] += 1
                    day += timedelta(days=rng.choice((3, 4)))
        for town in towns:
            for i in range(3):
                if not people[town.pk]:
                    continue
                case = make(
                    clerk,
                    "legal",
                    id_number=_pick(people[town.pk], 20 + i),
                    received_on=_day(rng, today),
                    matter=rng.choice(("labour", "family", "property", "benefits")),
                    request="咨询权益受损如何维权",
                )
                counts["legal"] += 1
                if i < 2:
                    case = transition(
                        case,
                        "refer",
                        acting_user=clerk,
                        expected_state="received",
                        referred_to=rng.choice(("centre", "station")),
                        referred_on=case.received_on,
                    )
                if i == 0:
                    transition(
                        case,
                        "close",
                        acting_user=clerk,
                        expected_state="referred",
                        outcome="经调解达成协议",
                        closed_on=case.received_on,
                    )
            if people[town.pk]:
                make(
                    clerk,
                    "visit",
                    kind="law",
                    visited_on=_day(rng, today),
                    id_number=_pick(people[town.pk], 25),
                    visitors="律师志愿者",
                    found="讲解残疾人权益保障法",
                )
    progress(3, 4, "文体活动")
    with transaction.atomic():
        for town in towns:
            ids = people[town.pk]
            for kind in ("culture", "sports", "reading", "prevention", "law"):
                act = make(
                    clerk,
                    "activity",
                    kind=kind,
                    held_on=_day(rng, today),
                    town=town.pk,
                    title=f"{town.name}{dict(KINDS['activity'].kind_choices())[kind]}活动",
                    organiser=f"{town.name}残联",
                    headcount=rng.randint(10, 60),
                )
                for id_number in ids[30 : 30 + rng.randint(2, 5)]:
                    sv.activity_attendee_add(acting_user=clerk, activity=act, id_number=id_number)
                counts["activities"] += 1
            team = make(
                clerk,
                "team",
                kind="culture",
                town=town.pk,
                name=f"{town.name}残疾人艺术团",
                leader="王队长",
                founded_on=date(today.year - 3, 5, 1),
            )
            for id_number in ids[40:46]:
                sv.team_member_add(acting_user=clerk, team=team, id_number=id_number)
            make(
                clerk,
                "rating",
                town=town.pk,
                organisation=f"{town.name}残疾人之家读书会",
                year=today.year,
                stars=rng.randint(3, 5),
                rated_on=date(today.year, 4, 23),
            )
    progress(4, 4, "完成")
    return counts


def community_demo_delete(*, acting_user=None) -> int:
    """Remove every community-service record (demo reset only, before the persons go); one audit row."""
    from canlian.casework import models as m
    from canlian.common.models import WorkflowHistory

    acting_user = acting_user or system_user()
    n = 0
    for model in (
        m.ActivityPhoto,
        m.Activity,
        m.InterestTeam,
        m.ReadingOrgRating,
        m.HomeTeachingSession,
        m.HomeTeachingPlan,
        m.SpecialEdScreening,
        m.LegalAidCase,
        m.ShishiProject,
        m.Visit,
        m.HotlineCall,
        m.CounsellingSession,
        m.GroupSession,
    ):
        n += model.objects.all().delete()[0]
    with connection.cursor() as cur:
        cur.execute(
            f"DELETE FROM {WorkflowHistory._meta.db_table} WHERE workflow IN (%s, %s)",
            [sv.SHISHI_WORKFLOW.code, sv.LEGAL_AID_WORKFLOW.code],
        )
    audit_record(
        acting_user=acting_user,
        action="demo.reset",
        object_type="casework.community",
        changes={"rows": [n, 0]},
    )
    return n
