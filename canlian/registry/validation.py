"""One set of field rules for a person record, shared by the web form, the importer and the CLI.

``validate_person_record(raw)`` takes loosely typed values (strings from a form, cells from a sheet) and
returns a ``PersonRecord`` plus a dict of Chinese error messages keyed by field name. Region lookups are
passed in as dicts so that a 100,000-row import validates without a query per row.
"""

from __future__ import annotations

import re
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


@dataclass
class RegionLookup:
    """Towns by name and code; communities by (town id, name)."""

    towns: dict[str, int]
    communities: dict[tuple[int, str], int]

    @classmethod
    def load(cls) -> RegionLookup:
        from .models import Region

        towns: dict[str, int] = {}
        communities: dict[tuple[int, str], int] = {}
        for pk, code, name, level, parent_id in Region.objects.values_list(
            "pk", "code", "name", "level", "parent_id"
        ):
            if level == Region.Level.TOWN:
                towns[name] = pk
                towns[code] = pk
                if name == "甪直镇":
                    towns["甬直镇"] = pk  # a common OCR and typing error of 甪
            elif level == Region.Level.COMMUNITY:
                communities[(parent_id, name)] = pk
        return cls(towns, communities)


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
    if not town_text:
        errors["town"] = "镇(街道)不能为空"
    elif town_text not in regions.towns:
        errors["town"] = f"未知的镇(街道)“{town_text}”"
    else:
        rec.town_id = regions.towns[town_text]
        community_text = _no_spaces(texts.get("community", ""))
        if community_text:
            community_id = regions.communities.get((rec.town_id, community_text))
            if community_id:
                rec.community_id = community_id
            elif allow_new_community:
                rec.community_name = community_text
            else:
                errors["community"] = (
                    f"“{town_text}”下没有村(社区)“{community_text}”（可勾选“自动新建村(社区)”）"
                )

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
