"""Institution pages: list (directory), detail with status moves and history, create (district staff)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from canlian.accounts import access as core
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.common.masking import mask_phone
from canlian.common.workflow import allowed_moves, history_rows

from . import access, services
from .models import Institution


def _moves(user, inst):
    wf = inst.workflow
    out = []
    for m in allowed_moves(user, inst):
        names = list(dict.fromkeys([*m.requires, *m.records]))
        fields = [
            {
                "name": n,
                "label": wf.field_labels.get(n, n),
                "required": n in m.requires,
                "kind": "date" if n.startswith("designated_") else "text",
            }
            for n in names
        ]
        out.append({"move": m, "fields": fields})
    return out


@login_required
@require_GET
def institution_list(request):
    if not access.can_read_institutions(request.user):
        raise Forbidden("您无权查看服务机构")
    kind = request.GET.get("kind", "")
    qs = access.institutions_visible(request.user).select_related("town")
    if kind in Institution.Kind.values:
        qs = qs.filter(kind=kind)
    return render(
        request,
        "institutions/list.html",
        {
            "institutions": qs,
            "kinds": Institution.Kind.choices,
            "kind": kind,
            "can_manage": access.can_manage_institutions(request.user),
        },
    )


@login_required
@require_GET
def institution_detail(request, pk):
    inst = access.institution_get(request.user, pk)
    history = history_rows(inst)
    return render(
        request,
        "institutions/detail.html",
        {
            "inst": inst,
            "phone": mask_phone(inst.phone),
            "moves": _moves(request.user, inst),
            "history": history,
            "case_count": inst.cases.count(),
        },
    )


@login_required
@require_POST
def institution_move(request, pk):
    inst = access.institution_get(request.user, pk)
    from datetime import date

    def day(name):
        raw = request.POST.get(name, "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise ValidationFailed({name: "日期格式不正确，应为 2023-05-06"}) from None

    try:
        services.institution_move(
            acting_user=request.user,
            institution=inst,
            move=request.POST.get("move", ""),
            expected_state=request.POST.get("expected_state", ""),
            note=request.POST.get("note", "")[:200],
            designated_from=day("designated_from"),
            designated_to=day("designated_to"),
            state_reason=request.POST.get("state_reason", "")[:200],
        )
    except DomainError as exc:
        messages.error(
            request, "；".join(exc.errors.values()) if isinstance(exc, ValidationFailed) else exc.message
        )
    else:
        messages.success(request, "已办理")
    return redirect("institutions:detail", pk=inst.pk)


@login_required
@require_http_methods(["GET", "POST"])
def institution_create(request):
    if not access.can_manage_institutions(request.user):
        raise Forbidden("您无权登记服务机构")
    towns = core.towns_visible(request.user)
    errors, values = {}, {}
    if request.method == "POST":
        values = {
            k: request.POST.get(k, "").strip()
            for k in ("name", "kind", "town", "address", "contact", "phone")
        }
        town = towns.filter(pk=values["town"]).first() if values["town"].isdigit() else None
        try:
            inst = services.institution_create(
                acting_user=request.user,
                name=values["name"],
                kind=values["kind"],
                town=town,
                address=values["address"],
                contact=values["contact"],
                phone=values["phone"],
            )
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            messages.success(request, f"已登记：{inst.name}")
            return redirect("institutions:detail", pk=inst.pk)
    return render(
        request,
        "institutions/form.html",
        {
            "errors": errors,
            "values": values,
            "towns": towns,
            "kinds": Institution.Kind.choices,
        },
        status=400 if errors else 200,
    )
