"""我的导出: the user's export jobs, one job's page (progress polled with htmx, then the download link) and the
download. Only the user who asked sees a job or its file (``exports.exports_visible``): anyone else gets 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import exports

RECENT = 30


@login_required
@never_cache
@require_GET
def export_list(request):
    exports.exports_purge()
    jobs = list(exports.exports_visible(request.user).order_by("-created_at")[:RECENT])
    return render(
        request,
        "common/export_list.html",
        {"states": [exports.export_state(job) for job in jobs], "keep_hours": exports.keep_hours()},
    )


@login_required
@never_cache
@require_GET
def export_detail(request, pk):
    job = get_object_or_404(exports.exports_visible(request.user), pk=pk)
    context = {"state": exports.export_state(job), "job": job, "keep_hours": exports.keep_hours()}
    if request.headers.get("HX-Request") == "true":
        return render(request, "common/_export_progress.html", context)
    return render(request, "common/export_detail.html", context)


@login_required
@never_cache
@require_GET
def export_download(request, pk):
    job = get_object_or_404(exports.exports_visible(request.user), pk=pk)
    try:
        handle, filename = exports.export_open(acting_user=request.user, job=job)
    except exports.ExportUnavailable as exc:
        context = {"state": exports.export_state(job), "job": job, "error": exc.message}
        return render(request, "common/export_detail.html", context, status=410)
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=exports.XLSX)
