"""Applications: list with status filters, new application with attachments, the application page with
the moves the application workflow (``benefits.workflows``) allows the user, and its history."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from canlian.accounts import access
from canlian.common.audit import audit_read
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.masking import mask_bank_account
from canlian.common.workflow import allowed_moves, history_of, maker_withheld_moves

from ..forms import (
    ApplicationForm,
    AttachmentForm,
    TransitionForm,
    add_errors,
    mark_invalid,
)
from ..models import Application, Programme
from ..services import applications as app_services
from ..workflows import TOWN
from ._base import int_param, query_without, require_reader, safe_next, show

S = Application.Status
PAGE_SIZE = 50
FINAL = {S.REJECTED, S.ENROLLED, S.WITHDRAWN}
# Which inputs each target status asks for (the service checks them again).
MOVE_FIELDS = {
    S.SUBMITTED: ["note"],
    S.WITHDRAWN: ["note"],
    S.TOWN_REVIEWED: ["note"],
    S.POSTED: ["note"],
    S.DISTRICT_REVIEWED: ["objections", "note"],
    S.APPROVED: ["decision_date", "decision_doc_no", "note"],
    S.REJECTED: ["reject_reason", "note"],
    (S.POSTED, S.REJECTED): ["objections", "reject_reason", "note"],
    (S.DISTRICT_REVIEWED, S.REJECTED): ["reject_reason", "decision_date", "decision_doc_no", "note"],
    S.ENROLLED: ["note"],
}
FIELD_COLS = {"decision_date": "col-sm-5", "decision_doc_no": "col-sm-7"}
MOVE_STYLE = {S.REJECTED: "danger", S.WITHDRAWN: "secondary"}
STATUS_BADGE = {
    S.DRAFT: "secondary",
    S.SUBMITTED: "info",
    S.TOWN_REVIEWED: "info",
    S.POSTED: "warning",
    S.DISTRICT_REVIEWED: "primary",
    S.APPROVED: "success",
    S.REJECTED: "danger",
    S.ENROLLED: "success",
    S.WITHDRAWN: "light",
}


def can_file(user) -> bool:
    return bool(user.is_active and user.role in TOWN)


def _apps(user):
    return access.applications_visible(user).select_related("person", "person__town", "programme")


def _badge(app: Application) -> Application:
    app.badge = STATUS_BADGE.get(app.status, "secondary")
    return app


# ---- list ------------------------------------------------------------------------------------------------


@login_required
@require_GET
def application_list(request):
    user = request.user
    require_reader(user)
    get = request.GET
    town_fixed = access.town_scope(user)
    qs = _apps(user)
    programme = get.get("programme", "")
    if programme:
        qs = qs.filter(programme__code=programme)
    town = None if town_fixed else int_param(get.get("town"))
    if town:
        qs = qs.filter(person__town_id=town)
    q = get.get("q", "").strip()[:50]
    if q:
        qs = qs.filter(person__name__contains=q)
    counts = dict(qs.order_by().values_list("status").annotate(n=Count("id")))
    status = get.get("status", "")
    if status in S.values:
        qs = qs.filter(status=status)
    else:
        status = ""
    page = Paginator(qs.order_by("-id"), PAGE_SIZE).get_page(get.get("page"))
    for app in page.object_list:
        _badge(app)
    tabs = [("", "全部", sum(counts.values()))] + [(v, label, counts.get(v, 0)) for v, label in S.choices]
    return show(
        request,
        "benefits/application_list.html",
        {
            "page": page,
            "tabs": tabs,
            "status": status,
            "programme": programme,
            "town": town,
            "q": q,
            "town_fixed": town_fixed,
            "towns": [] if town_fixed else list(access.towns_visible(user).order_by("code")),
            "programmes": Programme.objects.filter(active=True).order_by("id"),
            "query_no_status": query_without(request, "status", "page"),
            "query_no_page": query_without(request, "page"),
            "can_file": can_file(user),
            "nav_tab": "applications",
        },
    )


# ---- new application ---------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def application_create(request):
    user = request.user
    if not can_file(user):
        raise Forbidden("只有镇(街道)残联或区残联业务人员可以受理待遇申请")
    person_pk = request.POST.get("person") or request.GET.get("person")
    person = access.person_get(user, person_pk, for_edit=True) if person_pk else None
    initial = {"applied_on": timezone.localdate(), "programme": request.GET.get("programme", "")}
    form = ApplicationForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        user=user,
        person=person,
        initial=initial,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():  # the application and its attachments, or nothing
                    app = app_services.application_create(
                        acting_user=user,
                        person=form.person,
                        programme=data["programme"],
                        applied_on=data["applied_on"],
                        note=data["note"],
                        bank_name=data["bank_name"].strip(),
                        bank_account=data["bank_account"],
                    )
                    for upload in data["attachments"]:
                        app_services.application_attach(acting_user=user, application=app, upload=upload)
            except ValidationFailed as exc:
                add_errors(form, exc.errors)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request, f"已建立申请：{app.person.name} · {app.programme.name}（草稿，请核对后提交）"
                )
                return redirect("benefits:application_detail", pk=app.pk)
        status = 400
        mark_invalid(form)
    return show(
        request,
        "benefits/application_form.html",
        {"form": form, "person": person, "nav_tab": "applications"},
        status=status,
    )


# ---- the application page ---------------------------------------------------------------------------------


@dataclass
class MoveView:
    to: str  # the status the move leads to: the key of its form on the page
    name: str
    label: str
    form: TransitionForm
    fields: list = field(default_factory=list)
    style: str = "primary"
    open: bool = False
    not_before: object = None  # the posting period is not over yet


def _not_before(app: Application, to: str):
    """The day a move waits for: the end of the village posting, or of the posting of 民政's approval."""
    today = timezone.localdate()
    if to == S.DISTRICT_REVIEWED and app.posting_end and today < app.posting_end:
        return app.posting_end
    if to == S.ENROLLED and app.approval_posting_end and today < app.approval_posting_end:
        return app.approval_posting_end
    return None


def _moves(user, app: Application, bound: tuple[str, TransitionForm] | None = None) -> list[MoveView]:
    """A form for each move the workflow allows this user now (``allowed_moves``); the service re-checks."""
    out = []
    for move in allowed_moves(user, app):
        to = move.target
        if bound and bound[0] == to:
            form = bound[1]
        else:
            form = TransitionForm(prefix=f"m-{to}", initial={"expected_status": app.status})
        out.append(
            MoveView(
                to=to,
                name=move.name,
                label=move.label,
                form=form,
                fields=[
                    (form[name], FIELD_COLS.get(name, "col-12"))
                    for name in MOVE_FIELDS.get((app.status, to)) or MOVE_FIELDS.get(to, ["note"])
                ],
                style=MOVE_STYLE.get(to, "primary"),
                open=bool(bound and bound[0] == to),
                not_before=_not_before(app, to),
            )
        )
    order = {"primary": 0, "danger": 1, "secondary": 2}
    return sorted(out, key=lambda m: order.get(m.style, 0))


PATH = [S.DRAFT, S.SUBMITTED, S.TOWN_REVIEWED, S.POSTED, S.DISTRICT_REVIEWED, S.APPROVED, S.ENROLLED]
STEP_LABELS = {
    S.DRAFT: "填写",
    S.SUBMITTED: "提交",
    S.TOWN_REVIEWED: "镇(街道)初审",
    S.POSTED: "公示",
    S.DISTRICT_REVIEWED: "区残联审核",
    S.APPROVED: "民政审定",
    S.ENROLLED: "纳入发放",
}


def _steps(app: Application) -> list[tuple[str, str]]:
    """The main path: steps up to the current status are done, the next one is current (or "stopped" for a
    rejected or withdrawn application, at the step where that happened)."""
    stopped = app.status in (S.REJECTED, S.WITHDRAWN)
    reached = app.status
    if stopped:
        reached = app.transition_list[-1].from_state if app.transition_list else S.DRAFT
    index = PATH.index(reached) if reached in PATH else 0
    out = []
    for i, status in enumerate(PATH):
        if i <= index:
            state = "done"
        elif i == index + 1:
            state = "stopped" if stopped else "current"
        else:
            state = "todo"
        out.append((STEP_LABELS[status], state))
    return out


def _detail_context(request, app: Application, *, bound=None, attach_form=None, error: str = "") -> dict:
    user = request.user
    today = timezone.localdate()
    # every move, from the workflow history (moves made before the workflow engine were copied into it by
    # migration benefits 0005)
    app.transition_list = list(history_of(app))
    for t in app.transition_list:
        t.to_label = app.workflow.state_label(t.to_state)
    _badge(app)
    posting = None
    if app.posting_start and app.posting_end:
        left = (app.posting_end - today).days
        posting = {"start": app.posting_start, "end": app.posting_end, "left": left, "over": left <= 0}
    approval_posting = None
    if app.approval_posting_start and app.approval_posting_end:
        left = (app.approval_posting_end - today).days
        approval_posting = {
            "start": app.approval_posting_start,
            "end": app.approval_posting_end,
            "left": left,
            "over": left <= 0,
        }
    return {
        "app": app,
        "person": app.person,
        "moves": _moves(user, app, bound),
        # moves this user's role allows but maker ≠ checker withholds: the page says why they are not offered
        "own_work": bool(maker_withheld_moves(user, app)),
        "steps": _steps(app),
        "attachments": list(app.attachments.select_related("uploaded_by").order_by("id")),
        "attach_form": attach_form
        or (AttachmentForm(prefix="att") if can_file(user) and app.status not in FINAL else None),
        "masked_account": mask_bank_account(app.bank_account),
        "posting": posting,
        "posting_days": app_services.posting_rule(app.posting_start or today).text,
        "approval_posting": approval_posting,
        "approval_posting_days": app_services.posting_rule(app.decision_date or today, second=True).text,
        "error": error,
        "enrolment": getattr(app, "enrolment", None) if app.status == S.ENROLLED else None,
        "next": safe_next(request, ""),
        "nav_tab": "applications",
    }


def _get_app(user, pk) -> Application:
    return get_object_or_404(_apps(user), pk=pk)


@login_required
@require_GET
def application_detail(request, pk):
    user = request.user
    require_reader(user)
    app = _get_app(user, pk)
    return show(request, "benefits/application_detail.html", _detail_context(request, app))


@login_required
@require_POST
def application_move(request, pk):
    """One move; the hidden expected_status makes a stale page fail with the service's clear message."""
    user = request.user
    require_reader(user)
    app = _get_app(user, pk)
    to = request.POST.get("move", "")
    if to not in S.values:
        raise Http404("无效的办理操作")
    form = TransitionForm(request.POST, prefix=f"m-{to}")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            app_services.application_transition(
                acting_user=user,
                application=app,
                to_status=to,
                expected_status=data["expected_status"],
                note=data["note"].strip(),
                objections=data["objections"],
                decision_date=data["decision_date"],
                decision_doc_no=data["decision_doc_no"],
                reject_reason=data["reject_reason"],
            )
        except ValidationFailed as exc:
            add_errors(form, exc.errors)
        except PermissionDenied as exc:
            form.add_error(None, exc.message)
            status = 403
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = 409
        else:
            label = S(to).label
            messages.success(request, f"已办理：{app.person.name} · {app.programme.name} → {label}")
            return redirect(safe_next(request, reverse("benefits:application_detail", args=[app.pk])))
    mark_invalid(form)
    app = _get_app(user, pk)  # what it is now, after whatever someone else did
    error = "；".join(form.non_field_errors()) or "请修正下面标出的问题后再办理"
    context = _detail_context(request, app, bound=(to, form), error=error)
    if not any(m.to == to for m in context["moves"]):
        # The move is no longer offered (the application moved on): show the form's message at the top only.
        context["stale_form"] = form
    return show(request, "benefits/application_detail.html", context, status=status)


@login_required
@require_POST
def application_attach(request, pk):
    user = request.user
    require_reader(user)
    app = _get_app(user, pk)
    form = AttachmentForm(request.POST, request.FILES, prefix="att")
    if form.is_valid():
        try:
            with transaction.atomic():
                for upload in form.cleaned_data["attachments"]:
                    app_services.application_attach(acting_user=user, application=app, upload=upload)
        except ValidationFailed as exc:
            add_errors(form, exc.errors)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"已上传 {len(form.cleaned_data['attachments'])} 个附件")
            return redirect(reverse("benefits:application_detail", args=[app.pk]) + "#attachments")
    mark_invalid(form)
    context = _detail_context(
        request,
        app,
        attach_form=form,
        error="附件未上传：" + "；".join(e for errors in form.errors.values() for e in errors),
    )
    return show(request, "benefits/application_detail.html", context, status=400)


@login_required
@require_GET
def attachment_download(request, pk, att):
    user = request.user
    require_reader(user)
    app = _get_app(user, pk)
    attachment = get_object_or_404(app.attachments, pk=att)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("附件文件已不存在") from None
    audit_read(
        acting_user=user,
        action="application.attachment_download",
        obj=app,
        changes={"file": [None, attachment.name]},
    )
    return FileResponse(handle, as_attachment=True, filename=attachment.name)
