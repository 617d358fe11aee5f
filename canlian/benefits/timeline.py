"""The benefits entries of the person timeline: applications, enrolments and payroll lines the user may see."""

from __future__ import annotations

from django.urls import reverse

from canlian.accounts import access
from canlian.registry.timeline import TimelineEntry

from .models import yuan


def benefit_entries(user, person) -> list[TimelineEntry]:
    out = []
    for a in access.applications_visible(user).filter(person=person).select_related("programme"):
        out.append(
            TimelineEntry(
                a.applied_on,
                "待遇",
                f"{a.programme.name}申请",
                a.get_status_display(),
                reverse("benefits:application_detail", args=[a.pk]),
            )
        )
    person_url = reverse("benefits:person_benefits", args=[person.pk])
    for e in access.enrolments_visible(user).filter(person=person).select_related("programme"):
        end = f"～{e.end_month:%Y年%m月}" if e.end_month else " 起"
        out.append(
            TimelineEntry(
                e.start_month,
                "待遇",
                f"{e.programme.name}发放（{e.start_month:%Y年%m月}{end}）",
                e.get_status_display(),
                person_url,
            )
        )
    for line in (
        access.payroll_lines_visible(user)
        .filter(person=person)
        .select_related("payroll__programme")
        .order_by("-for_month", "-id")[:60]
    ):
        out.append(
            TimelineEntry(
                line.for_month,
                "待遇",
                f"{line.payroll.programme.name} {line.for_month:%Y年%m月} {yuan(line.amount_fen)} 元"
                + (f"（{line.get_kind_display()}）" if line.kind != "regular" else ""),
                line.get_status_display(),
                reverse("benefits:payroll_detail", args=[line.payroll_id]),
            )
        )
    return out
