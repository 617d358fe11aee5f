"""The audit log export (审计日志导出): the auditor's filtered rows, newest first, at most AUDIT_EXPORT_LIMIT,
as .xlsx through the export jobs (``common.exports``); the export itself is audited (``audit.export``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from itertools import chain

from django.db.models import QuerySet
from django.utils import timezone

from canlian.accounts import access
from canlian.accounts.models import Role

from . import audit_display
from .audit import audit_record
from .exceptions import PermissionDenied
from .exports import Export, export_register
from .jobs import Progress, noop_progress
from .models import AuditLog
from .spreadsheet import XlsxBook

AUDIT_EXPORT_LIMIT = 100_000
ROLE_LABELS = dict(Role.choices)


@dataclass
class AuditFilters:
    username: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    result: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def describe(self) -> str:
        parts = [
            ("用户", self.username),
            ("操作", audit_display.action_label(self.action) if self.action else ""),
            ("对象类型", audit_display.object_type_label(self.object_type) if self.object_type else ""),
            ("对象编号", self.object_id),
            ("结果", AuditLog.Result(self.result).label if self.result else ""),
            ("起始日期", self.date_from.isoformat() if self.date_from else ""),
            ("截止日期", self.date_to.isoformat() if self.date_to else ""),
        ]
        return "；".join(f"{k}={v}" for k, v in parts if v) or "全部"


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def audit_queryset(user, filters: AuditFilters) -> QuerySet:
    qs = access.audit_logs_visible(user)
    if filters.username:
        qs = qs.filter(username=filters.username)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.object_id:
        qs = qs.filter(object_id=filters.object_id)
    if filters.result:
        qs = qs.filter(result=filters.result)
    if filters.date_from:
        qs = qs.filter(at__gte=_local_midnight(filters.date_from))
    if filters.date_to:
        qs = qs.filter(at__lt=_local_midnight(filters.date_to + timedelta(days=1)))
    return qs.order_by("-id")


_EXPORT_COLUMNS = (
    ("时间", 20),
    ("用户名", 14),
    ("角色", 18),
    ("操作", 18),
    ("结果", 8),
    ("对象类型", 12),
    ("对象编号", 10),
    ("对象", 36),
    ("变更", 60),
    ("客户端IP", 16),
    ("说明", 30),
)


def _changes_text(row) -> str:
    return "；".join(
        f"{c.label}：{c.new}" if c.old is None else f"{c.label}：{c.old} → {c.new}" for c in row.change_list
    )


def _write_audit_xlsx(out, rows, *, total: int = 0, progress: Progress = noop_progress) -> int:
    """Write rows to ``out`` as .xlsx (text stays text: a username like ``=1+1`` is never a formula)."""
    tz = timezone.get_current_timezone()
    results = dict(AuditLog.Result.choices)
    n = 0
    with XlsxBook(out, constant_memory=True) as book:
        sheet = book.add_sheet(
            "审计日志",
            [title for title, _ in _EXPORT_COLUMNS],
            widths=[width for _, width in _EXPORT_COLUMNS],
            text_columns=range(len(_EXPORT_COLUMNS)),
        )
        batch: list[AuditLog] = []
        for row in chain(rows, [None]):  # None: flush the last batch
            if row is not None:
                batch.append(row)
                if len(batch) < 2000:
                    continue
            for item in audit_display.describe(batch):
                sheet.append(
                    [
                        timezone.localtime(item.at, tz).strftime("%Y-%m-%d %H:%M:%S"),
                        item.username,
                        ROLE_LABELS.get(item.role, item.role),
                        item.action_label,
                        results.get(item.result, item.result),
                        item.object_type_label,
                        item.object_id,
                        item.object_repr,
                        _changes_text(item),
                        item.ip or "",
                        item.detail,
                    ]
                )
                n += 1
            progress(n, total, "正在导出")
            batch = []
    return n


def audit_export(
    *, acting_user, filters: AuditFilters, out, progress: Progress = noop_progress, limit: int | None = None
) -> int:
    """Write the rows ``filters`` select (newest first, at most ``limit``) to ``out``; returns the count."""
    if not access.can_read_audit(acting_user):
        raise PermissionDenied("只有审计员可以导出审计日志")
    limit = limit or AUDIT_EXPORT_LIMIT
    qs = audit_queryset(acting_user, filters)
    total = min(qs.count(), limit)
    progress(0, total, "正在导出")
    count = _write_audit_xlsx(out, qs[:limit].iterator(chunk_size=2000), total=total, progress=progress)
    audit_record(
        acting_user=acting_user,
        action="audit.export",
        object_type="common.auditlog",
        object_repr="审计日志导出",
        changes={"rows": [None, count]},
        detail=f"筛选：{filters.describe()}",
    )
    return count


def audit_export_params(filters: AuditFilters) -> dict:
    out = asdict(filters)
    out["date_from"] = filters.date_from.isoformat() if filters.date_from else None
    out["date_to"] = filters.date_to.isoformat() if filters.date_to else None
    return out


def _filters(params: dict) -> AuditFilters:
    day = lambda key: date.fromisoformat(params[key]) if params.get(key) else None  # noqa: E731
    fields = {
        k: str(params.get(k) or "") for k in ("username", "action", "object_type", "object_id", "result")
    }
    return AuditFilters(**fields, date_from=day("date_from"), date_to=day("date_to"))


def _build(*, acting_user, params: dict, out, progress: Progress) -> int:
    return audit_export(acting_user=acting_user, filters=_filters(params), out=out, progress=progress)


def _check(*, acting_user, params: dict) -> None:
    if not access.can_read_audit(acting_user):
        raise PermissionDenied("只有审计员可以导出审计日志")


AUDIT = export_register(
    Export(name="audit_log", title="审计日志", build=_build, check=_check, filename=lambda params: "审计日志")
)
