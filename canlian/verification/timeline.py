"""The data-comparison entries of the person timeline: findings about the person the user may see."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from canlian.accounts import access
from canlian.registry.timeline import TimelineEntry


def finding_entries(user, person) -> list[TimelineEntry]:
    if not access.can_read_verification(user):
        return []
    return [
        TimelineEntry(
            timezone.localtime(f.created_at).date(),
            "数据比对",
            f"疑点：{f.get_kind_display()}",
            f.get_status_display(),
            reverse("verification:finding_detail", args=[f.pk]),
        )
        for f in access.findings_visible(user).filter(person=person)
    ]
