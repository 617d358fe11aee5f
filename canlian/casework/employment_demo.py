"""Employment demo data on the demo registry (``canlian demo``), through the services, deterministic by seed:
employment periods for about 600 working-age persons (the bulk service the import uses), a special-service
list at every stage of the "四个一", this year's and last year's graduates with their plans and outcomes,
job fairs on the key dates, training classes of each kind (skills, blind massage, 木雕 / 泥塑 / 漆器) with
sessions, attendance and certificates, auxiliary-employment projects at the 残疾人之家 of the custodial demo,
and blind-massage practitioners. Small on purpose: ``canlian demo``'s time matters."""

from __future__ import annotations

import random
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError
from canlian.common.jobs import Progress, noop_progress
from canlian.institutions.models import Institution
from canlian.registry.models import EmploymentKind, EmploymentPeriod, Person, Region

from .models import (
    AuxProject,
    Case,
    JobFair,
    MassagePractitioner,
    TrainingClass,
)
from .programmes import employment as emp
from .programmes import employment_cases as ec
from .programmes import employment_records as rec
from .services import case_move

DEMO_SOURCE = "演示数据"
SUPPORT_STEPS = (
    ("check", "listed", {"check_note": "入户核实，有就业意愿"}, "check_on"),
    ("assess", "checked", {"assessment": "可从事简单手工或辅助性工作"}, "assess_on"),
    ("register", "assessed", {"demand": "就近手工装配"}, "demand_on"),
    ("serve", "registered", {"service": "推荐参加助残日专场招聘会"}, "service_on"),
)


def _working_age(today: date, *, lo: int = 18, hi: int = 55):
    return Person.objects.filter(
        status="active",
        birth_date__gt=date(today.year - hi, 1, 1),
        birth_date__lte=date(today.year - lo, 1, 1),
    ).order_by("pk")


def employment_demo(
    seed: int = 2023, *, today: date | None = None, progress: Progress = noop_progress
) -> dict:
    if EmploymentPeriod.objects.filter(source=DEMO_SOURCE).exists() or JobFair.objects.exists():
        return {"skipped": True}
    users = {u.username: u for u in get_user_model().objects.filter(username__startswith="demo_")}
    maker = users.get("demo_district")
    if maker is None:
        return {"skipped": True}
    today = today or timezone.localdate()
    rng = random.Random(seed + 11)
    towns = list(Region.objects.filter(level=Region.Level.TOWN).order_by("code"))
    pool = list(_working_age(today).only("pk", "name", "birth_date", "employment_status", "town_id")[:1200])
    rng.shuffle(pool)
    kinds = [k for k, _ in EmploymentKind.choices]
    employers = [
        "吴中经济开发区电子厂",
        "甪直镇社区服务中心",
        "木渎镇福利企业",
        "胥口镇农业合作社",
        "个体经营",
        "",
    ]
    progress(0, 6, "就业登记")
    items = []
    for person in pool[:600]:
        start = date(today.year - rng.choice((0, 1, 2, 3)), rng.randint(1, 12), rng.randint(1, 28))
        if start >= today:
            start = today - timedelta(days=rng.randint(10, 200))
        end = start + timedelta(days=rng.randint(60, 700)) if rng.random() < 0.3 else None
        if end is not None and end >= today:
            end = None
        items.append(emp.Employment(person, rng.choice(kinds), rng.choice(employers), start, end))
    emp.employment_record_many(acting_user=maker, items=items, source=DEMO_SOURCE)
    rest = pool[600:]

    progress(1, 6, "专项服务对象")
    listed = 0
    for person in rest[:30]:
        on = today - timedelta(days=rng.randint(60, 300))
        try:
            case = ec.job_support_list(acting_user=maker, person=person, applied_on=on)
        except DomainError:  # a demo person the rule refuses (employed that day): skipped
            continue
        listed += 1
        day = on
        for move, state, data, key in SUPPORT_STEPS[: rng.randint(0, 4)]:
            day = min(today, day + timedelta(days=rng.randint(1, 20)))
            case = case_move(
                acting_user=maker, case=case, move=move, expected_state=state, **{key: day, **data}
            )

    progress(2, 6, "高校毕业生")
    graduates = 0
    for n, person in enumerate(rest[30:54]):
        year = today.year - (n % 2)
        graduated = min(date(year, 6, 30), today - timedelta(days=1))
        case = ec.graduate_register(
            acting_user=maker,
            person=person,
            applied_on=graduated,
            school=rng.choice(("苏州大学", "苏州职业大学", "南京特殊教育师范学院")),
            major=rng.choice(("会计", "计算机应用", "康复治疗", "工艺美术")),
        )
        graduates += 1
        case = case_move(
            acting_user=maker,
            case=case,
            move="plan",
            expected_state="listed",
            plan_on=graduated,
            plan="一、职业能力评估；二、推荐岗位；三、跟踪服务三个月",
        )
        step_on = min(today, graduated + timedelta(days=15))
        case = case_move(
            acting_user=maker,
            case=case,
            move="step",
            expected_state="planned",
            step_on=step_on,
            step="参加残疾人专场招聘会",
        )
        if rng.random() < 0.9:
            case_move(
                acting_user=maker,
                case=case,
                move="employ",
                expected_state="planned",
                closed_on=min(today, graduated + timedelta(days=60)),
                employer=rng.choice(employers[:3]),
            )

    progress(3, 6, "招聘活动")
    with transaction.atomic():
        fairs = 0
        for year in (today.year - 1, today.year):
            key_dates = [
                ("aid_month", date(year, 2, 15), "就业援助月专场招聘会"),
                ("help_day", _third_sunday_of_may(year), "全国助残日招聘会"),
                ("disability_day", date(year, 12, 3), "国际残疾人日招聘会"),
            ]
            for kind, on, title in key_dates:
                if on > today:
                    continue
                town = rng.choice(towns)
                attendees = rng.randint(30, 120)
                rec.job_fair_create(
                    acting_user=maker,
                    kind=kind,
                    title=f"{year}年{title}",
                    held_on=on,
                    town=town,
                    place=f"{town.name}文体中心",
                    employers=rng.randint(8, 30),
                    positions=rng.randint(30, 150),
                    attendees=attendees,
                    offers=rng.randint(5, attendees // 3),
                )
                fairs += 1

    progress(4, 6, "培训班")
    classes = 0
    trainees_pool = rest[54:200]
    for n, (kind, name, subject) in enumerate(
        (
            ("skill", "电子商务技能培训班", "网店运营"),
            ("massage", "盲人保健按摩提升班", "保健按摩"),
            ("heritage", "非遗木雕技艺培训班", "木雕"),
            ("heritage", "非遗泥塑技艺培训班", "泥塑"),
            ("heritage", "非遗漆器技艺培训班", "漆器"),
        )
    ):
        start = today - timedelta(days=90 + 30 * n)
        tc = rec.training_class_create(
            acting_user=maker,
            kind=kind,
            name=f"{start.year}年{name}",
            subject=subject,
            town=towns[n % len(towns)],
            organiser="吴中区残疾人职业培训基地",
            starts_on=start,
            ends_on=start + timedelta(days=40),
        )
        classes += 1
        enrolments = []
        for person in trainees_pool[n * 12 : n * 12 + 12]:
            e, _ = rec.training_enrol(acting_user=maker, training_class=tc, person=person, enrolled_on=start)
            enrolments.append(e)
        for seq in range(3):
            present = [e.pk for e in enrolments if rng.random() < 0.85]
            rec.training_session_add(
                acting_user=maker,
                training_class=tc,
                held_on=start + timedelta(days=7 * seq),
                topic=f"第{seq + 1}单元",
                present=present,
            )
        for e in enrolments:
            if rng.random() < 0.7:
                rec.training_enrol(
                    acting_user=maker,
                    training_class=tc,
                    person=e.person,
                    enrolled_on=start,
                    certificate=f"{subject}结业证书",
                    certified_on=tc.ends_on,
                )

    progress(5, 6, "辅助性就业与盲人按摩")
    projects = 0
    for home in Institution.objects.filter(kind="care_home").order_by("name"):
        p = rec.aux_project_create(
            acting_user=maker,
            name="电子元件来料加工",
            company=rng.choice(employers[:3]) or "吴中经济开发区电子厂",
            institution=home,
            started_on=today - timedelta(days=200),
            content="元件分拣、包装",
        )
        projects += 1
        for person in Person.objects.filter(town=home.town_id, pk__in=[x.pk for x in rest[200:]])[:5]:
            rec.aux_member_add(
                acting_user=maker, project=p, person=person, joined_on=today - timedelta(days=150)
            )
    blind = (
        Person.objects.filter(certificates__category=1, status="active")
        .select_related("town")
        .order_by("pk")
        .distinct()[:8]
    )
    for person in blind:
        rec.practitioner_record(
            acting_user=maker,
            person=person,
            qualification=rng.choice(("保健按摩师（初级）", "保健按摩师（中级）", "医疗按摩人员")),
            workplace=f"{person.town.name}盲人按摩店",
            since=date(today.year - rng.randint(1, 10), 3, 1),
        )
    progress(6, 6, "完成")
    return {
        "employments": len(items),
        "special_service": listed,
        "graduates": graduates,
        "job_fairs": fairs,
        "training_classes": classes,
        "aux_projects": projects,
    }


def _third_sunday_of_may(year: int) -> date:
    first = date(year, 5, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 14)


@transaction.atomic
def employment_demo_delete(*, acting_user) -> int:
    """Remove employment's own records (demo reset only; the registry reset removes the periods), before the
    institutions and persons they point to; one audit row."""
    from canlian.common.models import WorkflowHistory

    count = JobFair.objects.count() + TrainingClass.objects.count() + AuxProject.objects.count()
    JobFair.objects.all().delete()
    TrainingClass.objects.all().delete()  # sessions, enrolments, attendance cascade
    AuxProject.objects.all().delete()  # members cascade
    MassagePractitioner.objects.all().delete()
    Case.objects.filter(programme__in=(ec.SUPPORT, ec.GRADUATE)).delete()
    with connection.cursor() as cur:
        cur.execute(
            f"DELETE FROM {WorkflowHistory._meta.db_table} WHERE workflow IN (%s, %s)",
            [f"case.{ec.SUPPORT}", f"case.{ec.GRADUATE}"],
        )
    audit_record(
        acting_user=acting_user,
        action="demo.reset",
        object_type="casework.employment",
        changes={"rows": [count, 0]},
    )
    return count
