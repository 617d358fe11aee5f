"""The person's circumstances, dated: the facts the benefit rules read (DOMAIN.md §4–5, issue 8 §1).

Services (each atomic, attributed to ``acting_user``, scoped through ``accounts.access`` and audited on the
person, so the person's history shows them):

* ``circumstance_add`` records one fact (无固定收入, 一户多残或依老养残, 工伤保险生活护理费, 孤儿或事实无人抚养,
  老年护理补贴 with its monthly amount, 长期护理需求, 迁出) from a date, optionally to a date; it refuses a
  period that overlaps another of the same kind. Submitting the same period twice records it once.
* ``circumstance_end`` ends an open period on a date.
* ``employment_status_change`` dates the employment status; ``Person.employment_status`` stays the current
  value. A person without employment periods has had the current value throughout; the first change
  records the earlier value as held until the day before.

Moving out (``moved_out``) keeps ``Person.status`` in step (迁出 while the move is open, 在册 once ended).

The import helpers at the bottom (``FACT_COLUMNS``, ``parse_facts``, ``plan_facts``) are pure: the
person import runs them in its worker processes and applies the plans set-based.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from canlian.accounts import access
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed

from .models import CircumstanceKind, EmploymentPeriod, EmploymentStatus, Person, PersonCircumstance

KIND_LABELS = dict(CircumstanceKind.choices)
# short labels for messages and the import report
SHORT_LABELS = {
    CircumstanceKind.NO_FIXED_INCOME: "无固定收入",
    CircumstanceKind.MULTIPLE_IN_HOUSEHOLD: "一户多残或依老养残",
    CircumstanceKind.INJURY_CARE: "工伤保险生活护理费",
    CircumstanceKind.ORPHAN_ALLOWANCE: "孤儿或事实无人抚养",
    CircumstanceKind.ELDERLY_CARE: "老年护理补贴",
    CircumstanceKind.CARE_NEED: "长期护理需求",
    CircumstanceKind.MOVED_OUT: "迁出",
}
AMOUNT_MAX = Decimal("100000")


def _span(valid_from: date, valid_to: date | None) -> str:
    return f"{valid_from.isoformat()}～{valid_to.isoformat() if valid_to else '至今'}"


def _period_text(p: PersonCircumstance) -> str:
    amount = f"{p.amount} 元/月，" if p.amount is not None else ""
    return f"“{SHORT_LABELS[p.kind]}”（{amount}{_span(p.valid_from, p.valid_to)}）"


def overlapping(periods, *, valid_from: date, valid_to: date | None, exclude_pk=None):
    """The first of ``periods`` that shares a day with [valid_from, valid_to], or None."""
    for p in periods:
        if p.pk is not None and p.pk == exclude_pk:
            continue
        if (valid_to is None or p.valid_from <= valid_to) and (
            p.valid_to is None or p.valid_to >= valid_from
        ):
            return p
    return None


def parse_amount(value) -> Decimal:
    """A monthly amount in yuan, exact to the fen; FieldError-like ValueError with a Chinese message."""
    if isinstance(value, Decimal):
        amount = value
    else:
        text = str(value).strip().replace(",", "").replace("，", "").removesuffix("元")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"金额“{value}”不是数字") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError("金额应大于 0")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError("金额最多精确到分（两位小数）")
    if amount >= AMOUNT_MAX:
        raise ValueError("金额过大，请填写每月金额（元）")
    return amount.quantize(Decimal("0.01"))


def _sync_moved_out_status(person: Person, today: date) -> dict:
    """Person.status follows the open move: 迁出 while a move (dated today or earlier) is open."""
    moved = PersonCircumstance.objects.filter(
        person=person, kind=CircumstanceKind.MOVED_OUT, valid_from__lte=today, valid_to__isnull=True
    ).exists()
    old = person.status
    if moved and old == Person.Status.ACTIVE:
        person.status = Person.Status.MOVED_OUT
    elif not moved and old == Person.Status.MOVED_OUT:
        person.status = Person.Status.ACTIVE
    if person.status == old:
        return {}
    person.save(update_fields=["status", "updated_at"])
    return {"status": [old, person.status]}


def _touch(person: Person) -> None:
    """A change of the person's facts is a change of the person: an import staged before it sees that its
    preview is stale (``importers._recheck`` compares ``updated_at``)."""
    person.updated_at = timezone.now()
    Person.objects.filter(pk=person.pk).update(updated_at=person.updated_at)


def _locked_person(acting_user, person: Person) -> Person:
    person = Person.objects.select_for_update().get(pk=person.pk)
    if not access.can_edit_person(acting_user, person):
        raise PermissionDenied("您无权修改该残疾人的家庭与个人情况")
    return person


@transaction.atomic
def circumstance_add(
    *,
    acting_user,
    person: Person,
    kind: str,
    valid_from: date | None,
    valid_to: date | None = None,
    amount: Decimal | None = None,
    source: str = "",
) -> PersonCircumstance:
    """Record ``kind`` from ``valid_from`` (to ``valid_to``, or open). The same period submitted again
    (a double submit) returns the recorded one and writes nothing."""
    person = _locked_person(acting_user, person)
    today = timezone.localdate()
    if kind not in CircumstanceKind.values:
        raise ValidationFailed({"kind": "请选择要登记的情况"})
    errors: dict[str, str] = {}
    if valid_from is None:
        errors["valid_from"] = "请填写起始日期" if kind != CircumstanceKind.MOVED_OUT else "请填写迁出日期"
    elif valid_from > today:
        errors["valid_from"] = (
            "起始日期不能晚于今天" if kind != CircumstanceKind.MOVED_OUT else "迁出日期不能晚于今天"
        )
    elif valid_from < person.birth_date:
        errors["valid_from"] = f"起始日期早于出生日期（{person.birth_date.isoformat()}）"
    if valid_to is not None and valid_from is not None and valid_to < valid_from:
        errors["valid_to"] = "截止日期不能早于起始日期"
    if kind == CircumstanceKind.ELDERLY_CARE:
        if amount in (None, ""):
            errors["amount"] = "请填写老年护理补贴的每月金额（元）"
        else:
            try:
                amount = parse_amount(amount)
            except ValueError as exc:
                errors["amount"] = str(exc)
    elif amount not in (None, ""):
        errors["amount"] = "只有老年护理补贴需要填写金额"
    else:
        amount = None
    source = (source or "").strip()
    if len(source) > 100:
        errors["source"] = "来源不能超过100个字"
    if errors:
        raise ValidationFailed(errors)
    same_kind = list(PersonCircumstance.objects.filter(person=person, kind=kind))
    for p in same_kind:
        if (p.valid_from, p.valid_to, p.amount) == (valid_from, valid_to, amount):
            return p  # already recorded: a double submit
    clash = overlapping(same_kind, valid_from=valid_from, valid_to=valid_to)
    if clash is not None:
        hint = "，请先结束该记录" if clash.valid_to is None else ""
        raise ValidationFailed({"valid_from": f"与已登记的{_period_text(clash)}重叠{hint}"})
    period = PersonCircumstance.objects.create(
        person=person,
        kind=kind,
        amount=amount,
        valid_from=valid_from,
        valid_to=valid_to,
        source=source or "档案页登记",
        created_by=acting_user,
    )
    changes = {
        "circumstance": [None, SHORT_LABELS[kind]],
        "valid_from": [None, valid_from.isoformat()],
        "valid_to": [None, valid_to.isoformat() if valid_to else None],
        "amount": [None, str(amount) if amount is not None else None],
        "source": [None, period.source],
    }
    if kind == CircumstanceKind.MOVED_OUT:
        changes |= _sync_moved_out_status(person, today)
    _touch(person)
    audit_record(acting_user=acting_user, action="person.circumstance_add", obj=person, changes=changes)
    return period


@transaction.atomic
def circumstance_end(
    *, acting_user, circumstance: PersonCircumstance, valid_to: date | None
) -> PersonCircumstance:
    """End an open period on ``valid_to`` (the last day it holds). Ending it again on the same day is a
    no-op (a double submit)."""
    person = _locked_person(acting_user, circumstance.person)
    period = PersonCircumstance.objects.select_for_update().get(pk=circumstance.pk, person=person)
    if valid_to is None:
        raise ValidationFailed({"valid_to": "请填写截止日期"})
    if period.valid_to is not None:
        if period.valid_to == valid_to:
            return period
        raise ValidationFailed({"valid_to": f"该记录已于 {period.valid_to.isoformat()} 结束"})
    if valid_to < period.valid_from:
        raise ValidationFailed({"valid_to": f"截止日期不能早于起始日期（{period.valid_from.isoformat()}）"})
    period.valid_to = valid_to
    period.save(update_fields=["valid_to"])
    changes = {
        "circumstance": [None, SHORT_LABELS[period.kind]],
        "valid_from": [None, period.valid_from.isoformat()],
        "valid_to": [None, valid_to.isoformat()],
    }
    if period.kind == CircumstanceKind.MOVED_OUT:
        changes |= _sync_moved_out_status(person, timezone.localdate())
    _touch(person)
    audit_record(acting_user=acting_user, action="person.circumstance_end", obj=person, changes=changes)
    return period


def person_circumstances(person: Person) -> list[PersonCircumstance]:
    """Every period of the person, by kind (in the order of ``CircumstanceKind``), latest first."""
    order = {k: i for i, k in enumerate(CircumstanceKind.values)}
    periods = list(PersonCircumstance.objects.filter(person=person))
    return sorted(periods, key=lambda p: (order[p.kind], -p.valid_from.toordinal()))


# ---- employment ------------------------------------------------------------------------------------------


@transaction.atomic
def employment_status_change(
    *,
    acting_user,
    person: Person,
    status: str,
    valid_from: date,
    source: str = "",
    audit: bool = True,
    previous: str | None = None,
) -> EmploymentPeriod | None:
    """The employment status from ``valid_from``: the open period ends the day before, a new one opens
    (none for 未填写), and ``Person.employment_status`` becomes ``status`` when ``valid_from`` is today
    or earlier. ``audit=False`` for a caller that audits the change itself (``person_update``, which passes
    the status before its own update as ``previous``)."""
    if audit:
        person = _locked_person(acting_user, person)
    if status not in EmploymentStatus.values:
        raise ValidationFailed({"employment_status": "无效的就业状况"})
    today = timezone.localdate()
    if valid_from > today:
        raise ValidationFailed({"valid_from": "起始日期不能晚于今天"})
    periods = list(EmploymentPeriod.objects.select_for_update().filter(person=person))
    later = [p.valid_from for p in periods if p.valid_from > valid_from]
    if later:
        raise DomainError(
            f"该人员已有自 {max(later).isoformat()} 起的就业状况记录，请按时间顺序登记", field="valid_from"
        )
    old_status = person.employment_status if previous is None else previous
    if not periods and old_status and valid_from > person.birth_date:
        # the first dated change: until then the person had the status recorded before it
        periods.append(
            EmploymentPeriod.objects.create(
                person=person,
                status=old_status,
                valid_from=person.birth_date,
                valid_to=valid_from - timedelta(days=1),
                source="此前登记的就业状况",
                created_by=acting_user,
            )
        )
    same_day = [p for p in periods if p.valid_from == valid_from]
    for p in same_day:  # a correction on the same day replaces that day's period
        p.delete()
    for p in periods:
        if p.valid_to is None and p.valid_from < valid_from:
            p.valid_to = valid_from - timedelta(days=1)
            p.save(update_fields=["valid_to"])
    new = None
    if status:
        new = EmploymentPeriod.objects.create(
            person=person,
            status=status,
            valid_from=valid_from,
            source=source or "登记",
            created_by=acting_user,
        )
    if person.employment_status != status and valid_from <= today:
        person.employment_status = status
        person.save(update_fields=["employment_status", "updated_at"])
    if audit:
        audit_record(
            acting_user=acting_user,
            action="person.employment_status",
            obj=person,
            changes={"employment_status": [old_status, status], "valid_from": [None, valid_from.isoformat()]},
        )
    return new


# ---- import ----------------------------------------------------------------------------------------------

FLAG_KINDS = (
    CircumstanceKind.NO_FIXED_INCOME,
    CircumstanceKind.MULTIPLE_IN_HOUSEHOLD,
    CircumstanceKind.INJURY_CARE,
    CircumstanceKind.ORPHAN_ALLOWANCE,
)
# import column key → accepted headers (the first is the template's)
FACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "no_fixed_income": ("无固定收入", "是否无固定收入", "无固定收入人员"),
    "multiple_in_household": (
        "一户多残或依老养残",
        "一户多残/依老养残",
        "一户多残",
        "依老养残",
        "是否一户多残",
        "一户多残或依老养残家庭",
    ),
    "injury_care": ("工伤保险生活护理费", "领取工伤保险生活护理费", "工伤护理费", "工伤保险护理费", "工伤"),
    "orphan_allowance": (
        "孤儿或事实无人抚养",
        "孤儿或事实无人抚养儿童",
        "孤儿/事实无人抚养",
        "孤儿",
        "事实无人抚养儿童",
        "孤儿基本生活费",
    ),
    "elderly_care": ("老年护理补贴(元/月)", "老年护理补贴", "老年护理补贴金额", "老年护理补贴(元)"),
    "moved_out": ("迁出日期", "迁出时间", "户籍迁出日期"),
}
# optional "<column>起始日期" columns: the date a fact starts (default: the import date)
FACT_FROM_COLUMNS: dict[str, tuple[str, ...]] = {
    f"{key}_from": tuple(
        dict.fromkeys(
            f"{name.removesuffix('(元/月)').removesuffix('(元)')}{suffix}"
            for name in names
            for suffix in ("起始日期", "开始日期", "起始时间")
        )
    )
    for key, names in FACT_COLUMNS.items()
    if key != "moved_out"
}
FACT_LABELS = {key: names[0] for key, names in FACT_COLUMNS.items()} | {
    key: names[0] for key, names in FACT_FROM_COLUMNS.items()
}
IMPORT_COLUMNS = FACT_COLUMNS | FACT_FROM_COLUMNS
FLAG_VALUES = {
    "是": True,
    "否": False,
    "y": True,
    "n": False,
    "yes": True,
    "no": False,
    "1": True,
    "0": False,
    "√": True,
    "✓": True,
    "✔": True,
    "×": False,
    "✗": False,
    "有": True,
    "无": False,
    "true": True,
    "false": False,
}


@dataclass(frozen=True, slots=True)
class FactCell:
    """What one row says about one kind: on (from ``valid_from``, with ``amount``) or off."""

    on: bool
    valid_from: date | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FactOp:
    """One write of an import plan: open a period, or end the open one (``period_id``) on ``valid_to``."""

    kind: str
    valid_from: date | None = None
    amount: Decimal | None = None
    period_id: int | None = None
    valid_to: date | None = None


def parse_facts(raw: dict, *, today: date, parse_date) -> tuple[dict[str, FactCell], dict[str, str]]:
    """The fact columns of one import row: kind → FactCell (blank cells are absent: no change), and errors
    keyed by column key. ``parse_date`` is ``validation.parse_date`` (raises FieldError)."""
    cells: dict[str, FactCell] = {}
    errors: dict[str, str] = {}

    def text_of(key: str) -> str:
        value = raw.get(key)
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()

    def start_of(key: str) -> date | None:
        from_key = f"{key}_from"
        if not text_of(from_key):
            return today
        try:
            start = parse_date(raw.get(from_key))
        except ValueError as exc:
            errors[from_key] = getattr(exc, "message", str(exc))
            return None
        if start > today:
            errors[from_key] = "起始日期不能晚于今天"
            return None
        return start

    for kind in FLAG_KINDS:
        text = text_of(kind).lower()
        if not text:
            continue
        flag = FLAG_VALUES.get(text)
        if flag is None:
            errors[kind] = (
                f"{FACT_LABELS[kind]}应填“是”或“否”（也可填 Y/N、1/0、√，不填表示不变），不能填“{text_of(kind)}”"
            )
            continue
        start = start_of(kind) if flag else today
        if start is not None:
            cells[kind] = FactCell(flag, start)
    text = text_of("elderly_care")
    if text:
        if FLAG_VALUES.get(text.lower()) is False or text in ("0", "0.0", "0.00"):
            cells["elderly_care"] = FactCell(False, today)
        else:
            try:
                amount = parse_amount(text)
            except ValueError as exc:
                errors["elderly_care"] = f"老年护理补贴应填每月金额（元），{exc}"
            else:
                start = start_of("elderly_care")
                if start is not None:
                    cells["elderly_care"] = FactCell(True, start, amount)
    if text_of("moved_out"):
        try:
            moved = parse_date(raw.get("moved_out"))
        except ValueError as exc:
            errors["moved_out"] = getattr(exc, "message", str(exc))
        else:
            if moved > today:
                errors["moved_out"] = "迁出日期不能晚于今天"
            else:
                cells["moved_out"] = FactCell(True, moved)
    return cells, errors


def _cell_text(cell: FactCell, kind: str) -> str:
    if not cell.on:
        return "否"
    if kind == CircumstanceKind.MOVED_OUT:
        return f"{cell.valid_from.isoformat()} 迁出"
    amount = f"{cell.amount} 元/月，" if cell.amount is not None else "是，"
    return f"{amount}{cell.valid_from.isoformat()} 起"


def _open_text(p) -> str:
    if p is None:
        return "否"
    if p.kind == CircumstanceKind.MOVED_OUT:
        return f"{p.valid_from.isoformat()} 迁出"
    amount = f"{p.amount} 元/月，" if p.amount is not None else "是，"
    return f"{amount}{p.valid_from.isoformat()} 起"


def plan_facts(
    cells: dict[str, FactCell], periods, *, today: date, birth_date: date | None
) -> tuple[list[FactOp], dict[str, tuple[str, str]], dict[str, str]]:
    """Against a person's recorded periods (any iterable of objects with ``pk``, ``kind``, ``amount``,
    ``valid_from``, ``valid_to``; empty for a new person): the writes, the changes (column key →
    (old, new) text, for the preview and the audit) and the errors. The same file imported again plans
    nothing."""
    ops: list[FactOp] = []
    changes: dict[str, tuple[str, str]] = {}
    errors: dict[str, str] = {}
    by_kind: dict[str, list] = {}
    for p in periods:
        by_kind.setdefault(p.kind, []).append(p)
    for kind, cell in cells.items():
        mine = by_kind.get(kind, [])
        current = next((p for p in mine if p.valid_to is None), None)
        label = FACT_LABELS[kind]
        if not cell.on:
            if current is None:
                continue
            end = today - timedelta(days=1)
            if current.valid_from > end:
                errors[kind] = (
                    f"已登记自 {current.valid_from.isoformat()} 起的“{label}”，不能从今天起结束；请在档案页更正"
                )
                continue
            ops.append(FactOp(kind, period_id=current.pk, valid_to=end))
            changes[kind] = (_open_text(current), f"否（{end.isoformat()} 止）")
            continue
        if birth_date is not None and cell.valid_from < birth_date:
            errors[kind if kind == "moved_out" else f"{kind}_from"] = "日期早于出生日期"
            continue
        if current is not None and kind == CircumstanceKind.MOVED_OUT:
            if current.valid_from != cell.valid_from:
                errors[kind] = (
                    f"已登记于 {current.valid_from.isoformat()} 迁出，与本行的 {cell.valid_from.isoformat()} 不一致；"
                    "如需更正请在档案页操作"
                )
            continue
        if current is not None and current.amount == cell.amount:
            continue  # already recorded (the start date in the file may be the import date of last time)
        start = cell.valid_from
        if current is not None:  # an amount that changed: end the old one the day before
            if current.valid_from >= start:
                errors[kind] = (
                    f"已登记自 {current.valid_from.isoformat()} 起每月 {current.amount} 元，"
                    f"不能从 {start.isoformat()} 起改为 {cell.amount} 元；请在档案页更正"
                )
                continue
            ops.append(FactOp(kind, period_id=current.pk, valid_to=start - timedelta(days=1)))
        clash = overlapping([p for p in mine if p is not current], valid_from=start, valid_to=None)
        if clash is not None:
            errors[kind] = f"与已登记的{_period_text(clash)}重叠"
            continue
        ops.append(FactOp(kind, valid_from=start, amount=cell.amount))
        changes[kind] = (_open_text(current), _cell_text(cell, kind))
    if errors:
        return [], {}, errors
    return ops, changes, errors
