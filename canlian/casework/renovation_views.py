"""Home accessibility renovation pages: the application, the plan's items and the stage photos (the moves are
the case page's generic forms). Views parse input, call one service and redirect; the rules are in
``programmes/renovation.py``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from canlian.accounts.models import Role
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.registry.identity import IdentityError

from . import access
from .child_rehab_views import _date, _error_text, _person_by_id
from .models import RenovationItem
from .programme import programmes
from .programmes import renovation as rn


@login_required
@require_http_methods(["GET", "POST"])
def apply(request):
    if request.user.role not in (Role.DISTRICT_STAFF, Role.TOWN_STAFF):
        raise Forbidden("无障碍改造申请由镇(街道)或区残联登记")
    errors, values = {}, {}
    if request.method == "POST":
        post = request.POST
        values = {k: post.get(k, "").strip() for k in post}
        applied_on = _date(post.get("applied_on"), "申请日期", errors, "applied_on")
        person = None
        try:
            person = _person_by_id(request.user, post.get("id_number", ""))
        except IdentityError as exc:
            errors["id_number"] = str(exc)
        except ValidationFailed:
            errors["id_number"] = "未找到该身份证号的残疾人，或不在您的管辖范围内"
        except DomainError as exc:
            errors["id_number"] = exc.message
        if not errors:
            try:
                case = rn.renovation_apply(
                    acting_user=request.user,
                    person=person,
                    applied_on=applied_on,
                    house_alterable=post.get("house_alterable") == "yes",
                    note=post.get("note", ""),
                )
            except DomainError as exc:
                errors.update(exc.errors if isinstance(exc, ValidationFailed) else {"id_number": exc.message})
            else:
                messages.success(request, f"已登记{case.person.name}家的无障碍改造申请")
                return redirect("casework:case_detail", pk=case.pk)
    return render(
        request,
        "casework/renovation/apply.html",
        {
            "programme": rn.PROGRAMME,
            "programmes": programmes(),
            "errors": errors,
            "values": values,
            "today": timezone.localdate(),
            "cap": rn.household_cap(timezone.localdate()),
        },
    )


@login_required
@require_POST
def item_add(request, pk):
    case = access.case_get(request.user, pk)
    try:
        item = rn.renovation_item_add(
            acting_user=request.user,
            case=case,
            name=request.POST.get("name", ""),
            unit=request.POST.get("unit", ""),
            quantity=request.POST.get("quantity", ""),
            unit_price=request.POST.get("unit_price", ""),
        )
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"已添加改造项目：{item.name}（{rn.fmt(item.amount)} 元）")
    return redirect("casework:case_detail", pk=case.pk)


@login_required
@require_POST
def item_remove(request, pk):
    item = get_object_or_404(
        RenovationItem.objects.filter(case__in=access.cases_visible(request.user)), pk=pk
    )
    try:
        rn.renovation_item_remove(acting_user=request.user, item=item)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"已删除改造项目：{item.name}")
    return redirect("casework:case_detail", pk=item.case_id)


@login_required
@require_POST
def photo_add(request, pk):
    case = access.case_get(request.user, pk)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "请选择要上传的照片")
        return redirect("casework:case_detail", pk=case.pk)
    from .services import MAX_ATTACHMENT

    if upload.size > MAX_ATTACHMENT:
        messages.error(request, "照片不能超过 10 MB")
        return redirect("casework:case_detail", pk=case.pk)
    try:
        rn.renovation_photo_add(
            acting_user=request.user,
            case=case,
            stage=request.POST.get("stage", ""),
            name=upload.name,
            content=upload.read(),
            content_type=upload.content_type or "",
        )
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"已上传照片：{upload.name}")
    return redirect("casework:case_detail", pk=case.pk)
