"""Employment's pages (issue 11 §1): the lists (就业登记, 招聘活动, 培训班, 辅助性就业项目, 盲人按摩从业人员) with
town / month / kind filters, pages and Excel export; their entry forms; a training class's page (enrolment,
sessions with attendance, certificates) and a project's page (its persons); the entry pages of the two case
programmes (专项服务对象 列入清单, 高校毕业生 登记). Views parse, call one service or selector, render."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from canlian.accounts import access as core
from canlian.common.audit import audit_record
from canlian.common.audit_display import register_actions
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.institutions.models import Institution
from canlian.registry.models import EmploymentKind

from . import employment_access as ea
from . import employment_selectors as sel
from .models import JobFairKind, TrainingKind
from .programme import programmes
from .programmes import employment as emp
from .programmes import employment_cases as cases
from .programmes import employment_records as rec
from .views_common import apply_page, error_text, parse_date, person_lookup

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TABS = [(code, listing.title) for code, listing in sel.LISTINGS.items()]
register_actions({"employment.export": "导出就业服务名单"})


def _listing(user, what: str) -> sel.Listing:
    listing = sel.LISTINGS.get(what)
    if listing is None:
        raise Http404("没有该名单")
    if not listing.readers(user):
        raise Forbidden("您无权查看就业服务")
    return listing


@login_required
@require_GET
def employment_list(request, what: str = ""):
    user = request.user
    listing = _listing(user, what or ("periods" if ea.can_read(user) else "aux_projects"))
    f = sel.Filters.parse(user, listing, request.GET)
    page = int(request.GET["page"]) if request.GET.get("page", "").isdigit() else 1
    rows, has_next = sel.listing_page(user, listing, f, page)
    table = [{"pk": r.pk, "cells": [(c.value(r), c.link) for c in listing.columns]} for r in rows]
    return render(
        request,
        "casework/employment/list.html",
        {
            "programmes": programmes(),
            "listing": listing,
            "tabs": [t for t in TABS if sel.LISTINGS[t[0]].readers(user)],
            "table": table,
            "filters": f.as_dict(),
            "page": max(page, 1),
            "has_next": has_next,
            "towns": core.towns_visible(user),
            "town_fixed": core.town_scope(user) is not None,
            "can_write": listing.writers(user),
            "can_import": ea.can_write(user),
        },
    )


@login_required
@require_GET
def employment_export(request, what: str):
    user = request.user
    listing = _listing(user, what)
    if not core.can_export(user):
        raise Forbidden("您无权导出")
    f = sel.Filters.parse(user, listing, request.GET)
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    n = sel.export_write(user, what, f, out)
    audit_record(
        acting_user=user,
        action="employment.export",
        object_type="casework.jobfair" if what == "job_fairs" else "",
        object_repr=f"{listing.title}导出",
        changes={"rows": [None, n], "filters": [None, f.as_dict()]},
    )
    out.seek(0)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return FileResponse(out, as_attachment=True, filename=f"{listing.title}-{stamp}.xlsx", content_type=XLSX)


# ---- the entry forms: one declaration per form ----------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text, date, int, select, town, id_number
    required: bool = True
    choices: tuple = ()


@dataclass
class Form:
    title: str
    fields: tuple[Field, ...]
    back: str  # list code
    note: str = ""
    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)

    def parse(self, post, user) -> dict:
        out = {}
        for f in self.fields:
            raw = (post.get(f.name) or "").strip()
            self.values[f.name] = raw
            if f.kind == "date":
                out[f.name] = parse_date(raw, f.label, self.errors, f.name, required=f.required)
            elif f.kind == "int":
                if not raw.isdigit():
                    self.errors[f.name] = f"{f.label}应为不小于 0 的整数"
                out[f.name] = int(raw) if raw.isdigit() else None
            elif f.kind == "town":  # a town the user may work in, or the field's error
                town = core.towns_visible(user).filter(pk=raw).first() if raw.isdigit() else None
                if town is None:
                    self.errors[f.name] = f"请选择{f.label}"
                out[f.name] = town
            elif f.kind == "id_number":
                try:
                    out["person"] = person_lookup(user, raw)
                except ValidationFailed as exc:
                    self.errors.update(exc.errors)
            elif f.required and not raw:
                self.errors[f.name] = f"请填写{f.label}" if f.kind != "select" else f"请选择{f.label}"
            else:
                out[f.name] = raw
        return out


def _towns(user):
    return tuple((str(t.pk), t.name) for t in core.towns_visible(user).order_by("code"))


def _form_page(request, form: Form, call, success):
    user = request.user
    if not ea.can_write(user):
        raise Forbidden("就业服务由镇(街道)或区残联登记")
    if request.method == "POST":
        data = form.parse(request.POST, user)
        if not form.errors:
            try:
                obj = call(user, data)
            except ValidationFailed as exc:
                form.errors.update(exc.errors)
            except DomainError as exc:
                form.errors[exc.field or "__all__"] = exc.message
            else:
                messages.success(request, success(obj))
                return (
                    redirect(*obj)
                    if isinstance(obj, tuple)
                    else redirect("casework:employment_list", form.back)
                )
    return render(
        request,
        "casework/employment/form.html",
        {"programmes": programmes(), "form": form, "errors": form.errors, "today": timezone.localdate()},
        status=400 if form.errors else 200,
    )


ID = Field("id_number", "身份证号", "id_number")


@login_required
@require_http_methods(["GET", "POST"])
def employment_new(request):
    form = Form(
        "登记就业",
        (
            ID,
            Field("kind", "就业形式", "select", choices=tuple(EmploymentKind.choices)),
            Field("employer", "就业单位", required=False),
            Field("valid_from", "开始日期", "date"),
            Field("valid_to", "结束日期", "date", required=False),
        ),
        back="periods",
        note="同一人同一开始日期再次登记即为更正；新的就业开始时，此前未结束的就业于前一日结束。登记后“就业状况”随当前记录更新。",
    )

    def call(user, d):
        s = emp.employment_record(
            acting_user=user,
            person=d["person"],
            kind=d["kind"],
            employer=d["employer"],
            valid_from=d["valid_from"],
            valid_to=d["valid_to"],
        )
        return s

    def success(s):
        return {
            "created": "已登记就业",
            "updated": "已更正就业记录",
            "unchanged": "该就业记录已登记，无变化",
        }[s.outcome]

    return _form_page(request, form, call, success)


@login_required
@require_http_methods(["GET", "POST"])
def job_fair_new(request):
    form = Form(
        "登记招聘活动",
        (
            Field("kind", "活动类型", "select", choices=tuple(JobFairKind.choices)),
            Field("title", "活动名称"),
            Field("held_on", "举办日期", "date"),
            Field("town", "举办地镇(街道)", "town", choices=_towns(request.user)),
            Field("place", "举办地点"),
            Field("employers", "参会企业数", "int"),
            Field("positions", "提供岗位数", "int"),
            Field("attendees", "参会残疾人数", "int"),
            Field("offers", "达成就业意向人数", "int"),
            Field("note", "备注", required=False),
        ),
        back="job_fairs",
    )

    def call(user, d):
        return rec.job_fair_create(acting_user=user, **d)

    return _form_page(request, form, call, lambda f: f"已登记招聘活动“{f.title}”")


@login_required
@require_http_methods(["GET", "POST"])
def training_new(request):
    form = Form(
        "登记培训班",
        (
            Field("kind", "培训类型", "select", choices=tuple(TrainingKind.choices)),
            Field("name", "培训班名称"),
            Field("subject", "培训内容（如 木雕、泥塑、漆器、保健按摩）", required=False),
            Field("town", "镇(街道)", "town", choices=_towns(request.user)),
            Field("organiser", "承办单位", required=False),
            Field("starts_on", "开班日期", "date"),
            Field("ends_on", "结业日期", "date"),
        ),
        back="training",
    )

    def call(user, d):
        tc = rec.training_class_create(acting_user=user, **d)
        return ("casework:training_detail", tc.pk)

    return _form_page(request, form, call, lambda obj: "已登记培训班")


def _care_homes(user):
    qs = Institution.objects.filter(kind="care_home").order_by("name")
    town = core.town_scope(user)
    return qs.filter(town=town) if town is not None else qs


@login_required
@require_http_methods(["GET", "POST"])
def aux_project_new(request):
    homes = _care_homes(request.user)
    form = Form(
        "登记辅助性就业项目",
        (
            Field("name", "项目名称"),
            Field("company", "合作企业"),
            Field("institution", "残疾人之家", "select", choices=tuple((str(i.pk), i.name) for i in homes)),
            Field("started_on", "开始日期", "date"),
            Field("content", "工作内容", required=False),
        ),
        back="aux_projects",
    )

    def call(user, d):
        inst = homes.filter(pk=d["institution"]).first() if d.get("institution", "").isdigit() else None
        p = rec.aux_project_create(acting_user=user, **{**d, "institution": inst})
        return ("casework:aux_project_detail", p.pk)

    return _form_page(request, form, call, lambda obj: "已登记辅助性就业项目")


@login_required
@require_http_methods(["GET", "POST"])
def practitioner_new(request):
    form = Form(
        "登记盲人按摩从业人员",
        (
            ID,
            Field("qualification", "资格等级（如 保健按摩师（中级））"),
            Field("workplace", "执业机构", required=False),
            Field("since", "从业起始日期", "date"),
        ),
        back="practitioners",
        note="同一人再次登记即更新其资格等级与执业机构；其培训见“培训班”中的盲人按摩培训。",
    )

    def call(user, d):
        return rec.practitioner_record(acting_user=user, **d)

    return _form_page(request, form, call, lambda p: f"已登记{p.person.name}")


# ---- a training class's page ------------------------------------------------------------------------------


@login_required
@require_GET
def training_detail(request, pk: int):
    user = request.user
    if not ea.can_read(user):
        raise Forbidden("您无权查看就业服务")
    tc = ea.get_or_404(ea.training_visible(user).select_related("town"), pk, "培训班")
    enrolments = list(tc.enrolments.select_related("person").order_by("enrolled_on", "id"))
    sessions = list(tc.sessions.order_by("seq"))
    present = {}
    for s in sessions:
        present[s.pk] = set(s.attendance.values_list("enrolment_id", flat=True))
    rows = [{"e": e, "attended": sum(1 for s in sessions if e.pk in present[s.pk])} for e in enrolments]
    return render(
        request,
        "casework/employment/training_detail.html",
        {
            "programmes": programmes(),
            "tc": tc,
            "rows": rows,
            "sessions": [{"s": s, "n": len(present[s.pk])} for s in sessions],
            "can_write": ea.training_workable(user).filter(pk=tc.pk).exists(),
            "today": timezone.localdate(),
        },
    )


def _training_post(request, pk, call, success):
    user = request.user
    tc = ea.get_or_404(ea.training_workable(user), pk, "培训班")
    errors: dict = {}
    try:
        call(user, tc, errors)
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, success)
    return redirect("casework:training_detail", pk=tc.pk)


@login_required
@require_POST
def training_enrol(request, pk: int):
    def call(user, tc, errors):
        person = person_lookup(user, request.POST.get("id_number", ""))
        day = parse_date(request.POST.get("enrolled_on"), "报名日期", errors, "enrolled_on")
        if errors:
            raise ValidationFailed(errors)
        _, outcome = rec.training_enrol(acting_user=user, training_class=tc, person=person, enrolled_on=day)
        if outcome == "unchanged":
            raise DomainError(f"{person.name}已在本培训班中")

    return _training_post(request, pk, call, "已登记学员")


@login_required
@require_POST
def training_session(request, pk: int):
    def call(user, tc, errors):
        day = parse_date(request.POST.get("held_on"), "上课日期", errors, "held_on")
        if errors:
            raise ValidationFailed(errors)
        present = [int(x) for x in request.POST.getlist("present") if x.isdigit()]
        rec.training_session_add(
            acting_user=user,
            training_class=tc,
            held_on=day,
            topic=request.POST.get("topic", ""),
            present=present,
        )

    return _training_post(request, pk, call, "已登记课次与出勤")


@login_required
@require_POST
def training_certify(request, pk: int, enrolment: int):
    def call(user, tc, errors):
        e = ea.get_or_404(tc.enrolments.select_related("person"), enrolment, "学员")
        day = parse_date(request.POST.get("certified_on"), "发证日期", errors, "certified_on")
        if errors:
            raise ValidationFailed(errors)
        rec.training_enrol(
            acting_user=user,
            training_class=tc,
            person=e.person,
            enrolled_on=e.enrolled_on,
            certificate=request.POST.get("certificate", ""),
            certified_on=day,
        )

    return _training_post(request, pk, call, "已登记证书")


# ---- an auxiliary-employment project's page -----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def aux_project_detail(request, pk: int):
    user = request.user
    if not ea.can_read_projects(user):
        raise Forbidden("您无权查看辅助性就业项目")
    project = ea.get_or_404(ea.projects_visible(user).select_related("town", "institution"), pk, "项目")
    can_write = ea.projects_workable(user).filter(pk=project.pk).exists()
    if request.method == "POST":
        if not can_write:
            raise Http404("未找到该项目，或您无权登记。")
        errors: dict = {}
        try:
            person = person_lookup(user, request.POST.get("id_number", ""))
            day = parse_date(request.POST.get("joined_on"), "参加日期", errors, "joined_on")
            if errors:
                raise ValidationFailed(errors)
            rec.aux_member_add(acting_user=user, project=project, person=person, joined_on=day)
        except DomainError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, f"已登记{person.name}参加项目")
        return redirect("casework:aux_project_detail", pk=project.pk)
    return render(
        request,
        "casework/employment/aux_project_detail.html",
        {
            "programmes": programmes(),
            "project": project,
            "members": project.members.select_related("person").order_by("joined_on", "id"),
            "can_write": can_write,
            "today": timezone.localdate(),
        },
    )


# ---- the two case programmes' entry pages -------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def job_support_list(request):
    return apply_page(
        request,
        forbidden="专项服务对象由镇(街道)或区残联列入",
        template="casework/employment/apply.html",
        create=cases.job_support_list,
        success=lambda case: f"已将{case.person.name}列入就业专项服务对象清单",
        context=lambda: {
            "programme": cases.SUPPORT_PROGRAMME,
            "date_label": "列入日期",
            "note": "劳动年龄内、列入当日未就业的困难残疾人；列入后依次完成信息核查、职业评估、需求登记和就业服务（“四个一”）。",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def graduate_register(request):
    return apply_page(
        request,
        forbidden="高校毕业生由镇(街道)或区残联登记",
        template="casework/employment/apply.html",
        create=cases.graduate_register,
        fields=lambda form: {"school": form.get("school"), "major": form.get("major")},
        success=lambda case: f"已登记{case.person.name}为 {case.opened_on.year} 年毕业生",
        context=lambda: {
            "programme": cases.GRADUATE_PROGRAMME,
            "date_label": "毕业日期",
            "graduate": True,
            "note": "每名毕业生一人一策：制定帮扶计划，记录帮扶措施，落实去向（就业、升学或暂未就业）。",
        },
    )
