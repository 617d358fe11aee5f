"""Demo data for custodial care on the demo registry: providers and 残疾人之家 designated through the
workflow (maker and checker two people), contracts per town, a few dozen placements across towns (some
counted by ``custodial_new``, some kept for other funds), return visits partly done so that some are overdue,
an inspection and a settlement. Runs after the registry demo; deterministic for a seed; every write goes
through the services (audited). The placements are one transaction, on SQLite one per placement
(``common.bulk.sliced_writes``); a load stopped midway is skipped by the next ``canlian demo`` (cases exist)
and cleared by ``canlian demo --reset``."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from canlian.accounts.services import system_user
from canlian.common.audit import audit_record
from canlian.common.bulk import long_write, write_slice
from canlian.common.jobs import Progress, noop_progress
from canlian.common.workflow import transition
from canlian.institutions.models import Institution
from canlian.institutions.services import institution_create
from canlian.registry.models import Person, Region

from .models import Attachment, Case, CustodialContract, DueItem, Inspection, Settlement
from .programmes.custodial_care import contract_create, inspection_record
from .services import case_open, due_item_complete

PROVIDERS = (
    ("吴中区阳光托养中心", "custodial_provider", "320506100"),  # 甪直镇
    ("木渎镇仁爱护理院", "custodial_provider", "320506103"),  # 木渎镇
    ("甪直镇残疾人之家", "care_home", "320506100"),
    ("木渎镇残疾人之家", "care_home", "320506103"),
    ("胥口镇残疾人之家", "care_home", "320506104"),
    ("临湖镇残疾人之家", "care_home", "320506107"),
)
MODES = ("boarding", "day_care", "home")


def custodial_demo(
    seed: int = 2023, *, today: date | None = None, progress: Progress = noop_progress
) -> dict:
    if Case.objects.filter(programme="custodial_care").exists() or Institution.objects.exists():
        return {"skipped": True}
    today = today or timezone.localdate()
    rng = random.Random(seed)
    users = {u.username: u for u in get_user_model().objects.filter(username__startswith="demo_")}
    maker = users.get("demo_district") or system_user()
    checker = users.get("demo_district2") or system_user()
    if maker == checker:
        return {"skipped": True}
    towns = {t.code: t for t in Region.objects.filter(level=Region.Level.TOWN)}
    progress(0, 4, "登记托养机构")
    with transaction.atomic():
        insts = []
        for name, kind, town in PROVIDERS:
            if town not in towns:
                continue
            inst = institution_create(
                acting_user=maker,
                name=name,
                kind=kind,
                town=towns[town],
                contact="张老师",
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
        staff = users.get("demo_institution")
        if staff is not None and insts:
            staff.institution = insts[0]
            staff.save(update_fields=["institution"])
            audit_record(
                acting_user=maker,
                action="user.institution",
                obj=staff,
                changes={"institution": [None, insts[0].name]},
            )
        for inst in insts:
            contract_create(
                acting_user=maker,
                town=inst.town,
                institution=inst,
                mode="day_care" if inst.kind == "care_home" else "boarding",
                valid_from=date(today.year, 1, 1),
                valid_to=date(today.year, 12, 31),
                places=20,
                monthly_price=Decimal("1200.00"),
            )
    progress(1, 4, "安排托养")
    by_town = {i.town_id: i for i in insts}
    candidates = list(
        Person.objects.filter(
            status="active",
            town_id__in=list(by_town),
            birth_date__gt=date(today.year - 60, 1, 1),
            birth_date__lte=date(today.year - 16, 1, 1),
        ).order_by("pk")[:400]
    )
    rng.shuffle(candidates)
    placed = []
    with long_write():  # one transaction, or on SQLite one per placement (``common.bulk``)
        for person in candidates[:48]:
            inst = by_town[person.town_id] if rng.random() < 0.8 else rng.choice(insts)
            start = date(today.year - rng.choice((0, 0, 0, 1)), rng.randint(1, 12), rng.randint(1, 28))
            if start > today:
                start = today - timedelta(days=rng.randint(30, 120))
            end = start + timedelta(days=rng.randint(90, 200)) if rng.random() < 0.15 else None
            if end and end >= today:
                end = None
            with write_slice():
                case = case_open(
                    acting_user=maker,
                    programme="custodial_care",
                    person=person,
                    opened_on=start,
                    closed_on=end,
                    institution=inst,
                    state="ended" if end else "placed",
                    data={"mode": rng.choice(MODES)},
                    source="demo",
                )
            placed.append(case)
    progress(2, 4, "回访记录")
    visits = 0
    for case in placed:
        due = list(DueItem.objects.filter(case=case, due_on__lt=today, cancelled=False).order_by("seq"))
        # most visits are done within a week; the last one or two of some cases are left overdue
        keep_open = rng.choice((0, 0, 1, 2))
        for item in due[: max(0, len(due) - keep_open)]:
            done_on = min(today, item.due_on + timedelta(days=rng.randint(0, 6)))
            due_item_complete(
                acting_user=maker,
                item=item,
                done_on=done_on,
                note=rng.choice(("情况稳定", "家属满意", "饮食起居正常", "建议加强康复训练")),
            )
            visits += 1
    progress(3, 4, "质量检查与结算")
    with transaction.atomic():
        for inst in insts[:3]:
            score = Decimal(rng.randint(55, 98))
            low = score < 80  # below 80 the district asks for improvements (below the pass mark it must)
            inspection_record(
                acting_user=checker,
                institution=inst,
                inspected_on=today - timedelta(days=30),
                score=score,
                findings="消防通道通畅；台账基本齐全" if not low else "消防通道堆放杂物；回访台账不全",
                follow_up="清理消防通道，补齐回访台账" if low else "",
                follow_up_due=today - timedelta(days=30) + timedelta(days=20) if low else None,
            )
    progress(4, 4, "完成")
    overdue = DueItem.objects.filter(
        case__in=placed, done_on__isnull=True, cancelled=False, due_on__lt=today
    ).count()
    return {"institutions": len(insts), "placements": len(placed), "visits_done": visits, "overdue": overdue}


@transaction.atomic
def custodial_demo_delete(*, acting_user) -> int:
    """Remove every case-engine record and institution (demo reset only); one audit row records the count."""
    from canlian.common.models import WorkflowHistory

    count = Case.objects.count()
    Attachment.objects.all().delete()
    DueItem.objects.all().delete()
    Case.objects.all().delete()
    Settlement.objects.all().delete()
    CustodialContract.objects.all().delete()
    Inspection.objects.all().delete()
    get_user_model().objects.filter(institution__isnull=False).update(institution=None)
    Institution.objects.all().delete()
    # history rows are append-only through the ORM manager; a demo reset removes them with raw SQL
    from django.db import connection

    with connection.cursor() as cur:
        # only the case engine's and institutions' own rows: benefits and findings keep theirs
        cur.execute(
            f"DELETE FROM {WorkflowHistory._meta.db_table} WHERE workflow LIKE %s OR workflow IN (%s, %s, %s)",
            ["case.%", "institution", "settlement", "child_rehab_referral"],
        )
    audit_record(
        acting_user=acting_user, action="demo.reset", object_type="casework", changes={"cases": [count, 0]}
    )
    return count
