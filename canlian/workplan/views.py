"""Work-plan pages: the plans of each year (import a document), one version's tasks and targets with the review
forms (edit, tie to an indicator, split, merge, drop, add) and publishing. Views parse input, call one service
or selector, and render; every write is a POST through ``workplan.services``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.common.safe_read import size_error, upload_limits

from . import access, services
from .indicators import indicators
from .models import Plan, Target, TownQuota

EDIT_FIELDS = ("text", "value", "unit", "comparator", "deadline", "town", "link", "indicator", "department")


def _readable(user) -> None:
    if not access.can_read_plans(user):
        raise Forbidden("您无权查看工作要点")


def _plan(pk) -> Plan:
    plan = Plan.objects.select_related("created_by", "published_by").filter(pk=pk).first()
    if plan is None:
        raise Http404("找不到该工作要点")
    return plan


def _error_text(exc: DomainError) -> str:
    if isinstance(exc, ValidationFailed):
        return "；".join(exc.errors.values())
    return exc.message


@login_required
@require_http_methods(["GET", "POST"])
def plan_list(request):
    _readable(request.user)
    can_manage = access.can_manage_plans(request.user)
    error = ""
    if request.method == "POST":
        if not can_manage:
            raise Forbidden("只有区残联业务科室可以导入工作要点")
        upload = request.FILES.get("file")
        year_raw = (request.POST.get("year") or "").strip()
        if not upload:
            error = "请选择工作要点文件（.docx、.txt 或带文字层的 PDF）"
        elif not year_raw.isdigit():
            error = "请填写年度（例如 2023）"
        elif size_error(upload.size, upload_limits()):
            error = size_error(upload.size, upload_limits())
        else:
            try:
                result = services.plan_import(
                    acting_user=request.user, year=int(year_raw), data=upload.read(), filename=upload.name
                )
            except DomainError as exc:
                error = _error_text(exc)
            else:
                plan = result.plan
                messages.success(
                    request,
                    f"已导入 {plan.year} 年工作要点第 {plan.version} 版：{plan.tasks.count()} 项任务，"
                    f"{plan.targets.count()} 个目标；请逐项核对后发布",
                )
                return redirect("workplan:plan_detail", plan.pk)
    plans = Plan.objects.select_related("created_by").order_by("-year", "-version")
    if not can_manage:
        plans = plans.filter(status=Plan.Status.PUBLISHED)
    return render(
        request,
        "workplan/plan_list.html",
        {"plans": plans, "can_manage": can_manage, "error": error, "year": request.POST.get("year", "")},
        status=400 if error else 200,
    )


@login_required
@require_GET
def plan_detail(request, pk):
    _readable(request.user)
    plan = _plan(pk)
    can_manage = access.can_manage_plans(request.user)
    if plan.status == Plan.Status.DRAFT and not can_manage:
        raise Http404("找不到该工作要点")
    from canlian.registry.models import Region

    targets = list(plan.targets.select_related("task", "town").order_by("task__number", "order", "pk"))
    by_task: dict[int, list[Target]] = {}
    for t in targets:
        by_task.setdefault(t.task_id, []).append(t)
    tasks = [{"task": task, "targets": by_task.get(task.pk, [])} for task in plan.tasks.order_by("number")]
    quotas: dict[int, dict[int, object]] = {}
    for q in TownQuota.objects.filter(target__plan=plan):
        quotas.setdefault(q.target_id, {})[q.town_id] = q.value
    town_rows = list(Region.objects.filter(level=Region.Level.TOWN).order_by("code"))
    for t in targets:
        t.quota_rows = [(town, quotas.get(t.pk, {}).get(town.pk)) for town in town_rows]
        t.has_quotas = t.pk in quotas
    editable = can_manage and plan.status == Plan.Status.DRAFT
    return render(
        request,
        "workplan/plan_detail.html",
        {
            "plan": plan,
            "tasks": tasks,
            "editable": editable,
            "unlinked": sum(1 for t in targets if not t.link),
            "indicators": indicators(),
            "towns": town_rows,
            "splittable": can_manage and plan.status != Plan.Status.SUPERSEDED,
            "links": Target.Link.choices,
            "comparators": Target.Comparator.choices,
            "changes": [
                (label, plan.changes.get(key, []))
                for key, label in (
                    ("tasks_added", "新增任务"),
                    ("tasks_removed", "删除任务"),
                    ("tasks_changed", "任务文字有改动"),
                    ("targets_added", "新增目标"),
                    ("targets_removed", "删除目标"),
                    ("targets_changed", "目标有改动"),
                )
                if plan.changes.get(key)
            ],
        },
    )


def _act(request, pk, do, ok: str):
    """Run one review service for the plan ``pk``; messages in Chinese; back to the plan page."""
    if not access.can_manage_plans(request.user):
        raise Forbidden("只有区残联业务科室可以修改工作要点")
    plan = _plan(pk)
    try:
        do(plan)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, ok)
    return redirect("workplan:plan_detail", plan.pk)


def _target_of(plan: Plan, raw) -> int:
    try:
        target_id = int(raw)
    except (TypeError, ValueError):
        raise Http404("找不到该目标") from None
    if not plan.targets.filter(pk=target_id).exists():
        raise Http404("找不到该目标")  # a target of another plan: as if it did not exist
    return target_id


@login_required
@require_POST
def target_update(request, pk, target_pk):
    data = {k: request.POST[k] for k in EDIT_FIELDS if k in request.POST}
    return _act(
        request,
        pk,
        lambda plan: services.target_update(
            acting_user=request.user, target_id=_target_of(plan, target_pk), data=data
        ),
        "已保存目标",
    )


@login_required
@require_POST
def target_delete(request, pk, target_pk):
    return _act(
        request,
        pk,
        lambda plan: services.target_delete(acting_user=request.user, target_id=_target_of(plan, target_pk)),
        "已删除目标",
    )


@login_required
@require_POST
def target_split(request, pk, target_pk):
    values = (request.POST.get("values") or "").replace("，", ",").replace("、", ",").split(",")
    return _act(
        request,
        pk,
        lambda plan: services.target_split(
            acting_user=request.user, target_id=_target_of(plan, target_pk), values=values
        ),
        "已拆分目标",
    )


@login_required
@require_POST
def target_merge(request, pk):
    def merge(plan):
        ids = [_target_of(plan, raw) for raw in request.POST.getlist("targets")]
        services.target_merge(acting_user=request.user, target_ids=ids)

    return _act(request, pk, merge, "已合并目标")


@login_required
@require_POST
def target_add(request, pk):
    data = {k: request.POST[k] for k in EDIT_FIELDS if k in request.POST}
    try:
        task_number = int(request.POST.get("task") or 0)
    except ValueError:
        task_number = 0
    return _act(
        request,
        pk,
        lambda plan: services.target_add(
            acting_user=request.user, plan_id=plan.pk, task_number=task_number, data=data
        ),
        "已添加目标",
    )


@login_required
@require_POST
def target_quotas(request, pk, target_pk):
    """Split a target across towns: by hand (``town_<id>`` fields) or in proportion (``how=proportional``)."""

    def split(plan):
        target_id = _target_of(plan, target_pk)
        if request.POST.get("how") == "proportional":
            services.quotas_proportional(acting_user=request.user, target_id=target_id)
        else:
            values = {k[5:]: v for k, v in request.POST.items() if k.startswith("town_")}
            services.quotas_set(acting_user=request.user, target_id=target_id, values=values)

    return _act(request, pk, split, "已分解到各镇(街道)")


@login_required
@require_POST
def target_milestone(request, pk, target_pk):
    from datetime import date

    def done(plan):
        raw = (request.POST.get("done_on") or "").strip()
        try:
            on = date.fromisoformat(raw) if raw else None
        except ValueError:
            raise ValidationFailed({"done_on": f"完成日期“{raw}”不正确"}) from None
        services.milestone_complete(acting_user=request.user, target_id=_target_of(plan, target_pk), on=on)

    return _act(request, pk, done, "已登记里程碑")


@login_required
@require_POST
def plan_publish(request, pk):
    return _act(
        request,
        pk,
        lambda plan: services.plan_publish(acting_user=request.user, plan_id=plan.pk),
        "已发布工作要点",
    )


# ---- the board ------------------------------------------------------------------------------------------


def _year(request) -> int:
    from django.utils import timezone

    raw = request.GET.get("year", "")
    return int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else timezone.localdate().year


def _num(v):
    from decimal import Decimal

    if v is None:
        return None
    v = Decimal(v)
    return int(v) if v == v.to_integral() else float(v)


@login_required
@require_GET
def board(request):
    """The year's targets and how far each has come: the district's board for leaders and district staff,
    the town's own targets for town staff. Counts are shown next to every percentage."""
    from django.utils import timezone

    from canlian.accounts import access as core

    from .progress import STATUS_LABELS, expected_share, monthly_series, plan_progress, published_plan

    _readable(request.user)
    year = _year(request)
    today = timezone.localdate()
    on = min(today, date_of(year, 12, 31)) if year <= today.year else date_of(year, 1, 1)
    towns = core.towns_visible(request.user)
    own_town = core.town_scope(request.user)
    rows = plan_progress(year, on=on, towns=towns)
    if own_town is not None:
        rows = [r for r in rows if r.target.town_id in (None, own_town.pk)]
    counted = [r for r in rows if r.status != "none"]
    summary = [
        (code, label, sum(1 for r in counted if r.status == code))
        for code, label in STATUS_LABELS.items()
        if code != "none"
    ]
    # towns ranked by their share of the quantity targets split to them (sum of actual ÷ sum of quotas)
    ranking: dict[str, list] = {}
    for r in counted:
        for tp in r.by_town:
            if tp.target and tp.actual is not None:
                entry = ranking.setdefault(tp.town, [0, 0])
                entry[0] += tp.actual
                entry[1] += tp.target
    ranked = sorted(
        ((town, a, q, round(a * 100 / q, 1) if q else None) for town, (a, q) in ranking.items()),
        key=lambda x: (-(x[3] or 0), x[0]),
    )
    charts = []
    for r in counted:
        t = r.target
        if t.link != Target.Link.INDICATOR:
            continue
        shown = [tp for tp in r.by_town if tp.target or tp.actual]
        chart = {
            "data_id": f"target-{t.pk}-data",
            "title": f"任务{t.task.number}：{t.text[:24]}",
            "unit": t.unit,
            "towns": [tp.town for tp in shown],
            "actual": [_num(tp.actual) for tp in shown],
            "quota": [_num(tp.target) for tp in shown],
        }
        if t.unit != "%":
            series = monthly_series(t.indicator, year, on=on, town_id=t.town_id)
            if own_town is not None and t.town_id is None:
                series = monthly_series(t.indicator, year, on=on, town_id=own_town.pk)
            chart["months"] = [f"{m}月" for m in range(1, len(series) + 1)]
            chart["series"] = series
            chart["pace"] = [
                _num((t.value or 0) * expected_share(t, date_of(year, m, _month_end_day(year, m)), year))
                for m in range(1, len(series) + 1)
            ]
        charts.append(chart)
    late = [r for r in counted if r.status in ("late", "due_soon", "behind")]
    due = None
    if own_town is not None:  # the town clerk's home: their due work beside their town's targets
        from canlian.casework.worklist import worklist_summary

        due = worklist_summary(request.user)
    return render(
        request,
        "workplan/board.html",
        {
            "year": year,
            "on": on,
            "plan": published_plan(year),
            "rows": rows,
            "summary": summary,
            "ranked": ranked,
            "late": late,
            "charts": charts,
            "own_town": own_town,
            "due": due,
            "years": sorted(
                set(Plan.objects.filter(status=Plan.Status.PUBLISHED).values_list("year", flat=True))
                | {today.year},
                reverse=True,
            ),
        },
    )


def date_of(year: int, month: int, day: int):
    from datetime import date

    return date(year, month, day)


def _month_end_day(year: int, month: int) -> int:
    import calendar

    return calendar.monthrange(year, month)[1]
