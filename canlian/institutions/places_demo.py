"""Demo data for the places that serve, on the demo registry after the custodial demo (which registers the
残疾人之家): services offered, community rehab points designated through the workflow (maker and checker two
people), attendees, a year of day attendance for 2023 and the last fortnight's roll calls, the seed's build
project (甪直镇, built by 2023-10-31) and one at risk, and the 2023 star ratings (scored by one district
officer, rated by another). Deterministic for a seed; every write goes through the services (audited)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from canlian.accounts.services import system_user
from canlian.common.audit import audit_record
from canlian.common.jobs import Progress, noop_progress
from canlian.common.workflow import transition
from canlian.registry.models import Person, Region

from . import places
from .models import Institution
from .place_models import Attendance, BuildProject, PlaceMember, PlaceService, StarRating
from .services import institution_create

REHAB_POINTS = (
    ("甪直镇残疾人之家社区康复点", "320506100", True),
    ("木渎镇社区卫生服务中心康复点", "320506103", True),
    ("胥口镇社区康复点", "320506104", True),
    ("临湖镇浦庄社区康复点", "320506107", False),  # being built: the project at risk
)
LUZHI = "320506100"
MILESTONES = (  # (name, planned, done)
    ("选址立项", date(2023, 3, 31), date(2023, 3, 28)),
    ("设计方案审定", date(2023, 5, 15), date(2023, 5, 12)),
    ("施工改造", date(2023, 8, 31), date(2023, 9, 8)),
    ("设施设备配备", date(2023, 9, 30), date(2023, 9, 29)),
    ("验收并投入运营", date(2023, 10, 31), date(2023, 10, 26)),
)


def _weekdays(start: date, end: date):
    day = start
    while day <= end:
        if day.weekday() < 5:
            yield day
        day += timedelta(days=1)


def places_demo(seed: int = 2023, *, today: date | None = None, progress: Progress = noop_progress) -> dict:
    if PlaceService.objects.exists():
        return {"skipped": True}
    homes = list(Institution.objects.filter(kind="care_home").select_related("town").order_by("town__code"))
    users = {u.username: u for u in get_user_model().objects.filter(username__startswith="demo_")}
    maker, checker = users.get("demo_district"), users.get("demo_district2")
    if not homes or maker is None or checker is None:
        return {"skipped": True}
    town_user = users.get("demo_luzhi") or maker
    today = today or timezone.localdate()
    rng = random.Random(seed)
    towns = {t.code: t for t in Region.objects.filter(level=Region.Level.TOWN)}
    progress(0, 4, "服务项目与康复点")
    with transaction.atomic():
        for home in homes:
            for service in ("day_care", "aux_employment", "training", "culture_sport"):
                places.place_service_add(
                    acting_user=maker, institution=home, service=service, since=date(2021, 1, 1)
                )
        points = []
        for name, code, designated in REHAB_POINTS:
            if code not in towns:
                continue
            inst = Institution.objects.filter(name=name).first()  # kept by a reset of the place data alone
            if inst is not None:
                points.append(inst)
                continue
            inst = institution_create(acting_user=maker, name=name, kind="rehab_point", town=towns[code])
            if designated:
                inst = transition(
                    inst,
                    "submit",
                    acting_user=maker,
                    expected_state="draft",
                    designated_from=date(2022, 3, 1),
                )
                inst = transition(inst, "designate", acting_user=checker, expected_state="submitted")
                places.place_service_add(
                    acting_user=maker, institution=inst, service="rehab", since=date(2022, 3, 1)
                )
            points.append(inst)
    progress(1, 4, "服务对象与出勤")
    members = {}
    with transaction.atomic():
        for home in homes:
            people = list(
                Person.objects.filter(
                    status="active",
                    town_id=home.town_id,
                    birth_date__gt=date(1965, 1, 1),
                    birth_date__lte=date(2005, 1, 1),
                ).order_by("pk")[:60]
            )
            rng.shuffle(people)
            members[(home.pk, "day_care")] = people[:12]
            members[(home.pk, "aux_employment")] = people[12:20]
        # 2023 from the homes' own registers (one import per place: the attendees are registered from their
        # first day), then the last week's roll calls
        rows = [
            {"institution": home, "person": person, "service": service, "on": day}
            for home in homes
            for service in ("day_care", "aux_employment")
            for day in _weekdays(date(2023, 1, 3), date(2023, 12, 29))
            for person in members[(home.pk, service)]
            if rng.random() < 0.8
        ]
        imported = places.attendance_import_rows(acting_user=maker, rows=rows)
        roll_calls = 0
        for home in homes:
            who = town_user if home.town.code == LUZHI else maker
            for day in _weekdays(today - timedelta(days=7), today - timedelta(days=1)):
                for service in ("day_care", "aux_employment"):
                    present = {p.pk for p in members[(home.pk, service)] if rng.random() < 0.85}
                    places.attendance_record(
                        acting_user=who, institution=home, service=service, on=day, present=present
                    )
                    roll_calls += 1
    progress(2, 4, "建设项目")
    luzhi_home = next((h for h in homes if h.town.code == LUZHI), homes[0])
    with transaction.atomic():
        project = places.project_create(
            acting_user=town_user,
            institution=luzhi_home,
            name="甪直镇残疾人之家新建项目",
            started_on=date(2023, 3, 1),
            deadline=date(2023, 10, 31),
            milestones=[(n, planned) for n, planned, _done in MILESTONES],
            note="按区残联部署，2023年10月31日前建成",
        )
        for m, (_n, _planned, done) in zip(project.milestones.order_by("seq"), MILESTONES, strict=True):
            places.milestone_done(acting_user=town_user, milestone=m, done_on=done)
        for mark in project.marks.all():
            places.checklist_mark(
                acting_user=town_user,
                project=project,
                checklist=mark.checklist,
                code=mark.code,
                met_on=date(2023, 10, 20),
            )
        for about, name in (("验收并投入运营", "竣工验收报告.pdf"), ("Q2", "无障碍设施照片.jpg")):
            places.evidence_add(
                acting_user=town_user,
                project=project,
                about=about,
                name=name,
                content=f"演示佐证材料：{name}".encode(),
                content_type="application/octet-stream",
            )
        places.project_complete(acting_user=town_user, project=project, completed_on=date(2023, 10, 26))
        building = next((p for p in points if p.state == "draft"), None)
        if building is not None:
            start = today - timedelta(days=200)
            deadline = today + timedelta(days=45)
            risky = places.project_create(
                acting_user=maker,
                institution=building,
                name="临湖镇浦庄社区康复点建设项目",
                started_on=start,
                deadline=deadline,
                milestones=[
                    ("选址立项", start + timedelta(days=30)),
                    ("施工改造", today - timedelta(days=10)),
                    ("验收并投入运营", deadline),
                ],
            )
            first = risky.milestones.order_by("seq").first()
            places.milestone_done(acting_user=maker, milestone=first, done_on=start + timedelta(days=26))
    progress(3, 4, "星级评定")
    checklist = places.star_checklist(2023)
    rated = 0
    with transaction.atomic():
        for home, off, stage in zip(
            homes, (8, 22, 15, 35), ("rated", "rated", "submitted", "draft"), strict=False
        ):
            scores = {i["code"]: str(i["points"]) for i in checklist.items}
            scores["S5"] = str(20 - min(off, 20))
            scores["S1"] = str(15 - max(0, off - 20))
            r = places.star_rating_record(acting_user=maker, institution=home, year=2023, scores=scores)
            places.evidence_add(
                acting_user=maker,
                rating=r,
                about="S5",
                name="辅助性就业台账.xlsx",
                content=b"demo evidence",
            )
            if stage == "draft":
                continue
            r = transition(r, "submit", acting_user=maker, expected_state="draft")
            if stage == "rated":
                transition(r, "rate", acting_user=checker, expected_state="submitted")
                rated += 1
    progress(4, 4, "完成")
    return {
        "places": len(homes) + len(points),
        "members": PlaceMember.objects.count(),
        "attendance": Attendance.objects.count(),
        "imported": imported,
        "roll_calls": roll_calls,
        "projects": BuildProject.objects.count(),
        "ratings": StarRating.objects.count(),
        "rated": rated,
    }


@transaction.atomic
def places_demo_delete(*, acting_user=None) -> int:
    """Remove every place record (demo reset only; before the institutions themselves go); one audit row."""
    from canlian.common.models import WorkflowHistory

    from .place_models import PlaceEvidence

    acting_user = acting_user or system_user()
    count = Attendance.objects.count()
    PlaceEvidence.objects.all().delete()
    StarRating.objects.all().delete()
    BuildProject.objects.all().delete()
    Attendance.objects.all().delete()
    PlaceMember.objects.all().delete()
    PlaceService.objects.all().delete()
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {WorkflowHistory._meta.db_table} WHERE workflow = %s", ["star_rating"])
    audit_record(
        acting_user=acting_user, action="demo.reset", object_type="institutions", changes={"rows": [count, 0]}
    )
    return count
