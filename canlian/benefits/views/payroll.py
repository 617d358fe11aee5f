"""Payroll pages: list with a chart of monthly totals, generation as a background job with progress, the
batch page (totals by town, review / approve / discard, bank file, bank return file) and the line list.

Town staff see every batch but only their own town's lines (``access.payroll_lines_visible``): every amount
they are shown is summed from those lines."""

from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from canlian.accounts import access
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.exports import export_start
from canlian.common.jobs import job_create
from canlian.common.models import Job
from canlian.common.safe_read import size_error, upload_limits
from canlian.common.workflow import allowed_moves, maker_withheld_moves

from ..exporters import BANK_FILE, bank_file_params
from ..forms import BankResultsForm, PayrollGenerateForm, PayrollMoveForm, mark_invalid
from ..hooks import payroll_warnings
from ..importers import parse_bank_results
from ..models import Payroll, PayrollLine, Programme
from ..services import payroll as payroll_services
from ..workflows import PAYROLL_BUTTON_MOVES, PAYROLL_WORKFLOW
from ._base import (
    int_param,
    is_htmx,
    month_param,
    query_without,
    require_reader,
    show,
    this_month,
    yuan,
)

P = Payroll.Status
JOB_KIND = "payroll_generate"
LINES_PAGE = 100
STATUS_BADGE = {
    P.GENERATING: "secondary",
    P.DRAFT: "secondary",
    P.REVIEWED: "info",
    P.APPROVED: "primary",
    P.EXPORTED: "warning",
    P.CLOSED: "success",
}
# Payroll checks (``benefits.hooks``) are shown while the batch can still be generated again, reviewed or
# approved; once approved they no longer change what this batch pays.
WARN_STATUSES = {P.GENERATING, P.DRAFT, P.REVIEWED}
LINE_BADGE = {"pending": "secondary", "paid": "success", "failed": "danger"}


def _visible_sums(user, payrolls) -> dict[int, tuple[int, int]]:
    """payroll id → (lines, fen) over the lines this user may see."""
    if access.town_scope(user) is None:
        return {p.pk: (p.line_count, p.total_fen) for p in payrolls}
    rows = (
        access.payroll_lines_visible(user)
        .filter(payroll__in=[p.pk for p in payrolls])
        .values("payroll_id")
        .annotate(n=Count("id"), fen=Sum("amount_fen"))
        .order_by()
    )
    return {r["payroll_id"]: (r["n"], r["fen"] or 0) for r in rows}


def _chart(payrolls, sums) -> dict:
    """Monthly totals per programme, oldest month first, for ECharts (yuan as numbers: display only)."""
    months = sorted({p.month for p in payrolls})
    series: dict[str, dict] = defaultdict(dict)
    for p in payrolls:
        series[p.programme.name][p.month] = sums.get(p.pk, (0, 0))[1]
    return {
        "months": [f"{m:%Y-%m}" for m in months],
        "series": [
            {"name": name, "data": [float(yuan(by_month.get(m, 0))) for m in months]}
            for name, by_month in series.items()
        ],
    }


@login_required
@require_GET
def payroll_list(request):
    user = request.user
    require_reader(user)
    qs = access.payrolls_visible(user).select_related("programme", "created_by")
    programme = request.GET.get("programme", "")
    if programme:
        qs = qs.filter(programme__code=programme)
    payrolls = list(qs.order_by("-month", "programme_id")[:240])
    sums = _visible_sums(user, payrolls)
    for p in payrolls:
        p.badge = STATUS_BADGE.get(p.status, "secondary")
        p.visible_count, fen = sums.get(p.pk, (0, 0))
        p.visible_total = yuan(fen)
    can_run = access.can_run_payroll(user)
    programmes = list(Programme.objects.filter(active=True, cash=True).order_by("id"))
    month, month_error = month_param(request.GET.get("month"), this_month())
    return show(
        request,
        "benefits/payroll_list.html",
        {
            "payrolls": payrolls,
            "chart": _chart(payrolls, sums),
            "programme": programme,
            "programmes": programmes,
            "town_fixed": access.town_scope(user),
            "generate_form": PayrollGenerateForm(initial={"month": month}) if can_run else None,
            "warning_month": month,
            "month_error": month_error,
            "payroll_warnings": [
                w
                for p in programmes
                if not programme or p.code == programme
                for w in payroll_warnings(user=user, programme=p, month=month)
            ],
            "nav_tab": "payroll",
        },
    )


@login_required
@require_POST
def payroll_generate(request):
    """Queue the generation as a background task with a progress record; the job page polls it."""
    user = request.user
    if not access.can_run_payroll(user):
        raise Forbidden("只有区残联业务科室可以生成发放批次")
    form = PayrollGenerateForm(request.POST)
    if not form.is_valid():
        mark_invalid(form)
        for errors in form.errors.values():
            for e in errors:
                messages.error(request, e)
        return redirect("benefits:payroll_list")
    programme, month = form.cleaned_data["programme"], form.cleaned_data["month"]
    existing = access.payrolls_visible(user).filter(programme=programme, month=month).first()
    if existing:
        messages.info(request, f"{programme.name} {month:%Y-%m} 的发放批次已存在")
        return redirect("benefits:payroll_detail", pk=existing.pk)
    try:  # the service checks again when the task runs; refused here, no job is queued for nothing
        payroll_services.payroll_month_check(programme=programme, month=month)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("benefits:payroll_list")
    from ..tasks import payroll_generate_task

    job = job_create(
        acting_user=user, kind=JOB_KIND, params={"programme": programme.code, "month": month.isoformat()}
    )
    payroll_generate_task.enqueue(str(job.pk))
    return redirect("benefits:payroll_job", pk=job.pk)


@login_required
@require_GET
def payroll_job(request, pk):
    job = get_object_or_404(access.jobs_visible(request.user).filter(kind=JOB_KIND), pk=pk)
    programme = Programme.objects.filter(code=job.params.get("programme", "")).first()
    month, _ = month_param(job.params.get("month", "")[:7], this_month())
    context = {
        "job": job,
        "programme": programme,
        "month": job.params.get("month", "")[:7],
        "finished": job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED),
        "payroll_id": (job.result or {}).get("payroll"),
        "nav_tab": "payroll",
    }
    if is_htmx(request):
        return show(request, "benefits/_job_progress.html", context)
    context["payroll_warnings"] = (
        payroll_warnings(user=request.user, programme=programme, month=month) if programme else []
    )
    return show(request, "benefits/payroll_job.html", context)


# ---- one batch ---------------------------------------------------------------------------------------------


def _get_payroll(user, pk) -> Payroll:
    return get_object_or_404(
        access.payrolls_visible(user).select_related("programme", "created_by", "reviewed_by", "approved_by"),
        pk=pk,
    )


def _detail_context(request, payroll: Payroll, **extra) -> dict:
    user = request.user
    lines = access.payroll_lines_visible(user).filter(payroll=payroll)
    towns = payroll_services.town_totals(lines)
    for t in towns:
        t["total"] = yuan(t["total_fen"])
    count = sum(t["count"] for t in towns)
    fen = sum(t["total_fen"] or 0 for t in towns)
    by_status = {
        r["status"]: (r["n"], yuan(r["fen"]))
        for r in lines.values("status").annotate(n=Count("id"), fen=Sum("amount_fen")).order_by()
    }
    by_kind = {
        r["kind"]: (r["n"], yuan(r["fen"]))
        for r in lines.values("kind").annotate(n=Count("id"), fen=Sum("amount_fen")).order_by()
    }
    can_run = access.can_run_payroll(user)
    payroll.badge = STATUS_BADGE.get(payroll.status, "secondary")
    allowed = allowed_moves(user, payroll)
    moves = [
        {"to": m.target, "label": m.label, "style": "outline-secondary" if m.target == P.DRAFT else "primary"}
        for m in allowed
        if m.name in PAYROLL_BUTTON_MOVES
    ]
    warnings = (
        payroll_warnings(user=user, programme=payroll.programme, month=payroll.month)
        if payroll.status in WARN_STATUSES
        else []
    )
    return {
        "payroll": payroll,
        "payroll_warnings": warnings,
        "payroll_warning_count": sum(w.count for w in warnings),
        "towns": towns,
        "visible_count": count,
        "visible_total": yuan(fen),
        "statuses": [
            (v, label, *by_status.get(v, (0, yuan(0))), LINE_BADGE[v])
            for v, label in PayrollLine.Status.choices
        ],
        "kinds": [(v, label, *by_kind.get(v, (0, yuan(0)))) for v, label in PayrollLine.Kind.choices],
        "town_fixed": access.town_scope(user),
        "can_run": can_run,
        "moves": moves,
        "can_discard": any(m.name == "discard" for m in allowed),
        "can_download": can_run and payroll.status in (P.APPROVED, P.EXPORTED, P.CLOSED),
        "can_unmask": access.bank_accounts_unmasked_allowed(user),
        "results_form": extra.pop("results_form", None)
        or (BankResultsForm() if can_run and payroll.status in (P.EXPORTED, P.CLOSED) else None),
        "reviewed_by_me": any(m.name == "approve" for m in maker_withheld_moves(user, payroll)),
        "nav_tab": "payroll",
        **extra,
    }


@login_required
@require_GET
def payroll_detail(request, pk):
    user = request.user
    require_reader(user)
    payroll = _get_payroll(user, pk)
    return show(request, "benefits/payroll_detail.html", _detail_context(request, payroll))


def _error_page(request, payroll_pk, message: str, status: int, **extra):
    payroll = _get_payroll(request.user, payroll_pk)
    return show(
        request,
        "benefits/payroll_detail.html",
        _detail_context(request, payroll, error=message, **extra),
        status=status,
    )


@login_required
@require_POST
def payroll_move(request, pk):
    user = request.user
    require_reader(user)
    payroll = _get_payroll(user, pk)
    form = PayrollMoveForm(request.POST)
    if not form.is_valid() or form.cleaned_data["to_status"] not in P.values:
        return _error_page(request, pk, "无效的办理操作", 400)
    try:
        payroll_services.payroll_transition(
            acting_user=user,
            payroll=payroll,
            to_status=form.cleaned_data["to_status"],
            expected_status=form.cleaned_data["expected_status"],
        )
    except PermissionDenied as exc:
        return _error_page(request, pk, exc.message, 403)
    except DomainError as exc:
        return _error_page(request, pk, exc.message, 409)
    label = next(
        m.label
        for m in PAYROLL_WORKFLOW.moves_from(form.cleaned_data["expected_status"])
        if m.target == form.cleaned_data["to_status"]
    )
    messages.success(request, f"已办理：{label}")
    return redirect("benefits:payroll_detail", pk=pk)


@login_required
@require_POST
def payroll_discard(request, pk):
    user = request.user
    require_reader(user)
    payroll = _get_payroll(user, pk)
    name = str(payroll)
    try:
        payroll_services.payroll_discard(
            acting_user=user, payroll=payroll, expected_status=request.POST.get("expected_status") or None
        )
    except PermissionDenied as exc:
        return _error_page(request, pk, exc.message, 403)
    except DomainError as exc:
        return _error_page(request, pk, exc.message, 409)
    messages.success(request, f"已作废草稿批次：{name}，可重新生成")
    return redirect("benefits:payroll_list")


@login_required
@require_POST
def payroll_bank_download(request, pk):
    """Start the bank file as a background job; full account and ID numbers only when asked for and the role
    allows (the exporter checks and audits; the unmasked file can be downloaded once)."""
    user = request.user
    require_reader(user)
    payroll = _get_payroll(user, pk)
    unmasked = request.POST.get("unmasked") == "1"
    try:
        job, created = export_start(
            acting_user=user, name=BANK_FILE.name, params=bank_file_params(payroll, unmasked=unmasked)
        )
    except PermissionDenied as exc:
        return _error_page(request, pk, exc.message, 403)
    except DomainError as exc:
        return _error_page(request, pk, exc.message, 409)
    if not created:
        messages.info(request, "相同的导出正在进行中，已为您打开该任务，请勿重复提交")
    return redirect("common:export_detail", pk=job.pk)


@login_required
@require_POST
def payroll_results(request, pk):
    """The bank's return file: checked whole (errors per row, in Chinese); nothing is written unless all
    rows are good. Who may apply it is checked before the file is read (a hostile file must not reach the
    reader on behalf of someone who may not import), and the file is read in a child process with limits
    (``common.safe_read``)."""
    user = request.user
    require_reader(user)
    payroll = _get_payroll(user, pk)
    if not access.can_run_payroll(user):
        return _error_page(request, pk, "只有区残联业务科室可以导入回盘结果", 403)
    form = BankResultsForm(request.POST, request.FILES)
    if not form.is_valid():
        mark_invalid(form)
        return _error_page(request, pk, "请选择银行回盘文件", 400, results_form=form)
    upload = form.cleaned_data["file"]
    too_big = size_error(upload.size, upload_limits())
    if too_big:
        return _error_page(request, pk, f"回盘文件“{upload.name}”无法导入：{too_big}", 400, results_form=form)
    try:
        results = parse_bank_results(upload.read(), filename=upload.name)
        outcome = payroll_services.results_apply(acting_user=user, payroll=payroll, results=results)
    except ValidationFailed as exc:
        rows = sorted(exc.errors.items(), key=lambda kv: int_param(kv[0].strip("第行")) or 0)
        return _error_page(
            request,
            pk,
            f"回盘文件“{upload.name}”有 {len(rows)} 行有误，未导入任何结果；请修正后重新上传",
            400,
            results_errors=rows,
            results_form=form,
        )
    except PermissionDenied as exc:
        return _error_page(request, pk, exc.message, 403)
    except DomainError as exc:
        return _error_page(
            request, pk, f"回盘文件“{upload.name}”无法导入：{exc.message}", 400, results_form=form
        )
    messages.success(
        request,
        f"已导入回盘结果：到账 {outcome['paid']} 笔，失败 {outcome['failed']} 笔，未回盘 {outcome['pending']} 笔",
    )
    return redirect("benefits:payroll_detail", pk=pk)


@login_required
@require_GET
def payroll_lines(request, pk):
    user = request.user
    require_reader(user)
    payroll = _get_payroll(user, pk)
    get = request.GET
    town_fixed = access.town_scope(user)
    qs = (
        access.payroll_lines_visible(user)
        .filter(payroll=payroll)
        .select_related("person", "town")
        .order_by("town_id", "id")
    )
    town = None if town_fixed else int_param(get.get("town"))
    if town:
        qs = qs.filter(town_id=town)
    kind = get.get("kind", "")
    if kind in PayrollLine.Kind.values:
        qs = qs.filter(kind=kind)
    else:
        kind = ""
    status = get.get("status", "")
    if status in PayrollLine.Status.values:
        qs = qs.filter(status=status)
    else:
        status = ""
    totals = qs.aggregate(n=Count("id"), fen=Sum("amount_fen"))
    page = Paginator(qs, LINES_PAGE).get_page(get.get("page"))
    for line in page.object_list:
        line.yuan = yuan(line.amount_fen)
        line.badge = LINE_BADGE.get(line.status, "secondary")
    payroll.badge = STATUS_BADGE.get(payroll.status, "secondary")
    return show(
        request,
        "benefits/payroll_lines.html",
        {
            "payroll": payroll,
            "page": page,
            "filtered_count": totals["n"],
            "filtered_total": yuan(totals["fen"]),
            "town": town,
            "kind": kind,
            "status": status,
            "town_fixed": town_fixed,
            "towns": [] if town_fixed else list(access.towns_visible(user).order_by("code")),
            "kinds": PayrollLine.Kind.choices,
            "line_statuses": PayrollLine.Status.choices,
            "query_no_page": query_without(request, "page"),
            "nav_tab": "payroll",
        },
    )
