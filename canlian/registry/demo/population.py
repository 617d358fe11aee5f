"""The synthetic Wuzhong population behind ``canlian demo``: pure Python, no database.

``PopulationGenerator(seed=…, ref=…)`` draws ``DemoPerson`` records from one ``random.Random(seed)``: valid
18-digit ID numbers (mostly 320506, some former 吴县 codes, other Jiangsu counties and migrants), sex from
the 17th digit, names from common local surnames and era-typical given names, the category mix of
DOMAIN.md §7 with more grade 3–4 than 1–2, ages skewed old, towns and villages, certificates with
history (reissues, renewals), expired / frozen / cancelled ones, deaths and moves, economic-status
periods over time, employment by age, guardians for minors, and the dated circumstances the benefit rules
read (无固定收入 for about half of the severe persons outside 低保, a few 一户多残 households, 工伤 care pay,
orphans, elderly care allowances, the date of each move out), drawn from a second generator so that adding
them left every earlier draw of a seed unchanged.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate

from django.utils import timezone

from canlian.common.exceptions import DomainError

from .. import identity, services
from ..models import Certificate, Person

# ---- places ---------------------------------------------------------------------------------------------

# A handful of real villages (村) and communities (社区) under each town/street, in the short form clerks write
# (新家社区 for 新家社区居委会): the national statistical division codes (2023) that the registry loads
# (registry/divisions.py, DOMAIN.md §3); a test checks that each names one of its town's units.
TOWN_COMMUNITIES: dict[str, tuple[str, ...]] = {
    "320506001": ("龙桥社区", "新家社区", "蠡墅社区", "先锋社区", "东吴社区"),
    "320506003": ("龙翔社区", "旺山村", "张桥村", "吴山社区", "珠村社区"),
    "320506004": ("尹山社区", "姜庄社区", "双浜社区", "湖滨社区", "独墅湖社区"),
    "320506005": ("泾苑社区", "上林村", "新齐村", "长远村", "新路村"),
    "320506006": ("蒋墩社区", "舟山村", "梅舍村", "渔帆社区", "长沙社区"),
    "320506009": ("东湖社区", "南石湖社区", "宝带桥社区", "龙南社区", "红庄社区"),
    "320506010": ("融湾社区", "颐湾社区", "融悦湾社区"),
    "320506100": ("保圣社区", "澄墩村", "淞南村", "湖浜村", "江湾村", "甫里社区"),
    "320506103": ("香溪社区", "天平村", "金山村", "灵岩村", "藏书社区", "穹窿社区"),
    "320506104": ("子胥社区", "马舍村", "新峰村", "采香泾村", "一箭河社区"),
    "320506107": ("洞庭社区", "陆巷村", "杨湾村", "三山村", "碧螺村", "太湖村"),
    "320506108": ("梅园社区", "冲山村", "香雪村", "迂里村", "福利村"),
    "320506109": ("东河社区", "东村村", "堂里村", "石公村", "缥缈村"),
    "320506110": ("渡村社区", "浦庄村", "前塘村", "灵湖村", "石舍村"),
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
class DemoCircumstance:
    kind: str
    valid_from: date
    valid_to: date | None = None
    amount: Decimal | None = None


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
    circumstances: list[DemoCircumstance] = field(default_factory=list)


class PopulationGenerator:
    """Draws ``DemoPerson`` records from one ``random.Random(seed)``; pure Python, no database."""

    def __init__(self, *, seed: int, ref: date, town_codes: list[str] | None = None):
        self.rng = random.Random(seed)
        self.facts_rng = random.Random(f"{seed}:circumstances")
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
        address = self._address(community)

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
        circumstances = self._circumstances(birth, age, profile.code, grade, periods, status, death_date)
        return DemoPerson(
            circumstances=circumstances,
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

    def _address(self, community: str) -> str:
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

    def _circumstances(
        self,
        birth: date,
        age: int,
        category: int,
        grade: int,
        periods: list[DemoPeriod],
        status: str,
        death_date: date | None,
    ) -> list[DemoCircumstance]:
        """Tuned so that of the living-allowance recipients about 60% are there for no fixed income and
        about 8% for 一户多残 (Kunshan, May 2025: 1,310 and 178 of 2,116)."""
        rng, ref = self.facts_rng, self.ref
        out: list[DemoCircumstance] = []
        end = death_date

        def since(earliest: date) -> date:
            lo = max(earliest, _years_before(ref, 6))
            hi = ref - timedelta(days=45)
            span = (hi - lo).days
            return lo + timedelta(days=rng.randint(0, span)) if span > 0 else hi

        def add(kind: str, earliest: date, amount: Decimal | None = None) -> None:
            start = since(earliest)
            if end is None or start <= end:
                out.append(DemoCircumstance(kind, start, end, amount))

        adult = _years_before(birth, -18) if age >= 18 else None
        supported = any(p.valid_to is None and p.status in ("dibao", "tekun") for p in periods)
        r = rng.random()
        if adult and not supported and grade <= 2 and category in (1, 4, 5, 6) and r < 0.85:
            add("no_fixed_income", adult)
        if adult and not supported and rng.random() < 0.04:
            add("multiple_in_household", adult)
        if adult and 18 <= age < 65 and category == 4 and rng.random() < 0.012:
            add("injury_care", adult)
        if age < 18 and rng.random() < 0.04:
            add("orphan_allowance", birth)
        if age >= 80 and rng.random() < 0.35:
            add(
                "elderly_care",
                _years_before(birth, -80),
                Decimal(rng.choice(("100.00", "150.00", "200.00", "300.00"))),
            )
        if status == Person.Status.MOVED_OUT:
            lo = _years_before(ref, 3)
            moved = lo + timedelta(days=rng.randint(0, (ref - timedelta(days=1) - lo).days))
            out.append(DemoCircumstance("moved_out", moved))
        return out

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
