"""The community-service entries of a person's timeline. Counselling (hotline calls, sessions) never appears
here: the timeline is read by staff who may not see counselling content, and even that a person sought
counselling is content. Counsellors read it on the counselling pages."""

from __future__ import annotations

from django.urls import reverse

from canlian.registry.timeline import TimelineEntry

from . import access


def community_entries(user, person) -> list[TimelineEntry]:
    from canlian.casework.models import HomeTeachingPlan, LegalAidCase, SpecialEdScreening, Visit

    if not access.can_read(user):
        return []
    out = []

    def url(kind, pk):
        return reverse("casework:community_detail", kwargs={"kind": kind, "pk": pk})

    for v in access.visible(user, Visit).filter(person=person)[:50]:
        out.append(
            TimelineEntry(v.visited_on, "服务", v.get_kind_display(), v.need or "已访视", url("visit", v.pk))
        )
    for s in access.visible(user, SpecialEdScreening).filter(person=person)[:20]:
        out.append(
            TimelineEntry(
                s.screened_on,
                "服务",
                f"特殊教育筛查（{s.school_year}）",
                s.get_result_display(),
                url("screening", s.pk),
            )
        )
    for p in access.visible(user, HomeTeachingPlan).filter(person=person)[:20]:
        out.append(
            TimelineEntry(
                p.start_on, "服务", f"送教上门（{p.school_year}，{p.school}）", "送教中", url("plan", p.pk)
            )
        )
    for c in access.visible(user, LegalAidCase).filter(person=person)[:20]:
        out.append(
            TimelineEntry(
                c.received_on,
                "服务",
                f"法律援助（{c.get_matter_display()}）",
                c.state_label,
                url("legal", c.pk),
            )
        )
    return out
