"""Screening lists per programme, town and month: eligible but not enrolled (应保尽保) and enrolled but no
longer eligible (应退则退), each exportable as .xlsx with masked ID numbers; every export is audited."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import HttpResponseBadRequest
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from canlian.accounts import access
from canlian.common.exports import export_start_response

from .. import exporters, selectors
from ..models import Enrolment, Programme
from ..parameters import ParameterError
from ._base import int_param, month_param, require_reader, show, this_month, yuan

SHOW_LIMIT = 200
LISTS = {
    "missing": ("应保尽保", "符合条件但未享受"),
    "stale": ("应退则退", "正在享受但已不符合条件"),
}


def _choice(request, user, data) -> tuple[Programme, object, object, list[str]]:
    errors = []
    programmes = list(Programme.objects.filter(active=True).order_by("id"))
    code = data.get("programme", "")
    programme = next((p for p in programmes if p.code == code), None)
    if code and programme is None:
        errors.append(f"未知的待遇项目“{code[:30]}”")
    programme = programme or programmes[0]
    month, month_error = month_param(data.get("month"), this_month())
    if month_error:
        errors.append(month_error)
    town_fixed = access.town_scope(user)
    town = town_fixed
    if town is None and (town_id := int_param(data.get("town"))):
        town = access.towns_visible(user).filter(pk=town_id).first()
        if town is None:
            errors.append("未知的镇(街道)")
    return programme, month, town, errors


def _lists(user, programme, month, town) -> dict:
    result = selectors.screening(
        user, programme=programme.code, month=month, town_id=town.pk if town else None
    )
    missing = result.eligible_not_enrolled
    stale = result.enrolled_not_eligible
    return {"missing": missing, "stale": stale}


def _people(user, ids: list[int]) -> dict[int, object]:
    return {
        p.pk: p for p in access.persons_visible(user).filter(pk__in=ids).select_related("town", "community")
    }


@login_required
@require_GET
def screening_page(request):
    user = request.user
    require_reader(user)
    programme, month, town, errors = _choice(request, user, request.GET)
    context = {
        "programme": programme,
        "programmes": Programme.objects.filter(active=True).order_by("id"),
        "month": month,
        "town": town,
        "town_fixed": access.town_scope(user),
        "towns": list(access.towns_visible(user).order_by("code")),
        "errors": errors,
        "limit": SHOW_LIMIT,
        "can_export": access.can_export(user),
        "nav_tab": "screening",
    }
    try:
        lists = _lists(user, programme, month, town)
    except ParameterError as exc:
        context["errors"] = [*errors, f"无法测算 {month:%Y年%m月}：{exc}"]
        return show(request, "benefits/screening.html", context, status=400)
    missing, stale = lists["missing"], lists["stale"]
    shown_missing = missing.head(SHOW_LIMIT).rows(named=True)
    shown_stale = stale.head(SHOW_LIMIT).rows(named=True)
    people = _people(user, [r["person_id"] for r in shown_missing + shown_stale])
    enrolments = Enrolment.objects.in_bulk([r["enrolment_id"] for r in shown_stale])
    open_apps = {
        a.person_id: a
        for a in access.applications_visible(user)
        .filter(programme=programme, person_id__in=[r["person_id"] for r in shown_missing])
        .exclude(status__in=["rejected", "enrolled", "withdrawn"])
    }
    for r in shown_missing:
        r["person"] = people.get(r["person_id"])
        r["amount"] = yuan(r["amount_fen"])
        r["application"] = open_apps.get(r["person_id"])
    for r in shown_stale:
        r["person"] = people.get(r["person_id"])
        r["enrolment"] = enrolments.get(r["enrolment_id"])
    context |= {
        "computed": True,
        "missing": shown_missing,
        "missing_count": missing.height,
        "missing_total": yuan(int(missing["amount_fen"].sum() or 0)) if missing.height else yuan(0),
        "stale": shown_stale,
        "stale_count": stale.height,
        "query": request.GET.urlencode(),
    }
    return show(request, "benefits/screening.html", context, status=400 if errors else 200)


@login_required
@require_POST
def screening_export(request):
    """Start the export of both lists (masked IDs) as a background job; audited as ``screening.export``."""
    user = request.user
    require_reader(user)
    if not access.can_export(user):
        raise Forbidden("您无权导出名单")
    programme, month, town, errors = _choice(request, user, request.POST)
    if errors:
        return HttpResponseBadRequest("；".join(errors), content_type="text/plain; charset=utf-8")
    back = (
        reverse("benefits:screening")
        + "?"
        + urlencode(
            {"programme": programme.code, "month": f"{month:%Y-%m}", **({"town": town.pk} if town else {})}
        )
    )
    return export_start_response(
        request, exporters.SCREENING.name, exporters.screening_params(programme, month, town), back=back
    )
