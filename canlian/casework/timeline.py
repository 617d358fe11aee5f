"""The case engine's entries of the person timeline: every case of every programme the user may see."""

from __future__ import annotations

from django.urls import reverse

from canlian.registry.timeline import TimelineEntry

from . import access


def case_entries(user, person) -> list[TimelineEntry]:
    if not access.can_read_cases(user):
        return []
    out = []
    for c in access.cases_visible(user).filter(person=person).select_related("institution"):
        p = c.programme_def
        span = (
            f"{c.opened_on:%Y-%m-%d}～{c.closed_on:%Y-%m-%d}" if c.closed_on else f"{c.opened_on:%Y-%m-%d} 起"
        )
        inst = f"，{c.institution.name}" if c.institution_id else ""
        out.append(
            TimelineEntry(
                c.opened_on,
                "服务",
                f"{p.name}（{span}{inst}）",
                c.state_label,
                reverse("casework:case_detail", args=[c.pk]),
            )
        )
    return out
