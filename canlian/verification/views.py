"""Data comparison pages: outside lists (upload → import as a background job with progress, with the
column-mapping step on the job's page when needed), list detail, candidate queue, findings (filters, bulk
confirm, detail with confirm / dismiss), runs as background jobs, and the report with a chart and an .xlsx
export.

Who: district staff import, run and handle everything; town staff handle their own town's candidates and
findings; leaders read. Every queryset comes from ``accounts.access`` (through ``selectors``)."""

from __future__ import annotations

import os
import shutil
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from canlian.accounts import access
from canlian.benefits.cli import parse_month
from canlian.common.audit import audit_read
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.jobs import job_create
from canlian.common.models import Job
from canlian.common.safe_read import size_error, upload_limits
from canlian.common.spreadsheet import SpreadsheetError, upload_check
from canlian.common.uploads import upload_save
from canlian.common.workflow import allowed_moves, allowed_moves_many, history_of

from . import selectors, services, tasks
from .forms import (
    BulkConfirmForm,
    FindingConfirmForm,
    FindingDismissForm,
    MappingForm,
    RunForm,
    UploadForm,
    add_errors,
    mark_invalid,
)
from .importers import PHASE_WRITE
from .models import Finding, FindingKind, ListKind, Match, OutsideSource
from .tasks import IMPORT_JOB_KIND, JOB_KIND, verification_run_task

PAGE = 100
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATUS_BADGE = {"open": "warning", "confirmed": "success", "dismissed": "secondary"}
RECENT_IMPORTS = 10


def _require_reader(user) -> None:
    if not access.can_read_verification(user):
        raise Forbidden("您无权查看数据比对")


def _require_runner(user) -> None:
    if not access.can_run_verification(user):
        raise Forbidden("只有区残联业务科室可以导入名单和运行比对")


def _show(request, template: str, context: dict, status: int = 200):
    return render(request, template, context, status=status)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@login_required
@require_GET
def index(request):
    _require_reader(request.user)
    return redirect("verification:finding_list")


# ---- outside lists ---------------------------------------------------------------------------------------


def _lists_context(request, form=None, **extra) -> dict:
    user = request.user
    can_run = access.can_run_verification(user)
    lists = list(selectors.lists_visible(user)[:200])
    town_fixed = access.town_scope(user)
    if town_fixed is not None:  # a town clerk counts their own town's rows only
        counts = selectors.outside_rows_of(user, [lst.pk for lst in lists])
        for lst in lists:
            lst.visible_rows = counts[lst.pk]["rows"]
    return {
        "lists": lists,
        "town_fixed": town_fixed,
        "form": form if form is not None else (UploadForm() if can_run else None),
        "sources": OutsideSource.objects.order_by("name").values_list("name", flat=True).distinct(),
        "recent_imports": (
            access.jobs_visible(user).filter(kind=IMPORT_JOB_KIND).order_by("-created_at")[:RECENT_IMPORTS]
            if can_run
            else []
        ),
        "nav_tab": "lists",
        **extra,
    }


@login_required
@require_GET
def list_index(request):
    _require_reader(request.user)
    return _show(request, "verification/lists.html", _lists_context(request))


@login_required
@require_POST
def list_upload(request):
    """Save the file and queue its import (read, check, keep, match) as a background job; the job's page
    shows the progress, the column-mapping step if needed, and the result."""
    _require_runner(request.user)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        mark_invalid(form)
        return _show(request, "verification/lists.html", _lists_context(request, form), status=400)
    data = form.cleaned_data
    upload = data["file"]
    too_big = size_error(upload.size, upload_limits())
    if too_big:  # refused before a byte of it is written to disk
        form.add_error("file", too_big)
        mark_invalid(form)
        return _show(request, "verification/lists.html", _lists_context(request, form), status=400)
    stored = upload_save(upload)
    try:  # no spreadsheet at all (PDF, Word, broken zip), over a limit or with a password: refused at once
        upload_check(stored, filename=upload.name)
    except SpreadsheetError as exc:
        shutil.rmtree(stored.parent, ignore_errors=True)
        form.add_error("file", exc.message)
        mark_invalid(form)
        return _show(request, "verification/lists.html", _lists_context(request, form), status=400)
    job = tasks.import_enqueue(
        acting_user=request.user,
        stored=stored,
        filename=upload.name,
        kind=data["kind"],
        source_name=data["source_name"].strip(),
        received_on=data["received_on"],
        complete=bool(data["complete"]),
    )
    return redirect("verification:import_job", pk=job.pk)


def _import_job(user, pk) -> Job:
    return get_object_or_404(access.jobs_visible(user).filter(kind=IMPORT_JOB_KIND), pk=pk)


def _import_page(request, job: Job, *, form=None, status: int = 200):
    result = job.result or {}
    params = job.params or {}
    asking = job.status == Job.Status.WAITING and bool(result.get("mapping_required"))
    if asking and form is None and access.can_run_verification(request.user):
        form = MappingForm(
            initial={"token": str(job.pk)},
            kind=params["kind"],
            headers=result.get("headers", []),
            found={**result.get("found", {}), **result.get("given", {})},
        )
    can_run = access.can_run_verification(request.user)
    context = {
        "job": job,
        "params": params,
        "result": result,
        "kind_label": ListKind(params["kind"]).label if params.get("kind") in ListKind.values else "",
        "running": job.status in (Job.Status.QUEUED, Job.Status.RUNNING),
        "writing": job.status == Job.Status.RUNNING and job.message == PHASE_WRITE,
        "asking": asking,
        "form": form if asking else None,
        "previewing": tasks.import_previewed(job),
        "can_decide": job.status == Job.Status.WAITING and can_run,
        "has_report": tasks.report_path(job).is_file(),
        "nav_tab": "lists",
    }
    if request.headers.get("HX-Request") == "true":
        return _show(request, "verification/_import_progress.html", context, status=status)
    return _show(request, "verification/import_job.html", context, status=status)


@login_required
@never_cache
@require_GET
def import_job(request, pk):
    _require_reader(request.user)
    return _import_page(request, _import_job(request.user, pk))


@login_required
@require_POST
def list_map(request, pk):
    """The job waits because required columns are missing: the user said which column is which; run the
    import again on the stored file with that mapping (remembered for the source when it succeeds)."""
    user = request.user
    _require_runner(user)
    job = _import_job(user, pk)
    result = job.result or {}
    if job.status != Job.Status.WAITING or not result.get("mapping_required"):
        messages.error(request, "该导入已在进行或已结束，不能再指定列对应关系")
        return redirect("verification:import_job", pk=job.pk)
    data = request.POST.copy()
    data["token"] = str(job.pk)  # the job in the URL is the upload; the form's token field is not used
    form = MappingForm(
        data, kind=job.params["kind"], headers=result.get("headers", []), found=result.get("found")
    )
    if not form.is_valid():
        mark_invalid(form)
        return _import_page(request, job, form=form, status=400)
    if not tasks.import_map_enqueue(job, mapping=form.mapping()):
        messages.error(request, "该导入已在进行或已结束，不能再指定列对应关系")
    return redirect("verification:import_job", pk=job.pk)


@login_required
@require_POST
def list_confirm(request, pk):
    """The user read the preview and confirms: the stored file is imported (checked again, kept, matched)."""
    user = request.user
    _require_runner(user)
    job = _import_job(user, pk)
    if not tasks.import_confirm(job):
        job.refresh_from_db()
        if job.status == Job.Status.WAITING:  # still waiting: for a column mapping, not a confirmation
            messages.error(request, "请先指定列对应关系并查看校验结果，再确认导入")
        else:
            messages.error(request, "该导入已确认或已结束，不能重复确认")
    return redirect("verification:import_job", pk=job.pk)


@login_required
@require_POST
def list_cancel(request, pk):
    """Drop a waiting import (preview or mapping step): nothing written, the upload and report deleted."""
    user = request.user
    _require_runner(user)
    job = _import_job(user, pk)
    if tasks.import_cancel(job):
        messages.info(request, f"已取消导入“{job.params.get('filename', '')}”，未写入任何数据")
        return redirect("verification:list_index")
    messages.error(request, "该导入已在进行或已结束，不能取消")
    return redirect("verification:import_job", pk=job.pk)


@login_required
@require_GET
def import_report(request, pk):
    """The check's report (after the import: what was kept): the file's rows, the cells in error red, the
    errors and warnings of each row, a 错误明细 sheet. Audited: it repeats the file's rows."""
    user = request.user
    _require_reader(user)
    job = _import_job(user, pk)
    path = tasks.report_path(job)
    if not path.is_file():
        raise Http404("该导入没有可下载的报告（已取消或已过期）")
    name = f"{os.path.splitext(job.params.get('filename', ''))[0] or '外部名单'}-校验报告.xlsx"
    audit_read(
        acting_user=user,
        action="import.report_download",
        obj=job,
        object_repr=name,
        changes={"file": [None, job.params.get("filename", "")]},
    )
    return FileResponse(open(path, "rb"), as_attachment=True, filename=name, content_type=XLSX)


@login_required
@require_GET
def list_detail(request, pk):
    user = request.user
    _require_reader(user)
    outside_list = get_object_or_404(selectors.lists_visible(user), pk=pk)
    show = request.GET.get("show", "")
    rows = selectors.list_rows(user, outside_list, show=show)
    page = Paginator(rows, PAGE).get_page(request.GET.get("page"))
    row_ids = [r.pk for r in page.object_list]
    matches: dict[int, list[Match]] = {}
    for m in access.matches_visible(user).filter(row_id__in=row_ids).select_related("person", "person__town"):
        matches.setdefault(m.row_id, []).append(m)
    for r in page.object_list:
        r.match_list = matches.get(r.pk, [])
    return _show(
        request,
        "verification/list_detail.html",
        {
            "list": outside_list,
            "summary": selectors.list_summary(user, outside_list),
            "page": page,
            "show": show,
            "town_fixed": access.town_scope(user),
            "nav_tab": "lists",
        },
    )


# ---- candidate matches -----------------------------------------------------------------------------------


@login_required
@require_GET
def candidate_list(request):
    user = request.user
    _require_reader(user)
    page = Paginator(selectors.candidates_queue(user), 50).get_page(request.GET.get("page"))
    moves = allowed_moves_many(user, page.object_list)
    for m in page.object_list:
        m.moves = {mv.name for mv in moves[m.pk]}
    return _show(request, "verification/candidates.html", {"page": page, "nav_tab": "candidates"})


@login_required
@require_POST
def candidate_decide(request, pk, decision):
    user = request.user
    _require_reader(user)
    if decision not in ("confirm", "reject"):
        raise Http404("无此操作")
    match = get_object_or_404(access.matches_visible(user), pk=pk)
    seen = request.POST.get("state") or None  # the state the page showed
    try:
        if decision == "confirm":
            services.match_confirm(acting_user=user, match=match, expected_state=seen)
            messages.success(
                request, f"已确认：名单第{match.row.row_number}行即 {match.person.name}，下次比对时生成疑点"
            )
        else:
            services.match_reject(
                acting_user=user, match=match, reason=request.POST.get("reason", ""), expected_state=seen
            )
            messages.info(request, f"已否定：名单第{match.row.row_number}行不是 {match.person.name}")
    except DomainError as exc:
        if isinstance(exc, PermissionDenied):
            raise Forbidden(exc.message) from None
        messages.error(request, exc.message)
    return redirect("verification:candidate_list")


# ---- findings --------------------------------------------------------------------------------------------


def _filters(request) -> selectors.FindingFilters:
    status = request.GET.get("status", "open")
    return selectors.FindingFilters(
        kind=request.GET.get("kind", ""),
        town=_int(request.GET.get("town")),
        status="" if status == "all" else status,
        run=_int(request.GET.get("run")),
        exact_only=request.GET.get("exact") == "1",
        programme=request.GET.get("programme", "").strip()[:32],
        payroll_month=_month(request.GET.get("payroll_month", "")),
        sort=selectors.finding_sort(request.GET.get("sort")),
        run_month=_month(request.GET.get("run_month", "")),
        run_from=_day(request.GET.get("run_from", "")),
        run_to=_day(request.GET.get("run_to", "")),
    )


def _day(text: str) -> date | None:
    """``YYYY-MM-DD`` → that date; anything else → None (the filter is then not applied)."""
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        return None


# columns sorted largest first on their first click: money
DESCENDING_FIRST = {"money", "overpayment"}


def _sort_columns(request, sort: str) -> dict[str, dict]:
    """Each sortable column's heading: its link (the other direction when it is the sort, else its first
    direction, back to page 1) and ``aria-sort``."""
    params = request.GET.copy()
    params.pop("page", None)
    columns = {}
    for key, (_, label) in selectors.FINDING_SORTS.items():
        if sort.lstrip("-") == key:
            descending = sort.startswith("-")
            target, aria = (key if descending else f"-{key}"), ("descending" if descending else "ascending")
        else:
            target, aria = (f"-{key}" if key in DESCENDING_FIRST else key), "none"
        params["sort"] = target
        columns[key] = {"label": label, "url": "?" + params.urlencode(), "aria_sort": aria}
    return columns


def _month(text: str) -> date | None:
    """``YYYY-MM`` → the first of that month; anything else → None (the filter is then not applied)."""
    try:
        return parse_month(text)
    except ValueError:
        return None


def _payroll_scope(filters: selectors.FindingFilters) -> str:
    """What the programme / payroll-month filters show, in words (they come from a payroll page's link)."""
    if not (filters.programme or filters.payroll_month):
        return ""
    name = selectors.programme_name(filters.programme) if filters.programme else None
    month = f"{filters.payroll_month.year}年{filters.payroll_month.month}月" if filters.payroll_month else ""
    if name and month:
        return f"影响{name} {month}发放的疑点（应停发月份在该月或之前）"
    return f"{name or filters.programme}的疑点" if not month else f"应停发月份在{month}或之前的疑点"


@login_required
@require_GET
def finding_list(request):
    user = request.user
    _require_reader(user)
    filters = _filters(request)
    qs = selectors.findings_filtered(user, filters)
    page = Paginator(qs, PAGE).get_page(request.GET.get("page"))
    moves = allowed_moves_many(user, page.object_list)
    handleable = access.findings_handleable(user).filter(pk__in=[f.pk for f in page.object_list]).exists()
    for f in page.object_list:
        f.badge = STATUS_BADGE[f.status]
        f.bulkable = f.is_exact and any(m.name == "confirm" for m in moves[f.pk])
    params = request.GET.copy()
    params.pop("page", None)
    return _show(
        request,
        "verification/findings.html",
        {
            "page": page,
            "filters": filters,
            "status_param": request.GET.get("status", "open"),
            "kinds": FindingKind.choices,
            "statuses": Finding.Status.choices,
            "towns": access.towns_visible(user).order_by("code"),
            "town_fixed": access.town_scope(user),
            "bulk_form": BulkConfirmForm() if handleable else None,
            "query": params.urlencode(),
            "sort": filters.sort,
            "columns": _sort_columns(request, filters.sort),
            "payroll_scope": _payroll_scope(filters),
            "nav_tab": "findings",
        },
    )


@login_required
@require_POST
def finding_bulk(request):
    user = request.user
    _require_reader(user)
    form = BulkConfirmForm(request.POST)
    ids = [i for i in (_int(v) for v in request.POST.getlist("ids")) if i]
    back = reverse("verification:finding_list") + (
        "?" + request.POST["query"] if request.POST.get("query") else ""
    )
    if not ids:
        messages.error(request, "请勾选要确认的疑点")
        return redirect(back)
    if not form.is_valid():
        messages.error(request, "请选择处理方式")
        return redirect(back)
    if not access.findings_handleable(user).filter(pk__in=ids).exists():
        raise Forbidden("您无权处理这些疑点")
    result = services.findings_confirm_bulk(
        acting_user=user, finding_ids=ids, action=form.cleaned_data["action"], note=form.cleaned_data["note"]
    )
    if result.confirmed:
        messages.success(request, f"已批量确认 {len(result.confirmed)} 条疑点，下次发放起生效")
    for pk, reason in result.skipped[:10]:
        messages.warning(request, f"疑点 #{pk} 未确认：{reason}")
    return redirect(back)


def _finding(user, pk) -> Finding:
    return get_object_or_404(
        access.findings_visible(user).select_related(
            "person",
            "town",
            "enrolment__programme",
            "row__outside_list__source",
            "match",
            "run",
            "handled_by",
        ),
        pk=pk,
    )


def _detail(request, finding: Finding, *, confirm_form=None, dismiss_form=None, status=200):
    user = request.user
    moves = {m.name for m in allowed_moves(user, finding)}
    wf = finding.workflow
    finding.badge = STATUS_BADGE[finding.status]
    return _show(
        request,
        "verification/finding_detail.html",
        {
            "f": finding,
            "can_confirm": "confirm" in moves,
            "can_dismiss": "dismiss" in moves,
            "history": [
                {
                    "at": h.at,
                    "move_label": h.move_label,
                    "from_label": wf.state_label(h.from_state),
                    "to_label": wf.state_label(h.to_state),
                    "by": h.by,
                    "note": h.note or (h.data or {}).get("dismiss_reason", ""),
                }
                for h in history_of(finding)
            ],
            "confirm_form": confirm_form
            or FindingConfirmForm(initial={"effective_month": finding.effective_month}),
            "dismiss_form": dismiss_form or FindingDismissForm(),
            "other": (
                access.persons_visible(user).filter(pk=finding.evidence.get("other_person_id")).first()
                if finding.evidence.get("other_person_id")
                else None
            ),
            "nav_tab": "findings",
        },
        status=status,
    )


@login_required
@require_GET
def finding_detail(request, pk):
    _require_reader(request.user)
    return _detail(request, _finding(request.user, pk))


@login_required
@require_POST
def finding_confirm(request, pk):
    user = request.user
    _require_reader(user)
    finding = _finding(user, pk)
    form = FindingConfirmForm(request.POST)
    if not form.is_valid():
        mark_invalid(form)
        return _detail(request, finding, confirm_form=form, status=400)
    try:
        services.finding_confirm(
            acting_user=user,
            finding=finding,
            action=form.cleaned_data["action"],
            effective_month=form.cleaned_data["effective_month"],
            note=form.cleaned_data["note"],
            expected_state=request.POST.get("state") or None,  # the state the page showed
        )
    except PermissionDenied as exc:
        raise Forbidden(exc.message) from None
    except ValidationFailed as exc:
        add_errors(form, exc.errors)
        mark_invalid(form)
        return _detail(request, finding, confirm_form=form, status=400)
    except DomainError as exc:  # the state changed meanwhile: the form is gone, the message at the top
        messages.error(request, exc.message)
        return _detail(request, _finding(user, pk), status=400)
    messages.success(request, "疑点已确认，待遇已按所选月份停发，多发金额已记录")
    return redirect("verification:finding_detail", pk=pk)


@login_required
@require_POST
def finding_dismiss(request, pk):
    user = request.user
    _require_reader(user)
    finding = _finding(user, pk)
    form = FindingDismissForm(request.POST)
    if not form.is_valid():
        mark_invalid(form)
        return _detail(request, finding, dismiss_form=form, status=400)
    try:
        services.finding_dismiss(
            acting_user=user,
            finding=finding,
            reason=form.cleaned_data["reason"],
            expected_state=request.POST.get("state") or None,  # the state the page showed
        )
    except PermissionDenied as exc:
        raise Forbidden(exc.message) from None
    except ValidationFailed as exc:
        add_errors(form, {("reason" if k == "dismiss_reason" else k): v for k, v in exc.errors.items()})
        return _detail(request, finding, dismiss_form=form, status=400)
    except DomainError as exc:  # the state changed meanwhile: the form is gone, the message at the top
        messages.error(request, exc.message)
        return _detail(request, _finding(user, pk), status=400)
    messages.success(request, "疑点已排除")
    return redirect("verification:finding_detail", pk=pk)


# ---- runs ------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def run_list(request):
    user = request.user
    _require_reader(user)
    form = None
    if access.can_run_verification(user):
        form = RunForm(request.POST or None)
        if request.method == "POST":
            if form.is_valid():
                month = form.cleaned_data["month"]
                job = job_create(
                    acting_user=user,
                    kind=JOB_KIND,
                    params={
                        "month": month.isoformat() if month else None,
                        "all_lists": form.cleaned_data["all_lists"],
                    },
                )
                verification_run_task.enqueue(str(job.pk))
                return redirect("verification:run_job", pk=job.pk)
            mark_invalid(form)
    elif request.method == "POST":
        raise Forbidden("只有区残联业务科室可以运行数据比对")
    runs = list(selectors.runs_visible(user)[:50])
    counts = selectors.run_counts(user, [r.pk for r in runs])
    for r in runs:
        r.total, r.candidates = counts[r.pk]["findings"], counts[r.pk]["candidates"]
    return _show(
        request,
        "verification/runs.html",
        {
            "runs": runs,
            "form": form,
            "pending_lists": selectors.lists_visible(user).filter(processed_at__isnull=True).count(),
            "town_fixed": access.town_scope(user),
            "nav_tab": "runs",
        },
    )


@login_required
@require_GET
def run_job(request, pk):
    job = get_object_or_404(access.jobs_visible(request.user).filter(kind=JOB_KIND), pk=pk)
    context = {
        "job": job,
        "finished": job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED),
        "run_id": (job.result or {}).get("run"),
        "findings": sum(((job.result or {}).get("findings") or {}).values()),
        "nav_tab": "runs",
    }
    if request.headers.get("HX-Request") == "true":
        return _show(request, "verification/_job_progress.html", context)
    return _show(request, "verification/run_job.html", context)


# ---- report ----------------------------------------------------------------------------------------------


def _report_scope(request) -> tuple[selectors.ReportScope | None, str]:
    """The runs the report covers, from the query string, and an error in words ("" when none):
    ``run`` (one run), ``month`` (every run comparing that month) or ``from``/``to`` (the runs started in that
    date range). With none of them: every run of the latest run's month."""
    user = request.user
    runs = selectors.runs_visible(user)
    get = request.GET
    pk = _int(get.get("run"))
    if pk:
        return selectors.ReportScope(run=get_object_or_404(runs, pk=pk)), ""
    month_text = get.get("month", "").strip()
    if month_text:
        month = _month(month_text)
        if month is not None:
            return selectors.ReportScope(month=month), ""
        error = f"比对月份“{month_text[:20]}”无效，请用 2023-08 的格式；已显示最近一次比对所在月份"
    else:
        error = ""
        from_text, to_text = get.get("from", "").strip(), get.get("to", "").strip()
        if from_text or to_text:
            start, end = _day(from_text), _day(to_text)
            if from_text and start is None:
                error = f"开始日期“{from_text[:20]}”无效，请用 2023-08-01 的格式"
            elif to_text and end is None:
                error = f"结束日期“{to_text[:20]}”无效，请用 2023-08-31 的格式"
            elif start and end and start > end:
                error = f"开始日期 {start:%Y-%m-%d} 晚于结束日期 {end:%Y-%m-%d}"
            else:
                return selectors.ReportScope(date_from=start, date_to=end), ""
            error += "；已显示最近一次比对所在月份"
    latest = runs.first()
    return (selectors.ReportScope(month=latest.month) if latest else None), error


@login_required
@require_GET
def report_page(request):
    user = request.user
    _require_reader(user)
    scope, error = _report_scope(request)
    rep = selectors.report(user, scope) if scope else None
    runs = selectors.runs_visible(user)
    return _show(
        request,
        "verification/report.html",
        {
            "scope": scope,
            "run": scope.run if scope else None,
            "runs": runs[:50],
            "months": runs.order_by("-month").values_list("month", flat=True).distinct()[:36],
            "scope_error": error,
            "report": rep,
            "chart": rep.chart() if rep else None,
            "town_fixed": access.town_scope(user),
            "nav_tab": "report",
        },
        status=400 if error else 200,
    )


@login_required
@require_POST
def report_export(request):
    """Start the export of the report the page shows (the page's own query string) as a background job."""
    from canlian.common.exports import export_start_response

    from .exporters import REPORT, report_export_params

    user = request.user
    _require_reader(user)
    scope, error = _report_scope(request)
    if error:
        return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
    if scope is None:
        return HttpResponse(
            "还没有比对批次，无可导出的报告", status=400, content_type="text/plain; charset=utf-8"
        )
    back = reverse("verification:report") + (f"?{request.GET.urlencode()}" if request.GET else "")
    return export_start_response(request, REPORT.name, report_export_params(scope), back=back)
