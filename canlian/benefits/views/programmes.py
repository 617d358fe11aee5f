"""Programme pages: what each programme is, its open applications, enrolments by town and recent payrolls."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET

from canlian.accounts import access
from canlian.accounts.models import Role

from .. import selectors
from ..models import Application, Programme
from ._base import require_reader, show, yuan
from .applications import FINAL, STATUS_BADGE
from .payroll import STATUS_BADGE as PAYROLL_BADGE
from .payroll import _visible_sums


@login_required
def index(request):
    """The section's landing page by role: the queue for those who act, programmes for the others."""
    user = request.user
    if user.role in (Role.TOWN_STAFF, Role.DISTRICT_STAFF):
        return redirect("benefits:review_queue")
    if access.can_manage_parameters(user) and user.role not in access.BENEFIT_READERS:
        return redirect("benefits:parameter_list")
    return redirect("benefits:programme_list")


@login_required
@require_GET
def programme_list(request):
    user = request.user
    require_reader(user)
    programmes = list(Programme.objects.order_by("id"))
    open_apps = dict(
        access.applications_visible(user)
        .exclude(status__in=FINAL)
        .values_list("programme_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    enrolled = {
        r["programme_id"]: r
        for r in access.enrolments_visible(user)
        .values("programme_id")
        .annotate(
            active=Count("id", filter=Q(status="active")), suspended=Count("id", filter=Q(status="suspended"))
        )
        .order_by()
    }
    for p in programmes:
        p.open_applications = open_apps.get(p.pk, 0)
        p.active_count = enrolled.get(p.pk, {}).get("active", 0)
        p.suspended_count = enrolled.get(p.pk, {}).get("suspended", 0)
    return show(request, "benefits/programme_list.html", {"programmes": programmes, "nav_tab": "programmes"})


@login_required
@require_GET
def programme_detail(request, code):
    user = request.user
    require_reader(user)
    programme = get_object_or_404(Programme, code=code)
    apps = access.applications_visible(user).filter(programme=programme)
    counts = dict(apps.values_list("status").annotate(n=Count("id")).order_by())
    statuses = [
        (v, label, counts.get(v, 0), STATUS_BADGE.get(v, "secondary"))
        for v, label in Application.Status.choices
    ]
    by_town = list(
        access.enrolments_visible(user)
        .filter(programme=programme)
        .values("person__town__name", "person__town__code")
        .annotate(
            active=Count("id", filter=Q(status="active")), suspended=Count("id", filter=Q(status="suspended"))
        )
        .filter(Q(active__gt=0) | Q(suspended__gt=0))
        .order_by("person__town__code")
    )
    payrolls = list(access.payrolls_visible(user).filter(programme=programme).order_by("-month")[:12])
    sums = _visible_sums(user, payrolls)
    for p in payrolls:
        p.badge = PAYROLL_BADGE.get(p.status, "secondary")
        p.visible_count, fen = sums.get(p.pk, (0, 0))
        p.visible_total = yuan(fen)
    params = selectors.current_parameters()
    parameters = [params[n] for n in params.names() if n.startswith(f"{programme.code}.")]
    return show(
        request,
        "benefits/programme_detail.html",
        {
            "programme": programme,
            "statuses": statuses,
            "open_total": sum(n for v, _, n, _b in statuses if v not in FINAL),
            "by_town": by_town,
            "enrolled_total": sum(r["active"] for r in by_town),
            "suspended_total": sum(r["suspended"] for r in by_town),
            "payrolls": payrolls,
            "parameters": parameters,
            "can_manage_parameters": access.can_manage_parameters(user),
            "nav_tab": "programmes",
        },
    )
