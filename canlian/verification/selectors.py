"""Reads of the data comparison, always through ``accounts.access``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from canlian.accounts import access
from canlian.benefits.models import Programme, yuan

from .models import Finding, FindingKind, Match, OutsideList, VerificationRun


@dataclass
class FindingFilters:
    kind: str = ""
    town: int | None = None
    status: str = ""
    run: int | None = None
    exact_only: bool = False
    programme: str = ""  # programme code: findings on enrolments of this programme
    payroll_month: date | None = (
        None  # findings that stop a payment in this month's payroll (effective by then)
    )


def findings_filtered(user, filters: FindingFilters) -> QuerySet:
    qs = access.findings_visible(user).select_related(
        "person", "town", "enrolment__programme", "run", "handled_by", "match"
    )
    if filters.kind in FindingKind.values:
        qs = qs.filter(kind=filters.kind)
    if filters.town:
        qs = qs.filter(town_id=filters.town)
    if filters.status in Finding.Status.values:
        qs = qs.filter(status=filters.status)
    if filters.run:
        qs = qs.filter(run_id=filters.run)
    if filters.exact_only:
        qs = qs.filter(exact_q())
    if filters.programme:
        qs = qs.filter(enrolment__programme__code=filters.programme)
    if filters.payroll_month:
        qs = qs.filter(effective_month__lte=filters.payroll_month.replace(day=1))
    return qs.order_by("-id")


def programme_name(code: str) -> str | None:
    return Programme.objects.filter(code=code).values_list("name", flat=True).first()


def exact_q() -> Q:
    """Findings from an exact ID match or from the registry itself (bulk-confirmable)."""
    return Q(match__isnull=True) | Q(match__match_type=Match.EXACT)


def _affecting_payroll(qs: QuerySet, programme, month: date) -> QuerySet:
    return qs.filter(
        status=Finding.Status.OPEN,
        enrolment__programme=programme,
        effective_month__lte=month.replace(day=1),
    )


def open_findings_count(programme, month: date) -> int:
    """Open findings that would stop a payment of ``programme`` in the payroll of ``month``, over the whole
    district, unscoped: pages must use ``open_findings_count_visible``."""
    return _affecting_payroll(Finding.objects.all(), programme, month).count()


def open_findings_count_visible(user, programme, month: date) -> int:
    """``open_findings_count`` over the findings ``user`` may see: town staff count their own town's only,
    users who may not read the data comparison count none. The payroll pages show it before a payroll is
    generated, reviewed or approved, so that staff confirm or dismiss the findings first."""
    return _affecting_payroll(access.findings_visible(user), programme, month).count()


def lists_visible(user) -> QuerySet:
    return access.outside_lists_visible(user).select_related("source", "uploaded_by")


def list_rows(user, outside_list: OutsideList, *, show: str = "") -> QuerySet:
    """Rows of a list the user may read, with their match state: exact / candidate / none."""
    qs = access.outside_rows_visible(user).filter(outside_list=outside_list)
    acting = Match.objects.filter(row=OuterRef("pk"), status__in=[Match.Status.AUTO, Match.Status.CONFIRMED])
    pending = Match.objects.filter(row=OuterRef("pk"), status=Match.Status.PENDING)
    qs = qs.annotate(has_match=Exists(acting), has_candidate=Exists(pending))
    if show == "matched":
        qs = qs.filter(has_match=True)
    elif show == "candidates":
        qs = qs.filter(has_candidate=True)
    elif show == "unmatched":
        qs = qs.filter(has_match=False, has_candidate=False)
    elif show == "invalid":
        qs = qs.exclude(id_error="")
    return qs.order_by("row_number")


def list_summary(outside_list: OutsideList) -> dict[str, int]:
    rows = outside_list.rows
    return {
        "rows": outside_list.row_count,
        "matched": rows.filter(matches__status__in=[Match.Status.AUTO, Match.Status.CONFIRMED])
        .distinct()
        .count(),
        "candidates": rows.filter(matches__status=Match.Status.PENDING).distinct().count(),
        "invalid_ids": outside_list.invalid_id_count,
        "rejected": outside_list.rejected_count,
    }


def candidates_queue(user) -> QuerySet:
    return (
        access.matches_visible(user)
        .filter(status=Match.Status.PENDING)
        .select_related("row", "row__outside_list", "person", "person__town")
        .order_by("-score", "id")
    )


def runs_visible(user) -> QuerySet:
    if not access.can_read_verification(user):
        return VerificationRun.objects.none()
    return VerificationRun.objects.select_related("started_by").order_by("-started_at", "-id")


@dataclass
class Report:
    run: VerificationRun | None
    kinds: list[tuple[str, str]]  # (code, label) with at least one finding
    towns: list[tuple[int, str]]
    cells: dict[tuple[str, int], int]  # (kind, town) → count
    by_kind: list[
        dict
    ]  # kind, label, count, money (Decimal), overpayment (Decimal), open, confirmed, dismissed
    by_town: list[dict]  # town_id, town, count, money, overpayment
    total: dict  # count, money, overpayment

    def chart(self) -> dict:
        return {
            "towns": [name for _, name in self.towns],
            "series": [
                {"name": label, "data": [self.cells.get((code, tid), 0) for tid, _ in self.towns]}
                for code, label in self.kinds
            ],
        }


def report(user, run: VerificationRun | None) -> Report:
    """Counts by kind × town and the money at stake, over the findings of ``run`` the user may see."""
    qs = access.findings_visible(user)
    if run is not None:
        qs = qs.filter(run=run)
    rows = list(
        qs.values("kind", "town_id", "town__name")
        .annotate(
            n=Count("id"),
            money=Sum("money_at_stake_fen"),
            over=Sum("overpayment_fen"),
            open=Count("id", filter=Q(status=Finding.Status.OPEN)),
            confirmed=Count("id", filter=Q(status=Finding.Status.CONFIRMED)),
            dismissed=Count("id", filter=Q(status=Finding.Status.DISMISSED)),
        )
        .order_by("kind", "town_id")
    )
    kinds_present = {r["kind"] for r in rows}
    kinds = [(code, label) for code, label in FindingKind.choices if code in kinds_present]
    towns = sorted({(r["town_id"], r["town__name"]) for r in rows})
    cells = {(r["kind"], r["town_id"]): r["n"] for r in rows}
    by_kind = []
    for code, label in kinds:
        part = [r for r in rows if r["kind"] == code]
        by_kind.append(
            {
                "kind": code,
                "label": label,
                "count": sum(r["n"] for r in part),
                "money": yuan(sum(r["money"] or 0 for r in part)),
                "overpayment": yuan(sum(r["over"] or 0 for r in part)),
                "open": sum(r["open"] for r in part),
                "confirmed": sum(r["confirmed"] for r in part),
                "dismissed": sum(r["dismissed"] for r in part),
            }
        )
    by_town = []
    for tid, name in towns:
        part = [r for r in rows if r["town_id"] == tid]
        by_town.append(
            {
                "town_id": tid,
                "town": name,
                "count": sum(r["n"] for r in part),
                "money": yuan(sum(r["money"] or 0 for r in part)),
                "overpayment": yuan(sum(r["over"] or 0 for r in part)),
            }
        )
    total = {
        "count": sum(r["n"] for r in rows),
        "money": yuan(sum(r["money"] or 0 for r in rows)),
        "overpayment": yuan(sum(r["over"] or 0 for r in rows)),
    }
    return Report(run, kinds, towns, cells, by_kind, by_town, total)


def list_fuzzy_matches(user, outside_list: OutsideList) -> list[dict]:
    """The fuzzy matches of one list that ``user`` may see (candidates waiting for a person, and any that
    acted alone), by row: what the CLI reports with ``--json``. No ID number, masked or not."""
    qs = (
        access.matches_visible(user)
        .filter(row__outside_list=outside_list)
        .exclude(match_type=Match.EXACT)
        .select_related("row")
        .order_by("row__row_number", "-score", "id")
    )
    return [
        {
            "row": m.row.row_number,
            "person_id": m.person_id,
            "status": m.status,
            "match_type": m.match_type,
            "score": m.score,
            "rule": (m.evidence or {}).get("rule", ""),
            "agree": (m.evidence or {}).get("agree", []),
            "differ": (m.evidence or {}).get("differ", []),
        }
        for m in qs
    ]
