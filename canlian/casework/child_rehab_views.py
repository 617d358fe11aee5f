"""Child rehabilitation pages: the guardian's application, the case page's own section (profile, service
months with the cap and its reasons, settlement, referral), the autism pathway and institution evaluation.
Views parse input, call one service and redirect; the rules are in ``programmes/child_rehab*.py``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from canlian.accounts import access as core
from canlian.accounts.models import Role
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.common.masking import mask_phone
from canlian.common.workflow import allowed_moves, transition
from canlian.institutions.models import Institution

from . import access
from .child_rehab_models import (
    AutismResult,
    AutismScreening,
    AutismStage,
    ChildRehabReferral,
    PriorityGroup,
    RehabCategory,
    RehabEvaluation,
    RehabServiceType,
    Residence,
)
from .programme import programmes
from .programmes import child_rehab as cr
from .programmes import child_rehab_quality as quality
from .views_common import apply_page, error_text, parse_date, person_lookup

ZERO = Decimal("0")


_error_text = error_text
_date = parse_date


def _month(value: str, errors: dict, key: str = "month"):
    value = (value or "").strip()
    try:
        return date.fromisoformat(f"{value}-01") if len(value) == 7 else date.fromisoformat(value)
    except ValueError:
        errors[key] = "服务月份格式不正确，应为 2023-05"
        return None


def _person_by_id(user, text: str):
    return person_lookup(user, text, who="儿童")


def case_context(user, case) -> dict:
    """The child-rehab section of the case page (a selector: reads only, scoped by the case page)."""
    profile = getattr(case, "child_rehab", None)
    months = list(case.rehab_months.select_related("institution", "referral", "settlement").order_by("month"))
    year = timezone.localdate().year
    referrals = []
    for r in case.rehab_referrals.order_by("-requested_on", "-id"):
        referrals.append({"referral": r, "moves": allowed_moves(user, r)})
    workable = access.cases_workable(user).filter(pk=case.pk).exists()
    return {
        "profile": profile,
        "guardian_phone": mask_phone(profile.guardian_phone) if profile else "",
        "months": months,
        "year": year,
        "totals": {
            "asked": sum((m.amount_asked for m in months), ZERO),
            "allowed": sum((m.amount_allowed for m in months), ZERO),
            "cut": sum((m.amount_cut for m in months), ZERO),
            "meal": sum((m.meal_amount for m in months), ZERO),
        },
        "referrals": referrals,
        "can_record_month": workable
        and user.role in (Role.DISTRICT_STAFF, Role.INSTITUTION_STAFF)
        and case.state in ("in_service", "ended")
        and case.institution_id is not None,
        "can_request_referral": workable
        and user.role in (Role.DISTRICT_STAFF, Role.TOWN_STAFF)
        and case.state == "approved",
        "can_reimburse": user.role == Role.DISTRICT_STAFF and case.state == "referred",
        "this_month": timezone.localdate().strftime("%Y-%m"),
    }


@login_required
@require_http_methods(["GET", "POST"])
def apply(request):
    return apply_page(
        request,
        forbidden="康复救助申请由镇(街道)或区残联登记",
        template="casework/child_rehab/apply.html",
        create=cr.child_rehab_apply,
        fields=lambda form: {
            "residence_permit_until": form.date("residence_permit_until", "居住证有效期", required=False),
            "category": form.get("category"),
            "service_type": form.get("service_type", RehabServiceType.TRAINING),
            "need": form.get("need"),
            "residence": form.get("residence"),
            "priority": form.getlist("priority"),
            "guardian_name": form.get("guardian_name"),
            "guardian_relation": form.get("guardian_relation"),
            "guardian_phone": form.get("guardian_phone"),
        },
        success=lambda case: f"已登记{case.person.name}的康复救助申请",
        context=lambda: {
            "programme": cr.PROGRAMME,
            "categories": RehabCategory.choices,
            "service_types": RehabServiceType.choices,
            "residences": [c for c in Residence.choices if c[0] != Residence.NONE],
            "priorities": PriorityGroup.choices,
        },
        who="儿童",
    )


@login_required
@require_POST
def month_record(request, pk):
    case = access.case_get(request.user, pk)
    errors = {}
    month = _month(request.POST.get("month", ""), errors)
    try:
        if errors:
            raise ValidationFailed(errors)
        row = cr.rehab_month_record(
            acting_user=request.user,
            case=case,
            month=month,
            days_attended=request.POST.get("days_attended", ""),
            amount_asked=request.POST.get("amount_asked", ""),
        )
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        text = f"已录入{row.month:%Y年%m月}：核定 {row.amount_allowed} 元，伙食补助 {row.meal_amount} 元"
        messages.success(request, text + (f"。{row.cut_reason}" if row.amount_cut else ""))
    return redirect("casework:case_detail", pk=case.pk)


@login_required
@require_POST
def settlement_create(request):
    errors = {}
    month = _month(request.POST.get("month", ""), errors)
    if request.user.role == Role.INSTITUTION_STAFF:
        institution = request.user.institution
    else:
        raw = request.POST.get("institution", "")
        institution = (
            Institution.objects.filter(pk=raw, kind="rehab_institution").first() if raw.isdigit() else None
        )
    if institution is None:
        errors["institution"] = "请选择定点康复机构"
    try:
        if errors:
            raise ValidationFailed(errors)
        s = cr.rehab_settlement_create(acting_user=request.user, institution=institution, month=month)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request,
            f"已生成{s.institution.name}{s.month:%Y年%m月}结算：申报 {s.amount_asked} 元，超出上限 {s.amount_over_cap} 元",
        )
    return redirect("casework:settlement_list")


@login_required
@require_POST
def referral_request(request, pk):
    case = access.case_get(request.user, pk)
    errors = {}
    requested_on = _date(request.POST.get("requested_on"), "申请日期", errors, "requested_on")
    try:
        if errors:
            raise ValidationFailed(errors)
        cr.referral_request(
            acting_user=request.user,
            case=case,
            destination=request.POST.get("destination", ""),
            destination_place=request.POST.get("destination_place", ""),
            reason=request.POST.get("reason", ""),
            requested_on=requested_on,
            consent=request.POST.get("consent") == "1",
        )
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, "已提交异地转介申请，待区残联审批")
    return redirect("casework:case_detail", pk=case.pk)


def _referral(request, pk) -> ChildRehabReferral:
    visible = ChildRehabReferral.objects.filter(case__in=access.cases_visible(request.user))
    return get_object_or_404(visible.select_related("case"), pk=pk)


@login_required
@require_POST
def referral_move(request, pk):
    referral = _referral(request, pk)
    move = request.POST.get("move", "")
    errors, data = {}, {}
    if request.POST.get("decision_reason", "").strip():
        data["decision_reason"] = request.POST["decision_reason"].strip()[:200]
    if move == "complete":
        data["done_on"] = _date(request.POST.get("done_on"), "完成日期", errors, "done_on")
    try:
        if errors:
            raise ValidationFailed(errors)
        transition(
            referral,
            move,
            acting_user=request.user,
            expected_state=request.POST.get("expected_state", ""),
            note=request.POST.get("note", "")[:200],
            **data,
        )
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"已办理：{referral.workflow.move(move).label}")
    return redirect("casework:case_detail", pk=referral.case_id)


@login_required
@require_POST
def referral_reimburse(request, pk):
    referral = _referral(request, pk)
    errors = {}
    month = _month(request.POST.get("month", ""), errors)
    try:
        if errors:
            raise ValidationFailed(errors)
        row = cr.referral_reimburse(
            acting_user=request.user,
            referral=referral,
            month=month,
            days_attended=request.POST.get("days_attended", ""),
            amount_paid=request.POST.get("amount_paid", ""),
        )
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"已报销{row.month:%Y年%m月}：{row.payable} 元")
    return redirect("casework:case_detail", pk=referral.case_id)


@login_required
@require_http_methods(["GET", "POST"])
def autism(request):
    if not access.can_read_cases(request.user) or request.user.role == Role.INSTITUTION_STAFF:
        raise Forbidden("您无权查看孤独症筛查干预记录")
    if request.method == "POST":
        errors = {}
        on = _date(request.POST.get("on"), "日期", errors, "on")
        try:
            if errors:
                raise ValidationFailed(errors)
            person = _person_by_id(request.user, request.POST.get("id_number", ""))
            quality.autism_event_record(
                acting_user=request.user,
                person=person,
                stage=request.POST.get("stage", ""),
                on=on,
                result=request.POST.get("result", ""),
                place=request.POST.get("place", ""),
                note=request.POST.get("note", ""),
            )
        except DomainError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, "已记录")
        return redirect("casework:child_rehab_autism")
    events = (
        AutismScreening.objects.filter(person__in=core.persons_visible(request.user))
        .select_related("person", "town")
        .order_by("-on", "-id")[:200]
    )
    return render(
        request,
        "casework/child_rehab/autism.html",
        {
            "programme": cr.PROGRAMME,
            "programmes": programmes(),
            "events": events,
            "stages": AutismStage.choices,
            "results": AutismResult.choices,
            "can_record": request.user.role in (Role.DISTRICT_STAFF, Role.TOWN_STAFF),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def evaluations(request):
    if request.user.role not in (Role.DISTRICT_STAFF, Role.LEADER):
        raise Forbidden("定点康复机构考评由区残联查看和录入")
    checklist = quality.checklist_on(timezone.localdate())
    if request.method == "POST":
        errors = {}
        on = _date(request.POST.get("evaluated_on"), "考评日期", errors, "evaluated_on")
        raw = request.POST.get("institution", "")
        institution = Institution.objects.filter(pk=raw).first() if raw.isdigit() else None
        try:
            if errors:
                raise ValidationFailed(errors)
            if institution is None:
                raise ValidationFailed({"institution": "请选择定点康复机构"})
            scores = {i["code"]: request.POST.get(f"score_{i['code']}", "") for i in checklist.items}
            negatives = {
                n["code"]: request.POST.get(f"why_{n['code']}", "")
                for n in checklist.negatives
                if request.POST.get(f"neg_{n['code']}") == "1"
            }
            ev = quality.rehab_evaluation_record(
                acting_user=request.user,
                institution=institution,
                evaluated_on=on,
                scores=scores,
                negatives=negatives,
                note=request.POST.get("note", ""),
            )
        except DomainError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(
                request, f"已录入考评：{ev.final_score} 分（{'合格' if ev.passed else '不合格'}）"
            )
        return redirect("casework:child_rehab_evaluations")
    return render(
        request,
        "casework/child_rehab/evaluations.html",
        {
            "programme": cr.PROGRAMME,
            "programmes": programmes(),
            "checklist": checklist,
            "evaluations": RehabEvaluation.objects.select_related("institution", "by")[:100],
            "institutions": Institution.objects.filter(kind="rehab_institution").order_by("name"),
            "can_record": request.user.role == Role.DISTRICT_STAFF,
            "today": timezone.localdate(),
        },
    )
