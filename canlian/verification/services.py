"""Writes of the data comparison: import a list, run a comparison, decide candidates, handle findings.

Each service is atomic, attributed to ``acting_user``, scoped through ``accounts.access`` and audited.

Findings move open → confirmed | dismissed and candidate matches pending → confirmed | rejected through the
common workflow engine (``workflow.FINDING_WORKFLOW``, ``workflow.MATCH_WORKFLOW``, ``common.workflow.transition``).
Confirming a finding suspends or stops the enrolment from the effective month through
``benefits.services.enrolments.enrolment_change`` (so the next payroll leaves the person out and pays no
arrears for those months), records the overpayment to recover, and brings the registry up to date where the
finding says it is behind (death, move, certificate cancellation). A confirmed candidate match produces its
findings on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from canlian.accounts import access
from canlian.common import staged_import
from canlian.common.audit import audit_record
from canlian.common.bulk import commit_slices, sliced_writes, write_slice
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.jobs import Progress, noop_progress
from canlian.common.workflow import transition

from . import engine
from .importers import (
    PHASE_DONE,
    PHASE_READ,
    PHASE_WRITE,
    REQUIRED,
    NothingToImport,
    StagedList,
    aliases_for,
    outside_list_stage,
)
from .models import (
    Finding,
    FindingKind,
    ListKind,
    Match,
    OutsideList,
    OutsideRow,
    OutsideSource,
    VerificationRun,
)

F = Finding.Status


# ---- import --------------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    outside_list: OutsideList
    counts: dict[str, int]  # rows, matched_exact, candidates, unmatched, invalid_ids
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)
    staged: StagedList | None = None  # every row as checked: the contract, the report


def _clean_mapping(kind: str, mapping: dict[str, str] | None) -> dict[str, str]:
    allowed = set(aliases_for(kind))
    out = {}
    for key, header in (mapping or {}).items():
        header = str(header or "").strip()
        if key in allowed and header:
            out[key] = header
    headers = list(out.values())
    duplicated = {h for h in headers if headers.count(h) > 1}
    if duplicated:
        raise ValidationFailed({"mapping": f"同一列“{'、'.join(sorted(duplicated))}”不能对应多项信息"})
    return out


def _outside_list_staged(
    *, acting_user, source, kind, filename, source_name, received_on, mapping, progress
) -> tuple[StagedList, dict[str, str], str]:
    """The checks before a list is read, then every row checked (``importers.outside_list_stage``) with the
    source's remembered mapping under the given one; nothing is written."""
    if not access.can_run_verification(acting_user):
        raise PermissionDenied("只有区残联业务科室可以导入外部比对名单")
    if kind not in ListKind.values:
        raise ValidationFailed({"kind": f"未知的名单类型：{kind}"})
    source_name = (source_name or "").strip() or ListKind(kind).label
    if received_on is None:
        raise ValidationFailed({"received_on": "请填写收到日期"})
    if received_on > timezone.localdate():
        raise ValidationFailed({"received_on": "收到日期不能晚于今天"})
    given = _clean_mapping(kind, mapping)
    known = OutsideSource.objects.filter(kind=kind, name=source_name).first()
    remembered = dict(known.mapping) if known else {}
    progress(0, 0, PHASE_READ)
    staged = outside_list_stage(
        source, kind=kind, filename=filename, mapping={**remembered, **given}, progress=progress
    )
    return staged, given, source_name


def outside_list_check(
    *,
    acting_user,
    source,
    kind: str,
    filename: str,
    source_name: str = "",
    received_on: date,
    mapping: dict[str, str] | None = None,
    progress: Progress = noop_progress,
) -> StagedList:
    """The preview (``canlian verify import --dry-run``): the same checks as ``outside_list_import`` on every
    row, with the same errors, and nothing written (no list, no match, no mapping remembered)."""
    staged, _given, _name = _outside_list_staged(
        acting_user=acting_user,
        source=source,
        kind=kind,
        filename=filename,
        source_name=source_name,
        received_on=received_on,
        mapping=mapping,
        progress=progress,
    )
    return staged


def outside_list_import(
    *,
    acting_user,
    source,
    kind: str,
    filename: str,
    source_name: str,
    received_on: date,
    complete: bool = False,
    mapping: dict[str, str] | None = None,
    progress: Progress = noop_progress,
) -> ImportResult:
    """Read, check and keep an outside list, then match its rows (exact at once, fuzzy as candidates).

    ``source`` is a path or the file's bytes. ``mapping`` (field key → header in the file) overrides the
    remembered mapping of the source and is remembered when the import succeeds. Raises
    ``importers.MappingRequired`` when required columns are missing, ``SpreadsheetError`` when the file
    cannot be read, ``importers.NothingToImport`` (with every row's error) when no row can be kept;
    nothing is written then. The list, its rows, the matches, the remembered mapping and the audit row are
    written in one transaction: a failure there leaves nothing behind either.

    ``progress`` hears PHASE_READ, then (rows checked, rows, PHASE_STAGE), then PHASE_WRITE before the
    transaction and PHASE_DONE after it (nothing inside it: it would not be visible to others)."""
    staged, given, source_name = _outside_list_staged(
        acting_user=acting_user,
        source=source,
        kind=kind,
        filename=filename,
        source_name=source_name,
        received_on=received_on,
        mapping=mapping,
        progress=progress,
    )
    kept, errors = staged.kept, staged.notes()
    if not kept:
        first = "；".join(staged_import.error_line(e) for e in errors[:5])
        raise NothingToImport(
            f"没有可以导入的行（{staged.rejected} 行有误）：{first}", errors=errors, rejected=staged.rejected
        )
    total = len(kept)
    progress(total, total, PHASE_WRITE)
    with transaction.atomic():
        src, _ = OutsideSource.objects.select_for_update().get_or_create(kind=kind, name=source_name)
        if given:
            src.mapping = {**src.mapping, **given}
            src.save(update_fields=["mapping"])
        outside_list = OutsideList.objects.create(
            source=src,
            kind=kind,
            received_on=received_on,
            complete=bool(complete and kind == ListKind.DIBAO),
            file_name=(filename or "")[:200],
            uploaded_by=acting_user,
            row_count=len(kept),
            invalid_id_count=staged.invalid_ids,
            rejected_count=staged.rejected,
            errors=errors,
        )
        objs = OutsideRow.objects.bulk_create(
            [
                OutsideRow(
                    outside_list=outside_list,
                    row_number=r.row_number,
                    name=r.name,
                    name_pinyin=r.pinyin,
                    name_initials=r.initials,
                    id_raw=r.id_raw,
                    id_number=r.id_number,
                    id_index=r.id_index,
                    id_error=r.id_error,
                    birth_date=r.birth_date,
                    event_date=r.event_date,
                    end_date=r.end_date,
                    amount_fen=r.amount_fen,
                    extra=r.extra,
                )
                for r in kept
            ],
            batch_size=2000,
        )
        if any(o.pk is None for o in objs):  # a backend that does not return ids from bulk inserts
            ids = dict(OutsideRow.objects.filter(outside_list=outside_list).values_list("row_number", "pk"))
        else:
            ids = {o.row_number: o.pk for o in objs}
        rows = pl.DataFrame(
            [
                (ids[r.row_number], r.id_index or None, r.id_raw, r.name, r.pinyin, r.initials, r.birth_date)
                for r in kept
            ],
            schema=engine.ROW_SCHEMA,
            orient="row",
        )
        matched = engine.match_rows(rows=rows, kind=kind)
        counts = {"rows": len(kept), **matched, "invalid_ids": staged.invalid_ids}
        audit_record(
            acting_user=acting_user,
            action="verification.import",
            obj=outside_list,
            changes={
                "kind": [None, kind],
                "source": [None, src.name],
                "received_on": [None, received_on.isoformat()],
                "file": [None, outside_list.file_name],
                **{k: [None, v] for k, v in counts.items()},
                "rejected": [None, staged.rejected],
                **({"mapping": [None, given]} if given else {}),
            },
        )
    progress(total, total, PHASE_DONE)
    staged.committed = True
    return ImportResult(outside_list, counts, staged.rejected, errors, staged)


def required_fields(kind: str) -> tuple[str, ...]:
    return REQUIRED[kind]


# ---- run -----------------------------------------------------------------------------------------------


RUN_STALE = timedelta(hours=1)  # a sliced run still "进行中" after this was stopped by a process that died
RUN_INTERRUPTED = "比对中途停止：已写入的匹配和疑点保留，重新运行比对即可补齐（不会重复生成疑点）"


def verification_run(
    *, acting_user, month: date | None = None, all_lists: bool = False, progress: Progress = noop_progress
) -> VerificationRun:
    """Match the rows of the lists not yet processed (or all), then build findings from exact and confirmed
    matches not yet used, plus the registry's own checks, for ``month`` (default: this month).

    On PostgreSQL: one transaction, the lists locked. On SQLite (``common.bulk.sliced_writes``) the reading
    and computing hold no write lock and the writes commit in short slices (``engine.WRITE_SLICE`` matches
    or findings each, every finding with its audit row), so the web keeps answering during a long run; the
    results are the same. One sliced run at a time (another is refused while one is 进行中). If a sliced
    run stops midway, what it wrote stays and is correct: matches (each list row's all together), findings
    (open, audited), matches marked used only after every finding is written; the run is marked 失败 (or,
    if its process died, stays 进行中 until ``RUN_STALE`` has passed), its lists stay unprocessed, and
    running the comparison again finishes the work without duplicating a finding (findings already open for
    the same kind, person and enrolment are not created again)."""
    if not access.can_run_verification(acting_user):
        raise PermissionDenied("只有区残联业务科室可以运行数据比对")
    month = (month or engine.this_month()).replace(day=1)
    progress(0, 4, "准备")
    if sliced_writes():
        run = _run_start_sliced(acting_user=acting_user, month=month)
        try:
            _run_work(run, acting_user=acting_user, all_lists=all_lists, lock=False, progress=progress)
        except BaseException:
            VerificationRun.objects.filter(pk=run.pk, status=VerificationRun.Status.RUNNING).update(
                status=VerificationRun.Status.FAILED,
                finished_at=timezone.now(),
                stats={"error": RUN_INTERRUPTED},
            )
            raise
    else:
        with transaction.atomic():
            run = VerificationRun.objects.create(started_by=acting_user, month=month)
            _run_work(run, acting_user=acting_user, all_lists=all_lists, lock=True, progress=progress)
    progress(4, 4, "完成")
    return run


def _run_start_sliced(*, acting_user, month: date) -> VerificationRun:
    """Create the run in its own transaction, refusing while another sliced run is in progress (two at
    once would each create the findings the other does not see yet). A run left 进行中 longer than
    ``RUN_STALE`` was stopped by a process that died: marked 失败."""
    with transaction.atomic():
        running = VerificationRun.objects.filter(status=VerificationRun.Status.RUNNING)
        running.filter(started_at__lt=timezone.now() - RUN_STALE).update(
            status=VerificationRun.Status.FAILED, finished_at=timezone.now(), stats={"error": RUN_INTERRUPTED}
        )
        other = running.order_by("started_at").first()
        if other is not None:
            started = timezone.localtime(other.started_at)
            raise DomainError(
                f"另一次数据比对（#{other.pk}，{started:%H:%M} 开始）正在进行，请等它完成后再运行"
            )
        return VerificationRun.objects.create(started_by=acting_user, month=month)


def _run_work(run: VerificationRun, *, acting_user, all_lists: bool, lock: bool, progress: Progress) -> None:
    """The run's work, in the caller's transaction (``lock``: the lists locked) or in slices."""
    lists = OutsideList.objects.select_for_update() if lock else OutsideList.objects.all()
    if not all_lists:
        lists = lists.filter(processed_at__isnull=True)
    list_ids = sorted(lists.values_list("pk", flat=True))
    unmatched = OutsideRow.objects.filter(outside_list_id__in=list_ids, matches__isnull=True)
    progress(1, 4, "比对名单")
    matched = engine.match_rows(rows=engine.rows_frame(unmatched), run=run)
    progress(2, 4, "生成疑点")
    acting_q = Q(applied=False) | Q(row__outside_list_id__in=list_ids)
    found, acting = engine.compute_findings(month=run.month, acting_q=acting_q, complete_list_ids=list_ids)
    created = engine.findings_write(run=run, found=found, acting=acting, acting_user=acting_user)
    progress(3, 4, "汇总")
    commit_slices(
        sorted(acting["match_id"].to_list()),
        engine.CHUNK,
        lambda chunk: Match.objects.filter(pk__in=chunk, applied=False).update(applied=True),
    )
    with write_slice():
        OutsideList.objects.filter(pk__in=list_ids, processed_at__isnull=True).update(
            processed_at=timezone.now()
        )
        by_kind: dict[str, int] = {}
        for f in created:
            by_kind[f.kind] = by_kind.get(f.kind, 0) + 1
        candidates = Match.objects.filter(
            status=Match.Status.PENDING, row__outside_list_id__in=list_ids
        ).count()
        run.stats = {
            "lists": len(list_ids),
            "findings": {k: by_kind[k] for k in FindingKind.values if k in by_kind},
            "candidates": candidates,
            "rows_matched": matched,
            "money_at_stake_fen": sum(f.money_at_stake_fen for f in created),
            "overpayment_fen": sum(f.overpayment_fen for f in created),
        }
        run.status = VerificationRun.Status.DONE
        run.finished_at = timezone.now()
        run.save(update_fields=["stats", "status", "finished_at"])
        audit_record(
            acting_user=acting_user,
            action="verification.run",
            obj=run,
            changes={
                "month": [None, f"{run.month:%Y-%m}"],
                "lists": [None, len(list_ids)],
                "findings": [None, len(created)],
                "candidates": [None, candidates],
            },
        )


# ---- candidate matches ---------------------------------------------------------------------------------
# The moves are declared in ``workflow.MATCH_WORKFLOW``; ``transition`` locks, checks role, scope and state,
# and writes the history and audit rows.


def match_confirm(*, acting_user, match: Match, expected_state: str | None = None) -> Match:
    """The list row is this person: the match acts from now on (its findings come with the next run); the
    row's other candidates are rejected. ``expected_state``: the state the user saw (default: ``match``'s)."""
    return transition(
        match, "confirm", acting_user=acting_user, expected_state=expected_state or match.status
    )


def match_reject(*, acting_user, match: Match, reason: str = "", expected_state: str | None = None) -> Match:
    return transition(
        match,
        "reject",
        acting_user=acting_user,
        expected_state=expected_state or match.status,
        note=reason or "",
    )


# ---- findings ------------------------------------------------------------------------------------------
# The moves are declared in ``workflow.FINDING_WORKFLOW``: confirming stops or suspends the enrolment,
# updates the registry and records the overpayment (its effect); a dismissal needs a reason.


def finding_confirm(
    *,
    acting_user,
    finding: Finding,
    action: str = "stop",
    effective_month: date | None = None,
    note: str = "",
    expected_state: str | None = None,
) -> Finding:
    """Confirm: suspend or stop the enrolment from ``effective_month`` (default: the finding's), record the
    overpayment for that month and after, and update the registry where it is behind.

    ``expected_state``: the state the user saw (default: ``finding``'s); a finding handled meanwhile is
    refused with the state it is in now."""
    return transition(
        finding,
        "confirm",
        acting_user=acting_user,
        expected_state=expected_state or finding.status,
        note=note or "",
        action=action,
        effective_month=effective_month,
    )


def finding_dismiss(
    *, acting_user, finding: Finding, reason: str, expected_state: str | None = None
) -> Finding:
    return transition(
        finding,
        "dismiss",
        acting_user=acting_user,
        expected_state=expected_state or finding.status,
        dismiss_reason=reason or "",
    )


@dataclass
class BulkResult:
    confirmed: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (finding id, Chinese reason)


@transaction.atomic
def findings_confirm_bulk(
    *, acting_user, finding_ids: list[int], action: str = "stop", note: str = ""
) -> BulkResult:
    """Confirm many open findings from exact matches (or the registry itself), each from its own effective
    month, in one transaction.

    The findings the user may handle are locked first, in id order (two bulk confirmations never wait on each
    other in a circle); each then goes through the same ``confirm`` move in its own savepoint. One that cannot
    be confirmed (out of scope, handled meanwhile, from a fuzzy match, refused by the move) is reported with
    the reason; the others go through."""
    if action not in Finding.Action.values:
        raise ValidationFailed({"action": "请选择处理方式：暂停或终止"})
    result = BulkResult()
    ids = sorted({int(pk) for pk in finding_ids})
    locked = {
        f.pk: f
        for f in access.findings_handleable(acting_user)
        .filter(pk__in=ids)
        .select_for_update(of=("self",))
        .order_by("pk")
    }
    for pk in ids:
        f = locked.get(pk)
        if f is None:
            result.skipped.append((pk, "未找到该疑点，或您无权处理"))
            continue
        if not f.is_exact:
            result.skipped.append((pk, "模糊匹配产生的疑点须逐条核实确认"))
            continue
        try:
            with transaction.atomic():
                # the bulk form lists open findings only: one handled since is reported as changed
                finding_confirm(
                    acting_user=acting_user, finding=f, action=action, note=note, expected_state=F.OPEN
                )
        except DomainError as exc:
            result.skipped.append((pk, exc.message))
            continue
        result.confirmed.append(pk)
    audit_record(
        acting_user=acting_user,
        action="finding.confirm_bulk",
        object_type="verification.finding",
        changes={"confirmed": [None, len(result.confirmed)], "skipped": [None, len(result.skipped)]},
        detail=note.strip(),
    )
    return result
