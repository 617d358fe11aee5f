"""Monthly payroll: generate (draft) → review → approve (another user) → bank file → results → re-issue.

The moves after generation are the payroll workflow of ``benefits.workflows`` (``payroll_move``).

Generation computes everything set-based in memory first (rules over all enrolled persons for the payroll
month and the months it looks back over for arrears), then writes the payroll and its lines in one
transaction. The unique constraint on (programme, month) makes a second generation return the first.

At scale (1,000,000 enrolments, ``bench/payroll.py``) no Python object is made per line: the inputs are read
into Polars frames (``COPY`` on PostgreSQL), each line's bank details are joined from the enrolment as
stored (the encrypted account is copied, never decrypted and re-encrypted), and the lines are written with
``COPY … FROM STDIN`` on PostgreSQL (``bulk_create`` elsewhere). What earlier payrolls paid for the months
looked back over (24 million lines in a steady state) comes from PostgreSQL grouped by (month, amount), and
each month keeps only what is still owed (``_accounted``); ``docs/benchmarks.md`` has the figures.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date

import polars as pl
from django.db import IntegrityError, connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from canlian.accounts import access
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.jobs import Progress, noop_progress
from canlian.common.workflow import transition
from canlian.registry.models import Person

from ..models import Enrolment, EnrolmentChange, Payroll, PayrollLine, Programme
from ..parameters import NoValueYet
from ..rules import evaluate
from ..selectors import current_parameters, facts_for_month, frame_of, registry_frames
from ..workflows import PAYROLL_WORKFLOW

P = Payroll.Status
L = PayrollLine.Kind
LOOKBACK_MONTHS = 24
BATCH = 5000
# PostgreSQL's memory for grouping what 24 earlier payrolls paid (≈ 200 MB of ids per million enrolments)
ACCOUNTED_WORK_MEM = "256MB"


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def months_between(start: date, end: date) -> list[date]:
    out, m = [], start
    while m <= end:
        out.append(m)
        m = add_months(m, 1)
    return out


def payroll_month_check(*, programme: Programme, month: date, today: date | None = None) -> date:
    """The first of ``month``, or a ``DomainError`` saying why no batch may be generated for it.

    A batch pays its month and, as arrears (补发), every earlier month it looks back over that no batch has
    paid yet. So a batch generated ahead of time (2027-03 in December 2026) wrote this month's and the next
    months' money as arrears, and this month's own batch, generated afterwards, found it all accounted for
    and came out empty. Hence: no month after next; next month only once this month has its batch; and no
    month earlier than a batch that already exists (it would find its money paid by that later batch).
    Web, task and CLI all refuse through here."""
    month = month.replace(day=1)
    current = (today or timezone.localdate()).replace(day=1)
    latest = add_months(current, 1)
    if month > latest:
        raise DomainError(
            f"不能生成 {month.year}年{month.month}月 的发放批次：最多只能提前生成下月"
            f"（{latest.year}年{latest.month}月）的批次"
        )
    payrolls = Payroll.objects.filter(programme=programme)
    later = payrolls.filter(month__gt=month).order_by("month").first()
    if later is not None and not payrolls.filter(month=month).exists():
        hint = "请先作废该草稿" if later.status == P.DRAFT else "该批次已在办理，不能再补生成更早的月份"
        raise DomainError(
            f"已有 {later.month.year}年{later.month.month}月 的{programme.name}批次（{later.get_status_display()}），"
            f"其中已按补发计入 {month.year}年{month.month}月：不能再生成 {month.year}年{month.month}月 的批次，{hint}"
        )
    if month == latest and not payrolls.filter(month=current).exists():
        raise DomainError(
            f"请先生成本月（{current.year}年{current.month}月）的{programme.name}批次，"
            f"再生成下月（{month.year}年{month.month}月）的批次"
        )
    return month


@dataclass
class PlannedLines:
    lines: pl.DataFrame  # enrolment_id, person_id, town_id, kind, for_month, amount_fen, reissue_of_id
    months_evaluated: int
    # months looked back over that have no known standard (before the earliest sourced value): nothing can be
    # computed for them, so no arrears are planned; they are named in the audit row
    months_without_standard: list[date] = field(default_factory=list)


def payable_mask(enrolments: pl.DataFrame, changes: pl.DataFrame, month: date) -> pl.DataFrame:
    """enrolment_id → payable in ``month`` by the enrolment's own dates and its suspend/resume/stop history."""
    last = (
        changes.filter(pl.col("effective_month") <= month)
        .sort(["enrolment_id", "effective_month", "seq"])
        .group_by("enrolment_id")
        .agg(pl.col("kind").last().alias("last_kind"))
    )
    return (
        enrolments.join(last, on="enrolment_id", how="left")
        .with_columns(
            (
                (pl.col("start_month") <= month)
                & (pl.col("end_month").is_null() | (pl.col("end_month") >= month))
                & ~pl.col("last_kind").fill_null("").is_in(["suspend", "stop"])
            ).alias("payable")
        )
        .select("enrolment_id", "person_id", "payable")
    )


def payroll_plan(*, programme: Programme, month: date, progress: Progress = noop_progress) -> PlannedLines:
    """What the payroll for ``month`` should contain: regular, arrears (补发) and re-issue lines."""
    enrolments = frame_of(
        Enrolment.objects.filter(programme=programme, start_month__lte=month)
        .order_by()
        .values_list("pk", "person_id", "start_month", "end_month"),
        {
            "enrolment_id": pl.Int64,
            "person_id": pl.Int64,
            "start_month": pl.Date,
            "end_month": pl.Date,
        },
    )
    changes = frame_of(
        EnrolmentChange.objects.filter(enrolment__programme=programme)
        .order_by()
        .values_list("enrolment_id", "kind", "effective_month", "pk"),
        {"enrolment_id": pl.Int64, "kind": pl.Utf8, "effective_month": pl.Date, "seq": pl.Int64},
    )
    empty = pl.DataFrame(
        schema={
            "enrolment_id": pl.Int64,
            "person_id": pl.Int64,
            "town_id": pl.Int64,
            "kind": pl.Utf8,
            "for_month": pl.Date,
            "amount_fen": pl.Int64,
            "reissue_of_id": pl.Int64,
        }
    )
    if enrolments.height == 0:
        return PlannedLines(empty, 0)
    earliest = max(enrolments["start_month"].min(), add_months(month, -LOOKBACK_MONTHS))
    months = months_between(earliest, month)
    accounted = _accounted(programme=programme, earliest=earliest, month=month)
    progress(0, len(months) + 2, "读取档案")
    frames = registry_frames(
        persons=Person.objects.filter(pk__in=enrolments["person_id"].to_list())
        if enrolments.height < 20000
        else None
    )
    towns = frames.persons.select("person_id", "town_id")
    params = current_parameters()
    parts, without_standard = [], []
    for i, m in enumerate(months, start=1):
        try:
            result = evaluate(facts_for_month(frames, m), m, params, programmes=[programme.code])
        except NoValueYet as exc:
            if m == month:
                raise DomainError(
                    f"{month:%Y-%m} 没有已知的“{programme.name}”标准，不能生成发放批次：{exc}。"
                    "请先在参数页面录入有依据的标准"
                ) from None
            without_standard.append(m)
            continue
        # due this month less what was already paid for it: only what is still owed is kept, so a month
        # that was paid in full adds nothing (no frame of every enrolment × every month looked at)
        owed = (
            payable_mask(enrolments, changes, m)
            .join(result, on="person_id", how="left")
            .with_columns(
                pl.when(pl.col("payable") & pl.col(f"{programme.code}_eligible").fill_null(False))
                .then(pl.col(f"{programme.code}_amount_fen"))
                .otherwise(0)
                .alias("due_fen")
            )
            .join(accounted.for_month(m), on="enrolment_id", how="left")
            .with_columns(
                (pl.col("due_fen") - pl.col("accounted_fen").fill_null(0)).alias("amount_fen"),
                pl.lit(m).alias("for_month"),
            )
            .filter(pl.col("amount_fen") > 0)
            .select("enrolment_id", "person_id", "for_month", "amount_fen")
        )
        parts.append(owed)
        progress(i, len(months) + 2, f"计算 {m:%Y-%m}")
    planned = (
        pl.concat(parts)
        .with_columns(
            pl.when(pl.col("for_month") == month)
            .then(pl.lit(L.REGULAR.value))
            .otherwise(pl.lit(L.ARREARS.value))
            .alias("kind"),
            pl.lit(None, dtype=pl.Int64).alias("reissue_of_id"),
        )
        .join(towns, on="person_id", how="left")
        .select(empty.columns)
    )
    # failed lines not re-issued yet: the failed ones through ``payroll_line_failed`` and every re-issued one
    # through ``payroll_line_one_reissue`` (both hold only those few lines), compared here rather than with an
    # outer join of the whole table to itself
    failed = frame_of(
        PayrollLine.objects.filter(
            payroll__programme=programme,
            payroll__month__lt=month,
            status=PayrollLine.Status.FAILED,
        )
        .order_by()
        .values_list("enrolment_id", "person_id", "town_id", "for_month", "amount_fen", "pk"),
        {
            "enrolment_id": pl.Int64,
            "person_id": pl.Int64,
            "town_id": pl.Int64,
            "for_month": pl.Date,
            "amount_fen": pl.Int64,
            "reissue_of_id": pl.Int64,
        },
    )
    reissued = frame_of(
        PayrollLine.objects.filter(reissue_of__isnull=False).order_by().values_list("reissue_of_id"),
        {"reissue_of_id": pl.Int64},
    )
    failed = failed.join(reissued, on="reissue_of_id", how="anti").with_columns(
        pl.lit(L.REISSUE.value).alias("kind")
    )
    lines = pl.concat([planned, failed.select(empty.columns)]).sort(
        ["town_id", "person_id", "for_month", "kind"]
    )
    progress(len(months) + 1, len(months) + 2, "计算完成")
    return PlannedLines(lines, len(months) - len(without_standard), without_standard)


class Accounted:
    """What earlier payrolls paid for each month looked at: (month, amount) → the enrolments paid it."""

    def __init__(self, grouped: pl.DataFrame):
        self.grouped = grouped  # for_month, amount_fen, enrolment_ids (list)

    def for_month(self, month: date) -> pl.DataFrame:
        """enrolment_id → accounted_fen: the sum of its regular and arrears lines for ``month``."""
        return (
            self.grouped.filter(pl.col("for_month") == month)
            .explode("enrolment_ids")
            .group_by("enrolment_ids")
            .agg(pl.col("amount_fen").sum().alias("accounted_fen"))
            .rename({"enrolment_ids": "enrolment_id"})
        )


def _accounted(*, programme: Programme, earliest: date, month: date) -> Accounted:
    """The regular and arrears lines of earlier payrolls (any status) for the months from ``earliest`` on.

    Every line of a payroll is for an enrolment in the payroll's programme, and a regular or arrears line is
    never for a month after its payroll's: so only the programme's payrolls from ``earliest`` on hold one,
    and the database reads just their lines (by ``payroll_line_town``) with no join to the enrolments.

    In a steady state that is every line of the last 24 payrolls (24 million for a million enrolments). On
    PostgreSQL the database groups them by (month, amount) with the enrolment ids as an array, so it sends a
    few dozen rows instead of one per line (read one by one, the rows cost more than the rest of the
    payroll); the aggregate is given the memory to hold them (``work_mem`` for this transaction only) rather
    than spilling to disk. Elsewhere (SQLite) the lines are read and grouped here, with the same result.
    """
    lines = (
        PayrollLine.objects.filter(
            payroll__programme=programme,
            payroll__month__gte=earliest,
            kind__in=[L.REGULAR, L.ARREARS],
            for_month__gte=earliest,
            for_month__lte=month,
        )
        .exclude(payroll__month=month)
        .order_by()
    )
    if connection.vendor == "postgresql":
        from django.contrib.postgres.aggregates import ArrayAgg

        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [ACCOUNTED_WORK_MEM])
            grouped = frame_of(
                lines.values("for_month", "amount_fen")
                .annotate(enrolment_ids=ArrayAgg("enrolment_id"))
                .values_list("for_month", "amount_fen", "enrolment_ids"),
                {"for_month": pl.Date, "amount_fen": pl.Int64, "enrolment_ids": pl.Utf8},
            )
        grouped = grouped.with_columns(
            pl.col("enrolment_ids").str.strip_chars("{}").str.split(",").cast(pl.List(pl.Int64))
        )
    else:
        grouped = (
            frame_of(
                lines.values_list("for_month", "amount_fen", "enrolment_id"),
                {"for_month": pl.Date, "amount_fen": pl.Int64, "enrolment_id": pl.Int64},
            )
            .group_by("for_month", "amount_fen")
            .agg(pl.col("enrolment_id").alias("enrolment_ids"))
        )
    return Accounted(grouped)


def payroll_generate(
    *, acting_user, programme: Programme, month: date, progress: Progress = noop_progress
) -> Payroll:
    if not access.can_run_payroll(acting_user):
        raise PermissionDenied("只有区残联业务科室可以生成发放批次")
    if not programme.cash:
        raise DomainError(f"“{programme.name}”不按月发放现金，无需生成发放批次")
    month = month.replace(day=1)
    existing = Payroll.objects.filter(programme=programme, month=month).first()
    if existing:
        return existing
    payroll_month_check(programme=programme, month=month)
    plan = payroll_plan(programme=programme, month=month, progress=progress)
    lines = plan.lines.join(_bank_details(programme), on="enrolment_id", how="left").with_columns(
        pl.col("bank_name").fill_null(""), pl.col("bank_account").fill_null("")
    )
    total, count = int(lines["amount_fen"].sum() or 0), lines.height
    try:
        with transaction.atomic():
            payroll = Payroll.objects.create(
                programme=programme, month=month, status=P.GENERATING, created_by=acting_user
            )
            _insert_lines(payroll, lines)
            payroll.total_fen, payroll.line_count, payroll.status = total, count, P.DRAFT
            payroll.save(update_fields=["total_fen", "line_count", "status"])
            audit_record(
                acting_user=acting_user,
                action="payroll.generate",
                obj=payroll,
                changes={
                    "lines": [None, count],
                    "total": [None, str(payroll.total)],
                    "months": [None, plan.months_evaluated],
                    **(
                        {
                            "months_without_standard": [
                                None,
                                [f"{m:%Y-%m}" for m in plan.months_without_standard],
                            ]
                        }
                        if plan.months_without_standard
                        else {}
                    ),
                },
            )
    except IntegrityError:
        return Payroll.objects.get(programme=programme, month=month)
    progress(1, 1, "已生成")
    return payroll


def _bank_details(programme: Programme) -> pl.DataFrame:
    """enrolment_id → bank name and the account *as stored* (ciphertext: copied, not decrypted)."""
    return frame_of(
        Enrolment.objects.filter(programme=programme)
        .order_by()
        .annotate(stored_account=Cast("bank_account", TextField()))
        .values_list("pk", "bank_name", "stored_account"),
        {"enrolment_id": pl.Int64, "bank_name": pl.Utf8, "bank_account": pl.Utf8},
    )


LINE_COLUMNS = (
    "payroll_id",
    "enrolment_id",
    "person_id",
    "town_id",
    "kind",
    "for_month",
    "amount_fen",
    "status",
    "failure_reason",
    "bank_name",
    "bank_account",
    "reissue_of_id",
)
COPY_CHUNK = 200_000


def _insert_lines(payroll: Payroll, lines: pl.DataFrame) -> None:
    """Write the planned lines in their order (ids follow it): ``COPY`` on PostgreSQL, ``bulk_create`` elsewhere."""
    # Written in person order: ids then follow (person, month, kind), so a listing by (town, id) shows each
    # town's lines in the planned order, and the indexes and foreign-key checks on person and enrolment
    # (ids that grow together) touch their pages in order instead of at random.
    rows = (
        lines.sort(["person_id", "for_month", "kind"], maintain_order=True)
        .with_columns(
            pl.lit(payroll.pk, dtype=pl.Int64).alias("payroll_id"),
            pl.lit(PayrollLine.Status.PENDING.value).alias("status"),
            pl.lit("").alias("failure_reason"),
        )
        .select(LINE_COLUMNS)
    )
    if rows.height == 0:
        return
    if connection.vendor == "postgresql":
        qn = connection.ops.quote_name
        sql = (
            f"COPY {qn(PayrollLine._meta.db_table)} ({', '.join(qn(c) for c in LINE_COLUMNS)}) "
            "FROM STDIN WITH (FORMAT csv)"
        )
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for start in range(0, rows.height, COPY_CHUNK):
                buf = io.BytesIO()
                rows.slice(start, COPY_CHUNK).write_csv(buf, include_header=False, date_format="%Y-%m-%d")
                copy.write(buf.getvalue())
        return
    batch = []
    for values in rows.iter_rows():
        batch.append(PayrollLine(**dict(zip(LINE_COLUMNS, values, strict=True))))
        if len(batch) >= BATCH:
            PayrollLine.objects.bulk_create(batch)
            batch = []
    if batch:
        PayrollLine.objects.bulk_create(batch)


def payroll_move(*, acting_user, payroll: Payroll, move: str, expected_status: str | None = None) -> Payroll:
    """One move of the payroll workflow (``benefits.workflows``): review, return, approve, and the moves the
    bank file and the return file make. Row lock, stale-state message, maker ≠ checker (the reviewer may not
    approve), history and audit rows: all by ``common.workflow.transition``."""
    return transition(
        payroll, move, acting_user=acting_user, expected_state=expected_status or payroll.status
    )


def payroll_transition(
    *, acting_user, payroll: Payroll, to_status: str, expected_status: str | None = None
) -> Payroll:
    """The move from the status the caller saw (``expected_status``, else ``payroll.status``) to
    ``to_status`` (CLI, tests, the batch page's buttons)."""
    seen = expected_status or payroll.status
    move = next((m for m in PAYROLL_WORKFLOW.moves_from(seen) if m.target == to_status), None)
    if move is None:
        raise DomainError(f"不能从“{PAYROLL_WORKFLOW.state_label(seen)}”变为“{P(to_status).label}”")
    return payroll_move(acting_user=acting_user, payroll=payroll, move=move.name, expected_status=seen)


def payroll_discard(*, acting_user, payroll: Payroll, expected_status: str | None = None) -> None:
    """A draft that is wrong (the registry was corrected) can be discarded and generated again: the
    ``discard`` move deletes the batch and its lines; its history and audit rows remain."""
    payroll_move(acting_user=acting_user, payroll=payroll, move="discard", expected_status=expected_status)


def town_totals(lines_qs) -> list[dict]:
    from django.db.models import Count, Sum

    return list(
        lines_qs.values("town_id", "town__name")
        .annotate(count=Count("id"), total_fen=Sum("amount_fen"))
        .order_by("town_id")
    )


def results_apply(*, acting_user, payroll: Payroll, results: list[dict]) -> dict:
    """Apply the bank's return: ``results`` = [{row, line_id, paid: bool, reason}] already parsed and checked."""
    if not access.can_run_payroll(acting_user):
        raise PermissionDenied("只有区残联业务科室可以导入回盘结果")
    with transaction.atomic():
        p = Payroll.objects.select_for_update().get(pk=payroll.pk)
        if p.status not in (P.EXPORTED, P.CLOSED):
            raise DomainError("批次尚未出盘，不能导入回盘结果")
        ids = {r["line_id"] for r in results}
        existing = set(p.lines.filter(pk__in=ids).values_list("pk", flat=True))
        missing = [r for r in results if r["line_id"] not in existing]
        if missing:
            raise ValidationFailed(
                {f"第{r['row']}行": f"流水号 {r['line_id']} 不属于该批次" for r in missing[:20]}
            )
        paid_ids = [r["line_id"] for r in results if r["paid"]]
        PayrollLine.objects.filter(pk__in=paid_ids).update(status=PayrollLine.Status.PAID, failure_reason="")
        failed = [r for r in results if not r["paid"]]
        for r in failed:
            PayrollLine.objects.filter(pk=r["line_id"]).update(
                status=PayrollLine.Status.FAILED, failure_reason=(r.get("reason") or "银行退回")[:200]
            )
        pending = p.lines.filter(status=PayrollLine.Status.PENDING).count()
        old = p.status
        if pending == 0 and p.status == P.EXPORTED:
            p = transition(p, "close", acting_user=acting_user, expected_state=P.EXPORTED)
        audit_record(
            acting_user=acting_user,
            action="payroll.results",
            obj=p,
            changes={"paid": [None, len(paid_ids)], "failed": [None, len(failed)], "status": [old, p.status]},
        )
    return {"paid": len(paid_ids), "failed": len(failed), "pending": pending}
