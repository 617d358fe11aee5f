"""Person export to .xlsx: the filtered, scoped list, masked unless the role allows, always audited.

The first twelve columns are those of the import template, so an unmasked export can be imported again
(it then changes nothing). Rows are streamed from the database in chunks (``.iterator()``) into a
constant-memory workbook, so a district-wide export stays small in memory.
"""

from __future__ import annotations

import re
import sys
from dataclasses import asdict
from datetime import date

from django.db.models import Prefetch, Q
from django.utils import timezone

from canlian.accounts import access
from canlian.common import spreadsheet
from canlian.common.audit import audit_record
from canlian.common.exceptions import PermissionDenied
from canlian.common.exports import Export, export_cli, export_register
from canlian.common.jobs import Progress, noop_progress
from canlian.common.masking import mask_id_number, mask_phone

from . import selectors
from .models import Certificate, EconomicStatus, EconomicStatusPeriod, Region

CHUNK = 2000
HEADERS = (
    "姓名",
    "身份证号",
    "残疾人证号",
    "发证日期",
    "镇(街道)",
    "村(社区)",
    "户口性质",
    "家庭经济状况",
    "联系电话",
    "残疾类别",
    "残疾等级",
    "就业状况",
    "性别",
    "出生日期",
    "年龄",
    "证件有效期至",
    "证件状态",
    "人员状态",
    "住址",
)
TEXT_COLUMNS = (1, 2, 8)
WIDTHS = {0: 10, 1: 22, 2: 24, 3: 12, 4: 12, 5: 14, 8: 16, 13: 12, 15: 14, 18: 30}
# A masked list has no birth date: with the masked ID number it would rebuild the full number
# (common/masking.py); the age column stays.
BIRTH_COLUMN = HEADERS.index("出生日期")
MASKED_HEADERS = HEADERS[:BIRTH_COLUMN] + HEADERS[BIRTH_COLUMN + 1 :]
MASKED_WIDTHS = {(i if i < BIRTH_COLUMN else i - 1): w for i, w in WIDTHS.items() if i != BIRTH_COLUMN}
_ECONOMIC_LABELS = dict(EconomicStatus.choices)


def _audit_filters(filters: selectors.PersonFilters) -> dict:
    """The filters as recorded in the audit log; a search that looks like an ID number is masked."""
    out = {k: v for k, v in asdict(filters).items() if v not in (None, "")}
    if "q" in out and len(re.sub(r"\D", "", out["q"])) >= 6:
        out["q"] = mask_id_number(out["q"])
    return out


def _rows(qs, *, today: date, unmasked: bool):
    show_id = (lambda v: v or "") if unmasked else mask_id_number
    show_phone = (lambda v: v or "") if unmasked else mask_phone
    for person in qs.iterator(chunk_size=CHUNK):
        cert = person._current_certificates[0] if person._current_certificates else None
        periods = person._economic_now
        row = [
            person.name,
            show_id(person.id_number),
            show_id(cert.number) if cert else "",
            cert.issue_date if cert else None,
            person.town.name,
            person.community.name if person.community_id else "",
            person.get_household_type_display(),
            _ECONOMIC_LABELS[periods[0].status] if periods else "无",
            show_phone(person.phone),
            cert.get_category_display() if cert else "",
            cert.get_grade_display() if cert else "",
            person.get_employment_status_display() if person.employment_status else "",
            person.get_sex_display(),
            person.birth_date,
            person.age_on(today),
            cert.valid_until if cert else None,
            Certificate.Status(cert.status_on(today)).label if cert else "",
            person.get_status_display(),
            person.address,
        ]
        if not unmasked:
            del row[BIRTH_COLUMN]
        yield row


def persons_export_check(*, acting_user, filters: selectors.PersonFilters, unmasked: bool) -> None:
    """Refuse (with an audit row) an export the user may not make."""
    if not access.can_export(acting_user):
        audit_record(
            acting_user=acting_user, action="person.export", object_type="registry.person", result="denied"
        )
        raise PermissionDenied("您无权导出残疾人名单")
    if unmasked and not access.export_unmasked_allowed(acting_user):
        audit_record(
            acting_user=acting_user,
            action="person.export",
            object_type="registry.person",
            changes={"filters": _audit_filters(filters), "masked": False},
            result="denied",
            detail="请求导出未打码名单被拒绝",
        )
        raise PermissionDenied("您无权导出未打码的身份证号、残疾人证号和联系电话，请导出打码名单")


def persons_export(
    *,
    acting_user,
    filters: selectors.PersonFilters,
    unmasked: bool,
    out,
    today: date | None = None,
    progress: Progress = noop_progress,
) -> int:
    """Write the persons ``acting_user`` may see, filtered, to ``out`` (path or binary file); returns the count.

    Not atomic on purpose: the audit row of a refused export must survive the exception."""
    today = today or timezone.localdate()
    persons_export_check(acting_user=acting_user, filters=filters, unmasked=unmasked)
    qs = (
        selectors.persons_filtered(acting_user, filters, today=today)
        .select_related("town", "community")
        .prefetch_related(
            Prefetch(
                "certificates",
                queryset=Certificate.objects.filter(is_current=True),
                to_attr="_current_certificates",
            ),
            Prefetch(
                "economic_periods",
                queryset=EconomicStatusPeriod.objects.filter(
                    Q(valid_to__isnull=True) | Q(valid_to__gte=today), valid_from__lte=today
                ).order_by("-valid_from"),
                to_attr="_economic_now",
            ),
        )
        .order_by("town__code", "pk")
    )
    total = qs.count()
    progress(0, total, "正在导出")
    count = 0
    with spreadsheet.XlsxBook(out, constant_memory=True) as book:
        sheet = book.add_sheet(
            "残疾人名单",
            HEADERS if unmasked else MASKED_HEADERS,
            text_columns=TEXT_COLUMNS,
            widths=WIDTHS if unmasked else MASKED_WIDTHS,
        )
        for row in _rows(qs, today=today, unmasked=unmasked):
            sheet.append(row)
            count += 1
            progress(count, total, "正在导出")
    audit_record(
        acting_user=acting_user,
        action="person.export",
        object_type="registry.person",
        object_repr=f"导出残疾人名单 {count} 人",
        changes={"count": count, "filters": _audit_filters(filters), "masked": not unmasked},
        detail="未打码" if unmasked else "已打码",
    )
    return count


def _filters(params: dict) -> selectors.PersonFilters:
    return selectors.PersonFilters(**params.get("filters", {}))


def _build(*, acting_user, params: dict, out, progress: Progress) -> int:
    return persons_export(
        acting_user=acting_user,
        filters=_filters(params),
        unmasked=bool(params.get("unmasked")),
        out=out,
        progress=progress,
    )


def _check(*, acting_user, params: dict) -> None:
    persons_export_check(
        acting_user=acting_user, filters=_filters(params), unmasked=bool(params.get("unmasked"))
    )


PERSONS = export_register(
    Export(
        name="persons",
        title="残疾人名单",
        build=_build,
        check=_check,
        unmasked=lambda params: bool(params.get("unmasked")),
        filename=lambda params: "残疾人名单" + ("" if params.get("unmasked") else "-打码"),
    )
)


def persons_export_params(filters: selectors.PersonFilters, *, unmasked: bool) -> dict:
    """The job parameters of a person export (JSON)."""
    return {
        "filters": {k: v for k, v in asdict(filters).items() if v not in (None, "")},
        "unmasked": unmasked,
    }


def export_persons_cli(*, out: str, town: str | None, acting_user, unmasked: bool = False) -> int:
    """``canlian export persons OUT.xlsx [--town CODE] [--unmasked]``: exit 0 on success, 2 on refusal."""
    filters = selectors.PersonFilters()
    if town:
        region = Region.objects.filter(level=Region.Level.TOWN).filter(Q(code=town) | Q(name=town)).first()
        if region is None:
            print(f"未知的镇(街道)：{town}（请用9位代码，如 320506100）", file=sys.stderr)
            return 2
        filters.town = region.pk
    try:
        count = export_cli(
            name=PERSONS.name,
            acting_user=acting_user,
            params=persons_export_params(filters, unmasked=unmasked),
            out=out,
        )
    except PermissionDenied as exc:
        print(f"导出失败：{exc.message}", file=sys.stderr)
        return 2
    print(f"已导出 {count} 人到 {out}（{'未打码' if unmasked else '身份证号等已打码'}）")
    return 0
