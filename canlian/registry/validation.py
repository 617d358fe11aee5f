"""One set of field rules for a person record, shared by the web form, the importer and the CLI.

``validate_person_record(raw)`` takes loosely typed values (strings from a form, cells from a sheet) and
returns a ``PersonRecord`` plus a dict of Chinese error messages keyed by field name. Region lookups are
passed in as dicts so that a 100,000-row import validates without a query per row.

A village or community is matched the way clerks write it (``community_key``): full-width characters and
spaces do not count, and the short form names the same unit as the official one (新家社区 = 新家社区居委会,
杨湾村 = 杨湾村委会 = 杨湾村民委员会; 杨湾 alone when no other unit of the town is 杨湾-something). A name that
matches none of the town's units is rejected with the closest names of that town (by characters and by pinyin,
so 新加社区 suggests 新家社区) or with the town it belongs to. ``RegionLookup`` resolves each distinct
(town, name) pair once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from . import identity
from .models import Certificate, EconomicStatus, EmploymentStatus, HouseholdType

FIELD_LABELS = {
    "name": "姓名",
    "id_number": "身份证号",
    "certificate_number": "残疾人证号",
    "issue_date": "发证日期",
    "town": "镇(街道)",
    "community": "村(社区)",
    "household_type": "户口性质",
    "economic_status": "家庭经济状况",
    "phone": "联系电话",
    "category": "残疾类别",
    "grade": "残疾等级",
    "employment_status": "就业状况",
    "address": "住址",
    "guardian_name": "监护人姓名",
    "guardian_relation": "与监护人关系",
    "guardian_phone": "监护人电话",
}

_EXCEL_EPOCH = date(1899, 12, 30)
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_NAME_RE = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff·•．A-Za-z]{2,30}$")
_PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\d{7,8})$")


def label_map(choices) -> dict[str, str]:
    """Chinese label (and code) → code, for choice columns."""
    out = {}
    for value, label in choices:
        if value == "":
            continue
        out[str(label)] = value
        out[str(value)] = value
    return out


HOUSEHOLD_TYPES = label_map(HouseholdType.choices) | {"城市": "urban", "非农": "urban", "农业": "rural"}
ECONOMIC_STATUSES = label_map(EconomicStatus.choices) | {
    "特困": "tekun",
    "无": "none",
    "": "none",
    "一般": "none",
}
EMPLOYMENT_STATUSES = label_map(EmploymentStatus.choices) | {"": "", "已就业": "employed", "退休": "retired"}
CATEGORIES = (
    {str(label): int(v) for v, label in Certificate.Category.choices}
    | {f"{label}残疾": int(v) for v, label in Certificate.Category.choices}
    | {str(int(v)): int(v) for v, _ in Certificate.Category.choices}
)
GRADES = (
    {str(label): int(v) for v, label in Certificate.Grade.choices}
    | {str(int(v)): int(v) for v, _ in Certificate.Grade.choices}
    | {f"{int(v)}级": int(v) for v, _ in Certificate.Grade.choices}
)


class FieldError(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def parse_date(value: object, *, today: date | None = None) -> date | None:
    """Excel dates (cell dates or serial numbers), ``2019-05-06``, ``2019/5/6``, ``2019年5月6日``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 1 <= value < 2958466:
            return _EXCEL_EPOCH + timedelta(days=int(value))
        raise FieldError("日期数值超出范围")
    text = identity.normalize(value) if not isinstance(value, str) else value.strip()
    text = text.replace(" ", "").split("T")[0]
    text = re.sub(r"\s*0{1,2}:00(:00)?$", "", text)
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                raise FieldError(f"日期“{text}”不存在") from None
    if re.fullmatch(r"\d+(\.0+)?", text):
        return parse_date(float(text))
    raise FieldError(f"无法识别的日期“{text}”，请用 2019-05-06、2019/5/6 或 2019年5月6日")


def _text(value: object) -> str:
    if value.__class__ is str:  # the common case, first
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


_WHITESPACE = re.compile(r"\s+")


def _no_spaces(text: str) -> str:
    return _WHITESPACE.sub("", text) if " " in text or not text.isprintable() else text


@dataclass
class PersonRecord:
    name: str = ""
    id_number: str = ""
    certificate_number: str = ""
    category: int | None = None
    grade: int | None = None
    reissue: int = 0
    issue_date: date | None = None
    town_id: int | None = None
    community_id: int | None = None
    community_name: str = ""  # an unknown community to create under the town, when allowed
    household_type: str = ""
    economic_status: str = ""
    phone: str = ""
    employment_status: str = ""
    address: str = ""
    guardian_name: str = ""
    guardian_relation: str = ""
    guardian_phone: str = ""
    sex: str = ""
    birth_date: date | None = None
    provided: set[str] = field(default_factory=set)
    facts: dict = field(default_factory=dict)  # import: kind → circumstances.FactCell (blank = no change)


def normalize_name(text: str) -> str:
    """Full-width letters, digits and brackets to half-width (NFKC), every space removed."""
    text = unicodedata.normalize("NFKC", text)
    return _WHITESPACE.sub("", text) if not text.isalnum() else text


_COMMITTEES = (
    ("村民委员会", "村"),
    ("村委会", "村"),
    ("居民委员会", "社区"),
    ("居民委会", "社区"),  # so spelt in the 2023 list: 孙武花园社区居民委会 (香山街道)
    ("居委会", "社区"),
)


def _split_committee(name: str) -> tuple[str, str]:
    """(stem, kind word) of a name ending in a committee suffix, else (name, "")."""
    for suffix, kind in _COMMITTEES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], kind
    return name, ""


def community_key(text: str) -> str:
    """The short form a village or community is known by: 新家社区居委会 → 新家社区, 杨湾村委会 → 杨湾村,
    杨湾村民委员会 → 杨湾村, 开发区东居委会 → 开发区东社区; other names as they are (normalised)."""
    stem, kind = _split_committee(normalize_name(text))
    if kind == "村" or (kind and not stem.endswith(kind)):
        return stem + kind
    return stem


def _community_keys(name: str) -> set[str]:
    """Every short form an official name answers to: its key, and for 东村村委会 also 东村."""
    normal = normalize_name(name)
    stem, kind = _split_committee(normal)
    keys = {normal, community_key(normal)}
    if kind and stem.endswith(kind):
        keys.add(stem)
    return keys


def _bare(key: str) -> str:
    for word in ("社区", "村"):
        if key.endswith(word) and len(key) > len(word):
            return key[: -len(word)]
    return key


def _pinyin(text: str) -> list[str]:
    from pypinyin import lazy_pinyin

    return lazy_pinyin(text)  # compared syllable by syllable: 加 and 家 are the same, 建 and 港 are not


@dataclass
class _TownCommunities:
    """The names one town's villages and communities answer to, each → region ids."""

    by_key: dict[str, set[int]] = field(default_factory=dict)
    by_bare: dict[str, set[int]] = field(default_factory=dict)
    short: dict[int, str] = field(default_factory=dict)  # region id → the name shown in suggestions
    _pinyin: dict[int, list[str]] | None = None

    def add(self, pk: int, name: str) -> None:
        for key in _community_keys(name):
            self.by_key.setdefault(key, set()).add(pk)
        self.by_bare.setdefault(_bare(community_key(name)), set()).add(pk)
        self.short[pk] = community_key(name)

    def candidates(self, text: str) -> set[int]:
        key = community_key(text)
        found = self.by_key.get(key)
        if not found and key == _bare(key):  # no 村/社区 written: 杨湾 for 杨湾村 (or for 杨湾社区)
            found = self.by_bare.get(key)
        return found or set()

    def match(self, text: str) -> int | None:
        found = self.candidates(text)
        return next(iter(found)) if len(found) == 1 else None

    def closest(self, text: str, limit: int = 3) -> list[str]:
        """The town's names closest to ``text``, by characters or by pinyin (新加社区 → 新家社区)."""
        from rapidfuzz.fuzz import ratio

        if self._pinyin is None:
            self._pinyin = {pk: _pinyin(short) for pk, short in self.short.items()}
        key = community_key(text)
        key_pinyin = _pinyin(key)
        scored = sorted(
            (
                (max(ratio(key, short), ratio(key_pinyin, self._pinyin[pk])), short)
                for pk, short in self.short.items()
            ),
            key=lambda s: (-s[0], s[1]),
        )
        if not scored or scored[0][0] < 60:
            return []
        best = scored[0][0]
        out: list[str] = []
        for score, short in scored:
            if score < max(60, best - 8) or len(out) == limit:
                break
            if short not in out:
                out.append(short)
        return out


@dataclass
class RegionLookup:
    """Towns by name and code; communities by (town id, name), matched in short form too.

    ``community_resolve`` answers each distinct (town, name) pair once (a 100,000-row import names a few
    hundred), so the fuzzy suggestions cost nothing per row."""

    towns: dict[str, int]
    communities: dict[tuple[int, str], int]
    town_names: dict[int, str] = field(default_factory=dict)
    _by_town: dict[int, _TownCommunities] | None = field(default=None, repr=False)
    _resolved: dict[tuple, tuple[int | None, str, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls) -> RegionLookup:
        from .models import Region

        towns: dict[str, int] = {}
        town_names: dict[int, str] = {}
        communities: dict[tuple[int, str], int] = {}
        for pk, code, name, level, parent_id in Region.objects.values_list(
            "pk", "code", "name", "level", "parent_id"
        ):
            if level == Region.Level.TOWN:
                towns[name] = pk
                towns[code] = pk
                town_names[pk] = name
                if name == "甪直镇":
                    towns["甬直镇"] = pk  # a common OCR and typing error of 甪
            elif level == Region.Level.COMMUNITY:
                communities[(parent_id, name)] = pk
        return cls(towns, communities, town_names)

    def town_id(self, text: str) -> int | None:
        found = self.towns.get(text)
        return found if found is not None else self.towns.get(normalize_name(text))

    def _index(self) -> dict[int, _TownCommunities]:
        if self._by_town is None:
            self._by_town = {}
            for (town_id, name), pk in self.communities.items():
                self._by_town.setdefault(town_id, _TownCommunities()).add(pk, name)
        return self._by_town

    def community_resolve(
        self, town_id: int, text: str, *, allow_new: bool = False, town_label: str = ""
    ) -> tuple[int | None, str, str]:
        """(region id, name of a community to create, error message) for what a clerk wrote."""
        cache_key = (town_id, text, allow_new)
        known = self._resolved.get(cache_key)
        if known is None:
            known = self._resolved[cache_key] = self._community_resolve(town_id, text, allow_new, town_label)
        return known

    def _community_resolve(
        self, town_id: int, text: str, allow_new: bool, town_label: str
    ) -> tuple[int | None, str, str]:
        index = self._index()
        own = index.get(town_id) or _TownCommunities()
        pk = self.communities.get((town_id, text))
        if pk:
            return pk, "", ""
        found = own.candidates(text)
        town = self.town_names.get(town_id) or town_label
        if len(found) == 1:
            return next(iter(found)), "", ""
        if found:  # 杨湾 where the town has 杨湾村 and 杨湾社区: never guessed, never created
            names = "、".join(sorted(own.short[pk] for pk in found))
            return None, "", f"“{text}”在{town}有{len(found)}个：{names}，请写明是哪一个"
        others = sorted(
            {self.town_names.get(t, "") for t, other in index.items() if t != town_id and other.match(text)}
            - {""}
        )
        if others:
            return None, "", f"“{text}”属于{'、'.join(others)}，不是{town}的村(社区)"
        if allow_new:
            return None, normalize_name(text), ""
        closest = own.closest(text)
        if closest:
            return None, "", f"“{text}”不是{town}的村(社区)，是否为：{'、'.join(closest)}？"
        return None, "", f"“{text}”不是{town}的村(社区)（新设立的村(社区)可勾选“自动新建村(社区)”）"


def validate_person_record(
    raw: dict[str, object],
    *,
    regions: RegionLookup,
    today: date,
    allow_new_community: bool = False,
) -> tuple[PersonRecord, dict[str, str]]:
    texts = {k: _text(v) for k, v in raw.items()}
    rec = PersonRecord(provided={k for k, t in texts.items() if t})
    errors: dict[str, str] = {}

    rec.name = _no_spaces(texts.get("name", ""))
    if not rec.name:
        errors["name"] = "姓名不能为空"
    elif not _NAME_RE.match(rec.name):
        errors["name"] = "姓名应为2至30个汉字（少数民族姓名可含“·”）"

    raw_id = raw.get("id_number")
    try:
        rec.id_number = identity.validate_id(raw_id)
        rec.birth_date = identity.birth_date(rec.id_number)
        rec.sex = identity.sex(rec.id_number)
        if rec.birth_date > today:
            errors["id_number"] = "身份证号中的出生日期在将来"
    except identity.IdentityError as exc:
        errors["id_number"] = exc.message

    cert_raw = raw.get("certificate_number")
    if texts.get("certificate_number"):
        try:
            cert = identity.parse_certificate(cert_raw, holder_id=rec.id_number or None)
            rec.certificate_number, rec.category, rec.grade, rec.reissue = (
                cert.number,
                cert.category,
                cert.grade,
                cert.reissue,
            )
        except identity.IdentityError as exc:
            errors["certificate_number"] = exc.message
    else:
        errors["certificate_number"] = "残疾人证号不能为空"

    for key, table, label in (("category", CATEGORIES, "残疾类别"), ("grade", GRADES, "残疾等级")):
        text = texts.get(key, "")
        if not text:
            continue
        given = table.get(text)
        if given is None:
            errors[key] = f"无法识别的{label}“{text}”"
        elif "certificate_number" not in errors and getattr(rec, key) != given:
            shown = (
                Certificate.Category(rec.category).label
                if key == "category"
                else Certificate.Grade(rec.grade).label
            )
            errors[key] = f"{label}“{text}”与残疾人证号中的{label}（{shown}）不一致"

    try:
        rec.issue_date = parse_date(raw.get("issue_date"))
        if rec.issue_date is None:
            errors["issue_date"] = "发证日期不能为空"
        elif rec.issue_date > today:
            errors["issue_date"] = "发证日期不能晚于今天"
        elif rec.birth_date and rec.issue_date < rec.birth_date:
            errors["issue_date"] = "发证日期早于持证人出生日期"
    except FieldError as exc:
        errors["issue_date"] = exc.message

    town_text = _no_spaces(texts.get("town", ""))
    town_id = regions.town_id(town_text) if town_text else None
    if not town_text:
        errors["town"] = "镇(街道)不能为空"
    elif town_id is None:
        errors["town"] = f"未知的镇(街道)“{town_text}”"
    else:
        rec.town_id = town_id
        community_text = _no_spaces(texts.get("community", ""))
        if community_text:
            rec.community_id, rec.community_name, error = regions.community_resolve(
                town_id, community_text, allow_new=allow_new_community, town_label=town_text
            )
            if error:
                errors["community"] = error

    for key, table, label, required in (
        ("household_type", HOUSEHOLD_TYPES, "户口性质", True),
        ("economic_status", ECONOMIC_STATUSES, "家庭经济状况", False),
        ("employment_status", EMPLOYMENT_STATUSES, "就业状况", False),
    ):
        text = texts.get(key, "")
        if not text and required:
            errors[key] = f"{label}不能为空"
            continue
        value = table.get(text)
        if value is None:
            allowed = "、".join(sorted({k for k in table if k and not k.isascii()}))
            errors[key] = f"无法识别的{label}“{text}”，可填：{allowed}"
        else:
            setattr(rec, key, value)

    for key in ("phone", "guardian_phone"):
        text = identity.normalize(raw.get(key))
        if isinstance(raw.get(key), float):
            text = _text(raw.get(key))
        if text and not _PHONE_RE.match(text):
            errors[key] = "联系电话应为11位手机号或带区号的固定电话"
        setattr(rec, key, text)

    rec.address = texts.get("address", "")[:200]
    rec.guardian_name = texts.get("guardian_name", "")[:50]
    rec.guardian_relation = texts.get("guardian_relation", "")[:20]
    if (
        rec.birth_date
        and identity.age_on(rec.birth_date, today) < 18
        and not rec.guardian_name
        and "guardian_name" in raw
    ):
        errors["guardian_name"] = "未成年人应填写监护人"
    return rec, errors
