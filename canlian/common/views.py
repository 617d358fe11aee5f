from __future__ import annotations

import sys
from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from canlian.accounts import access

from . import audit_display, exporters
from .exports import export_start_response
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
AUDIT_EXPORT_LIMIT = exporters.AUDIT_EXPORT_LIMIT
ROLE_LABELS = exporters.ROLE_LABELS
AuditFilters = exporters.AuditFilters


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
        qs = exporters.audit_queryset(request.user, filters)
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


@login_required
@require_POST
def audit_export(request):
    """Start the export of the filtered rows (newest first, at most AUDIT_EXPORT_LIMIT) as a background job;
    the export itself is audited."""
    _require_auditor(request.user)
    filters, errors = _audit_filters(request)
    back = f"{reverse('common:audit_list')}?{request.GET.urlencode()}"
    if errors:
        return redirect(back)
    return export_start_response(
        request, exporters.AUDIT.name, exporters.audit_export_params(filters), back=back
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
