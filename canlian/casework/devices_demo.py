"""Demo data for assistive devices on the demo registry: two catalogue versions (2019 and 2023, ~30 items
with GB/T 16432 class/subclass/division codes: wheelchairs 12 22, walking aids 12 03/12 06, white canes
12 39, hearing aids 22 06, low-vision aids 22 03, prostheses and orthoses 06, pressure-relief cushions 04 33,
toileting and bathing 09 …; the caps and cycles are demo values, the real list is imported on the catalogue
page), two designated service points, a few dozen fitting cases at every stage (applied by the town for the
village worker, reviewed, assessed, approved by a second district officer, delivered with the person's
share, a return visit due), last year's fittings as a roster import, and loans (some overdue). Deterministic
for a seed; every write goes through the services (audited)."""

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
from canlian.registry.models import Certificate, Person, Region

from .device_models import DeviceCatalogVersion, DeviceFitting, DeviceItem, DeviceLoan
from .models import Case
from .programmes import devices as dv
from .services import case_move

# code, name, cap (2023), cycle, categories, personalised, smart
CATALOGUE = (
    ("122203", "普通轮椅（双手驱动）", "800.00", 5, "肢体、多重", False, False),
    ("122206", "偏瘫轮椅（单侧驱动）", "1200.00", 5, "肢体", False, False),
    ("122218", "护理者操纵轮椅", "1000.00", 5, "肢体、多重、智力", False, False),
    ("122224", "高靠背可躺式轮椅", "2000.00", 5, "肢体、多重", True, False),
    ("122306", "电动轮椅", "5000.00", 6, "肢体", True, True),
    ("120303", "手杖", "60.00", 2, "肢体、视力", False, False),
    ("120306", "肘拐", "120.00", 3, "肢体", False, False),
    ("120312", "腋拐", "100.00", 3, "肢体", False, False),
    ("120316", "四脚手杖", "150.00", 3, "肢体", False, False),
    ("120603", "助行架", "300.00", 3, "肢体", False, False),
    ("120606", "轮式助行架", "600.00", 4, "肢体", False, False),
    ("123103", "移位板", "200.00", 5, "肢体", False, False),
    ("123903", "盲杖", "60.00", 2, "视力", False, False),
    ("123906", "电子导盲仪", "2500.00", 5, "视力", False, True),
    ("220306", "助视眼镜", "400.00", 3, "视力", True, False),
    ("220309", "手持放大镜", "150.00", 3, "视力", False, False),
    ("220318", "助视望远镜", "500.00", 4, "视力", False, False),
    ("220321", "电子助视器", "3000.00", 5, "视力", False, True),
    ("220603", "盒式助听器", "1500.00", 5, "听力、言语", False, False),
    ("220606", "耳背式助听器", "3000.00", 5, "听力、言语", True, False),
    ("220609", "耳内式助听器", "3500.00", 5, "听力", True, False),
    ("222703", "闪光门铃", "150.00", 5, "听力", False, False),
    ("221212", "盲文书写板", "80.00", 5, "视力", False, False),
    ("223918", "读屏软件", "500.00", 4, "视力", False, True),
    ("061206", "踝足矫形器", "1500.00", 2, "肢体", True, False),
    ("061212", "膝踝足矫形器", "3000.00", 2, "肢体", True, False),
    ("062412", "小腿假肢", "8000.00", 4, "肢体", True, False),
    ("062418", "大腿假肢", "15000.00", 4, "肢体", True, False),
    ("043303", "防压疮坐垫", "500.00", 3, "肢体、多重", False, False),
    ("043306", "防压疮床垫", "800.00", 3, "肢体、多重", False, False),
    ("091203", "坐便椅", "200.00", 5, "肢体、视力、多重", False, False),
    ("093303", "洗浴椅", "150.00", 5, "肢体、多重", False, False),
)
POINTS = (("吴中区辅具服务中心甪直站", "320506100"), ("吴中区辅具服务中心木渎站", "320506103"))
TOWN_USERS = {"320506100": "demo_luzhi", "320506103": "demo_mudu"}
VILLAGE_WORKERS = ("王建华", "陈秀英", "张卫东", "沈美芳", "顾志强")
HEADERS = ["编码", "名称", "补贴上限", "更换周期", "适用类别", "个性化", "智能"]


def _catalogue_xlsx(rows) -> bytes:
    import io

    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("辅具目录")
    ws.write_row(0, 0, HEADERS)
    for i, r in enumerate(rows, start=1):
        code, name, cap, years, cats, pers, smart = r
        ws.write_row(
            i,
            0,
            [
                f"{code[:2]} {code[2:4]} {code[4:]}",
                name,
                cap,
                years,
                cats,
                "是" if pers else "",
                "是" if smart else "",
            ],
        )
    wb.close()
    return buf.getvalue()


def _eligible(items, cert) -> list[DeviceItem]:
    cats = {cert.category} | {int(p["category"]) for p in (cert.components or [])}
    return [i for i in items if cats & set(i.categories)]


def devices_demo(seed: int = 2023, *, today: date | None = None, progress: Progress = noop_progress) -> dict:
    if Case.objects.filter(programme=dv.CODE).exists() or DeviceCatalogVersion.objects.exists():
        return {"skipped": True}
    today = today or timezone.localdate()
    rng = random.Random(seed + 9)
    users = {u.username: u for u in get_user_model().objects.filter(username__startswith="demo_")}
    maker, checker = users.get("demo_district"), users.get("demo_district2")
    if maker is None or checker is None:
        return {"skipped": True}
    towns = {t.code: t for t in Region.objects.filter(level=Region.Level.TOWN)}
    progress(0, 4, "导入辅具目录")
    old_rows = [
        (c, n, str(Decimal(cap) * Decimal("0.8")), y, cats, p, s)
        for c, n, cap, y, cats, p, s in CATALOGUE
        if c not in ("122306", "223918")  # added in 2023
    ]
    dv.catalogue_import(
        acting_user=maker,
        source=_catalogue_xlsx(old_rows),
        filename="江苏省辅助器具目录2019.xlsx",
        version="2019版",
        effective_from=date(2019, 1, 1),
    )
    current = dv.catalogue_import(
        acting_user=maker,
        source=_catalogue_xlsx(CATALOGUE),
        filename="江苏省辅助器具目录2023.xlsx",
        version="2023版",
        effective_from=date(2023, 1, 1),
    )
    with transaction.atomic():
        points = []
        for name, town in POINTS:
            if town not in towns or Institution.objects.filter(name=name).exists():
                continue
            inst = institution_create(
                acting_user=maker,
                name=name,
                kind=dv.SERVICE_POINT,
                town=towns[town],
                contact="钱师傅",
                phone="0512-6" + str(rng.randint(1000000, 9999999)),
            )
            inst = transition(
                inst,
                "submit",
                acting_user=maker,
                expected_state="draft",
                designated_from=date(2019, 1, 1),
                designated_to=date(today.year + 2, 12, 31),
            )
            points.append(transition(inst, "designate", acting_user=checker, expected_state="submitted"))
    if not points:
        return {"skipped": True}
    point_of = {p.town_id: p for p in points}
    progress(1, 4, "辅具适配个案")
    items = list(current.items.all())
    people = list(
        Person.objects.filter(
            status="active", town__code__in=list(TOWN_USERS), birth_date__lt=date(today.year - 1, 1, 1)
        )
        .select_related("town")
        .order_by("pk")[:400]
    )
    rng.shuffle(people)
    certs = {c.person_id: c for c in Certificate.objects.filter(person__in=people, is_current=True)}
    counts = {"applied": 0, "in_review": 0, "approved": 0, "fitted": 0, "rejected": 0}
    year_start = date(today.year, 1, 1)
    made = 0
    for person in people:
        if made >= 40:
            break
        cert, town_user = certs.get(person.pk), users.get(TOWN_USERS.get(person.town.code, ""))
        if cert is None or town_user is None or person.town_id not in point_of:
            continue
        choices = _eligible(items, cert)
        if not choices:
            continue
        item = rng.choice(choices)
        applied = year_start + timedelta(days=rng.randint(0, max(0, (today - year_start).days - 40)))
        with transaction.atomic():
            try:
                case = dv.device_apply(
                    acting_user=town_user,
                    person=person,
                    applied_on=applied,
                    device=item.code,
                    village_worker=rng.choice(VILLAGE_WORKERS),
                    source="demo",
                )
            except dv.ValidationFailed:
                continue
            made += 1
            stage = made % 8
            if stage == 0:
                counts["applied"] += 1
                continue
            case = case_move(
                acting_user=town_user, case=case, move="village_review", expected_state="applied"
            )
            if stage == 1:
                case = case_move(
                    acting_user=town_user,
                    case=case,
                    move="reject",
                    expected_state="village_reviewed",
                    close_reason="经核实家庭经济状况不符合补贴条件",
                )
                counts["rejected"] += 1
                continue
            case = case_move(
                acting_user=town_user, case=case, move="town_review", expected_state="village_reviewed"
            )
            if stage == 2:
                counts["in_review"] += 1
                continue
            case = case_move(
                acting_user=maker,
                case=case,
                move="assess",
                expected_state="town_reviewed",
                item_code=item.code,
                institution=point_of[person.town_id],
                note=rng.choice(("上门评估", "远程评估")),
            )
            case = case_move(acting_user=checker, case=case, move="approve", expected_state="assessed")
            if stage == 3:
                counts["approved"] += 1
                continue
            cap = item.cap
            price = (cap * Decimal(rng.choice(("0.85", "1.00", "1.15", "1.40")))).quantize(Decimal("0.01"))
            fitted_on = min(today, applied + timedelta(days=rng.randint(20, 40)))
            case_move(
                acting_user=maker,
                case=case,
                move="deliver",
                expected_state="approved",
                amount_price=price,
                fitted_on=fitted_on,
            )
            counts["fitted"] += 1
    progress(2, 4, "上年适配名单")
    imported = 0
    others = list(
        Person.objects.filter(status="active", birth_date__lt=date(today.year - 2, 1, 1))
        .exclude(town__code__in=list(TOWN_USERS))
        .order_by("pk")[:200]
    )
    rng.shuffle(others)
    old_certs = {c.person_id: c for c in Certificate.objects.filter(person__in=others, is_current=True)}
    old_version = dv.version_in_force(date(today.year - 1, 6, 30))
    old_items = list(old_version.items.all()) if old_version else []
    for person in others[:60]:
        cert = old_certs.get(person.pk)
        choices = _eligible(old_items, cert) if cert else []
        if not choices or imported >= 20:
            continue
        item = rng.choice(choices)
        fitted_on = date(today.year - 1, rng.randint(1, 12), rng.randint(1, 28))
        try:
            dv.fitting_import(
                acting_user=maker,
                person=person,
                item=item,
                fitted_on=fitted_on,
                price=(item.cap * Decimal("1.1")).quantize(Decimal("0.01")),
            )
        except dv.ValidationFailed:
            continue
        imported += 1
    progress(3, 4, "辅具借用")
    loans = overdue = 0
    lendable = [i for i in items if i.code in ("122203", "122218", "120603", "120606", "091203")]
    for i, person in enumerate(people[-12:]):
        point = point_of.get(person.town_id)
        if point is None:
            continue
        lent_on = today - timedelta(days=rng.randint(10, 150))
        loan = dv.loan_lend(
            acting_user=maker,
            institution=point,
            person=person,
            item=lendable[i % len(lendable)],
            asset_no=f"WZ-{point.pk:02d}-{i + 1:03d}",
            lent_on=lent_on,
        )
        loans += 1
        if i % 3 == 0 and loan.due_on <= today:
            dv.loan_return(
                acting_user=maker, loan=loan, returned_on=min(today, loan.due_on + timedelta(days=3))
            )
        elif loan.due_on < today:
            overdue += 1
    progress(4, 4, "完成")
    return {
        "items": current.items.count(),
        "points": len(points),
        "cases": made,
        **counts,
        "imported": imported,
        "loans": loans,
        "overdue": overdue,
    }


@transaction.atomic
def devices_demo_delete(*, acting_user=None) -> int:
    """Remove the devices records, catalogue and service points (demo reset only); one audit row."""
    acting_user = acting_user or system_user()
    cases = Case.objects.filter(programme=dv.CODE)
    count = cases.count()
    DeviceLoan.objects.all().delete()
    DeviceFitting.objects.all().delete()
    cases.delete()
    DeviceItem.objects.all().delete()
    DeviceCatalogVersion.objects.all().delete()
    from canlian.common.models import WorkflowHistory

    # history rows are append-only through the ORM manager; a demo reset removes them with raw SQL
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {WorkflowHistory._meta.db_table} WHERE workflow = %s", [f"case.{dv.CODE}"])
    insts = Institution.objects.filter(kind=dv.SERVICE_POINT, name__in=[n for n, _ in POINTS])
    get_user_model().objects.filter(institution__in=insts).update(institution=None)
    insts.delete()
    audit_record(
        acting_user=acting_user,
        action="demo.reset",
        object_type="casework.devices",
        changes={"cases": [count, 0]},
    )
    return count
