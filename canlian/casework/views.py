"""Service pages: a programme's case list (scoped), case detail with the moves the user may make, due items,
attachments (encrypted; audited download), settlements, the overdue list, and the roster upload with job
progress. Views parse input, call one service or selector, and render."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from canlian.accounts import access as core
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.common.models import Job
from canlian.common.spreadsheet import SpreadsheetError, detect_format
from canlian.common.uploads import REPORT_NAME, import_dir, upload_save
from canlian.common.workflow import allowed_moves, history_rows, transition
from canlian.institutions.models import Institution

from . import access, selectors, services, tasks
from .forms import move_fields, parse_move_data
from .importing import roster_kinds, roster_spec
from .models import DueItem
from .programme import programme_get, programmes
from .views_common import file_response

PAGE = 50


def _require_reader(user):
    if not access.can_read_cases(user):
        raise Forbidden("您无权查看服务个案")


def _programme(code):
    try:
        return programme_get(code)
    except DomainError:
        raise Http404("没有该服务项目") from None


def _error_text(exc: DomainError) -> str:
    if isinstance(exc, ValidationFailed):
        return "；".join(exc.errors.values())
    return exc.message


@login_required
@require_GET
def index(request):
    _require_reader(request.user)
    today = timezone.localdate()
    rows = []
    for p in programmes():
        cases = access.cases_visible(request.user).filter(programme=p.code)
        overdue = selectors.due_items_open(request.user, programme=p.code, today=today, overdue_only=True)
        rows.append({"programme": p, "cases": cases.count(), "overdue": overdue.count()})
    return render(request, "casework/index.html", {"rows": rows, "programmes": programmes()})


@login_required
@require_GET
def case_list(request, programme):
    _require_reader(request.user)
    p = _programme(programme)
    state, q = request.GET.get("state", ""), request.GET.get("q", "").strip()[:50]
    town = request.GET.get("town", "")
    town_id = int(town) if town.isdigit() and core.town_scope(request.user) is None else None
    qs = selectors.cases_for_programme(
        request.user, p.code, state=state if state in p.workflow.states else "", town_id=town_id, q=q
    )
    page = Paginator(qs, PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "casework/case_list.html",
        {
            "programme": p,
            "programmes": programmes(),
            "page": page,
            "state": state,
            "q": q,
            "town": town_id,
            "states": p.workflow.states.items(),
            "towns": core.towns_visible(request.user),
            "town_fixed": core.town_scope(request.user) is not None,
            "can_import": access.can_import_roster(request.user),
        },
    )


def _institutions_for(p):
    return Institution.objects.filter(kind__in=p.institution_kinds, state="designated").order_by("name")


@login_required
@require_GET
def case_detail(request, pk):
    case = access.case_get(request.user, pk)
    p = case.programme_def
    wf = p.workflow
    today = timezone.localdate()
    history = history_rows(case)
    items = selectors.case_due_items(case)
    workable = access.cases_workable(request.user).filter(pk=case.pk).exists()
    return render(
        request,
        "casework/case_detail.html",
        {
            "case": case,
            "programme": p,
            "programmes": programmes(),
            "moves": [{"move": m, "fields": move_fields(wf, m)} for m in allowed_moves(request.user, case)],
            "institutions": _institutions_for(p),
            "history": history,
            "items": [(i, i.status_on(today), DueItem.STATUS_LABELS[i.status_on(today)]) for i in items],
            "attachments": case.attachments.select_related("uploaded_by") if workable else [],
            "workable": workable,
            "data": p.data_display(case.data),
            "today": today,
            "can_see_attachments": workable,
            "extra": p.detail_context(request.user, case) if p.detail_context else {},
        },
    )


@login_required
@require_POST
def case_move(request, pk):
    case = access.case_get(request.user, pk)
    p = case.programme_def
    try:
        move = p.workflow.move(request.POST.get("move", ""))
        data = parse_move_data(p.workflow, move, request.POST, institutions=_institutions_for(p))
        services.case_move(
            acting_user=request.user,
            case=case,
            move=move.name,
            expected_state=request.POST.get("expected_state", ""),
            note=request.POST.get("note", "")[:200],
            **data,
        )
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"已办理：{move.label}")
    return redirect("casework:case_detail", pk=case.pk)


@login_required
@require_POST
def due_done(request, pk):
    item = get_object_or_404(access.due_items_visible(request.user), pk=pk)
    try:
        done_on = date.fromisoformat(request.POST.get("done_on", ""))
    except ValueError:
        messages.error(request, "完成日期格式不正确，应为 2023-05-06")
        return redirect("casework:case_detail", pk=item.case_id)
    try:
        services.due_item_complete(
            acting_user=request.user, item=item, done_on=done_on, note=request.POST.get("note", "")[:1000]
        )
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"已记录第{item.seq}次回访")
    return redirect("casework:case_detail", pk=item.case_id)


@login_required
@require_POST
def attachment_add(request, pk):
    case = access.case_get(request.user, pk)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "请选择要上传的文件")
        return redirect("casework:case_detail", pk=case.pk)
    if upload.size > services.MAX_ATTACHMENT:
        messages.error(request, "附件不能超过 10 MB")
        return redirect("casework:case_detail", pk=case.pk)
    try:
        services.attachment_add(
            acting_user=request.user,
            case=case,
            name=upload.name,
            content=upload.read(),
            content_type=upload.content_type or "",
        )
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"已上传：{upload.name}")
    return redirect("casework:case_detail", pk=case.pk)


@login_required
@require_GET
def attachment_download(request, pk):
    try:
        att, data = services.attachment_read(acting_user=request.user, pk=pk)
    except DomainError:
        raise Http404("未找到该附件，或您无权查看。") from None
    return file_response(data, att.name, att.content_type)


@login_required
@require_GET
def due_list(request, programme):
    _require_reader(request.user)
    p = _programme(programme)
    today = timezone.localdate()
    overdue = request.GET.get("overdue") == "1"
    qs = selectors.due_items_open(request.user, programme=p.code, today=today, overdue_only=overdue)
    page = Paginator(qs, PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "casework/due_list.html",
        {
            "programme": p,
            "programmes": programmes(),
            "page": page,
            "overdue": overdue,
            "today": today,
            "by_town": selectors.overdue_by_town(request.user, programme=p.code, today=today),
        },
    )


@login_required
@require_GET
def settlement_list(request):
    qs = access.settlements_visible(request.user).select_related("institution")
    if not (
        core._active(request.user) and request.user.role in {"district_staff", "leader", "institution_staff"}
    ):
        raise Forbidden("您无权查看机构结算")
    page = Paginator(qs, PAGE).get_page(request.GET.get("page"))
    rows = [(s, allowed_moves(request.user, s)) for s in page.object_list]
    return render(
        request, "casework/settlement_list.html", {"page": page, "rows": rows, "programmes": programmes()}
    )


@login_required
@require_POST
def settlement_move(request, pk):
    """Submit, approve (with a rejected part or an adjustment and their reasons) or return a settlement; the
    settlement services check roles, scope and maker ≠ checker."""
    from .settlements import settlement_decide

    settlement = get_object_or_404(access.settlements_visible(request.user), pk=pk)
    move, post = request.POST.get("move", ""), request.POST
    expected = post.get("expected_state", "")
    try:
        if move == "approve":
            settlement_decide(
                acting_user=request.user,
                settlement=settlement,
                expected_state=expected,
                rejected=post.get("amount_rejected", "").strip() or "0",
                reject_reason=post.get("reject_reason", "")[:200],
                adjusted=post.get("amount_adjusted", "").strip() or "0",
                adjust_reason=post.get("adjust_reason", "")[:200],
                note=post.get("note", "")[:200],
            )
        else:
            data = {"reject_reason": post["reject_reason"][:200]} if post.get("reject_reason") else {}
            transition(settlement, move, acting_user=request.user, expected_state=expected, **data)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"已办理：{settlement.workflow.move(move).label}")
    return redirect("casework:settlement_list")


# ---- roster upload ---------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def roster_upload(request, kind):
    if not access.can_import_roster(request.user):
        raise Forbidden("您无权导入服务名单")
    if kind not in roster_kinds():
        raise Http404("没有该名单类型")
    spec = roster_spec(kind)
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = "请选择要导入的文件"
        else:
            stored = upload_save(upload)
            try:
                detect_format(stored, filename=upload.name)
            except SpreadsheetError as exc:
                stored.unlink(missing_ok=True)
                stored.parent.rmdir()
                error = exc.message
            else:
                job = tasks.roster_enqueue(
                    acting_user=request.user, kind=kind, stored=stored, filename=upload.name
                )
                return redirect("casework:import_job", pk=job.pk)
    return render(
        request,
        "casework/roster_upload.html",
        {"spec": spec, "error": error, "programmes": programmes()},
        status=400 if error else 200,
    )


def _job(request, pk) -> Job:
    return get_object_or_404(core.jobs_visible(request.user).filter(kind=tasks.JOB_KIND), pk=pk)


@login_required
@require_GET
def import_job(request, pk):
    job = _job(request, pk)
    partial = request.headers.get("HX-Request") == "true"
    running = job.status in (Job.Status.QUEUED, Job.Status.RUNNING)
    response = render(
        request,
        "casework/_import_job.html" if partial else "casework/import_job.html",
        {
            "job": job,
            "running": running,
            "result": job.result or {},
            "programmes": programmes(),
            "has_report": (import_dir(job.pk) / REPORT_NAME).is_file(),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def import_commit(request, pk):
    job = _job(request, pk)
    if tasks.roster_commit_claim(job):
        tasks.roster_commit_task.enqueue(str(job.pk))
    else:
        messages.error(request, "该导入已在写入或已结束")
    return redirect("casework:import_job", pk=job.pk)


@login_required
@require_GET
def import_report(request, pk):
    job = _job(request, pk)
    path = import_dir(job.pk) / REPORT_NAME
    if not path.is_file():
        raise Http404("报告已过期或尚未生成")
    audit_record(
        acting_user=request.user,
        action="roster.report_download",
        object_type="common.job",
        object_id=str(job.pk),
        object_repr=job.params.get("filename", ""),
    )
    return FileResponse(
        open(path, "rb"), as_attachment=True, filename=f"导入报告-{job.params.get('filename', '')}.xlsx"
    )


@login_required
@require_GET
def my_worklist(request):
    from .worklist import worklist_page

    if not access.can_read_cases(request.user) or request.user.role == "leader":
        raise Http404("没有待办事项页面")
    today = timezone.localdate()
    items, summary = worklist_page(request.user, today=today)
    return render(
        request,
        "casework/worklist.html",
        {
            "items": items,
            "total": summary.total,
            "overdue": summary.overdue,
            "programmes": programmes(),
            "today": timezone.localdate(),
        },
    )


@require_GET
def my_worklist_count(request):
    """The navigation badge (a fragment fetched after the page): the number of items in 我的待办. A background
    fetch is not user activity: it neither redirects an anonymous caller to the login page nor saves the
    session (which would extend the idle timeout and could race a logout or a change of user)."""
    from .worklist import worklist_count

    n = worklist_count(request.user) if request.user.is_authenticated else 0
    del request.session  # SessionMiddleware then leaves the session and its cookie as they were
    if not n:
        return HttpResponse("")
    return HttpResponse(
        f'<span class="badge rounded-pill text-bg-danger" id="worklist-badge" aria-label="{n} 项待办">{n}</span>'
    )
