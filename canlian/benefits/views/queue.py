"""The review queue of each role: what waits for this user's next step, with the moves they may take."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from canlian.accounts.models import Role
from canlian.common.workflow import histories_of, moves_for_many

from ..models import Application
from ..services import applications as app_services
from ._base import require_reader, show
from .applications import MOVE_STYLE, _apps, _badge

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
    histories = histories_of(items)
    moves = moves_for_many(user, items)
    today = timezone.localdate()
    for app in items:
        _badge(app)
        app.transition_list = histories[str(app.pk)]
        app.last_transition = app.transition_list[-1] if app.transition_list else None
        allowed, withheld = moves[app.pk]
        app.own_work = bool(withheld)  # maker ≠ checker: shown once, the buttons are left out
        app.quick_moves = [
            {
                "to": m.target,
                "label": m.label,
                "needs_input": m.target in (S.REJECTED, S.APPROVED),
                "style": MOVE_STYLE.get(m.target, "primary"),
            }
            for m in allowed
            if m.target != S.WITHDRAWN  # withdrawing is done from the application page
        ]
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
