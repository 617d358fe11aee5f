"""Home accessibility renovation pages: the application, the plan's items and the stage photos (the moves are
the case page's generic forms). Views parse input, call one service and redirect; the rules are in
``programmes/renovation.py``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from canlian.common.exceptions import DomainError

from . import access
from .models import RenovationItem
from .programmes import renovation as rn
from .views_common import apply_page
from .views_common import error_text as _error_text


@login_required
@require_http_methods(["GET", "POST"])
def apply(request):
    return apply_page(
        request,
        forbidden="无障碍改造申请由镇(街道)或区残联登记",
        template="casework/renovation/apply.html",
        create=rn.renovation_apply,
        fields=lambda form: {
            "house_alterable": form.get("house_alterable") == "yes",
            "note": form.get("note"),
        },
        success=lambda case: f"已登记{case.person.name}家的无障碍改造申请",
        context=lambda: {"programme": rn.PROGRAMME, "cap": rn.household_cap(timezone.localdate())},
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
