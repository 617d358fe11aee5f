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
