"""The community-service pages: one list (filters, paging, the entry form, export) and one detail page per
kind, plus the small actions of some kinds. Views parse, call one service or selector, and render."""

from __future__ import annotations

import io
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.common.workflow import allowed_moves, history_of, transition

from . import access, forms, selectors
from . import services as sv
from .exports import export_write
from .kinds import KINDS, Kind, kind_get


def _groups(user) -> list[tuple[str, list[Kind]]]:
    out: dict[str, list[Kind]] = {}
    for k in KINDS.values():
        if (k.sensitive and (access.is_counsellor(user) or access.can_read_counts(user))) or (
            not k.sensitive and access.can_read(user)
        ):
            out.setdefault(k.group, []).append(k)
    return list(out.items())


def can_open(user) -> bool:
    return access.can_read(user) or access.is_counsellor(user)


@login_required
def index(request):
    if not can_open(request.user):
        raise Forbidden("您无权查看社区服务")
    return render(request, "casework/community/index.html", {"groups": _groups(request.user)})


def _choices(kind: Kind, user) -> dict:
    from canlian.institutions.models import Institution

    out = {}
    for f in kind.fields:
        if f.type == "choice":
            out[f.name] = list(kind.model._meta.get_field(f.name).choices)
        elif f.type == "town":
            out[f.name] = [(t.pk, t.name) for t in access.towns_for(user).order_by("code")]
        elif f.type == "institution":
            qs = Institution.objects.order_by("name")
            if user.role == "town_staff":
                qs = qs.filter(town_id=user.jurisdiction_id)
            out[f.name] = [(i.pk, i.name) for i in qs[:500]]
    return out


def _form_fields(kind: Kind, user, values: dict, errors: dict) -> list[dict]:
    choices = _choices(kind, user)
    return [
        {
            "f": f,
            "value": values.get(f.name, ""),
            "error": errors.get(f.name, ""),
            "choices": choices.get(f.name, []),
            "id": f"c-{f.name}",
        }
        for f in kind.fields
        if f.type != "plan"
    ]


def _query_without_page(request) -> str:
    q = request.GET.copy()
    q.pop("page", None)
    return q.urlencode()


@login_required
@require_http_methods(["GET", "POST"])
def record_list(request, kind):
    kind = kind_get(kind)
    user = request.user
    if kind.sensitive and not access.is_counsellor(user):
        if not access.can_read_counts(user) or request.method == "POST":
            raise Forbidden("心理服务仅心理咨询师可以查看和录入")
        return _counts_page(request, kind)
    if not kind.sensitive and not access.can_read(user):
        raise Forbidden(f"您无权查看{kind.label}")
    may_enter = kind.create_here and (
        access.is_counsellor(user) if kind.sensitive else access.can_write(user)
    )
    errors, values = {}, {}
    if request.method == "POST":
        if not may_enter:
            raise Forbidden(f"您无权录入{kind.label}")
        values = {k: request.POST.get(k, "").strip() for k in request.POST}
        parsed, errors = forms.parse(kind, request.POST)
        if not errors:
            try:
                obj = sv.record_create(acting_user=user, kind=kind, values=parsed)
            except ValidationFailed as exc:
                errors = exc.errors
            except DomainError as exc:
                errors = {"form": exc.message}
            else:
                messages.success(request, f"已登记{kind.label}")
                return redirect("casework:community_detail", kind=kind.code, pk=obj.pk)
    f = selectors.Filters.from_query(request.GET)
    rows, more = selectors.page_of(user, kind, f)
    if kind.sensitive:
        sv.content_read(acting_user=user, kind=kind, ids=[o.pk for o in rows], how="list")
    return render(
        request,
        "casework/community/list.html",
        {
            "kind": kind,
            "groups": _groups(user),
            "columns": [c[0] for c in kind.columns],
            "rows": [(o, [fn(o) for _, fn in kind.columns]) for o in rows],
            "more": more,
            "filters": f,
            "query": _query_without_page(request),
            "towns": [(t.pk, t.name) for t in access.towns_for(user).order_by("code")],
            "town_fixed": user.role == "town_staff",
            "kinds": kind.kind_choices(),
            "may_enter": may_enter,
            "fields": _form_fields(kind, user, values, errors) if may_enter else [],
            "errors": errors,
            "today": timezone.localdate(),
        },
        status=400 if errors else 200,
    )


def _counts_page(request, kind: Kind):
    f = selectors.Filters.from_query(request.GET)
    if not f.month and not f.year:
        f = selectors.Filters(town=f.town, year=timezone.localdate().year)
    return render(
        request,
        "casework/community/counts.html",
        {
            "kind": kind,
            "groups": _groups(request.user),
            "counts": selectors.counselling_counts(request.user, f),
            "filters": f,
            "towns": [(t.pk, t.name) for t in access.towns_for(request.user).order_by("code")],
            "town_fixed": request.user.role == "town_staff",
        },
    )


@login_required
def record_export(request, kind):
    """The list's rows (every page) as an Excel file; audited (counselling content: a content read too).
    A builder (``export_write``) behind a small view, so the background-export machinery can take it over."""
    kind = kind_get(kind)
    user = request.user
    if kind.sensitive and not access.is_counsellor(user):
        raise Forbidden("心理服务内容仅心理咨询师可以导出")
    if not kind.sensitive and not access.can_read(user):
        raise Forbidden(f"您无权导出{kind.label}")
    f = selectors.Filters.from_query(request.GET)
    buf = io.BytesIO()
    n = export_write(user, kind, f, buf)
    response = HttpResponse(
        buf.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{kind.code}-{date.today():%Y%m%d}.xlsx"
    response["Cache-Control"] = "no-store"
    response["X-Rows"] = str(n)
    return response


@login_required
def record_detail(request, kind, pk):
    kind = kind_get(kind)
    user = request.user
    if not kind.sensitive and not access.can_read(user):
        raise Forbidden(f"您无权查看{kind.label}")
    obj = sv.record_get(user, kind, pk)
    fields = [(label, fn(obj)) for label, fn in kind.columns]
    extra = _detail_extra(user, kind, obj)
    return render(
        request,
        "casework/community/detail.html",
        {
            "kind": kind,
            "obj": obj,
            "fields": fields,
            "groups": _groups(user),
            "today": timezone.localdate(),
            **extra,
        },
    )


def _detail_extra(user, kind: Kind, obj) -> dict:
    from canlian.casework.models import HomeTeachingPlan

    may_write = (
        access.can_write(user) and access.visible(user, kind.model, write=True).filter(pk=obj.pk).exists()
    )
    extra: dict = {"may_write": may_write}
    if kind.code in ("project", "legal"):
        extra["moves"] = allowed_moves(user, obj)
        extra["history"] = history_of(obj)
    if kind.code == "visit":
        extra["year"] = obj.visited_on.year
        extra["projects"] = list(obj.projects.all())
    if kind.code == "plan":
        sessions = list(obj.sessions.order_by("-held_on"))
        extra["sessions"] = sessions
        extra["lessons_done"] = sum(s.lessons for s in sessions)
    if kind.code == "session":
        extra["plan"] = HomeTeachingPlan.objects.filter(pk=obj.plan_id).first()
    if kind.code == "activity":
        extra["attendees"] = list(obj.attendees.order_by("name")[:500])
        extra["photos"] = list(obj.photos.only("id", "name", "size"))
    if kind.code == "team":
        extra["members"] = list(obj.members.order_by("name")[:500])
    return extra


def _back(kind: str, pk) -> HttpResponse:
    return redirect("casework:community_detail", kind=kind, pk=pk)


def _error(request, exc: DomainError) -> None:
    from canlian.casework.views_common import error_text

    messages.error(request, error_text(exc))


@login_required
@require_POST
def record_move(request, kind, pk):
    kind = kind_get(kind)
    if kind.code not in ("project", "legal"):
        raise Http404("该记录没有流程")
    obj = sv.record_get(request.user, kind, pk)
    data = {k: request.POST.get(k, "").strip() for k in ("referred_to", "outcome") if k in request.POST}
    errors: dict = {}
    from canlian.casework.views_common import parse_date

    for key, label in (("referred_on", "转介日期"), ("closed_on", "结案日期")):
        if key in request.POST:
            data[key] = parse_date(request.POST.get(key), label, errors, key)
    try:
        if errors:
            raise ValidationFailed(errors)
        transition(
            obj,
            request.POST.get("move", ""),
            acting_user=request.user,
            expected_state=request.POST.get("expected_state", ""),
            note=request.POST.get("note", ""),
            **data,
        )
    except DomainError as exc:
        _error(request, exc)
    else:
        messages.success(request, "已办理")
    return _back(kind.code, obj.pk)


@login_required
@require_POST
def visit_project(request, pk):
    kind = KINDS["visit"]
    visit = sv.record_get(request.user, kind, pk)
    parsed, errors = forms.parse(KINDS["project"], {**request.POST.dict(), "town": str(visit.town_id)})
    try:
        if errors:
            raise ValidationFailed(errors)
        project = sv.visit_to_project(
            acting_user=request.user,
            visit=visit,
            name=parsed["name"],
            owner=parsed["owner"],
            budget=parsed["budget"],
            year=parsed["year"],
        )
    except DomainError as exc:
        _error(request, exc)
        return _back("visit", visit.pk)
    messages.success(request, f"已将需求转为实事项目：{project.name}")
    return _back("project", project.pk)


@login_required
@require_POST
def plan_session(request, pk):
    plan = sv.record_get(request.user, KINDS["plan"], pk)
    kind = KINDS["session"]
    parsed, errors = forms.parse(kind, {**request.POST.dict(), "plan": str(plan.pk)})
    try:
        if errors:
            raise ValidationFailed(errors)
        sv.record_create(acting_user=request.user, kind=kind, values=parsed)
    except DomainError as exc:
        _error(request, exc)
    else:
        messages.success(request, "已登记送教上门记录")
    return _back("plan", plan.pk)


def _join_view(request, kind: str, pk, service, arg: str, success: str):
    obj = sv.record_get(request.user, KINDS[kind], pk)
    try:
        person = service(acting_user=request.user, **{arg: obj}, id_number=request.POST.get("id_number", ""))
    except DomainError as exc:
        _error(request, exc)
    else:
        messages.success(request, f"{success}：{person.name}")
    return _back(kind, obj.pk)


@login_required
@require_POST
def activity_attend(request, pk):
    return _join_view(request, "activity", pk, sv.activity_attendee_add, "activity", "已登记参加人员")


@login_required
@require_POST
def team_member(request, pk):
    return _join_view(request, "team", pk, sv.team_member_add, "team", "已添加队员")


@login_required
@require_POST
def activity_photo(request, pk):
    activity = sv.record_get(request.user, KINDS["activity"], pk)
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise ValidationFailed({"file": "请选择要上传的照片"})
        if upload.size > sv.MAX_PHOTO:
            raise ValidationFailed({"file": "照片不能超过 10 MB"})
        sv.activity_photo_add(
            acting_user=request.user,
            activity=activity,
            name=upload.name,
            content=upload.read(),
            content_type=upload.content_type or "",
        )
    except DomainError as exc:
        _error(request, exc)
    else:
        messages.success(request, f"已上传照片：{upload.name}")
    return _back("activity", activity.pk)


@login_required
def photo_download(request, pk):
    if not access.can_read(request.user):
        raise Forbidden("您无权查看活动照片")
    try:
        photo, data = sv.activity_photo_read(acting_user=request.user, pk=pk)
    except DomainError as exc:
        return HttpResponse(exc.message, status=409, content_type="text/plain; charset=utf-8")
    response = HttpResponse(data, content_type=photo.content_type or "application/octet-stream")
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def detail_url(kind: str, pk) -> str:
    return reverse("casework:community_detail", kwargs={"kind": kind, "pk": pk})
