"""Demo data for benefits: legacy rolls, applications in every state, twelve months of payroll.

Runs after the registry demo. Months are simulated in order: each month new applications are enrolled,
then that month's payrolls are generated, reviewed, approved, exported and (but for the last two) closed
with the bank's results, so back pay, a retroactive standard change (补发) and re-issued failures all
appear the way they would in real use.

Writes: the legacy rolls in one transaction (on SQLite in slices, ``common.bulk.sliced_writes``), then
every application, change and payroll through its own service (payroll generation is sliced on SQLite too).
A load stopped midway leaves what it wrote; a second ``canlian demo`` then skips the benefits (it finds
enrolments) and ``canlian demo --reset`` clears them and loads again.
"""

from __future__ import annotations

import io
import random
from datetime import date, datetime, time, timedelta

import polars as pl
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from canlian.accounts.services import system_user
from canlian.common.audit import audit_record
from canlian.common.bulk import commit_slices, long_write
from canlian.common.jobs import Progress, noop_progress
from canlian.common.models import WorkflowHistory
from canlian.common.workflow import history_of
from canlian.registry.models import Person, Region

from .exporters import payroll_bank_file
from .models import Application, Enrolment, ParameterValue, Payroll, Programme
from .selectors import population_eligibility
from .services.applications import application_create, application_transition
from .services.enrolments import enrolment_change
from .services.payroll import add_months, payroll_generate, payroll_transition, results_apply

S = Application.Status
CASH = ("living_allowance", "care_allowance")
BANKS = ("吴中农商行", "工商银行", "农业银行", "建设银行", "邮储银行")
FAIL_REASONS = ("账户已冻结", "户名与账号不符", "账户已销户")
# (final state, how many per town) for the applications that are still under way at the end
OPEN_STATES = (
    (S.DRAFT, 2),
    (S.SUBMITTED, 3),
    (S.TOWN_REVIEWED, 2),
    (S.POSTED, 3),
    (S.DISTRICT_REVIEWED, 2),
    (S.APPROVED, 2),
    (S.REJECTED, 2),
    (S.WITHDRAWN, 1),
)
APPLICATION_TOWNS = {"320506100": ("demo_luzhi", "demo_luzhi2"), "320506103": ("demo_mudu", "demo_mudu2")}


def _account(rng: random.Random) -> str:
    return "6222" + "".join(str(rng.randint(0, 9)) for _ in range(15))


def _users() -> dict[str, object]:
    User = get_user_model()
    return {u.username: u for u in User.objects.filter(username__startswith="demo_")}


def _stamp(app: Application, day: date) -> None:
    """Give the transition history dates inside the demo window (the audit log keeps the real time)."""
    moment = timezone.make_aware(datetime.combine(day, time(10, 0)))
    # the history is append-only through the ORM; the demo back-dates its own rows with plain SQL
    table = WorkflowHistory._meta.db_table
    with connection.cursor() as cursor:
        for i, h in enumerate(history_of(app).order_by("id")):
            cursor.execute(
                f"UPDATE {table} SET at = %s WHERE id = %s", [moment + timedelta(days=2 * i), h.pk]
            )


def _walk(app: Application, target: str, *, users: dict, maker, checker, applied: date) -> Application:
    """Move an application along the table to ``target`` with realistic dates."""
    district, district2 = users["demo_district"], users["demo_district2"]
    steps = {
        S.SUBMITTED: (maker, {}),
        S.TOWN_REVIEWED: (checker, {}),
        S.POSTED: (checker, {"today": applied + timedelta(days=3)}),
        S.DISTRICT_REVIEWED: (district, {"today": applied + timedelta(days=11)}),
        S.APPROVED: (
            district2,
            {
                "decision_date": applied + timedelta(days=18),
                "today": applied + timedelta(days=18),
                "decision_doc_no": f"吴民救〔{applied.year}〕{app.pk}号",
            },
        ),
        S.ENROLLED: (district, {}),
    }
    path = [S.SUBMITTED, S.TOWN_REVIEWED, S.POSTED, S.DISTRICT_REVIEWED, S.APPROVED, S.ENROLLED]
    if target == S.DRAFT:
        return app
    if target == S.WITHDRAWN:
        return application_transition(acting_user=maker, application=app, to_status=S.WITHDRAWN)
    if target == S.REJECTED:
        app = application_transition(acting_user=maker, application=app, to_status=S.SUBMITTED)
        return application_transition(
            acting_user=checker,
            application=app,
            to_status=S.REJECTED,
            reject_reason="经入户核实，家庭收入超过低保标准",
        )
    for status in path:
        actor, extra = steps[status]
        app = application_transition(acting_user=actor, application=app, to_status=status, **extra)
        if status == target:
            break
    return app


ROLL_SLICE = 2000  # legacy roll enrolments per transaction when writes are sliced


def benefits_demo(*, seed: int = 2023, today: date | None = None, progress: Progress = noop_progress) -> dict:
    today = today or timezone.localdate()
    if Payroll.objects.exists() or Application.objects.exists() or Enrolment.objects.exists():
        return {"skipped": True}  # loaded before (or stopped midway): ``canlian demo --reset``
    users = _users()
    missing = [u for pair in APPLICATION_TOWNS.values() for u in pair] + ["demo_district", "demo_district2"]
    missing = [u for u in missing if u not in users]
    if missing:
        return {"skipped": True, "missing_users": missing}
    rng = random.Random(seed)
    programmes = {p.code: p for p in Programme.objects.filter(code__in=CASH)}
    end = today.replace(day=1)
    start = add_months(end, -11)
    months = [add_months(start, i) for i in range(12)]
    steps = len(months) + 3
    progress(0, steps, "历史在册名单")

    # 1. legacy rolls (migrated from the Excel workbooks): most of those eligible when the system went live
    eligible = population_eligibility(start)
    enrolled_persons: dict[str, set[int]] = {}
    #    (one transaction, or on SQLite ``ROLL_SLICE`` enrolments per transaction: ``common.bulk``)
    with long_write():
        for code in CASH:
            ids = eligible.filter(pl.col(f"{code}_eligible"))["person_id"].to_list()
            # the two towns with demo clerks keep more people off the legacy roll, to apply for it now
            in_app_towns = set(
                Person.objects.filter(pk__in=ids, town__code__in=APPLICATION_TOWNS).values_list(
                    "pk", flat=True
                )
            )
            chosen = [pid for pid in ids if rng.random() < (0.6 if pid in in_app_towns else 0.9)]
            enrolled_persons[code] = set(chosen)
            roll = [
                Enrolment(
                    person_id=pid,
                    programme=programmes[code],
                    start_month=start,
                    bank_name=rng.choice(BANKS),
                    bank_account=_account(rng),
                )
                for pid in chosen
            ]
            commit_slices(roll, ROLL_SLICE, lambda part: Enrolment.objects.bulk_create(part, batch_size=2000))
    progress(1, steps, "待遇申请")

    # 2. applications for people eligible today but not on the rolls, in the two towns with demo clerks
    towns = {r.code: r for r in Region.objects.filter(code__in=APPLICATION_TOWNS)}
    now_eligible = population_eligibility(end)
    candidates: dict[str, list[int]] = {}
    for code in CASH:
        ids = now_eligible.filter(pl.col(f"{code}_eligible"))["person_id"].to_list()
        candidates[code] = [pid for pid in ids if pid not in enrolled_persons[code]]
    by_town: dict[tuple[str, str], list[Person]] = {}
    for code in CASH:
        for person in (
            Person.objects.filter(pk__in=candidates[code], town__in=towns.values())
            .select_related("town")
            .order_by("pk")
        ):
            by_town.setdefault((code, person.town.code), []).append(person)
    plan: list[tuple[str, str, Person, str, date]] = []  # programme, town, person, target, applied_on
    for (code, town_code), people in sorted(by_town.items()):
        rng.shuffle(people)
        queue = iter(people)
        # round-robin over the states, so that even a small demo has one application in each
        wanted = dict(OPEN_STATES) | {S.ENROLLED: 12}
        while any(wanted.values()):
            for target in list(wanted):
                if not wanted[target]:
                    continue
                person = next(queue, None)
                if person is None:
                    wanted = dict.fromkeys(wanted, 0)
                    break
                wanted[target] -= 1
                if target == S.ENROLLED:  # enrolled during the window: back pay in its first payroll
                    applied = add_months(start, rng.randint(1, 9)) + timedelta(days=rng.randint(0, 20))
                elif target == S.POSTED:  # still being posted: started two or three days ago
                    applied = today - timedelta(days=rng.randint(5, 6))
                else:
                    applied = min(end - timedelta(days=rng.randint(10, 40)), today)
                plan.append((code, town_code, person, target, applied))
    enrol_by_month: dict[date, list[tuple]] = {}
    for item in plan:
        code, town_code, person, target, applied = item
        if target == S.ENROLLED:
            enrol_by_month.setdefault(add_months(applied.replace(day=1), 1), []).append(item)

    def file(item) -> Application:
        code, town_code, person, target, applied = item
        maker, checker = (users[u] for u in APPLICATION_TOWNS[town_code])
        app = application_create(
            acting_user=maker,
            person=person,
            programme=programmes[code],
            applied_on=applied,
            note="本人申请，材料齐全",
            bank_name=rng.choice(BANKS),
            bank_account=_account(rng),
        )
        app = _walk(app, target, users=users, maker=maker, checker=checker, applied=applied)
        _stamp(app, applied)
        return app

    # 3. a standard change inside the window: 低保 standard raised from month 7 (announced in time), care
    #    allowance raised from month 4 but decided only after month 5 was paid (arrears in month 6)
    admin = users.get("demo_admin") or system_user()
    raise_dibao = months[6]
    raise_care, care_decided = months[3], months[5]
    for i, month in enumerate(months):
        if month == raise_dibao:
            for name, value in (("common.dibao_standard", "1260.00"),):
                ParameterValue.objects.get_or_create(
                    name=name,
                    valid_from=month,
                    defaults={
                        "value": value,
                        "reference": "演示：苏州市城乡低保标准年度调整（示例值，非真实标准）",
                        "created_by": admin,
                    },
                )
        if month == add_months(care_decided, 1):
            for name, value in (("care_allowance.amount", "170.00"),):
                ParameterValue.objects.get_or_create(
                    name=name,
                    valid_from=raise_care,
                    defaults={
                        "value": value,
                        "reference": "演示：区护理补贴提标，追溯执行（示例值，非真实标准）",
                        "created_by": admin,
                    },
                )
        for item in enrol_by_month.get(month, []):
            file(item)
        if i == 8:  # a finding confirmed: suspend one legacy enrolment, stop another
            legacy = list(
                Enrolment.objects.filter(application__isnull=True, status="active").order_by("pk")[:2]
            )
            if len(legacy) == 2:
                enrolment_change(
                    acting_user=users["demo_district"],
                    enrolment=legacy[0],
                    kind="suspend",
                    effective_month=month,
                    reason="数据比对：疑似户籍迁出，核实期间暂停",
                )
                enrolment_change(
                    acting_user=users["demo_district"],
                    enrolment=legacy[1],
                    kind="stop",
                    effective_month=month,
                    reason="数据比对：已进入特困供养",
                )
        for code in CASH:
            payroll = payroll_generate(
                acting_user=users["demo_district"], programme=programmes[code], month=month
            )
            if i == len(months) - 1:
                continue  # this month's payroll stays a draft
            payroll = payroll_transition(
                acting_user=users["demo_district"], payroll=payroll, to_status="reviewed"
            )
            payroll = payroll_transition(
                acting_user=users["demo_district2"], payroll=payroll, to_status="approved"
            )
            payroll_bank_file(
                acting_user=users["demo_district"], payroll=payroll, out=io.BytesIO(), unmasked=True
            )
            if i == len(months) - 2:
                continue  # last month's bank results are not back yet
            lines = list(payroll.lines.values_list("pk", flat=True))
            results = [
                {"row": n + 2, "line_id": pk, "paid": rng.random() > 0.01, "reason": rng.choice(FAIL_REASONS)}
                for n, pk in enumerate(lines)
            ]
            if results:
                results_apply(acting_user=users["demo_district"], payroll=payroll, results=results)
        progress(i + 2, steps, f"发放 {month:%Y-%m}")

    for item in plan:
        if item[3] != S.ENROLLED:
            file(item)
    summary = {
        "enrolments": Enrolment.objects.count(),
        "applications": Application.objects.count(),
        "payrolls": Payroll.objects.count(),
    }
    audit_record(
        acting_user=system_user(),
        action="demo.benefits",
        object_type="benefits",
        changes={k: [None, v] for k, v in summary.items()},
    )
    progress(steps, steps, "完成")
    return summary


@transaction.atomic
def benefits_demo_delete(*, acting_user) -> int:
    """Remove applications, enrolments, payrolls and added parameter values (demo reset only); audited once."""
    from .models import ApplicationAttachment, EnrolmentChange, PayrollLine

    count = Payroll.objects.count()
    PayrollLine.objects.filter(reissue_of__isnull=False).delete()
    PayrollLine.objects.all().delete()
    Payroll.objects.all().delete()
    EnrolmentChange.objects.all().delete()
    Enrolment.objects.all().delete()
    ApplicationAttachment.objects.all().delete()
    with connection.cursor() as cursor:  # append-only through the ORM: the demo reset removes its own rows
        cursor.execute(
            f"DELETE FROM {WorkflowHistory._meta.db_table} WHERE workflow IN (%s, %s, %s)",
            ["application", "enrolment", "payroll"],
        )
    Application.objects.all().delete()
    ParameterValue.objects.filter(reference__startswith="演示").delete()
    audit_record(
        acting_user=acting_user, action="demo.reset", object_type="benefits", changes={"payrolls": [count, 0]}
    )
    return count
