"""Writes of the data comparison: import a list, run a comparison, decide candidates, handle findings.

Each service is atomic, attributed to ``acting_user``, scoped through ``accounts.access`` and audited.

Findings move open → confirmed | dismissed (``FINDING_MOVES``). Confirming suspends or stops the enrolment
from the effective month through ``benefits.services.enrolments.enrolment_change`` (so the next payroll
leaves the person out and pays no arrears for those months), records the overpayment to recover, and
brings the registry up to date where the finding says it is behind (death, move, certificate
cancellation). A confirmed candidate match produces its findings on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from canlian.accounts import access
from canlian.benefits.models import Enrolment, PayrollLine
from canlian.benefits.services.enrolments import enrolment_change
from canlian.common import staged_import
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.jobs import Progress, noop_progress
from canlian.registry.models import Certificate, Person
from canlian.registry.services import certificate_set_status, person_set_status

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
FINDING_MOVES = {(F.OPEN, F.CONFIRMED): "确认", (F.OPEN, F.DISMISSED): "排除"}


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


def verification_run(
    *, acting_user, month: date | None = None, all_lists: bool = False, progress: Progress = noop_progress
) -> VerificationRun:
    """Match the rows of the lists not yet processed (or all), then build findings from exact and confirmed
    matches not yet used, plus the registry's own checks, for ``month`` (default: this month)."""
    if not access.can_run_verification(acting_user):
        raise PermissionDenied("只有区残联业务科室可以运行数据比对")
    month = (month or engine.this_month()).replace(day=1)
    progress(0, 4, "准备")
    with transaction.atomic():
        run = VerificationRun.objects.create(started_by=acting_user, month=month)
        lists = OutsideList.objects.select_for_update()
        if not all_lists:
            lists = lists.filter(processed_at__isnull=True)
        list_ids = sorted(lists.values_list("pk", flat=True))
        unmatched = OutsideRow.objects.filter(outside_list_id__in=list_ids, matches__isnull=True)
        progress(1, 4, "比对名单")
        matched = engine.match_rows(rows=engine.rows_frame(unmatched), run=run)
        progress(2, 4, "生成疑点")
        acting_q = Q(applied=False) | Q(row__outside_list_id__in=list_ids)
        found, acting = engine.compute_findings(month=month, acting_q=acting_q, complete_list_ids=list_ids)
        created = engine.findings_write(run=run, found=found, acting=acting, acting_user=acting_user)
        progress(3, 4, "汇总")
        used = acting["match_id"].to_list()
        for chunk in engine._chunks(used):
            Match.objects.filter(pk__in=chunk, applied=False).update(applied=True)
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
                "month": [None, f"{month:%Y-%m}"],
                "lists": [None, len(list_ids)],
                "findings": [None, len(created)],
                "candidates": [None, candidates],
            },
        )
    progress(4, 4, "完成")
    return run


# ---- candidate matches ---------------------------------------------------------------------------------


def _decidable_match(acting_user, match: Match) -> Match:
    try:
        return access.matches_decidable(acting_user).select_for_update().get(pk=match.pk)
    except Match.DoesNotExist:
        raise PermissionDenied("未找到该候选匹配，或您无权处理") from None


@transaction.atomic
def match_confirm(*, acting_user, match: Match) -> Match:
    """The list row is this person: the match acts from now on (its findings come with the next run)."""
    m = _decidable_match(acting_user, match)
    if m.status != Match.Status.PENDING:
        raise DomainError(f"该匹配已处理（{m.get_status_display()}）")
    if Match.objects.filter(row_id=m.row_id, status__in=[Match.Status.AUTO, Match.Status.CONFIRMED]).exists():
        raise DomainError("该名单行已匹配到其他人员")
    m.status, m.decided_by, m.decided_at, m.applied = (
        Match.Status.CONFIRMED,
        acting_user,
        timezone.now(),
        False,
    )
    m.save(update_fields=["status", "decided_by", "decided_at", "applied"])
    Match.objects.filter(row_id=m.row_id, status=Match.Status.PENDING).exclude(pk=m.pk).update(
        status=Match.Status.REJECTED, decided_by=acting_user, decided_at=m.decided_at
    )
    audit_record(
        acting_user=acting_user,
        action="match.confirm",
        obj=m.person,
        changes={"match": [None, m.pk], "row": [None, m.row_id], "status": ["pending", "confirmed"]},
    )
    return m


@transaction.atomic
def match_reject(*, acting_user, match: Match, reason: str = "") -> Match:
    m = _decidable_match(acting_user, match)
    if m.status != Match.Status.PENDING:
        raise DomainError(f"该匹配已处理（{m.get_status_display()}）")
    m.status, m.decided_by, m.decided_at = Match.Status.REJECTED, acting_user, timezone.now()
    m.save(update_fields=["status", "decided_by", "decided_at"])
    audit_record(
        acting_user=acting_user,
        action="match.reject",
        obj=m.person,
        changes={"match": [None, m.pk], "row": [None, m.row_id], "status": ["pending", "rejected"]},
        detail=reason.strip(),
    )
    return m


# ---- findings ------------------------------------------------------------------------------------------


def _handleable(acting_user, finding: Finding) -> Finding:
    try:
        return (
            access.findings_handleable(acting_user)
            .select_for_update(of=("self",))
            .select_related("person", "enrolment", "enrolment__programme", "row")
            .get(pk=finding.pk)
        )
    except Finding.DoesNotExist:
        raise PermissionDenied("未找到该疑点，或您无权处理") from None


def overpayment_fen(enrolment_id: int | None, effective_month: date | None) -> int:
    """Paid (and not failed) for ``effective_month`` and after."""
    if enrolment_id is None or effective_month is None:
        return 0
    total = (
        PayrollLine.objects.filter(enrolment_id=enrolment_id, for_month__gte=effective_month)
        .exclude(status=PayrollLine.Status.FAILED)
        .aggregate(s=Sum("amount_fen"))["s"]
    )
    return int(total or 0)


def _bring_registry_up_to_date(acting_user, f: Finding) -> list[str]:
    done = []
    person = Person.objects.get(pk=f.person_id)
    event = f.row.event_date if f.row_id and f.row else None
    if f.kind == FindingKind.DECEASED and person.status != Person.Status.DECEASED and event:
        person_set_status(
            acting_user=acting_user, person=person, status=Person.Status.DECEASED, death_date=event
        )
        done.append("person_deceased")
    elif f.kind == FindingKind.MOVED_OUT and person.status == Person.Status.ACTIVE and f.row_id:
        # the list's date of the move, so the months before it are still paid (back pay)
        person_set_status(
            acting_user=acting_user, person=person, status=Person.Status.MOVED_OUT, moved_out_on=event
        )
        done.append("person_moved_out")
    elif f.kind == FindingKind.CERT_CANCELLED and event:
        cert = Certificate.objects.filter(person=person, is_current=True).first()
        if cert and cert.status != Certificate.Status.CANCELLED:
            certificate_set_status(
                acting_user=acting_user,
                certificate=cert,
                status=Certificate.Status.CANCELLED,
                on=event,
                reason=f"数据比对疑点#{f.pk}：上级系统注销名单",
            )
            done.append("certificate_cancelled")
    return done


@transaction.atomic
def finding_confirm(
    *,
    acting_user,
    finding: Finding,
    action: str = "stop",
    effective_month: date | None = None,
    note: str = "",
) -> Finding:
    """Confirm: suspend or stop the enrolment from ``effective_month`` (default: the finding's), record the
    overpayment for that month and after, and update the registry where it is behind."""
    f = _handleable(acting_user, finding)
    if f.status != F.OPEN:
        raise DomainError(f"该疑点已处理（{f.get_status_display()}）")
    if f.enrolment_id and action not in Finding.Action.values:
        raise ValidationFailed({"action": "请选择处理方式：暂停或终止"})
    month = effective_month.replace(day=1) if effective_month else f.effective_month
    enrolment_done = ""
    if f.enrolment_id:
        e = Enrolment.objects.select_for_update().get(pk=f.enrolment_id)
        if month is None:
            raise ValidationFailed({"effective_month": "请填写停发起始月份"})
        if effective_month is None and month < e.start_month:
            month = e.start_month
        if month < e.start_month:
            raise ValidationFailed(
                {"effective_month": f"停发起始月份不能早于待遇起始月份 {e.start_month:%Y-%m}"}
            )
        label = f.get_kind_display()
        reason = f"数据比对疑点#{f.pk}：{label}" + (f"；{note.strip()}" if note.strip() else "")
        wanted = action
        if e.status == Enrolment.Status.ACTIVE or (
            e.status == Enrolment.Status.SUSPENDED and wanted == Finding.Action.STOP
        ):
            enrolment_change(
                acting_user=acting_user, enrolment=e, kind=wanted, effective_month=month, reason=reason
            )
            enrolment_done = wanted
    registry_done = _bring_registry_up_to_date(acting_user, f)
    old_over = f.overpayment_fen
    f.overpayment_fen = overpayment_fen(f.enrolment_id, month)
    f.status = F.CONFIRMED
    f.action = action if f.enrolment_id else ""
    f.effective_month = month
    f.note = note.strip()
    f.handled_by, f.handled_at = acting_user, timezone.now()
    f.save(
        update_fields=[
            "status",
            "action",
            "effective_month",
            "note",
            "overpayment_fen",
            "handled_by",
            "handled_at",
        ]
    )
    audit_record(
        acting_user=acting_user,
        action="finding.confirm",
        obj=f.person,
        changes={
            "finding": [f.pk, f.pk],
            "kind": [None, f.kind],
            "status": ["open", "confirmed"],
            "action": [None, f.action],
            "effective_month": [None, f"{month:%Y-%m}" if month else None],
            "overpayment_fen": [old_over, f.overpayment_fen],
            "enrolment_change": [None, enrolment_done],
            "registry": [None, registry_done],
        },
        detail=f.note,
    )
    return f


@transaction.atomic
def finding_dismiss(*, acting_user, finding: Finding, reason: str) -> Finding:
    f = _handleable(acting_user, finding)
    if f.status != F.OPEN:
        raise DomainError(f"该疑点已处理（{f.get_status_display()}）")
    if not (reason or "").strip():
        raise ValidationFailed({"reason": "请填写排除理由"})
    f.status, f.dismiss_reason = F.DISMISSED, reason.strip()
    f.handled_by, f.handled_at = acting_user, timezone.now()
    f.save(update_fields=["status", "dismiss_reason", "handled_by", "handled_at"])
    audit_record(
        acting_user=acting_user,
        action="finding.dismiss",
        obj=f.person,
        changes={"finding": [f.pk, f.pk], "kind": [None, f.kind], "status": ["open", "dismissed"]},
        detail=f.dismiss_reason,
    )
    return f


@dataclass
class BulkResult:
    confirmed: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (finding id, Chinese reason)


@transaction.atomic
def findings_confirm_bulk(
    *, acting_user, finding_ids: list[int], action: str = "stop", note: str = ""
) -> BulkResult:
    """Confirm many findings from exact matches (or the registry itself), each from its own effective month.

    Each is confirmed in its own savepoint: one that cannot be (out of scope, already handled, from a
    fuzzy match) is skipped with the reason; the others go through."""
    if action not in Finding.Action.values:
        raise ValidationFailed({"action": "请选择处理方式：暂停或终止"})
    result = BulkResult()
    visible = {f.pk: f for f in access.findings_handleable(acting_user).filter(pk__in=finding_ids)}
    for pk in sorted(set(finding_ids)):
        f = visible.get(pk)
        if f is None:
            result.skipped.append((pk, "未找到该疑点，或您无权处理"))
            continue
        if not f.is_exact:
            result.skipped.append((pk, "模糊匹配产生的疑点须逐条核实确认"))
            continue
        if f.status != F.OPEN:
            result.skipped.append((pk, f"已处理（{f.get_status_display()}）"))
            continue
        try:
            with transaction.atomic():
                finding_confirm(acting_user=acting_user, finding=f, action=action, note=note)
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
