"""Deterministic demo data: a synthetic Wuzhong population, villages and communities, one user per role.

``canlian demo [--persons N] [--seed S] [--reset]``. The same seed gives the same persons (ID numbers,
names, certificates, periods) within a calendar year: every date is drawn relative to 1 January of the
current year, so nothing lies in the future and nothing depends on the day of the run.

Persons are written set-based: plain records are generated in Python (``random.Random(seed)``), turned
into model objects in batches and inserted with ``bulk_create`` (the encrypted fields encrypt on the way
in; blind indexes come from ``services.id_index`` / ``certificate_index``). The whole load is one
transaction with one audit row (``demo.load``) attributed to the system user; ``--reset`` finds earlier
demo persons through the id ranges those audit rows record.
"""

from __future__ import annotations

import json
import random
import sys
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate

from django.db import transaction
from django.db.models import JSONField, ProtectedError, Q
from django.utils import timezone

from canlian.accounts.models import Role, User
from canlian.common.audit import audit_record
from canlian.common.crypto import EncryptedTextField
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.common.jobs import Progress, noop_progress
from canlian.common.models import AuditLog

from . import identity, services
from .models import Certificate, EconomicStatusPeriod, Person, Region

DEMO_ACTION = "demo.load"
RESET_ACTION = "demo.reset"
BATCH_SIZE = 5000

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
    DemoLogin("demo_institution", Role.INSTITUTION_STAFF, None, "演示-定点机构", "Dongshan#Loquat23"),
    DemoLogin("demo_leader", Role.LEADER, None, "演示-领导", "Xishan#Orange2023"),
    DemoLogin("demo_auditor", Role.AUDITOR, None, "演示-审计员", "Guangfu#Plum2023"),
)

# ---- places ---------------------------------------------------------------------------------------------

# A handful of villages (村) and communities (社区) under each town/street (DOMAIN.md §3).
TOWN_COMMUNITIES: dict[str, tuple[str, ...]] = {
    "320506001": ("龙桥社区", "新家社区", "宝带社区", "溪江社区", "花港社区"),
    "320506003": ("越溪社区", "旺山村", "张桥村", "吴山社区", "珠村社区"),
    "320506004": ("郭巷社区", "尹山湖社区", "东盛社区", "淞苇村", "姜庄村"),
    "320506005": ("横泾社区", "上林村", "新齐村", "长远村", "东林渡社区"),
    "320506006": ("香山社区", "舟山村", "梅舍社区", "渔帆村", "长沙社区"),
    "320506009": ("东湖社区", "南石湖社区", "宝丰社区", "龙南社区", "吴中社区"),
    "320506010": ("太湖社区", "新路村", "石湖社区", "渔港村"),
    "320506100": ("甪直社区", "澄墩村", "淞南村", "湖浜村", "海藏村", "甫里社区"),
    "320506103": ("木渎社区", "天平村", "金山村", "灵岩社区", "藏书社区", "穹窿社区"),
    "320506104": ("胥口社区", "马舍村", "新峰村", "采香泾社区", "胥江社区"),
    "320506107": ("东山社区", "陆巷村", "杨湾村", "三山村", "槎湾村", "光明村"),
    "320506108": ("光福社区", "冲山村", "香雪村", "迂里村", "福利村"),
    "320506109": ("金庭社区", "东村村", "明月湾村", "石公村", "缥缈村"),
    "320506110": ("临湖社区", "浦庄村", "前塘村", "灵湖村", "石舍村"),
}
# Relative population of each town/street; the towns hold more of the (older, rural) disabled population.
TOWN_WEIGHTS: dict[str, float] = {
    "320506001": 8,
    "320506003": 6,
    "320506004": 7,
    "320506005": 5,
    "320506006": 4,
    "320506009": 7,
    "320506010": 4,
    "320506100": 10,
    "320506103": 12,
    "320506104": 5,
    "320506107": 6,
    "320506108": 5,
    "320506109": 3,
    "320506110": 5,
}

# Birthplace codes: mostly Wuzhong, then the former 吴县 / 吴县市 codes, other Jiangsu counties, migrants.
AREA_CODES = (
    ("320506", 78.0),  # 吴中区
    ("320524", 7.0),  # 吴县 (until 1995)
    ("320586", 4.0),  # 吴县市 (1995–2000)
    ("322727", 1.5),  # 苏州地区吴县 (pre-1983)
    ("320505", 1.0),  # 虎丘区
    ("320508", 1.0),  # 姑苏区
    ("320583", 1.0),  # 昆山市
    ("320585", 0.5),  # 太仓市
    ("320581", 0.5),  # 常熟市
    ("320902", 0.5),  # 盐城亭湖区
    ("321323", 0.5),  # 宿迁泗阳县
    ("320321", 0.5),  # 徐州丰县
    ("321081", 0.5),  # 扬州仪征市
    ("341221", 1.0),  # 安徽临泉县
    ("342423", 0.5),  # 安徽霍邱县
    ("412726", 0.5),  # 河南郸城县
    ("511623", 0.5),  # 四川邻水县
    ("522401", 0.5),  # 贵州毕节
)

# ---- people ---------------------------------------------------------------------------------------------

SURNAMES = (
    ("张", 5), ("王", 5), ("陈", 4.5), ("沈", 4), ("朱", 4), ("徐", 4), ("周", 4), ("陆", 3.5),
    ("顾", 3.5), ("吴", 3.5), ("李", 3), ("金", 2.5), ("杨", 2.5), ("钱", 2), ("蒋", 2), ("姚", 2),
    ("施", 2), ("潘", 2), ("许", 2), ("刘", 2), ("孙", 2), ("马", 1.5), ("黄", 1.5), ("汤", 1.2),
    ("曹", 1.2), ("严", 1.2), ("范", 1.2), ("胡", 1.2), ("赵", 1.2), ("戴", 1), ("夏", 1), ("邹", 1),
    ("蔡", 1), ("袁", 1), ("唐", 1), ("叶", 1), ("郑", 1), ("任", 0.8), ("程", 0.8), ("谢", 0.8),
    ("冯", 0.8), ("丁", 0.8), ("俞", 0.8), ("倪", 0.8), ("何", 0.8), ("高", 0.8), ("林", 0.8),
    ("缪", 0.6), ("殷", 0.6), ("郁", 0.6), ("费", 0.6), ("卢", 0.6), ("邵", 0.6), ("吕", 0.6),
    ("董", 0.6), ("宋", 0.6), ("方", 0.6), ("龚", 0.6), ("汪", 0.6), ("计", 0.5), ("孔", 0.5),
    ("凌", 0.5), ("翁", 0.5), ("秦", 0.5), ("韩", 0.5), ("毛", 0.5), ("盛", 0.5), ("葛", 0.5),
    ("薛", 0.5), ("邱", 0.5), ("浦", 0.4), ("魏", 0.4), ("庞", 0.4), ("华", 0.4), ("贝", 0.2),
    ("欧阳", 0.1),
)  # fmt: skip
GIVEN = {
    ("M", "old"): "根福宝德兴荣林生金明华国建忠良海祥春财发元鑫富贵昌永仁义龙虎水土泉松柏",
    ("F", "old"): "英秀芳珍凤兰梅琴妹娣菊红娟萍霞玉桂花彩月素美金林宝妹凤娥仙",
    ("M", "mid"): "伟强军明华平建峰勇杰斌磊涛东文志刚辉波新斌红卫兵军民健俊亮超鹏",
    ("F", "mid"): "敏静丽燕霞红娟芳萍玲洁莉琴艳华英慧雪丹琳萍颖君晓婷",
    ("M", "young"): "子轩浩宇辰睿泽涵博文一诺俊杰梓豪晨阳嘉铭天佑宸逸皓然明哲",
    ("F", "young"): "子涵欣怡梓萱诗雨佳琪一诺可馨语桐若曦思彤雨欣紫嫣梦瑶婉清",
}


@dataclass(frozen=True)
class CategoryProfile:
    code: int
    share: float  # per cent, DOMAIN.md §7
    grades: tuple[float, float, float, float]  # weights of grade 1..4
    ages: tuple[float, ...]  # weights of the AGE_BANDS below


# (lo, hi) inclusive age bands used for drawing birth dates.
AGE_BANDS = ((0, 6), (7, 17), (18, 44), (45, 59), (60, 79), (80, 89), (90, 100))
CATEGORIES = (
    CategoryProfile(4, 59.32, (0.08, 0.17, 0.32, 0.43), (0.5, 1.5, 13, 23, 43, 16, 3)),  # physical
    CategoryProfile(6, 13.71, (0.07, 0.33, 0.36, 0.24), (0.0, 1.0, 32, 33, 27, 6, 1)),  # mental
    CategoryProfile(5, 9.89, (0.12, 0.26, 0.33, 0.29), (5.0, 15, 42, 21, 14, 2.5, 0.5)),  # intellectual
    CategoryProfile(1, 8.48, (0.21, 0.15, 0.24, 0.40), (0.5, 1.5, 8, 15, 45, 25, 5)),  # vision
    CategoryProfile(2, 6.00, (0.09, 0.16, 0.30, 0.45), (2.0, 3, 7, 12, 43, 27, 6)),  # hearing
    CategoryProfile(3, 1.09, (0.12, 0.22, 0.30, 0.36), (8.0, 12, 30, 20, 22, 7, 1)),  # speech
    CategoryProfile(7, 1.51, (0.25, 0.35, 0.25, 0.15), (4.0, 8, 25, 20, 28, 12, 3)),  # multiple
)
CATEGORY_SHARES = {p.code: p.share for p in CATEGORIES}


def _cum(weights) -> list[float]:
    return list(accumulate(weights))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@dataclass(slots=True)
class DemoCertificate:
    number: str
    category: int
    grade: int
    components: list[dict]
    issue_date: date
    valid_until: date
    status: str = Certificate.Status.VALID
    status_changed_on: date | None = None
    status_reason: str = ""
    reissue_count: int = 0
    is_current: bool = True


@dataclass(slots=True)
class DemoPeriod:
    status: str
    valid_from: date
    valid_to: date | None


@dataclass(slots=True)
class DemoPerson:
    name: str
    id_number: str
    sex: str
    birth_date: date
    phone: str
    town_code: str
    community_name: str
    address: str
    household_type: str
    status: str
    death_date: date | None
    employment_status: str
    guardian_name: str
    guardian_relation: str
    guardian_phone: str
    certificates: list[DemoCertificate] = field(default_factory=list)
    periods: list[DemoPeriod] = field(default_factory=list)


class PopulationGenerator:
    """Draws ``DemoPerson`` records from one ``random.Random(seed)``; pure Python, no database."""

    def __init__(self, *, seed: int, ref: date, town_codes: list[str] | None = None):
        self.rng = random.Random(seed)
        self.ref = ref
        codes = [c for c in TOWN_WEIGHTS if town_codes is None or c in town_codes]
        if not codes:
            raise DomainError("数据库中没有吴中区的镇(街道)，无法生成演示数据")
        self.towns = codes
        self.town_cw = _cum(TOWN_WEIGHTS[c] for c in codes)
        self.areas = [a for a, _ in AREA_CODES]
        self.area_cw = _cum(w for _, w in AREA_CODES)
        self.surnames = [s for s, _ in SURNAMES]
        self.surname_cw = _cum(w for _, w in SURNAMES)
        self.categories = CATEGORIES
        self.category_cw = _cum(p.share for p in CATEGORIES)
        self.age_cw = {p.code: _cum(p.ages) for p in CATEGORIES}
        self.grade_cw = {p.code: _cum(p.grades) for p in CATEGORIES}
        self.seen: set[int] = set()

    # -- small helpers --------------------------------------------------------------------------------

    def _pick(self, items, cw):
        return items[bisect_right(cw, self.rng.random() * cw[-1])]

    def _phone(self) -> str:
        rng = self.rng
        return f"1{rng.choice('3578913589')}{rng.randrange(10**9):09d}"

    def _day_between(self, start: date, end: date) -> date:
        span = (end - start).days
        return start + timedelta(days=self.rng.randint(0, span)) if span > 0 else start

    def _name(self, sex: str, birth_year: int) -> str:
        era = "old" if birth_year < 1965 else "mid" if birth_year < 1995 else "young"
        pool = GIVEN[(sex, era)]
        rng = self.rng
        surname = self._pick(self.surnames, self.surname_cw)
        if rng.random() < 0.3 and len(surname) == 1:
            return surname + rng.choice(pool)
        return surname + rng.choice(pool) + rng.choice(pool)

    def _id_number(self, birth: date, sex: str) -> str:
        rng = self.rng
        while True:
            area = self._pick(self.areas, self.area_cw)
            seq = rng.randrange(500) * 2 + (1 if sex == "M" else 0)
            first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
            key = int(first17)
            if key not in self.seen:
                self.seen.add(key)
                return first17 + identity.check_char(first17)

    # -- one person -----------------------------------------------------------------------------------

    def person(self) -> DemoPerson:
        rng, ref = self.rng, self.ref
        profile = self._pick(self.categories, self.category_cw)
        lo, hi = self._pick(AGE_BANDS, self.age_cw[profile.code])
        age = rng.randint(lo, hi)
        birth = _years_before(ref, age + 1) + timedelta(days=rng.randint(1, 365))
        birth = min(birth, ref - timedelta(days=30))
        sex = "M" if rng.random() < 0.56 else "F"
        id_number = self._id_number(birth, sex)
        name = self._name(sex, birth.year)

        town = self._pick(self.towns, self.town_cw)
        street = town[6] == "0"  # 320506001..010 are streets
        household = "urban" if rng.random() < (0.78 if street else 0.35) else "rural"
        communities = TOWN_COMMUNITIES.get(town, ())
        community = rng.choice(communities) if communities and rng.random() < 0.96 else ""
        address = self._address(town, community)

        grade, components = self._grade(profile)
        cert_issue = self._issue_date(birth)
        status, death_date = Person.Status.ACTIVE, None
        p_dead = 0.10 if age >= 80 else 0.04 if age >= 60 else 0.01
        roll = rng.random()
        if roll < p_dead:
            status = Person.Status.DECEASED
            death_date = self._day_between(max(cert_issue, _years_before(ref, 3)), ref - timedelta(days=1))
        elif roll < p_dead + 0.015:
            status = Person.Status.MOVED_OUT

        certs = self._certificates(
            id_number, profile.code, grade, components, cert_issue, birth, status, death_date
        )
        periods = self._periods(birth, household, death_date)
        employment = self._employment(age, grade)
        guardian_name = guardian_relation = guardian_phone = ""
        needs_guardian = age < 18 or (profile.code in (5, 6) and grade <= 2 and rng.random() < 0.8)
        if needs_guardian:
            guardian_name, guardian_relation = self._guardian(name, age, birth.year)
            guardian_phone = self._phone()
        phone = self._phone() if age >= 14 and rng.random() < 0.88 else ""
        return DemoPerson(
            name=name,
            id_number=id_number,
            sex=identity.sex(id_number),
            birth_date=birth,
            phone=phone,
            town_code=town,
            community_name=community,
            address=address,
            household_type=household,
            status=status,
            death_date=death_date,
            employment_status=employment,
            guardian_name=guardian_name,
            guardian_relation=guardian_relation,
            guardian_phone=guardian_phone,
            certificates=certs,
            periods=periods,
        )

    def _address(self, town: str, community: str) -> str:
        rng = self.rng
        if not community:
            return ""
        if community.endswith("村"):
            return f"{community}{rng.randint(1, 24)}组{rng.randint(1, 99)}号"
        return f"{community}{rng.randint(1, 40)}幢{rng.randint(1, 6)}0{rng.randint(1, 4)}室"

    def _grade(self, profile: CategoryProfile) -> tuple[int, list[dict]]:
        rng = self.rng
        weights = self.grade_cw[profile.code]

        def draw() -> int:
            return bisect_right(weights, rng.random() * weights[-1]) + 1

        if profile.code != 7:
            return draw(), []
        kinds = rng.sample([1, 2, 3, 4, 5, 6], rng.choice((2, 2, 2, 3)))
        components = [{"category": k, "grade": draw()} for k in sorted(kinds)]
        return identity.combined_grade([c["grade"] for c in components]), components

    def _issue_date(self, birth: date) -> date:
        rng, ref = self.rng, self.ref
        years = rng.uniform(0, 10) if rng.random() < 0.93 else rng.uniform(10, 12)
        issue = ref - timedelta(days=int(years * 365.25) + 1)
        earliest = birth + timedelta(days=180)
        if issue < earliest:
            issue = self._day_between(min(earliest, ref - timedelta(days=1)), ref - timedelta(days=1))
        return issue

    def _certificates(self, id_number, category, grade, components, issue, birth, status, death_date):
        rng, ref = self.rng, self.ref
        base = f"{id_number}{category}{grade}"
        current = DemoCertificate(
            number=base,
            category=category,
            grade=grade,
            components=components,
            issue_date=issue,
            valid_until=services.valid_until_for(issue),
        )
        history: list[DemoCertificate] = []
        roll = rng.random()
        earlier = _years_before(issue, rng.randint(1, 6))
        if roll < 0.05 and earlier > birth:  # reissue (补发): B1 current, the lost original kept as history
            current.number, current.reissue_count = base + "B1", 1
            history.append(
                DemoCertificate(
                    number=base,
                    category=category,
                    grade=grade,
                    components=components,
                    issue_date=earlier,
                    valid_until=services.valid_until_for(earlier),
                    status=Certificate.Status.CANCELLED,
                    status_changed_on=issue,
                    status_reason="遗失补发，原证作废",
                    is_current=False,
                )
            )
        elif roll < 0.08 and category != 7 and _years_before(issue, 10) > birth:
            # renewal with re-assessment: the old card had another grade and ran out
            old_grade = grade + 1 if grade < 4 else grade - 1
            old_issue = _years_before(issue, 10)
            history.append(
                DemoCertificate(
                    number=f"{id_number}{category}{old_grade}",
                    category=category,
                    grade=old_grade,
                    components=[],
                    issue_date=old_issue,
                    valid_until=services.valid_until_for(old_issue),
                    status=Certificate.Status.EXPIRED,
                    status_changed_on=issue,
                    status_reason="到期换证，重新评定等级",
                    is_current=False,
                )
            )
        if status == Person.Status.DECEASED:
            current.status = Certificate.Status.CANCELLED
            current.status_changed_on = min(death_date + timedelta(days=rng.randint(0, 60)), ref)
            current.status_reason = "持证人死亡"
        elif status == Person.Status.MOVED_OUT:
            changed = self._day_between(max(issue, _years_before(ref, 2)), ref)
            if (ref - changed).days > 365:
                current.status, current.status_reason = (
                    Certificate.Status.CANCELLED,
                    "户籍迁出满一年未办理迁移",
                )
            else:
                current.status, current.status_reason = Certificate.Status.FROZEN, "户籍迁出未办理迁移"
            current.status_changed_on = changed
        elif rng.random() < 0.006:
            current.status = Certificate.Status.CANCELLED
            current.status_changed_on = self._day_between(issue, ref)
            current.status_reason = "经复评不再符合残疾标准"
        return [*history, current]

    def _periods(self, birth: date, household: str, death_date: date | None) -> list[DemoPeriod]:
        rng, ref = self.rng, self.ref
        if rng.random() >= (0.24 if household == "rural" else 0.15):
            return []
        end_of_life = death_date or ref
        start = self._day_between(max(birth, _years_before(ref, 9)), end_of_life)
        periods: list[DemoPeriod] = []
        status = self._pick(("dibao", "near_dibao", "tekun"), (0.6, 0.9, 1.0))
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            length = timedelta(days=rng.randint(180, 5 * 365))
            end = start + length
            if end >= end_of_life:
                periods.append(DemoPeriod(status, start, death_date))
                return periods
            periods.append(DemoPeriod(status, start, end))
            gap = rng.choice((1, 1, 1, 30, 200))
            start = end + timedelta(days=gap)
            if start >= end_of_life:
                return periods
            status = self._pick(("dibao", "near_dibao", "tekun"), (0.45, 0.9, 1.0))
        if death_date is None and rng.random() < 0.5:
            periods[-1].valid_to = None  # still open today
        return periods

    def _employment(self, age: int, grade: int) -> str:
        r = self.rng.random()
        if age < 7:
            return ""
        if age < 18 or (age <= 22 and r < 0.4):
            return "student"
        if age < 60:
            employed = 0.15 if grade <= 2 else 0.42
            return "employed" if r < employed else "unemployed" if r < 0.9 else ""
        return "retired" if r < 0.45 else "unemployed" if r < 0.8 else ""

    def _guardian(self, name: str, age: int, birth_year: int) -> tuple[str, str]:
        rng = self.rng
        surname = name[:2] if name.startswith("欧阳") else name[0]
        if age < 18 or (age < 45 and rng.random() < 0.7):
            if rng.random() < 0.55:
                return self._given_for(surname, "M", birth_year - 28), "父亲"
            other = self._pick(self.surnames, self.surname_cw)
            return self._given_for(other, "F", birth_year - 26), "母亲"
        if age < 65 and rng.random() < 0.5:
            return self._given_for(self._pick(self.surnames, self.surname_cw), "F", birth_year), "配偶"
        return self._given_for(surname, rng.choice("MF"), birth_year + 28), "子女"

    def _given_for(self, surname: str, sex: str, birth_year: int) -> str:
        era = "old" if birth_year < 1965 else "mid" if birth_year < 1995 else "young"
        pool = GIVEN[(sex, era)]
        return surname + self.rng.choice(pool) + self.rng.choice(pool)


def reference_date(today: date | None = None) -> date:
    """Every demo date is drawn relative to 1 January of the current year (deterministic within a year)."""
    today = today or timezone.localdate()
    return date(today.year, 1, 1)


def generate_population(*, persons: int, seed: int, today: date | None = None) -> list[DemoPerson]:
    """The records ``demo_load`` would write, without touching the database (tests, benchmarks)."""
    gen = PopulationGenerator(seed=seed, ref=reference_date(today))
    return [gen.person() for _ in range(persons)]


# ---- services -------------------------------------------------------------------------------------------


def communities_ensure(*, acting_user) -> dict[str, dict[str, int]]:
    """Create the demo villages/communities that are missing; returns town code → {name: region id}."""
    towns = {t.code: t for t in Region.objects.filter(level=Region.Level.TOWN)}
    code_of = {t.pk: code for code, t in towns.items()}
    existing: dict[str, dict[str, int]] = {code: {} for code in towns}
    for region in Region.objects.filter(level=Region.Level.COMMUNITY, parent__in=towns.values()):
        existing[code_of[region.parent_id]][region.name] = region.pk
    for code, names in TOWN_COMMUNITIES.items():
        town = towns.get(code)
        if town is None:
            continue
        for name in names:
            if name not in existing[code]:
                kind = Region.Kind.VILLAGE if name.endswith("村") else Region.Kind.COMMUNITY
                region = services.community_create(acting_user=acting_user, town=town, name=name, kind=kind)
                existing[code][name] = region.pk
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
    seconds: float = 0.0
    first_id: int | None = None
    last_id: int | None = None
    counts: dict = field(default_factory=dict)


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
            changes={
                "persons": result.persons,
                "certificates": result.certificates,
                "economic_periods": result.economic_periods,
            },
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


class RowWriter:
    """Inserts plain rows set-based: ``COPY`` on PostgreSQL, ``bulk_create`` elsewhere.

    Encrypted columns go through the model field's own ``get_prep_value`` (AES-GCM), JSON columns are
    serialised, everything else is passed as is. On PostgreSQL ids are reserved from the table's sequence
    first (one query per batch), so child rows can point at their parent without reading anything back."""

    def __init__(self, model, columns: tuple[str, ...]):
        from django.db import connection

        self.model, self.columns = model, columns
        self.connection = connection
        self.copy = connection.vendor == "postgresql"
        fields = {f.attname: f for f in model._meta.concrete_fields}
        self.converters = []
        for col in columns:
            f = fields[col]
            if isinstance(f, EncryptedTextField):
                self.converters.append(f.get_prep_value)
            elif isinstance(f, JSONField):
                self.converters.append(lambda v: json.dumps(v, ensure_ascii=False))
            else:
                self.converters.append(None)
        self.encrypted = [i for i, c in enumerate(self.converters) if c is not None]

    def write(self, rows: list[tuple], *, with_ids: bool = False) -> list[int]:
        """Insert ``rows`` (values in ``columns`` order); returns the new ids when ``with_ids``."""
        if not rows:
            return []
        if not self.copy:
            objs = [self.model(**dict(zip(self.columns, row, strict=True))) for row in rows]
            self.model.objects.bulk_create(objs, batch_size=BATCH_SIZE)
            return [o.pk for o in objs] if with_ids else []
        qn = self.connection.ops.quote_name
        table = self.model._meta.db_table
        ids: list[int] = []
        columns = self.columns
        with self.connection.cursor() as cursor:
            if with_ids:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [table, len(rows)],
                )
                ids = sorted(r[0] for r in cursor.fetchall())
                columns = ("id", *columns)
            sql = f"COPY {qn(table)} ({', '.join(qn(c) for c in columns)}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for n, row in enumerate(rows):
                    values = list(row)
                    for i in self.encrypted:
                        if values[i] not in (None, ""):
                            values[i] = self.converters[i](values[i])
                    copy.write_row((ids[n], *values) if with_ids else values)
        return ids


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


@transaction.atomic
def demo_load(
    *,
    persons: int,
    seed: int,
    acting_user,
    today: date | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress = noop_progress,
) -> DemoResult:
    """Generate ``persons`` demo persons and write them set-based, in one transaction with one audit row."""
    if persons < 0:
        raise ValidationFailed({"persons": "人数不能为负数"})
    started = time.perf_counter()
    communities = communities_ensure(acting_user=acting_user)
    towns = dict(Region.objects.filter(level=Region.Level.TOWN).values_list("code", "pk"))
    gen = PopulationGenerator(seed=seed, ref=reference_date(today), town_codes=list(towns))
    person_writer = RowWriter(Person, PERSON_COLUMNS)
    cert_writer = RowWriter(Certificate, CERTIFICATE_COLUMNS)
    period_writer = RowWriter(EconomicStatusPeriod, PERIOD_COLUMNS)
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
        ids = person_writer.write(rows, with_ids=True)
        certs, periods = [], []
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
            if p.status != Person.Status.ACTIVE:
                counts[p.status] += 1
        cert_writer.write(certs)
        period_writer.write(periods)
        if ids:
            result.first_id = ids[0] if result.first_id is None else result.first_id
            result.last_id = ids[-1]
        result.persons += len(ids)
        result.certificates += len(certs)
        result.economic_periods += len(periods)
        done += size
        progress(done, persons, "生成演示数据")
    result.counts = counts
    audit_record(
        acting_user=acting_user,
        action=DEMO_ACTION,
        object_type="registry.person",
        object_repr=f"演示数据 {result.persons} 人（种子 {seed}）",
        changes={
            "persons": result.persons,
            "certificates": result.certificates,
            "economic_periods": result.economic_periods,
            "seed": seed,
            "first_id": result.first_id,
            "last_id": result.last_id,
            **counts,
        },
    )
    result.seconds = time.perf_counter() - started
    return result


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
