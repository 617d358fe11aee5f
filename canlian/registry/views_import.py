"""Import and export pages: upload → background validation with progress → preview → confirm → result;
the template download, the error report download and the person list export.

Views parse input, call ``importers`` / ``exporters`` / ``tasks`` and render. Jobs come from
``access.jobs_visible`` (only their creator sees them); persons from ``selectors.persons_filtered``.
"""

from __future__ import annotations

import io
import os
import shutil

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from canlian.accounts import access
from canlian.common import safe_read, spreadsheet
from canlian.common.audit import audit_read
from canlian.common.exports import export_start_response
from canlian.common.jobs import job_create
from canlian.common.models import Job
from canlian.common.uploads import upload_save

from . import exporters, importers, selectors, tasks
from .models import Person

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RECENT_JOBS = 10


def _require_importer(user) -> None:
    if not access.can_import(user):
        raise Forbidden("您无权批量导入残疾人信息")


def _import_job(user, pk) -> Job:
    return get_object_or_404(access.jobs_visible(user).filter(kind=tasks.JOB_KIND), pk=pk)


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


# ---- upload --------------------------------------------------------------------------------------------


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def import_start(request):
    user = request.user
    _require_importer(user)
    error = ""
    allow_new = False
    limits = safe_read.upload_limits()
    if request.method == "POST":
        upload = request.FILES.get("file")
        allow_new = request.POST.get("allow_new_communities") == "on"
        if upload is None:
            error = "请选择要导入的文件"
        elif safe_read.size_error(upload.size, limits):
            error = safe_read.size_error(upload.size, limits)
        else:
            path = upload_save(upload)
            try:  # the kind of file and the cheap limits (inflated size, dimensions, password) at once
                spreadsheet.upload_check(path, filename=upload.name)
            except spreadsheet.SpreadsheetError as exc:
                shutil.rmtree(path.parent, ignore_errors=True)
                error = exc.message
            else:
                job = job_create(
                    acting_user=user,
                    kind=tasks.JOB_KIND,
                    params={
                        "filename": os.path.basename(upload.name)[:200],
                        "stored": path.name,
                        "allow_new_communities": allow_new,
                        "detail_url": "",
                    },
                )
                job.params["detail_url"] = reverse("registry:import_detail", args=[job.pk])
                job.save(update_fields=["params"])
                path.parent.rename(tasks.import_dir(job.pk))
                tasks.person_import_stage.enqueue(str(job.pk))
                return redirect("registry:import_detail", pk=job.pk)
    recent = access.jobs_visible(user).filter(kind=tasks.JOB_KIND).order_by("-created_at")[:RECENT_JOBS]
    return render(
        request,
        "registry/import_start.html",
        {
            "error": error,
            "allow_new": allow_new,
            "recent": recent,
            "town_fixed": access.town_scope(user),
            "max_mb": limits.max_bytes // 1024 // 1024,
        },
        status=400 if error else 200,
    )


@login_required
@require_GET
def import_template(request):
    _require_importer(request.user)
    buffer = io.BytesIO()
    importers.template_write(buffer)
    buffer.seek(0)
    return FileResponse(buffer, as_attachment=True, filename="残疾人名单导入模板.xlsx", content_type=XLSX)


# ---- progress, preview, confirm, result ----------------------------------------------------------------


@login_required
@never_cache
@require_GET
def import_detail(request, pk):
    job = _import_job(request.user, pk)
    context = {
        "job": job,
        "result": job.result or {},
        "running": job.status in (Job.Status.QUEUED, Job.Status.RUNNING),
        "writing": job.status == Job.Status.RUNNING and job.message == importers.PHASE_IMPORT,
        "has_report": tasks.report_path(job.pk).is_file(),
        "can_commit": job.status == Job.Status.WAITING and access.can_import(request.user),
    }
    if _is_htmx(request):
        return render(request, "registry/import_progress.html", context)
    return render(request, "registry/import_detail.html", context)


@login_required
@require_POST
def import_commit(request, pk):
    user = request.user
    job = _import_job(user, pk)
    _require_importer(user)
    claimed = Job.objects.filter(pk=job.pk, status=Job.Status.WAITING).update(
        status=Job.Status.QUEUED, message="等待写入", done=0, finished_at=None
    )
    if not claimed:
        messages.error(request, "该导入已确认或已结束，不能重复确认")
        return redirect("registry:import_detail", pk=job.pk)
    tasks.person_import_commit.enqueue(str(job.pk))
    return redirect("registry:import_detail", pk=job.pk)


@login_required
@require_GET
def import_report(request, pk):
    job = _import_job(request.user, pk)
    path = tasks.report_path(job.pk)
    if not path.is_file():
        raise Http404("该导入没有可下载的报告")
    stem = os.path.splitext(job.params.get("filename", ""))[0] or "导入"
    audit_read(
        acting_user=request.user,
        action="import.report_download",
        obj=job,
        object_repr=f"{stem}-导入报告.xlsx",
        changes={"file": [None, job.params.get("filename", "")]},
    )
    return FileResponse(
        open(path, "rb"), as_attachment=True, filename=f"{stem}-导入报告.xlsx", content_type=XLSX
    )


# ---- export --------------------------------------------------------------------------------------------


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def export_filters(request) -> selectors.PersonFilters:
    """The same filters as the person list (``age`` there, ``age_band`` accepted too)."""
    get = request.GET
    status = get.get("status", "")
    band = get.get("age_band") or get.get("age", "")
    return selectors.PersonFilters(
        q=get.get("q", "").strip()[:60],
        town=_int(get.get("town")),
        community=_int(get.get("community")),
        category=_int(get.get("category")),
        grade=_int(get.get("grade")),
        status=status if status in Person.Status.values else "",
        age_band=band if band in selectors.AGE_BANDS else "",
    )


@login_required
@require_POST
def person_export(request):
    """Start the export of the filtered list (the list's query string) as a background job."""
    user = request.user
    if not access.can_export(user):
        raise Forbidden("您无权导出残疾人名单")
    unmasked = request.POST.get("unmasked") == "1"
    query = request.GET.copy()
    query.pop("unmasked", None)
    back = reverse("registry:person_list") + (f"?{query.urlencode()}" if query else "")
    params = exporters.persons_export_params(export_filters(request), unmasked=unmasked)
    return export_start_response(request, exporters.PERSONS.name, params, back=back)
