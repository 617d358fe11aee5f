"""The review queue of each role: what waits for this user's next step, with the moves they may take."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from canlian.accounts.models import Role

from ..models import Application, ApplicationTransition
from ..services import applications as app_services
from ._base import require_reader, show
from .applications import MOVE_STYLE, _apps, _badge, _maker_of

S = Application.Status


@dataclass
class QueueSection:
    key: str
    title: str
    hint: str
    items: list


QUEUE_LIMIT = 200


def _queue_items(user, qs) -> list[Application]:
    items = list(qs.order_by("applied_on", "id")[:QUEUE_LIMIT])
    by_app: dict[int, list] = {}
    if items:
        for t in ApplicationTransition.objects.filter(application__in=items).order_by("at", "id"):
            by_app.setdefault(t.application_id, []).append(t)
    today = timezone.localdate()
    for app in items:
        _badge(app)
        app.transition_list = by_app.get(app.pk, [])
        app.last_transition = app.transition_list[-1] if app.transition_list else None
        app.quick_moves = []
        app.own_work = False
        for to, label in app_services.allowed_moves(user, app):
            if to == S.WITHDRAWN:
                continue  # withdrawing is done from the application page
            move = app_services.TRANSITIONS[(app.status, to)]
            if move.checker_of and _maker_of(app, move.checker_of) == user.pk:
                app.own_work = True  # maker ≠ checker: shown once, the buttons are left out
                continue
            needs_input = to in (S.REJECTED, S.APPROVED)
            app.quick_moves.append(
                {
                    "to": to,
                    "label": label,
                    "needs_input": needs_input,
                    "style": MOVE_STYLE.get(to, "primary"),
                }
            )
        if app.posting_end:
            app.posting_left = (app.posting_end - today).days
    return items


@login_required
@require_GET
def review_queue(request):
    user = request.user
    require_reader(user)
    today = timezone.localdate()
    qs = _apps(user)
    if user.role == Role.TOWN_STAFF:
        plan = [
            (
                "submitted",
                "待初审",
                "本镇(街道)已提交的申请；经办人不能初审自己提交的申请",
                qs.filter(status=S.SUBMITTED),
            ),
            (
                "town_reviewed",
                "待公示",
                f"初审通过，待在村(社区)公示不少于 {app_services.posting_rule(today).text}",
                qs.filter(status=S.TOWN_REVIEWED),
            ),
            ("draft", "我的草稿", "尚未提交的申请", qs.filter(status=S.DRAFT, created_by=user)),
        ]
        waiting = qs.filter(status=S.POSTED).count()
        waiting_label = "公示中（公示期满后由区残联审核）"
    elif user.role == Role.DISTRICT_STAFF:
        plan = [
            (
                "posted",
                "公示期满待审核",
                "公示期已满，待区残联审核",
                qs.filter(status=S.POSTED, posting_end__lte=today),
            ),
            (
                "district_reviewed",
                "待民政审定",
                "录入民政部门审定日期和文号；审核人不能审定自己审核的申请",
                qs.filter(status=S.DISTRICT_REVIEWED),
            ),
            (
                "approved",
                "待纳入发放",
                "审定通过且审定结果公示期满，纳入后从申请当月起计发",
                qs.filter(status=S.APPROVED).exclude(approval_posting_end__gt=today),
            ),
        ]
        waiting = qs.filter(status=S.POSTED, posting_end__gt=today).count()
        waiting_label = "公示中（未满期）"
    else:
        raise Forbidden("审核队列只对镇(街道)残联和区残联业务人员开放")
    sections = [QueueSection(key, title, hint, _queue_items(user, q)) for key, title, hint, q in plan]
    return show(
        request,
        "benefits/review_queue.html",
        {
            "sections": sections,
            "waiting": waiting,
            "waiting_label": waiting_label,
            "limit": QUEUE_LIMIT,
            "queue_url": reverse("benefits:review_queue"),
            "nav_tab": "queue",
        },
    )
