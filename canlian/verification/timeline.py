"""The data-comparison entries of the person timeline: findings about the person the user may see, and each
move made on them (confirmed, dismissed: the ``WorkflowHistory`` rows of the finding workflow)."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from canlian.accounts import access
from canlian.common.models import WorkflowHistory
from canlian.registry.timeline import TimelineEntry

from .models import Finding
from .workflow import FINDING_WORKFLOW


def finding_entries(user, person) -> list[TimelineEntry]:
    if not access.can_read_verification(user):
        return []
    findings = {str(f.pk): f for f in access.findings_visible(user).filter(person=person)}
    entries = [
        TimelineEntry(
            timezone.localtime(f.created_at).date(),
            "数据比对",
            f"疑点：{f.get_kind_display()}",
            f.get_status_display(),
            reverse("verification:finding_detail", args=[f.pk]),
        )
        for f in findings.values()
    ]
    if not findings:
        return entries
    moves = WorkflowHistory.objects.filter(
        content_type=ContentType.objects.get_for_model(Finding),
        object_id__in=list(findings),
        workflow=FINDING_WORKFLOW.code,
    ).select_related("by")
    for h in moves:
        f = findings[h.object_id]
        note = h.note or (h.data or {}).get("dismiss_reason", "")
        by = h.by.full_name or h.by.username
        entries.append(
            TimelineEntry(
                timezone.localtime(h.at).date(),
                "数据比对",
                f"{h.move_label}：{f.get_kind_display()}",
                FINDING_WORKFLOW.state_label(h.to_state),
                reverse("verification:finding_detail", args=[f.pk]),
                f"{by}" + (f"：{note}" if note else ""),
            )
        )
    return entries
