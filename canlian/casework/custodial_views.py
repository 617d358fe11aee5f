"""Custodial care's own pages: the application (the shared apply page), the towns' purchase contracts (list
with filters, new, end early) and the district's quality inspections (list with filters, record, follow-up
check). Views parse input, call one service or selector and redirect; the rules are in
``programmes/custodial_care.py`` and ``programmes/custodial_contracts.py``, the scope in ``access.py``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from canlian.accounts import access as core
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.institutions.models import Institution

from . import access
from .models import CustodialContract, CustodialMode, Inspection
from .programme import programmes
from .programmes import custodial_care as cc
from .programmes import custodial_contracts as ct
from .views_common import apply_page, dated_action, parse_date


@login_required
@require_http_methods(["GET", "POST"])
def apply(request):
    return apply_page(
        request,
        forbidden="托养服务申请由镇(街道)或区残联登记",
        template="casework/custodial/apply.html",
        create=cc.custodial_apply,
        fields=lambda form: {"mode": form.get("mode")},
        success=lambda case: f"已登记{case.person.name}的托养服务申请",
        context=lambda: {"programme": cc.PROGRAMME, "modes": CustodialMode.choices},
    )


def _providers():
    return Institution.objects.filter(kind__in=cc.PROGRAMME.institution_kinds).order_by("name")


def _int(value):
    return int(value) if (value or "").isdigit() else None


# ---- contracts ---------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def contracts(request):
    user = request.user
    if not access.can_read_contracts(user):
        raise Forbidden("您无权查看托养服务购买合同")
    today = timezone.localdate()
    town_fixed = core.town_scope(user) is not None
    filters = {
        "town": None if town_fixed else _int(request.GET.get("town")),
        "institution": _int(request.GET.get("institution")),
        "status": request.GET.get("status", "")
        if request.GET.get("status") in CustodialContract.STATUS_LABELS
        else "",
    }
    qs = ct.contracts_filtered(
        user,
        today=today,
        town_id=filters["town"],
        institution_id=filters["institution"],
        status=filters["status"],
    )
    workable = set(access.contracts_workable(user).values_list("pk", flat=True))
    return render(
        request,
        "casework/custodial/contracts.html",
        {
            "programme": cc.PROGRAMME,
            "programmes": programmes(),
            "rows": [(r, r.contract.pk in workable) for r in ct.contract_rows(qs, today=today)],
            "filters": filters,
            "towns": core.towns_visible(user),
            "town_fixed": town_fixed,
            "providers": access.contracts_visible(user)
            .values_list("institution_id", "institution__name")
            .distinct()
            .order_by("institution__name"),
            "statuses": CustodialContract.STATUS_LABELS.items(),
            "can_manage": access.can_manage_contracts(user),
            "today": today,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def contract_new(request):
    user = request.user
    if not access.can_manage_contracts(user):
        raise Forbidden("托养服务购买合同由镇(街道)或区残联登记")
    towns = core.towns_visible(user)
    errors, values = {}, {}
    if request.method == "POST":
        post = request.POST
        values = {k: post.get(k, "").strip() for k in post}
        town = towns.filter(pk=_int(post.get("town"))).first()
        if town is None:
            errors["town"] = "请选择购买方镇(街道)"
        institution = _providers().filter(pk=_int(post.get("institution"))).first()
        if institution is None:
            errors["institution"] = "请从列表中选择托养服务机构"
        valid_from = parse_date(post.get("valid_from"), "起始日期", errors, "valid_from")
        valid_to = parse_date(post.get("valid_to"), "截止日期", errors, "valid_to")
        if not errors:
            try:
                c = ct.contract_create(
                    acting_user=user,
                    town=town,
                    institution=institution,
                    mode=post.get("mode", ""),
                    valid_from=valid_from,
                    valid_to=valid_to,
                    places=post.get("places", ""),
                    monthly_price=post.get("monthly_price", ""),
                )
            except ValidationFailed as exc:
                errors.update(exc.errors)
            except DomainError as exc:
                errors["town"] = exc.message
            else:
                messages.success(
                    request, f"已登记{c.town.name}向“{c.institution.name}”购买{c.get_mode_display()}的合同"
                )
                return redirect("casework:custodial_contracts")
    return render(
        request,
        "casework/custodial/contract_form.html",
        {
            "programme": cc.PROGRAMME,
            "programmes": programmes(),
            "towns": towns,
            "providers": _providers().filter(state="designated"),
            "modes": CustodialMode.choices,
            "errors": errors,
            "values": values,
            "today": timezone.localdate(),
        },
        status=400 if errors else 200,
    )


@login_required
@require_POST
def contract_end(request, pk):
    contract = access.contracts_visible(request.user).filter(pk=pk).first()
    if contract is None:
        raise Http404("未找到该合同，或您无权查看")
    return dated_action(
        request,
        field="ended_on",
        label="终止日期",
        call=lambda day: ct.contract_end(
            acting_user=request.user,
            contract=contract,
            ended_on=day,
            reason=request.POST.get("end_reason", ""),
        ),
        success=f"已终止合同：{contract.town.name}·{contract.institution.name}",
        to="casework:custodial_contracts",
    )


# ---- inspections -------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def inspections(request):
    user = request.user
    if not access.can_read_contracts(user):
        raise Forbidden("您无权查看托养服务质量检查")
    today = timezone.localdate()
    can_inspect = access.can_inspect(user)
    errors, values = {}, {}
    if request.method == "POST":
        if not can_inspect:
            raise Forbidden("质量检查由区残联录入")
        post = request.POST
        values = {k: post.get(k, "").strip() for k in post}
        institution = _providers().filter(pk=_int(post.get("institution"))).first()
        if institution is None:
            errors["institution"] = "请从列表中选择托养服务机构"
        on = parse_date(post.get("inspected_on"), "检查日期", errors, "inspected_on")
        due = parse_date(post.get("follow_up_due"), "整改期限", errors, "follow_up_due", required=False)
        if not post.get("score", "").strip():
            errors["score"] = "请填写得分"
        if not errors:
            try:
                i = ct.inspection_record(
                    acting_user=user,
                    institution=institution,
                    inspected_on=on,
                    score=post.get("score", ""),
                    findings=post.get("findings", "")[:2000],
                    follow_up=post.get("follow_up", "")[:2000],
                    follow_up_due=due,
                )
            except ValidationFailed as exc:
                errors.update(exc.errors)
            except DomainError as exc:
                errors["institution"] = exc.message
            else:
                verdict = "合格" if i.passed else "不合格"
                messages.success(request, f"已录入“{institution.name}”的质量检查：{i.score} 分，{verdict}")
                return redirect("casework:custodial_inspections")
    filters = {
        "institution": _int(request.GET.get("institution")),
        "year": _int(request.GET.get("year")),
        "result": request.GET.get("result", "") if request.GET.get("result") in ("passed", "failed") else "",
        "follow_up": request.GET.get("follow_up", "")
        if request.GET.get("follow_up") in ("open", "overdue", "done")
        else "",
    }
    qs = ct.inspections_filtered(
        user,
        today=today,
        institution_id=filters["institution"],
        year=filters["year"],
        result=filters["result"],
        follow_up=filters["follow_up"],
    )
    rows = [
        (i, i.follow_up_status(today), Inspection.FOLLOW_UP_LABELS[i.follow_up_status(today)])
        for i in qs[:500]
    ]
    visible = access.inspections_visible(user)
    return render(
        request,
        "casework/custodial/inspections.html",
        {
            "programme": cc.PROGRAMME,
            "programmes": programmes(),
            "rows": rows,
            "filters": filters,
            "providers": _providers()
            if user.role != "institution_staff"
            else _providers().filter(pk=user.institution_id),
            "years": sorted({d.year for d in visible.dates("inspected_on", "year")}, reverse=True),
            "can_inspect": can_inspect,
            "errors": errors,
            "values": values,
            "today": today,
        },
        status=400 if errors else 200,
    )


@login_required
@require_POST
def inspection_follow_up(request, pk):
    inspection = access.inspections_visible(request.user).filter(pk=pk).first()
    if inspection is None:
        raise Http404("未找到该检查记录，或您无权查看")
    return dated_action(
        request,
        field="follow_up_done_on",
        label="复查日期",
        call=lambda day: ct.inspection_follow_up_done(
            acting_user=request.user,
            inspection=inspection,
            done_on=day,
            result=request.POST.get("follow_up_result", ""),
        ),
        success=f"已记录“{inspection.institution.name}”的整改复查",
        to="casework:custodial_inspections",
    )
