from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import chain

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.db.models import QuerySet
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from canlian.accounts import access
from canlian.accounts.models import Role

from . import audit_display
from .audit import audit_record
from .models import AuditLog


def error_403(request, exception=None):
    return render(request, "errors/403.html", status=403)


def error_404(request, exception=None):
    return render(request, "errors/404.html", status=404)


BUSY_RETRY_AFTER = 5  # seconds


def database_busy(exc: BaseException | None) -> bool:
    """SQLite's answer when another connection held the write lock past the busy timeout."""
    from django.db import OperationalError

    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def error_500(request):
    """A "database is locked" (a long write held SQLite's lock past the busy timeout) is not a fault of the
    request: a 503 page asking to retry, with ``Retry-After``; anything else the 500 page. The page rendered
    for it reads nothing from the database."""
    if database_busy(sys.exc_info()[1]):
        response = render(request, "errors/503_busy.html", status=503)
        response["Retry-After"] = str(BUSY_RETRY_AFTER)
        return response
    return render(request, "errors/500.html", status=500)


# ---- audit log -------------------------------------------------------------------------------------------

AUDIT_PAGE_SIZE = 100
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


def _parse_day(text: str, label: str, errors: dict[str, str]) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[label] = f"“{text}”不是有效日期，请用 2023-05-06 的格式"
        return None


def _audit_filters(request) -> tuple[AuditFilters, dict[str, str]]:
    get = request.GET
    errors: dict[str, str] = {}
    result = get.get("result", "")
    filters = AuditFilters(
        username=get.get("user", "").strip()[:150],
        action=get.get("action", "").strip()[:64],
        object_type=get.get("object_type", "").strip()[:64],
        object_id=get.get("object_id", "").strip()[:64],
        result=result if result in AuditLog.Result.values else "",
        date_from=_parse_day(get.get("from", ""), "from", errors),
        date_to=_parse_day(get.get("to", ""), "to", errors),
    )
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        errors["to"] = "截止日期不能早于起始日期"
    return filters, errors


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _audit_queryset(user, filters: AuditFilters) -> QuerySet:
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


def _require_auditor(user) -> None:
    if not access.can_read_audit(user):
        raise Forbidden("只有审计员可以查看审计日志")


@login_required
@require_GET
def audit_list(request):
    """The latest rows first, keyset-paged on id (no OFFSET, no COUNT over the table)."""
    _require_auditor(request.user)
    filters, errors = _audit_filters(request)
    before = request.GET.get("before", "")
    rows: list[AuditLog] = []
    next_before = None
    if not errors:
        qs = _audit_queryset(request.user, filters)
        if before.isdigit():
            qs = qs.filter(id__lt=int(before))
        rows = list(qs[: AUDIT_PAGE_SIZE + 1])
        if len(rows) > AUDIT_PAGE_SIZE:
            rows = rows[:AUDIT_PAGE_SIZE]
            next_before = rows[-1].pk
    audit_display.describe(rows)
    for row in rows:
        row.role_label = ROLE_LABELS.get(row.role, row.role)
    params = request.GET.copy()
    params.pop("before", None)
    return render(
        request,
        "common/audit_list.html",
        {
            "rows": rows,
            "filters": filters,
            "errors": errors,
            "before": before,
            "next_before": next_before,
            "query": params.urlencode(),
            "actions": sorted(audit_display.ACTION_LABELS.items(), key=lambda kv: kv[0]),
            "object_types": list(audit_display.OBJECT_TYPE_LABELS.items()),
            "results": AuditLog.Result.choices,
            "page_size": AUDIT_PAGE_SIZE,
            "export_limit": AUDIT_EXPORT_LIMIT,
        },
        status=400 if errors else 200,
    )


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


def _write_audit_xlsx(out, rows) -> int:
    """Write rows to ``out`` as .xlsx (text stays text: a username like ``=1+1`` is never a formula)."""
    from .spreadsheet import XlsxBook

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
            batch = []
    return n


@login_required
@require_POST
def audit_export(request):
    """The filtered rows (newest first, at most AUDIT_EXPORT_LIMIT) as .xlsx; the export itself is audited."""
    _require_auditor(request.user)
    filters, errors = _audit_filters(request)
    if errors:
        return redirect(f"{reverse('common:audit_list')}?{request.GET.urlencode()}")
    qs = _audit_queryset(request.user, filters)[:AUDIT_EXPORT_LIMIT]
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    count = _write_audit_xlsx(out, qs.iterator(chunk_size=2000))
    audit_record(
        acting_user=request.user,
        action="audit.export",
        object_type="common.auditlog",
        object_repr="审计日志导出",
        changes={"rows": [None, count]},
        detail=f"筛选：{filters.describe()}",
    )
    out.seek(0)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return FileResponse(
        out,
        as_attachment=True,
        filename=f"审计日志-{stamp}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@login_required
@require_GET
def job_detail(request, pk):
    """Progress of any background job, for its creator only. The page polls itself with htmx every second
    while the job runs; an htmx request gets just the progress block (the same template, without base.html)."""
    from django.template import engines
    from django.utils.cache import add_never_cache_headers

    job = get_object_or_404(access.jobs_visible(request.user), pk=pk)
    partial = request.headers.get("HX-Request") == "true"
    layout = (
        engines["django"].from_string("{% block content %}{% endblock %}").template
        if partial
        else "base.html"
    )
    context = {
        "job": job,
        "layout": layout,
        "running": job.status in (job.Status.QUEUED, job.Status.RUNNING),
        "detail_url": (job.params or {}).get("detail_url", ""),
    }
    response = render(request, "common/job_detail.html", context)
    add_never_cache_headers(response)
    return response
