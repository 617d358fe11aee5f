"""Reads of the data comparison, always through ``accounts.access``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum

from canlian.accounts import access
from canlian.benefits.models import Programme, yuan

from .models import Finding, FindingKind, Match, OutsideList, OutsideRow, VerificationRun

# The findings list's columns a user may sort by: key → the order (ascending); "-key" sorts descending. Every
# order ends with the finding's id (in the same direction), so that equal values keep a stable order and the
# pages neither repeat nor skip a finding. Nullable columns put their blanks last either way.
FINDING_SORTS: dict[str, tuple[str, str]] = {
    # key: (field, column heading)
    "id": ("id", "编号"),
    "kind": ("kind", "类型"),
    "name": ("person__name_pinyin", "姓名"),
    "town": ("town__code", "镇(街道)"),
    "programme": ("enrolment__programme__code", "待遇项目"),
    "effective": ("effective_month", "应停发月份"),
    "money": ("money_at_stake_fen", "每月涉及（元）"),
    "overpayment": ("overpayment_fen", "多发（元）"),
    "match": ("match__score", "匹配"),
    "status": ("status", "状态"),
}
FINDING_SORT_DEFAULT = "-money"  # the money at stake first: what a clerk should handle first


def finding_sort(text: str | None) -> str:
    """A sort key from the query string, or the default when it is not one of ``FINDING_SORTS``."""
    text = (text or "").strip()
    return text if text.lstrip("-") in FINDING_SORTS and text.count("-") <= 1 else FINDING_SORT_DEFAULT


def finding_order(sort: str) -> list:
    key = finding_sort(sort)
    descending = key.startswith("-")
    field, _ = FINDING_SORTS[key.lstrip("-")]
    column = F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
    return [column, "-id" if descending else "id"]


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
    sort: str = FINDING_SORT_DEFAULT  # a key of FINDING_SORTS, "-" first for descending
    run_month: date | None = None  # findings of every run comparing this month (the report's month)
    run_from: date | None = None  # findings of the runs started in this date range (the report's range)
    run_to: date | None = None


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
    if filters.run_month:
        qs = qs.filter(run__month=filters.run_month.replace(day=1))
    if filters.run_from:
        qs = qs.filter(run__started_at__date__gte=filters.run_from)
    if filters.run_to:
        qs = qs.filter(run__started_at__date__lte=filters.run_to)
    if filters.exact_only:
        qs = qs.filter(exact_q())
    if filters.programme:
        qs = qs.filter(enrolment__programme__code=filters.programme)
    if filters.payroll_month:
        qs = qs.filter(effective_month__lte=filters.payroll_month.replace(day=1))
    return qs.order_by(*finding_order(filters.sort))


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


def list_summary(user, outside_list: OutsideList) -> dict[str, int | None]:
    """A list's counts as ``user`` may see them. Town staff count only the rows matched (or proposed) to a
    person of their own town; rows with an invalid ID or refused at import belong to no town, so they see
    no count for those (None)."""
    if access.town_scope(user) is not None:
        rows = outside_rows_of(user, [outside_list.pk])[outside_list.pk]
        return {**rows, "invalid_ids": None, "rejected": None}
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


def outside_rows_of(user, list_ids: list[int]) -> dict[int, dict[str, int]]:
    """list id → rows, matched rows and rows with a candidate awaiting a person, over the rows ``user`` may
    see (town staff: rows matched or proposed to a person of their town), in three grouped queries."""
    out = {pk: {"rows": 0, "matched": 0, "candidates": 0} for pk in list_ids}
    matches = access.matches_visible(user).filter(row__outside_list_id__in=list_ids).order_by()
    counts = {
        "rows": access.outside_rows_visible(user).filter(outside_list_id__in=list_ids),
        "matched": access.outside_rows_visible(user).filter(
            pk__in=matches.filter(status__in=[Match.Status.AUTO, Match.Status.CONFIRMED]).values("row_id")
        ),
        "candidates": access.outside_rows_visible(user).filter(
            pk__in=matches.filter(status=Match.Status.PENDING).values("row_id")
        ),
    }
    for key, qs in counts.items():
        grouped = (
            OutsideRow.objects.filter(pk__in=qs.values("pk"))
            .values("outside_list_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        for r in grouped:
            out[r["outside_list_id"]][key] = r["n"]
    return out


def run_counts(user, run_ids: list[int]) -> dict[int, dict[str, int]]:
    """run id → the findings it made and its candidate matches still awaiting a person, counted over what
    ``user`` may see (town staff: their own town's), so that the district's numbers are the towns' sum."""
    out = {pk: {"findings": 0, "candidates": 0} for pk in run_ids}
    for r in (
        access.findings_visible(user)
        .filter(run_id__in=run_ids)
        .values("run_id")
        .annotate(n=Count("id"))
        .order_by()
    ):
        out[r["run_id"]]["findings"] = r["n"]
    for r in (
        access.matches_visible(user)
        .filter(run_id__in=run_ids, status=Match.Status.PENDING)
        .values("run_id")
        .annotate(n=Count("id"))
        .order_by()
    ):
        out[r["run_id"]]["candidates"] = r["n"]
    return out


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
class ReportScope:
    """Which runs a report covers: one run; every run comparing a month (the month's picture, as runs of a
    month each add only the findings that are new); or the runs started from ``date_from`` to ``date_to``
    (inclusive, local dates). Nothing set: every run."""

    run: VerificationRun | None = None
    month: date | None = None
    date_from: date | None = None
    date_to: date | None = None

    def filters(self, **extra) -> FindingFilters:
        return FindingFilters(
            run=self.run.pk if self.run else None,
            run_month=self.month,
            run_from=self.date_from,
            run_to=self.date_to,
            **extra,
        )

    def runs(self, user) -> QuerySet:
        qs = runs_visible(user)
        if self.run is not None:
            qs = qs.filter(pk=self.run.pk)
        if self.month:
            qs = qs.filter(month=self.month.replace(day=1))
        if self.date_from:
            qs = qs.filter(started_at__date__gte=self.date_from)
        if self.date_to:
            qs = qs.filter(started_at__date__lte=self.date_to)
        return qs

    @property
    def label(self) -> str:
        if self.run is not None:
            return f"{self.run.month.year}年{self.run.month.month}月（#{self.run.pk}）"
        if self.month:
            return f"{self.month.year}年{self.month.month}月（该月全部比对）"
        if self.date_from or self.date_to:
            start = f"{self.date_from:%Y-%m-%d}" if self.date_from else "最早"
            end = f"{self.date_to:%Y-%m-%d}" if self.date_to else "至今"
            return f"{start} 至 {end} 运行的比对"
        return "全部比对"

    @property
    def file_name(self) -> str:
        if self.run is not None:
            return f"数据比对报告_{self.run.month:%Y%m}_{self.run.pk}.xlsx"
        if self.month:
            return f"数据比对报告_{self.month:%Y%m}.xlsx"
        if self.date_from or self.date_to:
            start = f"{self.date_from:%Y%m%d}" if self.date_from else ""
            end = f"{self.date_to:%Y%m%d}" if self.date_to else ""
            return f"数据比对报告_{start}-{end}.xlsx"
        return "数据比对报告.xlsx"

    @property
    def report_query(self) -> str:
        """The scope as the report page (and its export) reads it: ``run``, ``month``, ``from``/``to``."""
        if self.run is not None:
            return urlencode({"run": self.run.pk})
        params = {}
        if self.month:
            params["month"] = f"{self.month:%Y-%m}"
        if self.date_from:
            params["from"] = self.date_from.isoformat()
        if self.date_to:
            params["to"] = self.date_to.isoformat()
        return urlencode(params)

    @property
    def query(self) -> str:
        """The scope as query parameters (the findings list and the export take the same)."""
        if self.run is not None:
            return urlencode({"run": self.run.pk})
        params = {}
        if self.month:
            params["run_month"] = f"{self.month:%Y-%m}"
        if self.date_from:
            params["run_from"] = self.date_from.isoformat()
        if self.date_to:
            params["run_to"] = self.date_to.isoformat()
        return urlencode(params)


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
    scope: ReportScope | None = None
    run_count: int = 0  # the runs the report covers

    def chart(self) -> dict:
        return {
            "towns": [name for _, name in self.towns],
            "series": [
                {"name": label, "data": [self.cells.get((code, tid), 0) for tid, _ in self.towns]}
                for code, label in self.kinds
            ],
        }


def report(user, scope: ReportScope | VerificationRun | None) -> Report:
    """Counts by kind × town and the money at stake, over the findings of the runs in ``scope`` (a run alone,
    or every run when None) that the user may see: town staff count their own town's only."""
    if not isinstance(scope, ReportScope):
        scope = ReportScope(run=scope)
    run = scope.run
    qs = findings_filtered(user, scope.filters()).order_by()
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
    return Report(run, kinds, towns, cells, by_kind, by_town, total, scope, scope.runs(user).count())


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
