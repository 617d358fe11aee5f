"""A person's benefits (待遇) for a chosen month: each programme's eligibility with the reasons, the amount,
enrolments with their change history and the suspend / resume / stop forms, applications, and payments."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from canlian.accounts import access
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.masking import mask_bank_account
from canlian.common.workflow import allowed_moves

from .. import selectors
from ..forms import EnrolmentChangeForm, add_errors, mark_invalid
from ..models import Application, Enrolment, Programme
from ..parameters import ParameterError
from ._base import month_param, show, this_month, yuan
from .applications import FINAL, STATUS_BADGE, can_file

PAYMENT_LIMIT = 120
ENROLMENT_BADGE = {"active": "success", "suspended": "warning", "stopped": "secondary"}


@dataclass
class Reason:
    ok: bool
    text: str


@dataclass
class ProgrammeRow:
    programme: Programme
    eligible: bool | None = None
    amount: object = None
    cash: bool = True
    reasons: list[Reason] = field(default_factory=list)
    enrolment: Enrolment | None = None
    application: Application | None = None
    can_apply: bool = False


def _reasons(texts: list[str]) -> list[Reason]:
    out = []
    for text in texts:
        ok = text.startswith("✔")
        out.append(Reason(ok, text.lstrip("✔✘ ").strip()))
    return out


def _context(
    request, person, *, month_text: str | None = None, bound: tuple[int, EnrolmentChangeForm] | None = None
):
    user = request.user
    month, month_error = month_param(month_text, this_month())
    eligibility, eligibility_error = {}, ""
    try:
        eligibility = selectors.person_eligibility(user, person, month, params=selectors.current_parameters())
    except ParameterError as exc:
        eligibility_error = f"无法测算 {month:%Y年%m月} 的待遇：{exc}"
    can_edit = access.can_edit_person(user, person)
    enrolments = list(
        access.enrolments_visible(user)
        .filter(person=person)
        .select_related("programme", "application")
        .prefetch_related("changes__by")
        .order_by("programme_id", "-id")
    )
    for e in enrolments:
        e.badge = ENROLMENT_BADGE.get(e.status, "secondary")
        e.masked_account = mask_bank_account(e.bank_account)
        e.change_list = list(e.changes.all())
        moves = allowed_moves(user, e) if can_edit else []
        if bound and bound[0] == e.pk:
            e.change_form = bound[1]
            e.form_open = True
        elif moves:
            e.change_form = EnrolmentChangeForm(
                prefix=f"e{e.pk}", moves=moves, initial={"effective_month": this_month()}
            )
    applications = list(
        access.applications_visible(user).filter(person=person).select_related("programme").order_by("-id")
    )
    for a in applications:
        a.badge = STATUS_BADGE.get(a.status, "secondary")
    rows = []
    filing = can_file(user) and can_edit
    for programme in Programme.objects.filter(active=True).order_by("id"):
        r = eligibility.get(programme.code)
        row = ProgrammeRow(programme=programme)
        if r:
            row.eligible, row.amount, row.cash, row.reasons = (
                r["eligible"],
                r["amount"],
                r["cash"],
                _reasons(r["reasons"]),
            )
        row.enrolment = next(
            (e for e in enrolments if e.programme_id == programme.pk and e.status != "stopped"), None
        )
        row.application = next(
            (a for a in applications if a.programme_id == programme.pk and a.status not in FINAL), None
        )
        row.can_apply = filing and row.enrolment is None and row.application is None
        rows.append(row)
    payments = list(
        access.payroll_lines_visible(user)
        .filter(person=person)
        .select_related("payroll__programme")
        .order_by("-payroll__month", "-for_month", "-id")[: PAYMENT_LIMIT + 1]
    )
    for line in payments:
        line.yuan = yuan(line.amount_fen)
    paid_total = yuan(sum(line.amount_fen for line in payments[:PAYMENT_LIMIT] if line.status == "paid"))
    return {
        "person": person,
        "month": month,
        "month_error": month_error,
        "rows": rows,
        "eligibility_error": eligibility_error,
        "enrolments": enrolments,
        "applications": applications,
        "payments": payments[:PAYMENT_LIMIT],
        "payments_more": len(payments) > PAYMENT_LIMIT,
        "payment_limit": PAYMENT_LIMIT,
        "paid_total": paid_total,
        "can_edit": can_edit,
        "nav_tab": "persons",
    }


@login_required
@require_GET
def person_benefits(request, pk):
    person = access.person_get(request.user, pk)
    return show(
        request,
        "benefits/person_benefits.html",
        _context(request, person, month_text=request.GET.get("month")),
    )


@login_required
@require_POST
def enrolment_change(request, pk):
    user = request.user
    from ..services.enrolments import enrolment_change as change

    enrolment = get_object_or_404(access.enrolments_visible(user).select_related("person"), pk=pk)
    person = access.person_get(user, enrolment.person_id)
    form = EnrolmentChangeForm(
        request.POST, prefix=f"e{enrolment.pk}", moves=enrolment.workflow.moves_from(enrolment.status)
    )
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            change(
                acting_user=user,
                enrolment=enrolment,
                kind=data["kind"],
                effective_month=data["effective_month"],
                reason=data["reason"],
            )
        except ValidationFailed as exc:
            add_errors(form, exc.errors)
        except PermissionDenied as exc:
            form.add_error(None, exc.message)
            status = 403
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            label = dict(form.fields["kind"].choices)[data["kind"]]
            messages.success(
                request, f"已{label}：{enrolment.programme.name}，自 {data['effective_month']:%Y年%m月} 起"
            )
            return redirect(reverse("benefits:person_benefits", args=[person.pk]) + "#enrolments")
    mark_invalid(form)
    context = _context(request, person, month_text=request.POST.get("month"), bound=(enrolment.pk, form))
    context["change_error"] = "；".join(e for errors in form.errors.values() for e in errors)
    return show(request, "benefits/person_benefits.html", context, status=status)
