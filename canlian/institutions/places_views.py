"""Pages of the places that serve: the list of 残疾人之家 and rehab points, a place's page (services,
attendees), the roll call, attendance, build projects and star ratings, each list with filters and an Excel
export. Every write goes through ``places`` (scoped, audited); out-of-scope records answer 404."""

from __future__ import annotations

import io
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from canlian.accounts import access as core
from canlian.casework.views_common import error_text, file_response, parse_date, person_lookup
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.common.jobs import noop_progress
from canlian.common.masking import mask_id_number
from canlian.common.spreadsheet import XlsxBook
from canlian.common.workflow import allowed_moves, history_rows, maker_withheld_moves, transition

from . import places
from .models import Institution
from .place_models import (
    ATTENDED,
    PLACE_KINDS,
    ChecklistMark,
    Milestone,
    PlaceMember,
    StarState,
)

PAGE = 50
KIND_LABELS = {k: v for k, v in Institution.Kind.choices if k in PLACE_KINDS}


def _require_reader(user):
    if not places.can_read_places(user):
        raise Forbidden("您无权查看残疾人之家与社区康复点")


def _month(raw: str) -> tuple[date, date] | None:
    """``2023-05`` → (first day, first day of the next month); anything else → None."""
    try:
        y, m = (int(x) for x in (raw or "").split("-"))
        start = date(y, m, 1)
    except ValueError:
        return None
    return start, date(y + (m == 12), m % 12 + 1, 1)


def _filters(request) -> dict:
    g = request.GET
    towns = core.towns_visible(request.user)
    town = g.get("town", "")
    return {
        "town": town if town.isdigit() and towns.filter(pk=town).exists() else "",
        "month": g.get("month", "") if _month(g.get("month", "")) else "",
        "kind": g.get("kind", ""),
        "service": g.get("service", "") if g.get("service", "") in places.SERVICE_LABELS else "",
        "status": g.get("status", "") if g.get("status", "") in places.STATUS_LABELS else "",
        "year": g.get("year", "") if g.get("year", "").isdigit() else "",
        "institution": g.get("institution", "") if g.get("institution", "").isdigit() else "",
    }


def _query(f: dict) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in f.items() if v})


# ---- the lists and what they export ----------------------------------------------------------------------


def _places_qs(user, f):
    qs = places.places_visible(user).select_related("town").order_by("town__code", "name")
    if f["town"]:
        qs = qs.filter(town_id=f["town"])
    if f["kind"] in PLACE_KINDS:
        qs = qs.filter(kind=f["kind"])
    if f["service"]:
        qs = qs.filter(services__service=f["service"])
    return qs.annotate(
        n_members=Count("members", filter=Q(members__left_on__isnull=True), distinct=True),
    )


def _attendance_qs(user, f):
    qs = places.attendance_visible(user).select_related("person", "institution", "town")
    if f["town"]:
        qs = qs.filter(town_id=f["town"])
    if f["month"]:
        start, end = _month(f["month"])
        qs = qs.filter(on__gte=start, on__lt=end)
    if f["service"]:
        qs = qs.filter(service=f["service"])
    if f["institution"]:
        qs = qs.filter(institution_id=f["institution"])
    return qs.order_by("-on", "-id")


def _projects_qs(user, f, today):
    qs = places.projects_visible(user).select_related("institution", "town").prefetch_related("milestones")
    if f["town"]:
        qs = qs.filter(town_id=f["town"])
    if f["month"]:
        start, end = _month(f["month"])
        qs = qs.filter(deadline__gte=start, deadline__lt=end)
    if f["kind"] in PLACE_KINDS:
        qs = qs.filter(institution__kind=f["kind"])
    if f["status"]:
        qs = qs.filter(places.project_status_filter(f["status"], today)).distinct()
    return qs.order_by("deadline", "id")


def _ratings_qs(user, f):
    qs = places.ratings_visible(user).select_related("institution", "institution__town")
    if f["town"]:
        qs = qs.filter(institution__town_id=f["town"])
    if f["year"]:
        qs = qs.filter(year=int(f["year"]))
    if f["month"]:
        start, end = _month(f["month"])
        qs = qs.filter(rated_on__gte=start, rated_on__lt=end)
    return qs.order_by("-year", "institution__name")


def export_rows(kind: str, user, f: dict, progress=noop_progress):
    """(sheet name, headers, rows) of one list's export with the list's filters and the user's scope: the
    builder a background export can run (``progress(done, total, message)``)."""
    today = timezone.localdate()
    if kind == "places":
        headers = ["机构名称", "类型", "镇(街道)", "状态", "服务项目", "在册服务对象"]
        qs = _places_qs(user, f).prefetch_related("services")
        rows = (
            [
                i.name,
                i.get_kind_display(),
                i.town.name,
                i.get_state_display(),
                "、".join(s.get_service_display() for s in i.services.all()),
                i.n_members,
            ]
            for i in qs
        )
        return "残疾人之家", headers, rows
    if kind == "attendance":
        headers = ["日期", "机构", "镇(街道)", "服务项目", "姓名", "身份证号", "来源"]
        qs = _attendance_qs(user, f)
        total = qs.count()

        def rows():
            for n, a in enumerate(qs.iterator(chunk_size=2000), start=1):
                if n % 5000 == 0:
                    progress(n, total, "导出中")
                yield [
                    a.on,
                    a.institution.name,
                    a.town.name,
                    a.get_service_display(),
                    a.person.name,
                    mask_id_number(a.person.id_number),
                    a.get_source_display(),
                ]

        return "出勤记录", headers, rows()
    if kind == "projects":
        headers = ["项目名称", "机构", "镇(街道)", "开工日期", "建成期限", "建成日期", "节点完成", "状态"]
        rows = (
            [
                p.name,
                p.institution.name,
                p.town.name,
                p.started_on,
                p.deadline,
                p.completed_on,
                f"{sum(1 for m in p.milestones.all() if m.done_on)}/{len(p.milestones.all())}",
                places.STATUS_LABELS[places.project_status(p, today, list(p.milestones.all()))],
            ]
            for p in _projects_qs(user, f, today)
        )
        return "建设项目", headers, rows
    if kind == "ratings":
        headers = ["年度", "机构", "镇(街道)", "评定标准版本", "得分", "星级", "状态", "评定日期"]
        rows = (
            [
                r.year,
                r.institution.name,
                r.institution.town.name,
                r.checklist_version,
                float(r.score),
                r.stars_label,
                r.get_state_display(),
                r.rated_on,
            ]
            for r in _ratings_qs(user, f)
        )
        return "星级评定", headers, rows
    raise Http404("未知的导出")


EXPORT_ACTIONS = {
    "places": "export",
    "attendance": "attendance_export",
    "projects": "export",
    "ratings": "export",
}
EXPORT_NAMES = {
    "places": "残疾人之家",
    "attendance": "出勤记录",
    "projects": "建设项目",
    "ratings": "星级评定",
}


@login_required
@require_GET
def export(request, kind):
    _require_reader(request.user)
    if kind not in EXPORT_NAMES:
        raise Http404("未知的导出")
    f = _filters(request)
    sheet, headers, rows = export_rows(kind, request.user, f)
    out = io.BytesIO()
    n = 0
    with XlsxBook(out, constant_memory=True) as book:
        ws = book.add_sheet(sheet, headers)
        for row in rows:
            ws.append(row)
            n += 1
    audit_record(
        acting_user=request.user,
        action=f"place.{EXPORT_ACTIONS[kind]}",
        object_type="institutions.institution",
        changes={"rows": [None, n], "filters": [None, {k: v for k, v in f.items() if v}]},
        detail=f"导出{EXPORT_NAMES[kind]} {n} 行",
    )
    return file_response(
        out.getvalue(),
        f"{EXPORT_NAMES[kind]}_{timezone.localdate():%Y%m%d}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _common(request, f, **extra):
    return {
        "f": f,
        "query": _query(f),
        "towns": core.towns_visible(request.user),
        "kinds": list(KIND_LABELS.items()),
        "services": list(places.SERVICE_LABELS.items()),
        **extra,
    }


@login_required
@require_GET
def place_list(request):
    _require_reader(request.user)
    f = _filters(request)
    page = Paginator(_places_qs(request.user, f), PAGE).get_page(request.GET.get("page"))
    return render(request, "institutions/places/list.html", _common(request, f, page=page))


@login_required
@require_GET
def attendance_list(request):
    _require_reader(request.user)
    f = _filters(request)
    # no COUNT over the whole table: one row more than a page says whether there is a next page
    try:
        number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        number = 1
    rows = list(_attendance_qs(request.user, f)[(number - 1) * PAGE : number * PAGE + 1])
    return render(
        request,
        "institutions/places/attendance.html",
        _common(
            request,
            f,
            rows=rows[:PAGE],
            number=number,
            has_next=len(rows) > PAGE,
            institutions=places.places_visible(request.user).order_by("name"),
            can_import=places.can_plan_places(request.user),
        ),
    )


@login_required
@require_GET
def project_list(request):
    _require_reader(request.user)
    f = _filters(request)
    today = timezone.localdate()
    page = Paginator(_projects_qs(request.user, f, today), PAGE).get_page(request.GET.get("page"))
    for p in page:
        p.status = places.project_status(p, today, list(p.milestones.all()))
        p.status_label = places.STATUS_LABELS[p.status]
        p.badge = places.STATUS_BADGES[p.status]
    return render(
        request,
        "institutions/places/projects.html",
        _common(
            request,
            f,
            page=page,
            statuses=list(places.STATUS_LABELS.items()),
            can_plan=places.can_plan_places(request.user),
        ),
    )


@login_required
@require_GET
def rating_list(request):
    _require_reader(request.user)
    f = _filters(request)
    page = Paginator(_ratings_qs(request.user, f), PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "institutions/places/ratings.html",
        _common(request, f, page=page, can_rate=places.can_rate(request.user)),
    )


# ---- one place -------------------------------------------------------------------------------------------


def _back(pk):
    return redirect("institutions:place_detail", pk=pk)


@login_required
@require_GET
def place_detail(request, pk):
    _require_reader(request.user)
    inst = places.place_get(request.user, pk)
    members = (
        PlaceMember.objects.filter(institution=inst, left_on__isnull=True)
        .select_related("person")
        .order_by("service", "joined_on", "id")
    )
    can_plan = places.places_plannable(request.user).filter(pk=inst.pk).exists()
    return render(
        request,
        "institutions/places/detail.html",
        {
            "inst": inst,
            "offered": inst.services.order_by("service"),
            "members": members,
            "can_plan": can_plan,
            "can_attend": places.places_workable(request.user).filter(pk=inst.pk).exists(),
            "attended": [(s, places.SERVICE_LABELS[s]) for s in ATTENDED],
            "services": list(places.SERVICE_LABELS.items()),
            "projects": places.projects_visible(request.user).filter(institution=inst),
            "ratings": places.ratings_visible(request.user).filter(institution=inst),
            "today": timezone.localdate(),
        },
    )


def _posted_date(request, name, label):
    errors = {}
    day = parse_date(request.POST.get(name, ""), label, errors, name)
    if errors:
        raise ValidationFailed(errors)
    return day


@login_required
@require_POST
def place_service_add(request, pk):
    inst = places.place_get(request.user, pk)
    try:
        places.place_service_add(
            acting_user=request.user,
            institution=inst,
            service=request.POST.get("service", ""),
            since=_posted_date(request, "since", "开展起始日期"),
        )
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, "已添加服务项目")
    return _back(inst.pk)


@login_required
@require_POST
def place_member_add(request, pk):
    inst = places.place_get(request.user, pk)
    try:
        person = person_lookup(request.user, request.POST.get("id_number", ""))
        places.member_add(
            acting_user=request.user,
            institution=inst,
            person=person,
            service=request.POST.get("service", ""),
            joined_on=_posted_date(request, "joined_on", "加入日期"),
        )
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"已登记服务对象：{person.name}")
    return _back(inst.pk)


@login_required
@require_POST
def place_member_leave(request, pk):
    try:
        member = PlaceMember.objects.get(pk=pk, institution__in=places.places_visible(request.user))
    except PlaceMember.DoesNotExist:
        raise Http404("未找到该服务对象，或您无权查看。") from None
    try:
        places.member_leave(
            acting_user=request.user, member=member, left_on=_posted_date(request, "left_on", "离开日期")
        )
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"已办理离开：{member.person.name}")
    return _back(member.institution_id)


@login_required
@require_http_methods(["GET", "POST"])
def roll_call(request, pk):
    _require_reader(request.user)
    inst = places.place_get(request.user, pk)
    if not places.places_workable(request.user).filter(pk=inst.pk).exists():
        raise Forbidden("您无权录入该机构的出勤")
    src = request.POST if request.method == "POST" else request.GET
    service = src.get("service", "day_care")
    if service not in ATTENDED:
        service = "day_care"
    errors = {}
    day = parse_date(src.get("on", ""), "出勤日期", errors, "on", required=False) or timezone.localdate()
    if request.method == "POST":
        try:
            if errors:
                raise ValidationFailed(errors)
            present = {p for p in request.POST.getlist("present") if p.isdigit()}
            out = places.attendance_record(
                acting_user=request.user,
                institution=inst,
                service=service,
                on=day,
                present=present,
                seen=request.POST.get("seen"),
            )
        except DomainError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(
                request,
                f"已保存 {day:%Y-%m-%d} {places.SERVICE_LABELS[service]}出勤：共 {out['present']} 人"
                f"（新增 {out['added']}，取消 {out['removed']}）",
            )
        return redirect(
            f"{reverse('institutions:place_roll_call', args=[inst.pk])}?service={service}&on={day:%Y-%m-%d}"
        )
    for e in errors.values():
        messages.error(request, e)
    return render(
        request,
        "institutions/places/roll_call.html",
        {
            "inst": inst,
            "service": service,
            "service_label": places.SERVICE_LABELS[service],
            "attended": [(s, places.SERVICE_LABELS[s]) for s in ATTENDED],
            "offered": set(inst.services.values_list("service", flat=True)),
            "on": day,
            "grid": places.roll_call(inst, service, day),
            "seen": places.roll_call_seen(inst, service, day),
            "today": timezone.localdate(),
        },
    )


# ---- build projects --------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request):
    if not places.can_plan_places(request.user):
        raise Forbidden("建设项目由区残联或镇(街道)登记")
    insts = places.places_plannable(request.user).order_by("name")
    errors, values = {}, {}
    if request.method == "POST":
        values = {
            k: request.POST.get(k, "").strip()
            for k in ("institution", "name", "started_on", "deadline", "note")
        }
        names = request.POST.getlist("milestone_name")
        dues = request.POST.getlist("milestone_due")
        started = parse_date(values["started_on"], "开工日期", errors, "started_on")
        deadline = parse_date(values["deadline"], "建成期限", errors, "deadline")
        milestones = []
        for i, (n, d) in enumerate(zip(names, dues, strict=False), start=1):
            if not n.strip() and not d.strip():
                continue
            due = parse_date(d, f"第{i}个节点的计划完成日期", errors, "milestones")
            milestones.append((n, due))
        inst = insts.filter(pk=values["institution"]).first() if values["institution"].isdigit() else None
        if inst is None:
            errors["institution"] = "请选择机构"
        if not errors:
            try:
                project = places.project_create(
                    acting_user=request.user,
                    institution=inst,
                    name=values["name"],
                    started_on=started,
                    deadline=deadline,
                    milestones=milestones,
                    note=values["note"],
                )
            except ValidationFailed as exc:
                errors = exc.errors
            except DomainError as exc:
                errors = {"name": exc.message}
            else:
                messages.success(request, f"已登记建设项目：{project.name}")
                return redirect("institutions:project_detail", pk=project.pk)
    return render(
        request,
        "institutions/places/project_form.html",
        {"institutions": insts, "errors": errors, "values": values, "rows": range(1, 7)},
        status=400 if errors else 200,
    )


@login_required
@require_GET
def project_detail(request, pk):
    _require_reader(request.user)
    p = places.project_get(request.user, pk)
    today = timezone.localdate()
    milestones = list(p.milestones.all())
    status = places.project_status(p, today, milestones)
    marks = list(p.marks.all())
    return render(
        request,
        "institutions/places/project_detail.html",
        {
            "p": p,
            "milestones": milestones,
            "status": status,
            "status_label": places.STATUS_LABELS[status],
            "badge": places.STATUS_BADGES[status],
            "lists": [
                (label, [m for m in marks if m.checklist == key]) for key, label in ChecklistMark.List.choices
            ],
            "evidence": p.evidence.select_related("uploaded_by"),
            "can_work": places.projects_workable(request.user).filter(pk=p.pk).exists(),
            "today": today,
        },
    )


def _project_post(request, pk, do, ok: str):
    p = places.project_get(request.user, pk)
    try:
        do(p)
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, ok)
    return redirect("institutions:project_detail", pk=p.pk)


@login_required
@require_POST
def milestone_done(request, pk):
    try:
        m = Milestone.objects.get(pk=pk, project__in=places.projects_visible(request.user))
    except Milestone.DoesNotExist:
        raise Http404("未找到该节点，或您无权查看。") from None
    return _project_post(
        request,
        m.project_id,
        lambda p: places.milestone_done(
            acting_user=request.user,
            milestone=m,
            done_on=_posted_date(request, "done_on", "实际完成日期"),
            note=request.POST.get("note", ""),
        ),
        f"节点“{m.name}”已完成",
    )


@login_required
@require_POST
def checklist_mark(request, pk):
    try:
        mark = ChecklistMark.objects.get(pk=pk, project__in=places.projects_visible(request.user))
    except ChecklistMark.DoesNotExist:
        raise Http404("未找到该清单项目，或您无权查看。") from None
    return _project_post(
        request,
        mark.project_id,
        lambda p: places.checklist_mark(
            acting_user=request.user,
            project=p,
            checklist=mark.checklist,
            code=mark.code,
            met_on=_posted_date(request, "met_on", "达标日期"),
            note=request.POST.get("note", ""),
        ),
        f"{mark.code} 已达标",
    )


@login_required
@require_POST
def project_complete(request, pk):
    return _project_post(
        request,
        pk,
        lambda p: places.project_complete(
            acting_user=request.user,
            project=p,
            completed_on=_posted_date(request, "completed_on", "建成日期"),
        ),
        "已登记建成",
    )


def _upload(request):
    upload = request.FILES.get("file")
    if upload is None:
        raise ValidationFailed({"file": "请选择要上传的文件"})
    if upload.size > places.MAX_EVIDENCE:
        raise ValidationFailed({"file": "文件不能超过 10 MB"})
    return upload


@login_required
@require_POST
def project_evidence(request, pk):
    def do(p):
        upload = _upload(request)
        places.evidence_add(
            acting_user=request.user,
            project=p,
            about=request.POST.get("about", ""),
            name=upload.name,
            content=upload.read(),
            content_type=upload.content_type or "",
        )

    return _project_post(request, pk, do, "已上传佐证材料")


@login_required
@require_GET
def evidence_download(request, pk):
    try:
        ev, data = places.evidence_read(acting_user=request.user, pk=pk)
    except DomainError:
        raise Http404("未找到该佐证材料，或您无权查看。") from None
    return file_response(data, ev.name, ev.content_type)


# ---- star ratings ----------------------------------------------------------------------------------------


def _scores(request, checklist) -> dict:
    return {i["code"]: request.POST.get(f"score_{i['code']}", "") for i in checklist.items}


@login_required
@require_http_methods(["GET", "POST"])
def rating_new(request):
    if not places.can_rate(request.user):
        raise Forbidden("星级评定由区残联录入")
    today = timezone.localdate()
    try:
        year = int(request.POST.get("year") or request.GET.get("year") or today.year)
        checklist = places.star_checklist(year)
    except (ValueError, DomainError):
        year, checklist = today.year, places.star_checklist(today.year)
    homes = places.places_visible(request.user).filter(kind="care_home").order_by("name")
    if request.method == "POST":
        raw = request.POST.get("institution", "")
        inst = homes.filter(pk=raw).first() if raw.isdigit() else None
        try:
            if inst is None:
                raise ValidationFailed({"institution": "请选择残疾人之家"})
            r = places.star_rating_record(
                acting_user=request.user,
                institution=inst,
                year=year,
                scores=_scores(request, checklist),
                note=request.POST.get("note", ""),
            )
        except DomainError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, f"已录入评分：{r.score} 分（{r.stars_label}），请提交审定")
            return redirect("institutions:rating_detail", pk=r.pk)
    return render(
        request,
        "institutions/places/rating_form.html",
        {
            "checklist": checklist,
            "homes": homes,
            "year": year,
            "years": range(today.year, today.year - 5, -1),
        },
    )


def _moves(user, r):
    out = []
    for m in allowed_moves(user, r):
        out.append(
            {
                "move": m,
                "fields": [
                    {
                        "name": n,
                        "label": r.workflow.field_labels.get(n, n),
                        "required": n in m.requires,
                        "kind": "text",
                    }
                    for n in dict.fromkeys([*m.requires, *m.records])
                ],
            }
        )
    return out


@login_required
@require_GET
def rating_detail(request, pk):
    _require_reader(request.user)
    r = places.rating_get(request.user, pk)
    history = history_rows(r)
    can_rescore = places.can_rate(request.user) and r.state == StarState.DRAFT
    return render(
        request,
        "institutions/places/rating_detail.html",
        {
            "r": r,
            "lines": r.lines.all(),
            "evidence": r.evidence.select_related("uploaded_by"),
            "moves": _moves(request.user, r),
            "withheld": maker_withheld_moves(request.user, r),
            "history": history,
            "can_rescore": can_rescore,
            "can_attach": places.can_rate(request.user) and r.state != StarState.RATED,
        },
    )


@login_required
@require_POST
def rating_move(request, pk):
    r = places.rating_get(request.user, pk)
    try:
        transition(
            r,
            request.POST.get("move", ""),
            acting_user=request.user,
            expected_state=request.POST.get("expected_state", ""),
            note=request.POST.get("note", "")[:200],
            **(
                {"state_reason": request.POST.get("state_reason", "")[:200]}
                if "state_reason" in request.POST
                else {}
            ),
        )
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, "已办理")
    return redirect("institutions:rating_detail", pk=r.pk)


@login_required
@require_POST
def rating_rescore(request, pk):
    r = places.rating_get(request.user, pk)
    try:
        version = int(request.POST.get("version", "-1"))
        r = places.star_rating_rescore(
            acting_user=request.user,
            rating=r,
            scores=_scores(request, places.star_checklist(r.year)),
            expected_version=version,
        )
    except ValueError:
        messages.error(request, "页面已过期，请刷新后重试")
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"已重新评分：{r.score} 分（{r.stars_label}）")
    return redirect("institutions:rating_detail", pk=r.pk)


@login_required
@require_POST
def rating_evidence(request, pk):
    r = places.rating_get(request.user, pk)
    try:
        upload = _upload(request)
        places.evidence_add(
            acting_user=request.user,
            rating=r,
            about=request.POST.get("about", ""),
            name=upload.name,
            content=upload.read(),
            content_type=upload.content_type or "",
        )
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, "已上传佐证材料")
    return redirect("institutions:rating_detail", pk=r.pk)
