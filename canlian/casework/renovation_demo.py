"""Demo data for home accessibility renovation on the demo registry: eligible households in 甪直镇 and 木渎镇
(grade 1–2, hardship) taken through the workflow to different stages — applied, surveyed with photos,
planned, approved, in works and accepted (counted by ``renovation_done``) — by the demo accounts that do each
step (town staff apply, survey, plan and procure; the district approves; the town's second account accepts).
Deterministic for a seed; every write goes through the services (audited)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from canlian.accounts.services import system_user
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError
from canlian.common.jobs import Progress, noop_progress
from canlian.registry.models import Certificate, EconomicStatusPeriod

from .models import Case
from .programmes import renovation as rn
from .services import case_move

# a tiny valid JPEG header is enough for the demo: the bytes are encrypted like any attachment
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00demo-photo\xff\xd9"
ITEMS = (
    ("卫生间扶手", "套", "2", "450.00"),
    ("门槛坡化", "处", "3", "380.00"),
    ("防滑地面", "平方米", "6", "120.00"),
    ("蹲便改坐便", "个", "1", "900.00"),
    ("低位灶台", "套", "1", "1500.00"),
    ("闪光门铃", "个", "1", "260.00"),
)
# how far each demo household goes (cycled)
STAGES = ("accepted", "in_works", "planned", "surveyed", "applied", "approved", "accepted", "accepted")
TOWNS = {"320506100": ("demo_luzhi", "demo_luzhi2"), "320506103": ("demo_mudu", "demo_mudu2")}


def renovation_demo(
    seed: int = 2023, *, today: date | None = None, progress: Progress = noop_progress
) -> dict:
    if Case.objects.filter(programme=rn.CODE).exists():
        return {"skipped": True}
    today = today or timezone.localdate()
    rng = random.Random(seed + 17)
    users = {u.username: u for u in get_user_model().objects.filter(username__startswith="demo_")}
    district = users.get("demo_district")
    if district is None or any(a not in users or b not in users for a, b in TOWNS.values()):
        return {"skipped": True}
    start = max(date(today.year, 1, 5), today - timedelta(days=300))
    severe = Certificate.objects.filter(grade__lte=2, status="valid", valid_until__gte=today).values(
        "person_id"
    )
    poor = EconomicStatusPeriod.objects.filter(status__in=list(rn.HARDSHIP), valid_from__lte=start).filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=today)
    )
    counts = {"applications": 0, "accepted": 0}
    progress(0, 2, "无障碍改造申请")
    for town_code, (maker_name, checker_name) in TOWNS.items():
        maker, checker = users[maker_name], users[checker_name]
        candidates = list(
            poor.filter(person__town__code=town_code, person_id__in=severe)
            .order_by("person_id")
            .values_list("person", flat=True)
            .distinct()[:80]
        )
        rng.shuffle(candidates)
        from canlian.registry.models import Person

        done = 0
        for pid in candidates:
            if done >= len(STAGES):
                break
            person = Person.objects.get(pk=pid)
            stage = STAGES[done]
            applied = start + timedelta(days=rng.randint(0, 20) + done * 7)
            try:
                with transaction.atomic():
                    _run(person, stage, applied, maker, checker, district, rng)
            except DomainError:
                continue  # another member of the same household already has a case, or not eligible
            done += 1
            counts["applications"] += 1
            counts["accepted"] += stage == "accepted"
    progress(2, 2, "完成")
    return counts


def _run(person, stage, applied, maker, checker, district, rng):
    c = rn.renovation_apply(acting_user=maker, person=person, applied_on=applied, house_alterable=True)
    if stage == "applied":
        return
    c = case_move(acting_user=maker, case=c, move="town_review", expected_state="applied")
    rn.renovation_photo_add(
        acting_user=maker,
        case=c,
        stage="survey",
        name="入户勘查.jpg",
        content=PHOTO,
        content_type="image/jpeg",
    )
    c = case_move(
        acting_user=maker,
        case=c,
        move="survey",
        expected_state="town_reviewed",
        survey_on=applied + timedelta(days=5),
        survey_notes="卫生间无扶手，入户门槛较高，厨房操作台过高",
    )
    if stage == "surveyed":
        return
    for name, unit, qty, price in rng.sample(ITEMS, 3):
        rn.renovation_item_add(
            acting_user=maker, case=c, name=name, unit=unit, quantity=qty, unit_price=price
        )
    c = case_move(acting_user=maker, case=c, move="plan", expected_state="surveyed")
    if stage == "planned":
        return
    c = case_move(acting_user=district, case=c, move="approve", expected_state="planned")
    if stage == "approved":
        return
    total = Decimal(c.data["plan_total"])
    c = case_move(
        acting_user=maker,
        case=c,
        move="procure",
        expected_state="approved",
        contractor="苏州安居无障碍装饰工程有限公司",
        amount_contract=(total * Decimal("0.96")).quantize(Decimal("0.01")),
        works_from=applied + timedelta(days=20),
    )
    if stage == "in_works":
        return
    c = case_move(
        acting_user=maker,
        case=c,
        move="complete",
        expected_state="in_works",
        works_to=applied + timedelta(days=30),
    )
    rn.renovation_photo_add(
        acting_user=checker,
        case=c,
        stage="acceptance",
        name="竣工验收.jpg",
        content=PHOTO,
        content_type="image/jpeg",
    )
    case_move(
        acting_user=checker,
        case=c,
        move="accept",
        expected_state="works_done",
        closed_on=applied + timedelta(days=33),
    )


def renovation_demo_delete(*, acting_user=None) -> int:
    """Remove renovation cases (demo reset only; items and photos cascade); one audit row."""
    from canlian.common.models import WorkflowHistory

    acting_user = acting_user or system_user()
    cases = Case.objects.filter(programme=rn.CODE)
    count = cases.count()
    from .models import Attachment

    Attachment.objects.filter(case__in=cases).delete()
    cases.delete()
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {WorkflowHistory._meta.db_table} WHERE workflow = %s", [f"case.{rn.CODE}"])
    audit_record(
        acting_user=acting_user,
        action="demo.reset",
        object_type="casework.renovation",
        changes={"cases": [count, 0]},
    )
    return count
