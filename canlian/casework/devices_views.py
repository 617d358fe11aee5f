"""Assistive-device pages: the application, the catalogue (versions, import, what changed) and the loans of
the service points. Views parse input, call one service and redirect; the rules are in
``programmes/devices.py``. The case's own steps are the engine's move forms on the case page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from canlian.accounts.models import Role
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.institutions.models import Institution

from . import access
from .device_models import DeviceCatalogVersion
from .programmes import devices as dv
from .views_common import apply_page, dated_action, person_lookup
from .views_common import parse_date as _date


def _catalogue_in_force() -> dict:
    version = dv.version_in_force(timezone.localdate())
    return {"version": version, "items": version.items.order_by("code") if version else []}


@login_required
@require_http_methods(["GET", "POST"])
def apply(request):
    return apply_page(
        request,
        forbidden="辅具适配申请由镇(街道)或区残联登记",
        template="casework/devices/apply.html",
        create=dv.device_apply,
        fields=lambda form: {"device": form.get("device"), "village_worker": form.get("village_worker")},
        success=lambda case: f"已登记{case.person.name}的辅具适配申请",
        context=_catalogue_in_force,
    )


def _district(user) -> bool:
    return user.role == Role.DISTRICT_STAFF


@login_required
@require_http_methods(["GET", "POST"])
def catalogue(request):
    if not access.can_read_cases(request.user):
        raise Forbidden("您无权查看辅具目录")
    errors, rows = {}, []
    if request.method == "POST":
        if not _district(request.user):
            raise Forbidden("辅具目录由区残联业务科室导入")
        upload = request.FILES.get("file")
        effective = _date(request.POST.get("effective_from"), "启用日期", errors, "effective_from")
        if upload is None:
            errors["file"] = "请选择目录文件（xlsx）"
        if not errors:
            try:
                v = dv.catalogue_import(
                    acting_user=request.user,
                    source=upload.read(),
                    filename=upload.name,
                    version=request.POST.get("version", ""),
                    effective_from=effective,
                )
            except ValidationFailed as exc:
                rows = getattr(exc, "rows", [])
                errors = {} if rows else exc.errors
            except DomainError as exc:
                errors["file"] = exc.message
            else:
                messages.success(request, f"已导入辅具目录 {v.version}（{v.items.count()} 项）")
                return redirect(f"{request.path}?v={v.pk}")
    versions = list(DeviceCatalogVersion.objects.order_by("-effective_from"))
    current = versions[0] if versions else None
    raw = request.GET.get("v", "")
    if raw.isdigit():
        current = next((v for v in versions if v.pk == int(raw)), None)
        if current is None:
            raise Http404("未找到该目录版本")
    diff = None
    if current is not None:
        older = [v for v in versions if v.effective_from < current.effective_from]
        if older:
            diff = {"against": older[0], **dv.catalogue_diff(older[0], current)}
    items = current.items.order_by("code") if current else []
    return render(
        request,
        "casework/devices/catalogue.html",
        {
            "versions": versions,
            "current": current,
            "items": [(i, "、".join(dv.CATEGORY_LABELS[c] for c in i.categories)) for i in items],
            "diff": diff,
            "errors": errors,
            "rows": rows,
            "can_import": _district(request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def loans(request):
    user = request.user
    if not access.can_read_cases(user):
        raise Forbidden("您无权查看辅具借用")
    today = timezone.localdate()
    errors, values = {}, {}
    points = Institution.objects.filter(kind=dv.SERVICE_POINT).order_by("name")
    if user.role == Role.INSTITUTION_STAFF:
        points = points.filter(pk=user.institution_id)
    can_lend = user.role in (Role.DISTRICT_STAFF, Role.INSTITUTION_STAFF) and points.exists()
    if request.method == "POST":
        if not can_lend:
            raise Forbidden("只有辅具服务点工作人员或区残联可以登记借出")
        post = request.POST
        values = {k: post.get(k, "").strip() for k in post}
        lent_on = _date(post.get("lent_on"), "借出日期", errors, "lent_on")
        due_on = _date(post.get("due_on"), "应还日期", errors, "due_on", required=False)
        raw = post.get("institution", "")
        point = points.filter(pk=raw).first() if raw.isdigit() else None
        if point is None:
            errors["institution"] = "请选择辅具服务点"
        person = None
        if point is not None:
            try:
                person = person_lookup(user, post.get("id_number", ""), people=dv.loan_persons(user, point))
            except ValidationFailed as exc:
                errors.update(exc.errors)
        item = None
        if lent_on and not errors:
            version = dv.version_in_force(lent_on)
            item = dv.item_find(version, post.get("device", "")) if version else None
            if item is None:
                errors["device"] = f"辅具目录中没有“{post.get('device', '')}”"
        if not errors:
            try:
                loan = dv.loan_lend(
                    acting_user=user,
                    institution=point,
                    person=person,
                    item=item,
                    asset_no=post.get("asset_no", ""),
                    lent_on=lent_on,
                    due_on=due_on,
                )
            except ValidationFailed as exc:
                errors.update(exc.errors)
            except DomainError as exc:
                errors["id_number"] = exc.message
            else:
                messages.success(request, f"已登记借出“{loan.item.name}”，应于 {loan.due_on:%Y-%m-%d} 归还")
                return redirect("casework:devices_loans")
    show = request.GET.get("show", "out")
    qs = dv.loans_visible(user)
    if show == "out":
        qs = qs.filter(returned_on__isnull=True)
    elif show == "overdue":
        qs = qs.filter(returned_on__isnull=True, due_on__lt=today)
    rows = [{"loan": x, "status": dv.loan_status(x, today)} for x in qs.order_by("due_on", "id")[:500]]
    return render(
        request,
        "casework/devices/loans.html",
        {
            "rows": rows,
            "show": show,
            "points": points,
            "can_lend": can_lend,
            "errors": errors,
            "values": values,
            "today": today,
            "overdue": dv.loans_visible(user).filter(returned_on__isnull=True, due_on__lt=today).count(),
        },
    )


@login_required
@require_POST
def loan_return(request, pk):
    loan = dv.loans_visible(request.user).filter(pk=pk).first()
    if loan is None:
        raise Http404("未找到该借用记录，或您无权查看")
    return dated_action(
        request,
        field="returned_on",
        label="归还日期",
        call=lambda day: dv.loan_return(acting_user=request.user, loan=loan, returned_on=day),
        success=f"已登记归还“{loan.item.name}”（编号 {loan.asset_no}）",
        to="casework:devices_loans",
    )
