"""Demo data for home accessibility renovation on the demo registry, a spread a district would see in the
autumn. In the towns with demo accounts (甪直镇, 木渎镇) eligible households (grade 1–2, hardship) go through
the workflow to every stage — applied, town reviewed, surveyed with photos, planned, a plan returned for
changes, approved, in works, works done, accepted (counted by ``renovation_done``), and rejected — by the
accounts that do each step (town staff apply, review, survey, plan and procure; the district approves or
returns the plan; the town's second account accepts). Older applications are further along. In every other
town the district enters this year's applications (awaiting the town's review) and imports last year's
accepted renovations as a roster (the staged import path, as a town's spreadsheet would come in).
Deterministic for a seed; every write goes through the services (audited)."""

from __future__ import annotations

import csv
import io
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
from canlian.registry.models import Certificate, EconomicStatusPeriod, Person, Region

from .importing import roster_import
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
# how far each household in a town with demo accounts goes (cycled over both towns: a third accepted, every
# other stage present once ten households have gone through), and how many steps that is (older
# applications are further along)
STAGES = (
    "accepted",
    "in_works",
    "planned",
    "surveyed",
    "applied",
    "approved",
    "works_done",
    "returned",
    "town_reviewed",
    "rejected",
    "accepted",
    "accepted",
)
DEPTH = {
    "applied": 0,
    "rejected": 1,
    "town_reviewed": 1,
    "surveyed": 2,
    "returned": 3,
    "planned": 3,
    "approved": 4,
    "in_works": 5,
    "works_done": 6,
    "accepted": 7,
}
TOWNS = {"320506100": ("demo_luzhi", "demo_luzhi2"), "320506103": ("demo_mudu", "demo_mudu2")}
PER_TOWN = 24  # households taken through the workflow in each town with demo accounts
OTHER_APPLIED = 2  # this year's applications in each other town (entered by the district)
OTHER_ACCEPTED = 3  # last year's accepted renovations in each other town (a roster import)
ROSTER_HEADERS = ("姓名", "身份证号", "申请日期", "验收日期", "改造金额", "施工单位", "改造内容")


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
    severe = Certificate.objects.filter(grade__lte=2, status="valid", valid_until__gte=today).values(
        "person_id"
    )
    poor = EconomicStatusPeriod.objects.filter(
        status__in=list(rn.HARDSHIP), valid_from__lte=date(today.year - 1, 1, 1)
    ).filter(Q(valid_to__isnull=True) | Q(valid_to__gte=today))
    by_town: dict[int, list[int]] = {}
    for town_id, pid in (
        poor.filter(person_id__in=severe, person__status="active")
        .order_by("person__town_id", "person_id")
        .values_list("person__town_id", "person_id")
        .distinct()
    ):
        by_town.setdefault(town_id, []).append(pid)
    towns = list(Region.objects.filter(level=Region.Level.TOWN).order_by("code"))
    counts = {"applications": 0, "accepted": 0, "imported": 0, "towns": 0}
    stages: dict[str, int] = {}
    turn = 0  # the position in STAGES, carried from one town with demo accounts to the next
    progress(0, len(towns) + 1, "无障碍改造申请")
    roster: list[tuple] = []
    for n, town in enumerate(towns, start=1):
        candidates = by_town.get(town.pk, [])
        rng.shuffle(candidates)
        households: set[str] = set()
        persons = Person.objects.in_bulk(candidates[: PER_TOWN * 3])
        queue = [persons[pid] for pid in candidates[: PER_TOWN * 3]]
        done = 0
        if town.code in TOWNS:
            maker, checker = (users[u] for u in TOWNS[town.code])
            for person in queue:
                if done >= PER_TOWN:
                    break
                key = rn.household_key(person)
                if key in households:
                    continue
                stage = STAGES[turn % len(STAGES)]
                applied = today - timedelta(days=35 + DEPTH[stage] * 30 + rng.randint(0, 25))
                try:
                    with transaction.atomic():
                        _run(person, stage, applied, maker, checker, district, rng)
                except DomainError:
                    continue  # not eligible on that day after all
                households.add(key)
                done += 1
                turn += 1
                stages[stage] = stages.get(stage, 0) + 1
                counts["accepted"] += stage == "accepted"
        else:
            for person in queue:
                key = rn.household_key(person)
                if key in households:
                    continue
                if done < OTHER_ACCEPTED:
                    roster.append(_roster_row(person, today, rng))
                elif done < OTHER_ACCEPTED + OTHER_APPLIED:
                    applied = today - timedelta(days=rng.randint(3, 40))
                    try:
                        with transaction.atomic():
                            rn.renovation_apply(
                                acting_user=district,
                                person=person,
                                applied_on=applied,
                                house_alterable=True,
                                note="区残联受理，待镇(街道)审核",
                            )
                    except DomainError:
                        continue
                    stages["applied"] = stages.get("applied", 0) + 1
                else:
                    break
                households.add(key)
                done += 1
        counts["applications"] += done
        counts["towns"] += done > 0
        progress(n, len(towns) + 1, f"无障碍改造：{town.name}")
    if roster:
        staged = roster_import(
            rn.CODE, _csv(roster), acting_user=district, filename="上年度无障碍改造名单.csv"
        )
        counts["imported"] = staged.counts["created"]
        counts["applications"] -= len(roster) - counts["imported"]
    progress(len(towns) + 1, len(towns) + 1, "完成")
    return {**counts, "stages": stages}


def _roster_row(person, today: date, rng) -> tuple:
    items = rng.sample(ITEMS, 3)
    amount = sum(Decimal(qty) * Decimal(price) for _, _, qty, price in items)
    accepted = date(today.year - 1, rng.randint(3, 11), rng.randint(1, 28))
    return (
        person.name,
        person.id_number,
        (accepted - timedelta(days=rng.randint(40, 90))).isoformat(),
        accepted.isoformat(),
        f"{amount:.2f}",
        "苏州安居无障碍装饰工程有限公司",
        "、".join(name for name, *_ in items),
    )


def _csv(rows: list[tuple]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ROSTER_HEADERS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _photo(user, case, stage: str, name: str) -> None:
    rn.renovation_photo_add(
        acting_user=user, case=case, stage=stage, name=name, content=PHOTO, content_type="image/jpeg"
    )


def _run(person, stage, applied, maker, checker, district, rng):
    c = rn.renovation_apply(acting_user=maker, person=person, applied_on=applied, house_alterable=True)
    if stage == "applied":
        return
    c = case_move(acting_user=maker, case=c, move="town_review", expected_state="applied")
    if stage == "town_reviewed":
        return
    if stage == "rejected":
        case_move(
            acting_user=maker,
            case=c,
            move="reject",
            expected_state="town_reviewed",
            close_reason="住房已列入拆迁范围，不具备改造条件",
        )
        return
    _photo(maker, c, "survey", "入户勘查.jpg")
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
    if stage == "returned":
        case_move(
            acting_user=district,
            case=c,
            move="return_plan",
            expected_state="planned",
            return_reason="低位灶台请与家属确认高度后再报",
        )
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
    if stage == "works_done":
        return
    _photo(checker, c, "acceptance", "竣工验收.jpg")
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
