"""Demo data for the data comparison: sample outside lists built from the demo registry and enrolments,
imported through the same service as a real upload, then one comparison run, so that every kind of
finding (and a few candidates waiting for a person) appears.

Runs after the benefits demo. Deterministic for a seed (persons are chosen in primary-key order with one
``random.Random(seed)``). What the lists cannot show by themselves is set up first, the way it happens in
real life: a few legacy roll entries the old spreadsheets carried (a young adult still on child
rehabilitation, a 60-year-old in custodial care, someone whose certificate ran out) and one person
registered twice.
"""

from __future__ import annotations

import io
import random
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from canlian.accounts.services import system_user
from canlian.benefits.models import Enrolment, Programme
from canlian.benefits.services.payroll import add_months
from canlian.common.audit import audit_record
from canlian.common.jobs import Progress, noop_progress
from canlian.common.spreadsheet import write_xlsx
from canlian.registry.identity import check_char
from canlian.registry.models import Certificate, EconomicStatusPeriod, Person
from canlian.registry.services import id_index, person_create
from canlian.registry.validation import RegionLookup, validate_person_record

from .models import ListKind, OutsideList
from .services import outside_list_import, verification_run


def _xlsx(headers, rows) -> bytes:
    buf = io.BytesIO()
    write_xlsx(buf, headers, rows, text_columns=range(len(headers)))
    return buf.getvalue()


def _typo(id_number: str) -> str:
    """One digit of the sequence number off: the checksum fails, the birth date stays readable."""
    return id_number[:15] + str((int(id_number[15]) + 3) % 10) + id_number[16:]


def _legacy_15(id_number: str) -> str | None:
    """The 15-digit form of an 18-digit ID born in the 1900s (what old systems still hold)."""
    if id_number[6:8] != "19":
        return None
    return id_number[:6] + id_number[8:17]


def _spaced_full_width(id_number: str) -> str:
    full = id_number.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789X"})
    return f"{full[:6]} {full[6:14]} {full[14:]}".replace("Ｘ", "x")


def _day_in(month: date, rng: random.Random) -> date:
    return month + timedelta(days=rng.randint(0, 26))


def _pick(rng: random.Random, items: list, n: int, taken: set) -> list:
    pool = [i for i in items if i not in taken]
    rng.shuffle(pool)
    chosen = pool[:n]
    taken.update(chosen)
    return chosen


def verification_demo(
    seed: int = 2023, *, today: date | None = None, progress: Progress = noop_progress
) -> dict:
    if OutsideList.objects.exists():
        return {"skipped": True}
    today = today or timezone.localdate()
    this_month = today.replace(day=1)
    rng = random.Random(seed)
    users = {u.username: u for u in get_user_model().objects.filter(username__startswith="demo_")}
    staff = users.get("demo_district") or system_user()
    programmes = {p.code: p for p in Programme.objects.all()}
    steps = 10
    progress(0, steps, "准备比对演示数据")

    open_ = Enrolment.objects.filter(status="active", person__status="active").order_by("pk")
    living = list(open_.filter(programme__code="living_allowance").values_list("person_id", flat=True))
    care = list(open_.filter(programme__code="care_allowance").values_list("person_id", flat=True))
    both = sorted(set(living) & set(care))
    taken: set[int] = set()
    persons = {p.pk: p for p in Person.objects.filter(pk__in=set(living) | set(care))}

    def ids(pks):
        return [persons[pk] for pk in pks]

    # ---- what only the registry shows: legacy roll entries and a person registered twice ----------------
    with transaction.atomic():
        legacy_start = add_months(this_month, -24)
        child = (
            Person.objects.filter(
                status="active",
                birth_date__lte=date(this_month.year - 18, this_month.month, 1) - timedelta(days=40),
                birth_date__gt=date(this_month.year - 19, this_month.month, 1),
            )
            .order_by("pk")
            .first()
        )
        if child:
            Enrolment.objects.get_or_create(
                person=child,
                programme=programmes["child_rehab"],
                status="active",
                defaults={"start_month": legacy_start},
            )
        elder = (
            Person.objects.filter(
                status="active",
                birth_date__lte=date(this_month.year - 60, this_month.month, 1) - timedelta(days=40),
                birth_date__gt=date(this_month.year - 62, this_month.month, 1),
            )
            .order_by("pk")
            .first()
        )
        if elder:
            Enrolment.objects.get_or_create(
                person=elder,
                programme=programmes["custodial_care"],
                status="active",
                defaults={"start_month": legacy_start},
            )
        expired_cert = (
            Certificate.objects.filter(
                is_current=True,
                status="valid",
                person__status="active",
                valid_until__lt=this_month - timedelta(days=31),
                valid_until__gte=add_months(this_month, -14),
                grade__lte=2,
            )
            .exclude(person__enrolments__programme__code="care_allowance")
            .order_by("pk")
            .first()
        )
        if expired_cert:
            Enrolment.objects.create(
                person=expired_cert.person,
                programme=programmes["care_allowance"],
                start_month=add_months(expired_cert.valid_until.replace(day=1), -6),
                bank_name="吴中农商行",
                bank_account="6222" + "".join(str(rng.randint(0, 9)) for _ in range(15)),
            )
        audit_record(
            acting_user=system_user(),
            action="demo.verification_legacy",
            object_type="benefits",
            changes={
                "child_rehab": [None, child.pk if child else None],
                "custodial_care": [None, elder.pk if elder else None],
                "care_expired_certificate": [None, expired_cert.person_id if expired_cert else None],
            },
        )
    progress(1, steps, "重复建档")
    original = Person.objects.filter(status="active", town__code="320506100").order_by("pk").first()
    if original:
        seq = int(original.id_number[14:17])
        for step in range(1, 50):
            first17 = original.id_number[:14] + f"{(seq + 2 * step) % 1000:03d}"
            duplicate_id = first17 + check_char(first17)
            if not Person.objects.filter(id_number_index=id_index(duplicate_id)).exists():
                break
        cert = original.current_certificate
        record, errors = validate_person_record(
            {
                "name": original.name,
                "id_number": duplicate_id,
                "certificate_number": f"{duplicate_id}{cert.category if cert else 4}{cert.grade if cert else 3}",
                "issue_date": add_months(this_month, -2),
                "town": original.town.name,
                "household_type": original.get_household_type_display(),
            },
            regions=RegionLookup.load(),
            today=today,
        )
        if not errors:
            person_create(acting_user=users.get("demo_luzhi") or staff, record=record)

    # ---- the outside lists ---------------------------------------------------------------------------
    received = today - timedelta(days=2)
    death_month = add_months(this_month, -3)
    lists: dict[str, dict] = {}

    def load(kind: str, source: str, headers: list[str], rows: list[list], *, complete: bool = False) -> None:
        if not rows:
            return
        result = outside_list_import(
            acting_user=staff,
            source=_xlsx(headers, rows),
            kind=kind,
            filename=f"{ListKind(kind).label}{received:%Y%m%d}.xlsx",
            source_name=source,
            received_on=received,
            complete=complete,
        )
        lists[kind] = result.counts

    progress(2, steps, "死亡/火化名单")
    dead = ids(_pick(rng, both, 4, taken)) + ids(_pick(rng, living, 2, taken))
    rows = []
    for i, p in enumerate(dead):
        shown = p.id_number
        if i == 1 and _legacy_15(p.id_number):
            shown = _legacy_15(p.id_number)  # a 15-digit ID: still an exact match
        elif i == 2:
            shown = _spaced_full_width(p.id_number)  # full width, spaces, lower-case x
        elif i == 3:
            shown = _typo(p.id_number)  # one digit off: a candidate for a person to confirm
        rows.append([p.name, shown, _day_in(death_month, rng), "吴中区殡仪馆"])
    rows.append(["无名氏", "32050619990101000", _day_in(death_month, rng), "非本区户籍"])
    load("deaths", "吴中区殡仪馆", ["姓名", "身份证号", "死亡日期", "火化地点"], rows)

    progress(3, steps, "低保名单")
    dibao_people = list(
        EconomicStatusPeriod.objects.filter(status="dibao", valid_to__isnull=True, person_id__in=living)
        .order_by("person_id")
        .values_list("person_id", flat=True)
    )
    leaving = ids(_pick(rng, dibao_people, 3, taken))
    staying = [persons[pk] for pk in dibao_people if pk not in taken][:40]
    end = add_months(this_month, -2) - timedelta(days=1)
    rows = [[p.name, p.id_number, date(2020, 1, 1), ""] for p in staying]
    rows += [[p.name, p.id_number, date(2020, 1, 1), end] for p in leaving]
    load("dibao", "区民政局社会救助科", ["姓名", "身份证号", "起始日期", "终止日期"], rows)

    progress(4, steps, "特困供养名单")
    tekun = ids(_pick(rng, both, 2, taken))
    load(
        "tekun",
        "区民政局社会救助科",
        ["姓名", "身份证号", "纳入日期"],
        [[p.name, p.id_number, add_months(this_month, -1)] for p in tekun],
    )
    progress(5, steps, "工伤保险生活护理费名单")
    injury = ids(_pick(rng, care, 2, taken))
    load(
        "injury_care",
        "区人社局工伤保险科",
        ["姓名", "身份证号", "起始日期"],
        [[p.name, p.id_number, add_months(this_month, -2)] for p in injury],
    )
    progress(6, steps, "老年护理补贴名单")
    elderly = ids(_pick(rng, care, 3, taken))
    load(
        "elderly_care",
        "区民政局养老服务科",
        ["姓名", "身份证号", "起始日期", "月补贴金额"],
        [
            [p.name, p.id_number, add_months(this_month, -1), "300.00" if i < 2 else "50.00"]
            for i, p in enumerate(elderly)
        ],
    )
    progress(7, steps, "户籍迁出名单")
    moved = ids(_pick(rng, living, 2, taken))
    load(
        "moved_out",
        "吴中公安分局户政科",
        ["姓名", "身份证号", "迁出日期", "迁往地"],
        [[p.name, p.id_number, _day_in(add_months(this_month, -2), rng), "苏州市姑苏区"] for p in moved],
    )
    progress(8, steps, "残疾人证注销名单")
    cancelled = ids(_pick(rng, care, 2, taken))
    load(
        "cert_cancelled",
        "省残联残疾人证管理系统",
        ["姓名", "身份证号", "注销日期", "注销原因"],
        [
            [p.name, p.id_number, _day_in(add_months(this_month, -1), rng), "复评不符合残疾标准"]
            for p in cancelled
        ],
    )
    progress(9, steps, "比对")
    run = verification_run(acting_user=staff, month=this_month)
    progress(steps, steps, "完成")
    return {
        "lists": lists,
        "run": run.pk,
        "findings": run.stats["findings"],
        "candidates": run.stats["candidates"],
    }


@transaction.atomic
def verification_demo_delete(*, acting_user) -> int:
    """Remove every comparison record (demo reset only); one audit row records the count."""
    from .models import Finding, Match, OutsideRow, OutsideSource, VerificationRun

    count = Finding.objects.count()
    Finding.objects.all().delete()
    Match.objects.all().delete()
    VerificationRun.objects.all().delete()
    OutsideRow.objects.all().delete()
    OutsideList.objects.all().delete()
    OutsideSource.objects.all().delete()
    # their moves go with them (history rows are append-only through the ORM: raw SQL, as the case demo does)
    from django.db import connection

    from canlian.common.models import WorkflowHistory

    from .workflow import FINDING_WORKFLOW, MATCH_WORKFLOW

    with connection.cursor() as cur:
        cur.execute(
            f"DELETE FROM {WorkflowHistory._meta.db_table} WHERE workflow IN (%s, %s)",
            [FINDING_WORKFLOW.code, MATCH_WORKFLOW.code],
        )
    audit_record(
        acting_user=acting_user,
        action="demo.reset",
        object_type="verification",
        changes={"findings": [count, 0]},
    )
    return count
