"""Deterministic demo data: a synthetic Wuzhong population, villages and communities, one user per role.

``canlian demo [--persons N] [--seed S] [--reset]``. The same seed gives the same persons (ID numbers,
names, certificates, periods) within a calendar year: every date is drawn relative to 1 January of the
current year, so nothing lies in the future and nothing depends on the day of the run.

Persons are written set-based: plain records are generated in Python (``population.py``, one
``random.Random(seed)``) and inserted in batches of 5,000 by ``writer.RowWriter`` (``COPY`` on PostgreSQL, one ``executemany`` on SQLite): no
query per row. Encrypted columns are encrypted by the model field itself; blind indexes come from
``services.id_index`` / ``certificate_index``; pinyin from ``services.name_pinyin`` (cached per word). The
whole load is one transaction with one audit row (``demo.load``) attributed to the system user; on SQLite
(``common.bulk.sliced_writes``) each batch commits on its own with its own audit row, so that the web keeps
answering. ``--reset`` finds earlier demo persons through the id ranges those audit rows record. 1,000,000 persons take about 100 s
on PostgreSQL on a 2-core machine (docs/benchmarks.md, person search).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone

from canlian.accounts.models import Role, User
from canlian.common.audit import audit_record
from canlian.common.bulk import long_write, sliced_writes, write_slice
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.common.jobs import Progress, noop_progress
from canlian.common.models import AuditLog

from .. import services
from ..models import Certificate, EconomicStatusPeriod, EmploymentPeriod, Person, PersonCircumstance, Region
from ..validation import community_key
from .population import (
    TOWN_COMMUNITIES,
    DemoPerson,
    PopulationGenerator,
    generate_population,
    reference_date,
)
from .writer import BATCH_SIZE, RowWriter

__all__ = [
    "DEMO_USERS",
    "PopulationGenerator",
    "demo_cli",
    "demo_load",
    "demo_persons_delete",
    "demo_users_ensure",
    "generate_population",
    "print_demo_logins",
    "reference_date",
]

DEMO_ACTION = "demo.load"
RESET_ACTION = "demo.reset"

# ---- demo users ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    town_code: str | None
    full_name: str
    password: str


# Fixed passwords, printed on purpose: demo only. Each passes the validators (>= 10 chars, 3 classes).
DEMO_USERS: tuple[DemoLogin, ...] = (
    DemoLogin("demo_admin", Role.DISTRICT_ADMIN, None, "演示-区残联管理员", "Taihu#Lake2023"),
    DemoLogin("demo_district", Role.DISTRICT_STAFF, None, "演示-区残联业务科室", "Lingyan#Hill2023"),
    DemoLogin("demo_luzhi", Role.TOWN_STAFF, "320506100", "演示-甪直镇专职委员", "Baosheng#Temple23"),
    DemoLogin("demo_mudu", Role.TOWN_STAFF, "320506103", "演示-木渎镇专职委员", "Yanjia#Garden23"),
    # second clerks: maker and checker of an application are different people
    DemoLogin("demo_luzhi2", Role.TOWN_STAFF, "320506100", "演示-甪直镇复核员", "Wansheng#Bridge23"),
    DemoLogin("demo_mudu2", Role.TOWN_STAFF, "320506103", "演示-木渎镇复核员", "Lingyan#Temple23"),
    DemoLogin("demo_district2", Role.DISTRICT_STAFF, None, "演示-区残联审批人", "Shihu#Bridge2023"),
    DemoLogin("demo_institution", Role.INSTITUTION_STAFF, None, "演示-定点机构", "Dongshan#Loquat23"),
    DemoLogin("demo_leader", Role.LEADER, None, "演示-领导", "Xishan#Orange2023"),
    DemoLogin("demo_auditor", Role.AUDITOR, None, "演示-审计员", "Guangfu#Plum2023"),
    DemoLogin("demo_counsellor", Role.COUNSELLOR, None, "演示-心理咨询师", "Tianping#Maple23"),
)
DEMO_USERNAMES = frozenset(d.username for d in DEMO_USERS)


def demo_login_refusal(user) -> str | None:
    """Demo accounts (printed passwords) never sign in where demo data is not allowed (production)."""
    from django.conf import settings

    if not settings.CANLIAN_DEMO_ALLOWED and user.username in DEMO_USERNAMES:
        return "演示账号不能在正式环境中登录，请使用管理员为您建立的账号。"
    return None


def demo_accounts_check(app_configs=None, **kwargs):
    """``check --deploy``: an error while any demo account is active (its password is printed in the docs and
    on every first start)."""
    from django.core.checks import Error
    from django.db.utils import DatabaseError

    try:
        active = sorted(
            User.objects.filter(username__in=DEMO_USERNAMES, is_active=True).values_list(
                "username", flat=True
            )
        )
    except DatabaseError:
        return []  # no tables yet: nothing to check
    if not active:
        return []
    return [
        Error(
            f"演示账号仍处于启用状态：{'、'.join(active)}。演示账号的密码是公开的，正式使用前必须停用或删除。"
            " / demo accounts are active",
            hint='在“用户管理”中停用，或执行：manage.py shell -c "from canlian.accounts.models import User; '
            "User.objects.filter(username__startswith='demo_').update(is_active=False)\"",
            id="canlian.E001",
        )
    ]


# ---- services -------------------------------------------------------------------------------------------


def communities_ensure(*, acting_user) -> dict[str, dict[str, int]]:
    """The region id of each demo village/community (short form → its official unit, loaded from the division
    codes); one is created only where the county's list lacks it. Returns town code → {demo name: id}."""
    towns = {t.code: t for t in Region.objects.filter(level=Region.Level.TOWN)}
    code_of = {t.pk: code for code, t in towns.items()}
    by_key: dict[str, dict[str, int]] = {code: {} for code in towns}
    for region in Region.objects.filter(level=Region.Level.COMMUNITY, parent__in=towns.values()):
        by_key[code_of[region.parent_id]].setdefault(community_key(region.name), region.pk)
    existing: dict[str, dict[str, int]] = {code: {} for code in towns}
    for code, names in TOWN_COMMUNITIES.items():
        town = towns.get(code)
        if town is None:
            continue
        for name in names:
            pk = by_key[code].get(community_key(name))
            if pk is None:
                kind = Region.Kind.VILLAGE if name.endswith("村") else Region.Kind.COMMUNITY
                pk = services.community_create(acting_user=acting_user, town=town, name=name, kind=kind).pk
            existing[code][name] = pk
    return existing


def demo_users_ensure(*, acting_user) -> list[User]:
    """Create the demo users that do not exist yet (one per role); returns the ones created."""
    from canlian.accounts.services import user_create

    created = []
    names = [u.username for u in DEMO_USERS]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    towns = {t.code: t for t in Region.objects.filter(level=Region.Level.TOWN)}
    for login in DEMO_USERS:
        if login.username in existing:
            continue
        town = towns.get(login.town_code) if login.town_code else None
        if login.town_code and town is None:
            continue
        created.append(
            user_create(
                acting_user=acting_user,
                username=login.username,
                role=login.role,
                password=login.password,
                town=town,
                full_name=login.full_name,
                check_permission=False,
                institution_assigned_later=login.role == Role.INSTITUTION_STAFF,
            )
        )
    return created


def demo_persons(*, system) -> Q | None:
    """Condition matching the persons earlier demo loads wrote (their id ranges, created by ``system``)."""
    cond = Q()
    for changes in AuditLog.objects.filter(action=DEMO_ACTION, result=AuditLog.Result.SUCCESS).values_list(
        "changes", flat=True
    ):
        first, last = changes.get("first_id"), changes.get("last_id")
        if first is not None and last is not None:
            cond |= Q(pk__gte=first, pk__lte=last)
    if not cond:
        return None
    return cond & Q(created_by=system)


@dataclass
class DemoResult:
    persons: int = 0
    certificates: int = 0
    economic_periods: int = 0
    circumstances: int = 0
    seconds: float = 0.0
    first_id: int | None = None
    last_id: int | None = None
    counts: dict = field(default_factory=dict)

    def tallies(self) -> dict[str, int]:
        """What was written (or removed), as the demo's audit rows record it."""
        return {
            "persons": self.persons,
            "certificates": self.certificates,
            "economic_periods": self.economic_periods,
            "circumstances": self.circumstances,
        }


@transaction.atomic
def demo_persons_delete(*, acting_user, chunk: int = BATCH_SIZE) -> DemoResult:
    """Remove the persons of earlier demo loads with their certificates and economic periods.

    Audit rows stay (they are append-only); one ``demo.reset`` row records the counts."""
    result = DemoResult()
    cond = demo_persons(system=acting_user)
    if cond is None:
        return result
    ids = list(Person.objects.filter(cond).order_by("pk").values_list("pk", flat=True))
    try:
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            result.certificates += Certificate.objects.filter(person_id__in=part).delete()[0]
            result.economic_periods += EconomicStatusPeriod.objects.filter(person_id__in=part).delete()[0]
            result.circumstances += PersonCircumstance.objects.filter(person_id__in=part).delete()[0]
            EmploymentPeriod.objects.filter(person_id__in=part).delete()
            result.persons += (
                Person.objects.filter(pk__in=part).only("pk").delete()[1].get(Person._meta.label, 0)
            )
    except ProtectedError as exc:
        raise DomainError(
            "演示人员已被其他业务数据（如申请、发放记录）引用，无法清除；请先清除这些数据"
        ) from exc
    if ids:
        audit_record(
            acting_user=acting_user,
            action=RESET_ACTION,
            object_type="registry.person",
            object_repr=f"清除演示数据 {result.persons} 人",
            changes=result.tallies(),
        )
    return result


PERSON_COLUMNS = (
    "name",
    "name_pinyin",
    "name_initials",
    "id_number",
    "id_number_index",
    "sex",
    "birth_date",
    "phone",
    "town_id",
    "community_id",
    "address",
    "household_type",
    "status",
    "death_date",
    "employment_status",
    "guardian_name",
    "guardian_relation",
    "guardian_phone",
    "created_by_id",
    "created_at",
    "updated_at",
)
CERTIFICATE_COLUMNS = (
    "person_id",
    "number",
    "number_index",
    "category",
    "grade",
    "components",
    "issue_date",
    "valid_until",
    "status",
    "status_changed_on",
    "status_reason",
    "reissue_count",
    "is_current",
    "created_at",
)
PERIOD_COLUMNS = ("person_id", "status", "valid_from", "valid_to", "source", "created_at")
CIRCUMSTANCE_COLUMNS = (
    "person_id",
    "kind",
    "amount",
    "valid_from",
    "valid_to",
    "source",
    "created_by_id",
    "created_at",
)


def _person_row(p: DemoPerson, *, towns, communities, pinyin_cache, acting_user_id, now) -> tuple:
    cached = pinyin_cache.get(p.name)
    if cached is None:
        cached = pinyin_cache[p.name] = services.name_pinyin(p.name)
    return (
        p.name,
        cached[0],
        cached[1],
        p.id_number,
        services.id_index(p.id_number),
        p.sex,
        p.birth_date,
        p.phone,
        towns[p.town_code],
        communities[p.town_code].get(p.community_name) if p.community_name else None,
        p.address,
        p.household_type,
        p.status,
        p.death_date,
        p.employment_status,
        p.guardian_name,
        p.guardian_relation,
        p.guardian_phone,
        acting_user_id,
        now,
        now,
    )


def demo_load(
    *,
    persons: int,
    seed: int,
    acting_user,
    today: date | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress = noop_progress,
) -> DemoResult:
    """Generate ``persons`` demo persons and write them set-based, in one transaction with one audit row.

    When writes are sliced (SQLite, ``common.bulk.sliced_writes``) each batch of ``batch_size`` persons (with
    their certificates, periods and circumstances) commits on its own with its own ``demo.load`` audit row
    (its id range), so the web keeps answering during a large load. The persons are the same. A load stopped
    midway keeps the batches committed, each found by its audit row: ``canlian demo --reset`` removes them
    and loads again."""
    if persons < 0:
        raise ValidationFailed({"persons": "人数不能为负数"})
    with long_write():
        return _demo_load(
            persons=persons,
            seed=seed,
            acting_user=acting_user,
            today=today,
            batch_size=batch_size,
            progress=progress,
            sliced=sliced_writes(),
        )


def _demo_audit(*, acting_user, seed: int, result: DemoResult, counts: dict, first_id, last_id) -> None:
    audit_record(
        acting_user=acting_user,
        action=DEMO_ACTION,
        object_type="registry.person",
        object_repr=f"演示数据 {result.persons} 人（种子 {seed}）",
        changes={
            **result.tallies(),
            "seed": seed,
            "first_id": first_id,
            "last_id": last_id,
            **counts,
        },
    )


def _demo_load(*, persons, seed, acting_user, today, batch_size, progress, sliced: bool) -> DemoResult:
    started = time.perf_counter()
    with write_slice():
        communities = communities_ensure(acting_user=acting_user)
    towns = dict(Region.objects.filter(level=Region.Level.TOWN).values_list("code", "pk"))
    gen = PopulationGenerator(seed=seed, ref=reference_date(today), town_codes=list(towns))
    person_writer = RowWriter(Person, PERSON_COLUMNS)
    cert_writer = RowWriter(Certificate, CERTIFICATE_COLUMNS)
    period_writer = RowWriter(EconomicStatusPeriod, PERIOD_COLUMNS)
    circumstance_writer = RowWriter(PersonCircumstance, CIRCUMSTANCE_COLUMNS)
    result = DemoResult()
    pinyin_cache: dict[str, tuple[str, str]] = {}
    counts = {"deceased": 0, "moved_out": 0, "certificates_cancelled": 0, "certificates_frozen": 0}
    now = timezone.now()
    done = 0
    progress(0, persons, "生成演示数据")
    while done < persons:
        size = min(batch_size, persons - done)
        batch = [gen.person() for _ in range(size)]
        rows = [
            _person_row(
                p,
                towns=towns,
                communities=communities,
                pinyin_cache=pinyin_cache,
                acting_user_id=acting_user.pk,
                now=now,
            )
            for p in batch
        ]
        with write_slice():
            part = _demo_batch_write(
                batch,
                rows,
                writers=(person_writer, cert_writer, period_writer, circumstance_writer),
                acting_user=acting_user,
                now=now,
            )
            if sliced and part.persons:  # this batch's own audit row: --reset finds it if the load stops
                _demo_audit(
                    acting_user=acting_user,
                    seed=seed,
                    result=part,
                    counts=part.counts,
                    first_id=part.first_id,
                    last_id=part.last_id,
                )
        if part.persons:
            result.first_id = part.first_id if result.first_id is None else result.first_id
            result.last_id = part.last_id
        result.persons += part.persons
        result.certificates += part.certificates
        result.economic_periods += part.economic_periods
        result.circumstances += part.circumstances
        for key, n in part.counts.items():
            counts[key] += n
        done += size
        progress(done, persons, "生成演示数据")
    result.counts = counts
    if not sliced:  # the one transaction's one audit row
        _demo_audit(
            acting_user=acting_user,
            seed=seed,
            result=result,
            counts=counts,
            first_id=result.first_id,
            last_id=result.last_id,
        )
    result.seconds = time.perf_counter() - started
    return result


def _demo_batch_write(batch, rows, *, writers, acting_user, now) -> DemoResult:
    """Write one batch of generated persons and their certificates, periods and circumstances."""
    person_writer, cert_writer, period_writer, circumstance_writer = writers
    counts = {"deceased": 0, "moved_out": 0, "certificates_cancelled": 0, "certificates_frozen": 0}
    ids = person_writer.write(rows, with_ids=True)
    certs, periods, facts = [], [], []
    for pk, p in zip(ids, batch, strict=True):
        for c in p.certificates:
            certs.append(
                (
                    pk,
                    c.number,
                    services.certificate_index(c.number),
                    c.category,
                    c.grade,
                    c.components,
                    c.issue_date,
                    c.valid_until,
                    c.status,
                    c.status_changed_on,
                    c.status_reason,
                    c.reissue_count,
                    c.is_current,
                    now,
                )
            )
            if c.is_current and c.status == Certificate.Status.CANCELLED:
                counts["certificates_cancelled"] += 1
            elif c.is_current and c.status == Certificate.Status.FROZEN:
                counts["certificates_frozen"] += 1
        for period in p.periods:
            periods.append((pk, period.status, period.valid_from, period.valid_to, "演示数据", now))
        for fact in p.circumstances:
            amount = None if fact.amount is None else str(fact.amount)
            facts.append(
                (pk, fact.kind, amount, fact.valid_from, fact.valid_to, "演示数据", acting_user.pk, now)
            )
        if p.status != Person.Status.ACTIVE:
            counts[p.status] += 1
    cert_writer.write(certs)
    period_writer.write(periods)
    circumstance_writer.write(facts)
    return DemoResult(
        persons=len(ids),
        certificates=len(certs),
        economic_periods=len(periods),
        circumstances=len(facts),
        first_id=ids[0] if ids else None,
        last_id=ids[-1] if ids else None,
        counts=counts,
    )


# ---- command line ---------------------------------------------------------------------------------------


def _tqdm_progress(total: int):
    from tqdm import tqdm

    bar = tqdm(total=total, file=sys.stderr, unit="人", desc="生成演示数据", dynamic_ncols=True)
    state = {"done": 0}

    def report(done: int, total: int, message: str = "") -> None:
        bar.update(done - state["done"])
        state["done"] = done

    return bar, report


def demo_cli(*, persons: int, seed: int, reset: bool) -> int:
    from canlian.accounts.services import system_user

    if persons < 0:
        print("人数不能为负数 / --persons must be >= 0")
        return 2
    system = system_user()
    try:
        if reset:
            removed = demo_persons_delete(acting_user=system)
            print(
                f"已清除演示数据：{removed.persons} 人，{removed.certificates} 张残疾人证，"
                f"{removed.economic_periods} 条家庭经济状况 / removed earlier demo persons"
            )
        created = demo_users_ensure(acting_user=system)
        if created:
            print(f"已创建演示账号 {len(created)} 个 / demo users created")
        existing = Person.objects.count()
        if existing:
            print(
                f"数据库中已有 {existing} 名残疾人，未新增演示数据（如需重新生成，请加 --reset）"
                " / persons exist, nothing added"
            )
            print_demo_logins()
            return 0
        bar, report = _tqdm_progress(persons)
        try:
            result = demo_load(persons=persons, seed=seed, acting_user=system, progress=report)
        finally:
            bar.close()
    except (DomainError, ValidationFailed) as exc:
        print(f"生成演示数据失败：{exc.message}")
        return 1
    rate = result.persons / result.seconds if result.seconds else 0
    print(
        f"已生成演示数据：{result.persons} 人，{result.certificates} 张残疾人证，"
        f"{result.economic_periods} 条家庭经济状况，其中死亡 {result.counts['deceased']} 人、"
        f"迁出 {result.counts['moved_out']} 人；用时 {result.seconds:.1f} 秒（{rate:,.0f} 人/秒，种子 {seed}）"
    )
    print_demo_logins()
    return 0


def print_demo_logins() -> None:
    """Print the demo accounts and their passwords (demo only), if those users exist."""
    users = {
        u.username: u
        for u in User.objects.filter(username__in=[d.username for d in DEMO_USERS]).select_related(
            "jurisdiction"
        )
    }
    rows = [(d, users[d.username]) for d in DEMO_USERS if d.username in users]
    if not rows:
        return
    print("\n演示账号（仅供演示；正式使用前请停用这些账号）/ demo logins (demo only):")
    header = ("用户名", "角色", "镇(街道)", "密码")
    table = [
        (d.username, Role(d.role).label, u.jurisdiction.name if u.jurisdiction else "全区", d.password)
        for d, u in rows
    ]
    widths = [max(_width(r[i]) for r in [header, *table]) for i in range(4)]
    for r in [header, *table]:
        print("  " + "  ".join(_pad(cell, w) for cell, w in zip(r, widths, strict=True)))


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
