"""Outside lists: read → map columns → check every row → keep the list with its rows (one transaction).

Each kind of list has a set of required columns and the names other offices use for them. When a file's
header lacks a required column, ``MappingRequired`` carries the headers found so that the user can say
which column is which; the mapping is remembered per source (``OutsideSource.mapping``) and used for the
next file from that source.

ID numbers are normalised exactly as in the registry (``registry.identity``: spaces, full width,
lower-case x, 15 → 18 digits). A row whose ID is invalid is kept with the reason (``id_error``) and still
goes to fuzzy matching by name and birth date; a row with another unusable value (a date that does not
exist, a negative amount) is reported with its Excel row and column and not kept.

The reading, the mapping, the rows (errors and warnings by column), the report, the command line and the job
are those of every import (``common.staged_import``); this module holds what is particular to outside lists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from canlian.common import spreadsheet, staged_import
from canlian.common.exceptions import DomainError
from canlian.common.jobs import Progress, noop_progress
from canlian.common.masking import mask_id_number
from canlian.common.staged_import import (
    CREATED,
    REJECTED,
    ReportLayout,
    Row,
    StagedImport,
    row_error,
)
from canlian.common.staged_import import (
    MappingRequired as MappingRequired,  # raised by ``outside_list_stage``: the user says which column is which
)
from canlian.registry import identity
from canlian.registry.services import id_index, name_pinyin
from canlian.registry.validation import FieldError, parse_date

from .models import ListKind

ERROR_LIMIT = 500
PROGRESS_EVERY = 500  # rows between two progress reports while checking
# Progress phases (``progress(done, total, message)``). The write runs in one transaction, where the Job row's
# progress is not visible to other connections: pages show PHASE_WRITE as an indeterminate bar.
PHASE_READ, PHASE_STAGE, PHASE_WRITE, PHASE_DONE = (
    "正在读取文件",
    "正在校验",
    "正在保存名单并比对",
    "导入完成",
)

BASE_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "死者姓名", "人员姓名", "对象姓名", "保障对象姓名", "名字", "持证人姓名"),
    "id_number": (
        "身份证号",
        "身份证号码",
        "公民身份号码",
        "证件号码",
        "证件号",
        "身份证",
        "居民身份证号",
        "死者身份证号",
    ),
    "birth_date": ("出生日期", "出生年月日", "出生年月"),
    "end_date": ("终止日期", "停保日期", "退出日期", "结束日期", "截止日期", "终止时间"),
    "amount": ("月补贴金额", "补贴金额", "月金额", "发放金额", "金额", "月标准", "补贴标准"),
    "town": ("镇(街道)", "乡镇(街道)", "镇街", "所属镇(街道)", "乡镇", "街道"),
    "certificate_number": ("残疾人证号", "残疾证号"),
    "note": ("备注", "原因", "注销原因", "迁出原因", "说明"),
}
EVENT_ALIASES: dict[str, tuple[str, ...]] = {
    ListKind.DEATHS: ("死亡日期", "死亡时间", "火化日期", "火化时间", "死亡(火化)日期", "死亡火化日期"),
    ListKind.DIBAO: ("起始日期", "享受起始日期", "纳入日期", "审批日期", "开始日期", "保障起始日期"),
    ListKind.TEKUN: ("起始日期", "纳入日期", "供养起始日期", "审批日期", "开始日期"),
    ListKind.INJURY_CARE: ("起始日期", "享受起始日期", "核定日期", "开始日期", "待遇起始日期"),
    ListKind.ELDERLY_CARE: ("起始日期", "享受起始日期", "开始日期", "发放起始日期"),
    ListKind.MOVED_OUT: ("迁出日期", "迁出时间", "户籍迁出日期", "注销日期"),
    ListKind.CERT_CANCELLED: ("注销日期", "注销时间", "证件注销日期"),
}
EVENT_LABELS = {
    ListKind.DEATHS: "死亡日期",
    ListKind.DIBAO: "起始日期",
    ListKind.TEKUN: "起始日期",
    ListKind.INJURY_CARE: "起始日期",
    ListKind.ELDERLY_CARE: "起始日期",
    ListKind.MOVED_OUT: "迁出日期",
    ListKind.CERT_CANCELLED: "注销日期",
}
FIELD_LABELS = {
    "name": "姓名",
    "id_number": "身份证号",
    "birth_date": "出生日期",
    "end_date": "终止日期",
    "amount": "月补贴金额（元）",
    "town": "镇(街道)",
    "certificate_number": "残疾人证号",
    "note": "备注",
}
REQUIRED: dict[str, tuple[str, ...]] = {
    ListKind.DEATHS: ("name", "id_number", "event_date"),
    ListKind.DIBAO: ("name", "id_number"),
    ListKind.TEKUN: ("name", "id_number"),
    ListKind.INJURY_CARE: ("name", "id_number"),
    ListKind.ELDERLY_CARE: ("name", "id_number", "amount"),
    ListKind.MOVED_OUT: ("name", "id_number", "event_date"),
    ListKind.CERT_CANCELLED: ("name", "id_number", "event_date"),
}


def field_label(kind: str, key: str) -> str:
    return EVENT_LABELS[kind] if key == "event_date" else FIELD_LABELS[key]


def aliases_for(kind: str, mapping: dict[str, str] | None = None) -> dict[str, tuple[str, ...]]:
    """Column names accepted for each field of ``kind``; a mapping (field → header) takes precedence."""
    if kind not in ListKind.values:
        raise DomainError(f"未知的名单类型：{kind}")
    return staged_import.apply_mapping({**BASE_ALIASES, "event_date": EVENT_ALIASES[kind]}, mapping)


class NothingToImport(DomainError):
    """Every row of the file has an error: nothing is kept. ``errors`` says which row and column, and why."""

    def __init__(self, message: str, *, errors: list[dict], rejected: int):
        super().__init__(message)
        self.errors = errors  # [{row, column, message}], at most ERROR_LIMIT
        self.rejected = rejected


@dataclass(slots=True)
class StagedRow:
    row_number: int
    name: str
    pinyin: str
    initials: str
    id_raw: str
    id_number: str
    id_index: str
    id_error: str
    birth_date: date | None
    event_date: date | None
    end_date: date | None
    amount_fen: int | None
    extra: dict


KEPT_NOTE = "（已保留，按姓名和出生日期模糊比对）"


@dataclass
class StagedList(StagedImport):
    """Every row of an outside list, checked (``staged_import.Row``): a row kept becomes a row of the list
    (outcome created, ``values["kept"]`` the ``StagedRow``), a row with an unusable value is rejected. An
    invalid ID number is a warning: the row is kept and matched by name and birth date."""

    layout = ReportLayout(
        sheet="名单",
        outcome="处理结果",
        errors="错误说明",
        warnings="提示",
        text_keys=("id_number", "certificate_number"),
    )

    kind: str
    filename: str
    table: spreadsheet.Table
    rows: list[Row] = field(default_factory=list)
    committed: bool = False

    @property
    def headers(self) -> list[str]:
        return self.table.headers

    @property
    def columns(self) -> dict[str, str]:
        """Field key → header used."""
        return {k: self.table.header_of(k) for k in self.table.columns}

    def label_of(self, key: str) -> str:
        return field_label(self.kind, key)

    @property
    def kept(self) -> list[StagedRow]:
        return [r.values["kept"] for r in self.rows if r.outcome == CREATED and not r.errors]

    @property
    def rejected(self) -> int:
        return sum(1 for r in self.rows if r.errors)

    @property
    def invalid_ids(self) -> int:
        return sum(1 for r in self.rows if not r.errors and r.warnings.get("id_number"))

    def notes(self, *, limit: int = ERROR_LIMIT) -> list[dict]:
        """What the list keeps and shows: the errors of rejected rows and, for kept rows, why their ID number
        is invalid, in row order, at most ``limit``."""
        out: list[dict] = []
        for r in self.rows:
            if r.errors:
                out += [row_error(r.row, self.column_label(k), m) for k, m in r.errors.items()]
            elif "id_number" in r.warnings:
                out.append(
                    row_error(r.row, self.column_label("id_number"), r.warnings["id_number"] + KEPT_NOTE)
                )
            if len(out) >= limit:
                return out[:limit]
        return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _amount_fen(value: Any) -> int | None:
    text = (
        _text(value).replace(",", "").replace("，", "").replace("元", "").replace("¥", "").replace("￥", "")
    )
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise FieldError(f"金额“{text[:20]}”不是数字") from None
    if amount < 0:
        raise FieldError("金额不能为负数")
    if amount != amount.quantize(Decimal("0.01")):
        raise FieldError("金额最多保留两位小数（到分）")
    return int(amount * 100)


def _birth_from_raw(raw: str) -> date | None:
    """The birth date in an ID that failed its checks (a typo elsewhere leaves the date readable)."""
    digits = raw
    if len(raw) == 15 and raw.isdigit():
        digits = raw[:6] + "19" + raw[6:] + "0"
    if len(digits) != 18 or not digits[:14].isdigit():
        return None
    try:
        born = identity.birth_date(digits)
    except ValueError:
        return None
    return born if date(1900, 1, 1) <= born <= date.today() else None


def outside_list_stage(
    source: str | os.PathLike | bytes,
    *,
    kind: str,
    filename: str = "",
    mapping: dict[str, str] | None = None,
    progress: Progress = noop_progress,
) -> StagedList:
    """Read and check every row of an outside list; nothing is written. ``progress`` hears
    (rows checked, rows, PHASE_STAGE) every PROGRESS_EVERY rows. Raises ``MappingRequired`` when the header
    lacks required columns (``staged_import.read_table``)."""
    if isinstance(source, str | os.PathLike):
        filename = filename or Path(source).name
    required = {key: field_label(kind, key) for key in REQUIRED[kind]}
    table = staged_import.read_table(
        source, aliases=aliases_for(kind, mapping), required=required, filename=filename, mappable=True
    )
    staged = StagedList(kind=kind, filename=filename, table=table, rows=staged_import.table_rows(table))
    pinyin_cache: dict[str, tuple[str, str]] = {}
    total = len(staged.rows)
    progress(0, total, PHASE_STAGE)
    for done, row in enumerate(staged.rows):
        if done and done % PROGRESS_EVERY == 0:
            progress(done, total, PHASE_STAGE)
        _check(row, kind, pinyin_cache)
    progress(total, total, PHASE_STAGE)
    return staged


def _check(row: Row, kind: str, pinyin_cache: dict[str, tuple[str, str]]) -> None:
    """One row: errors reject it; an invalid ID number is a warning (kept, matched by name and birth)."""
    raw, errors = row.raw, row.errors
    name = _text(raw.get("name"))
    raw_id = raw.get("id_number")
    id_text = _text(raw_id)
    if not name and not id_text:
        errors["name"] = "姓名和身份证号均为空"
    id_raw, id_number, index, id_error = identity.normalize(id_text), "", "", ""
    if id_text or name:
        try:
            id_number = identity.validate_id(raw_id if raw_id not in (None, "") else "")
            index = id_index(id_number)
        except identity.IdentityError as exc:
            id_error = exc.message
    values: dict[str, Any] = {}
    for key in ("birth_date", "event_date", "end_date"):
        try:
            values[key] = parse_date(raw.get(key))
        except FieldError as exc:
            errors[key] = str(exc)
    try:
        values["amount_fen"] = _amount_fen(raw.get("amount"))
    except FieldError as exc:
        errors["amount"] = str(exc)
    for key in REQUIRED[kind]:
        if key in ("name", "id_number") or key in errors:
            continue
        if values.get("amount_fen" if key == "amount" else key) is None:
            errors[key] = f"{field_label(kind, key)}不能为空"
    if values.get("event_date") and values.get("end_date") and values["end_date"] < values["event_date"]:
        errors["end_date"] = "终止日期早于起始日期"
    if errors:
        row.outcome = REJECTED
        return
    if id_error:
        row.warnings["id_number"] = id_error
    born = values["birth_date"] or (identity.birth_date(id_number) if id_number else _birth_from_raw(id_raw))
    if name not in pinyin_cache:
        pinyin_cache[name] = name_pinyin(name) if name else ("", "")
    pinyin, initials = pinyin_cache[name]
    extra = {}
    for key in ("town", "note"):
        text = _text(raw.get(key))
        if text:
            extra[key] = text[:200]
    cert = _text(raw.get("certificate_number"))
    if cert:
        extra["certificate_number"] = mask_id_number(identity.normalize(cert))
    row.outcome = CREATED
    row.values["kept"] = StagedRow(
        row_number=row.row,
        name=name[:50],
        pinyin=pinyin,
        initials=initials,
        id_raw=id_raw[:40],
        id_number=id_number,
        id_index=index,
        id_error=id_error[:200],
        birth_date=born,
        event_date=values["event_date"],
        end_date=values["end_date"],
        amount_fen=values["amount_fen"],
        extra=extra,
    )
