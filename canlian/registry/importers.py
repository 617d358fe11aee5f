"""Person import: read → validate every row → report → write the valid rows set-based → audit.

The same code serves the web page (through ``registry.tasks``) and the command line
(``canlian import persons FILE``):

* ``persons_stage`` reads the file (``common.spreadsheet``), maps its columns to the field keys of
  ``validation.FIELD_LABELS``, validates every row with ``validation.validate_person_record`` (the one set of
  field rules), reports a person repeated within the file on the later row, confines town staff to their own
  town, looks up the persons already registered by blind index, one query per slice of 2,500 rows (none per
  row), and classifies each row as created, updated, unchanged or rejected, with the changes an update
  would make. Nothing is written. This is the preview (web) and ``--dry-run`` (CLI).
* ``persons_import`` does the same and writes in the same pass, in ONE transaction: slice k is written while
  worker processes validate slice k+1 (big files). Used by the CLI and by the web commit, which passes the
  fingerprint of the preview the user confirmed and writes nothing if the result would now differ.
* ``persons_commit`` writes an earlier ``persons_stage`` result in one transaction, after re-checking that
  nothing it relies on changed since.
* On SQLite (``common.bulk.sliced_writes``) both commit in slices of ``SLICE_ROWS`` rows, one short
  transaction each, so the web keeps answering during a long import; an import stopped midway keeps the
  slices written, says so, and is finished by importing the same file again (``persons_commit_sliced``).
* Writes are set-based (``common.bulk``: ``executemany`` on SQLite, ``COPY`` on PostgreSQL, where the workers
  format the created rows; ``bulk_update`` for updates), with one audit row per person created or updated
  and one for the import (``import.commit``).
* ``report_write`` writes the original rows with a 处理结果 and a 错误说明 column, the cells in error
  flagged and annotated, and sheets listing every error and every change.

Row numbers are those Excel shows (the header is row 1 in the template).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Prefetch
from django.utils import timezone

from canlian.accounts import access
from canlian.common import spreadsheet, staged_import
from canlian.common.audit import AuditCopy, AuditTail, audit_record, audit_record_many
from canlian.common.auditchain import appends_held
from canlian.common.bulk import (
    CopyRows,
    JSONText,
    copy_text,
    insert_rows,
    reserve_pks,
    sliced_writes,
    write_cache,
)
from canlian.common.crypto import encrypt
from canlian.common.exceptions import DomainError, PermissionDenied
from canlian.common.jobs import Progress, noop_progress
from canlian.common.masking import mask_id_number, mask_phone
from canlian.common.staged_import import (
    CREATED,
    REJECTED,
    UNCHANGED,
    UPDATED,
    ReportLayout,
    StagedImport,
)

from . import circumstances, services
from .models import (
    Certificate,
    CircumstanceKind,
    EconomicStatus,
    EconomicStatusPeriod,
    EmploymentPeriod,
    EmploymentStatus,
    HouseholdType,
    Person,
    PersonCircumstance,
    Region,
)
from .validation import FIELD_LABELS, PersonRecord, RegionLookup, parse_date, validate_person_record

BATCH_SIZE = 2000
PARALLEL_MIN_ROWS = 20_000
PARALLEL_CHUNK = 2_500
SUMMARY_LIMIT = 200
# Progress phases (``progress(done, total, message)``). Inside the import transaction the Job row's
# progress is not visible to other connections, so pages show PHASE_IMPORT as an indeterminate bar
# (PostgreSQL; on SQLite the sliced commit reports PHASE_COMMIT after each committed slice).
PHASE_READ, PHASE_STAGE, PHASE_IMPORT, PHASE_COMMIT = "正在读取文件", "正在校验", "正在校验并写入", "正在写入"

# Column names accepted for each field; the first is the one the template uses.
PERSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "残疾人姓名", "名字", "持证人姓名"),
    "id_number": ("身份证号", "身份证号码", "证件号码", "证件号", "公民身份号码", "身份证", "居民身份证号"),
    "certificate_number": ("残疾人证号", "残疾证号", "残疾人证号码", "残疾证号码", "残疾人证", "持证号"),
    "issue_date": ("发证日期", "发证时间", "办证日期", "领证日期", "持证日期"),
    "town": ("镇(街道)", "街道(镇)", "镇", "街道", "乡镇", "乡镇(街道)", "所属镇(街道)", "镇街", "所属街道"),
    "community": ("村(社区)", "社区(村)", "村", "社区", "村居", "村(居)", "所属村(社区)", "所属社区"),
    "household_type": ("户口性质", "户籍性质", "户口类型", "户籍类型", "户口类别"),
    "economic_status": ("家庭经济状况", "经济状况", "家庭经济情况", "困难类型", "困难类别"),
    "phone": ("联系电话", "电话", "手机", "手机号", "手机号码", "联系方式", "电话号码"),
    "category": ("残疾类别", "残疾类型", "类别"),
    "grade": ("残疾等级", "等级", "残疾级别"),
    "employment_status": ("就业状况", "就业情况", "就业状态"),
    "address": ("住址", "家庭住址", "居住地址", "地址", "现住址"),
    "guardian_name": ("监护人姓名", "监护人"),
    "guardian_relation": ("与监护人关系", "监护关系"),
    "guardian_phone": ("监护人电话", "监护人联系电话", "监护人手机"),
    # the person's circumstances, dated (``circumstances.FACT_COLUMNS``): optional columns
    **circumstances.IMPORT_COLUMNS,
}
REQUIRED_COLUMNS = ("name", "id_number", "certificate_number", "issue_date", "town", "household_type")
TEMPLATE_COLUMNS = (
    "name",
    "id_number",
    "certificate_number",
    "issue_date",
    "town",
    "community",
    "household_type",
    "economic_status",
    "phone",
    "category",
    "grade",
    "employment_status",
    *circumstances.FACT_COLUMNS,
)
TEXT_KEYS = ("id_number", "certificate_number", "phone", "guardian_phone")
# The example row of the template: refused on import so that it never becomes a person by accident.
TEMPLATE_EXAMPLE = {
    "name": "张三",
    "id_number": "11010519491231002X",
    "certificate_number": "11010519491231002X42",
    "issue_date": "2019-05-06",
    "town": "甪直镇",
    "community": "保圣社区",  # a real community (保圣社区居委会), in the short form
    "household_type": "城镇",
    "economic_status": "低保",
    "phone": "13812345678",
    "category": "肢体",
    "grade": "二级",
    "employment_status": "未就业",
    "no_fixed_income": "否",
    "multiple_in_household": "否",
    "injury_care": "否",
    "orphan_allowance": "否",
    "elderly_care": "",
    "moved_out": "",
}


class ImportConflict(DomainError):
    """The database changed between staging and commit; nothing was written."""


# ---- staging -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class RowResult:
    row: int  # Excel row number
    cells: list[Any]
    record: PersonRecord
    errors: dict[str, str]
    outcome: str = REJECTED
    person: Person | None = None  # the registered person a row matches
    changes: dict[str, tuple] = field(default_factory=dict)  # field → (old, new), for updates
    id_index: str = ""  # blind index of the ID number (valid rows)
    cert_index: str = ""  # blind index of the certificate number (valid rows)
    sealed: dict[str, str] | None = None  # SEALED_FIELDS → encrypted value (valid rows)
    created_audit: tuple[str, JSONText] | None = None  # audit (object_repr, changes) if created
    copy_tails: tuple[str, str, AuditTail] | None = None  # PostgreSQL: person, certificate, audit COPY lines
    pinyin: tuple[str, str] = ("", "")
    new_cert: bool = False  # the certificate number is to be inserted (new person or changed number)
    fact_ops: list = field(default_factory=list)  # circumstances.FactOp: periods to open or end


@dataclass
class Staged(StagedImport):
    """Every row of a file, validated and classified; after a commit, also what was written. Counts, errors,
    the JSON contract and the report come from ``common.staged_import``."""

    layout = ReportLayout(sheet="导入结果", outcome="处理结果", errors="错误说明", text_keys=TEXT_KEYS)

    table: spreadsheet.Table
    filename: str
    today: date
    allow_new_communities: bool
    region_names: dict[int, str]
    rows: list[RowResult] = field(default_factory=list)
    fingerprint: str = ""  # digest of what a commit would do (outcomes, errors, masked changes)
    committed: bool = False
    communities_created: int = 0

    @property
    def to_write(self) -> int:
        return sum(1 for r in self.rows if r.outcome in (CREATED, UPDATED))

    def label_of(self, key: str) -> str:
        return FIELD_LABELS.get(key, key)

    def report_sheets(self, book: spreadsheet.XlsxBook) -> None:
        changes = book.add_sheet(
            "变更明细", ["行号", "姓名", "身份证号", "项目", "原值", "新值"], widths=[8, 10, 22, 14, 30, 30]
        )
        for preview in self.change_previews():
            for label, (old, new) in preview["changes"].items():
                changes.append([preview["row"], preview["name"], preview["id"], label, old, new])

    def change_previews(self) -> Iterator[dict]:
        for r in self.rows:
            if r.outcome == UPDATED:
                changes = display_changes(r.changes, self.region_names)
                if r.record.community_name and "community_id" in r.changes:
                    changes[FIELD_LABELS["community"]][1] = f"{r.record.community_name}（新建）"
                yield {"row": r.row, "name": r.person.name, "id": r.person.masked_id, "changes": changes}

    def new_communities(self) -> list[str]:
        names = {
            (r.record.town_id, r.record.community_name)
            for r in self.rows
            if r.outcome in (CREATED, UPDATED) and r.record.community_name
        }
        return sorted(f"{self.region_names.get(t, '')}/{n}" for t, n in names)

    def summary(self, *, limit: int = SUMMARY_LIMIT) -> dict:
        errors = list(self.errors())
        previews = list(self.change_previews())
        return {
            **self.counts,
            "filename": self.filename,
            "sheet": self.table.sheet,
            "header_row": self.table.header_row,
            "errors": errors[:limit],
            "errors_total": len(errors),
            "changes": previews[:limit],
            "changes_total": len(previews),
            "new_communities": self.new_communities(),
            "fingerprint": self.fingerprint,
            "committed": self.committed,
            "communities_created": self.communities_created,
        }


def _region_names() -> dict[int, str]:
    return dict(Region.objects.values_list("pk", "name"))


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class _Context:
    """What validating a row needs besides the row: no database access, so it can run in a worker."""

    columns: tuple[tuple[str, int], ...]
    regions: RegionLookup
    today: date
    allow_new_communities: bool
    has_economic: bool
    has_facts: bool = False  # the file has circumstance columns (``circumstances.FACT_COLUMNS``)
    created_by_id: int | None = None
    copy: _CopyFormats | None = None  # PostgreSQL: the created rows formatted for COPY by the workers


@dataclass(frozen=True)
class _CopyFormats:
    """How the rows of a created person are formatted for COPY (PostgreSQL), in the worker processes: the
    writing process then only adds the ids it assigns and streams the lines (about 2 s less on the writing
    process's path at 100,000 rows than converting and formatting them there)."""

    now: Any
    person: CopyRows  # leading: id, community_id (a community may be created while writing)
    certificate: CopyRows  # leading: person_id
    audit: AuditCopy  # leading: object_id

    @classmethod
    def for_import(cls, *, acting_user, now) -> _CopyFormats | None:
        if connection.vendor != "postgresql":
            return None
        return cls(
            now=now,
            person=CopyRows(Person, lead=("id", "community_id"), now=now),
            certificate=CopyRows(Certificate, lead=("person_id",), now=now),
            audit=AuditCopy(acting_user=acting_user, action="person.import_create", now=now),
        )


SEALED_FIELDS = ("id_number", "certificate_number", "phone", "guardian_phone")


def _prepare(rows: list[tuple[int, list]], ctx: _Context) -> list[tuple]:
    """Validate rows and compute what the commit needs per valid row: blind indexes, pinyin, the encrypted
    values and the audit entry of a created person. Pure CPU, so that worker processes do it and the
    process that writes only writes."""
    out = []
    for _row_number, cells in rows:
        raw = {key: cells[index] for key, index in ctx.columns}
        record, errors = validate_person_record(
            raw, regions=ctx.regions, today=ctx.today, allow_new_community=ctx.allow_new_communities
        )
        if not ctx.has_economic:
            record.economic_status = ""  # no such column: leave the status as it is
        if ctx.has_facts:
            record.facts, fact_errors = circumstances.parse_facts(raw, today=ctx.today, parse_date=parse_date)
            errors.update(fact_errors)
        if errors:
            out.append((record, errors, "", "", ("", ""), None, None, None))
            continue
        id_index = services.id_index(record.id_number)
        cert_index = services.certificate_index(record.certificate_number)
        pinyin = services.name_pinyin(record.name)
        copy = ctx.copy
        if copy is not None:  # PostgreSQL: the lines of a created person (encrypted as they are formatted)
            object_repr, changes = _created_audit(record)
            tails = (
                copy.person.tail(_person_values(record, id_index, pinyin, ctx.created_by_id)),
                copy.certificate.tail(_certificate_values(record, cert_index)),
                copy.audit.tail(object_type="registry.person", object_repr=object_repr, changes=changes),
            )
            out.append((record, errors, id_index, cert_index, pinyin, None, None, tails))
            continue
        sealed = {key: encrypt(getattr(record, key)) for key in SEALED_FIELDS if getattr(record, key)}
        out.append((record, errors, id_index, cert_index, pinyin, sealed, _created_audit(record), None))
    return out


def _person_values(record: PersonRecord, id_index: str, pinyin: tuple[str, str], created_by_id) -> dict:
    """A created person's columns (attname → value), all but ``id`` and ``community_id``."""
    return {
        "name": record.name,
        "name_pinyin": pinyin[0],
        "name_initials": pinyin[1],
        "id_number": record.id_number,
        "id_number_index": id_index,
        "sex": record.sex,
        "birth_date": record.birth_date,
        "phone": record.phone,
        "town_id": record.town_id,
        "address": record.address,
        "household_type": record.household_type,
        "employment_status": record.employment_status,
        "guardian_name": record.guardian_name,
        "guardian_relation": record.guardian_relation,
        "guardian_phone": record.guardian_phone,
        "created_by_id": created_by_id,
    }


def _certificate_values(record: PersonRecord, cert_index: str) -> dict:
    """A created person's current certificate (attname → value), all but ``person_id``."""
    return {
        "number": record.certificate_number,
        "number_index": cert_index,
        "category": record.category,
        "grade": record.grade,
        "issue_date": record.issue_date,
        "valid_until": services.valid_until_for(record.issue_date),
        "reissue_count": record.reissue,
        "is_current": True,
    }


def _created_audit(record: PersonRecord) -> tuple[str, JSONText]:
    """``(object_repr, changes)`` of the audit row for a person created from ``record``: what
    ``services.masked_changes`` gives for (None, value) pairs, built directly."""
    masked_id = mask_id_number(record.id_number)
    changes = {
        "name": [None, record.name],
        "id_number": [None, masked_id],
        "town_id": [None, record.town_id],
        "household_type": [None, record.household_type],
        "phone": [None, mask_phone(record.phone) if record.phone else record.phone],
        "certificate_number": [None, mask_id_number(record.certificate_number)],
    }
    return f"{record.name}（{masked_id}）", JSONText(json.dumps(changes))


# Set in the parent just before forking the validation workers, which read it (copy-on-write).
_FORKED: tuple[list, _Context] | None = None


def _prepare_slice(bounds: tuple[int, int]) -> list[tuple]:
    rows, ctx = _FORKED
    return _prepare(rows[bounds[0] : bounds[1]], ctx)


def import_workers(rows: int) -> int:
    """Validation runs in forked worker processes for big files (one per core, at most 4; the environment
    variable CANLIAN_IMPORT_WORKERS=1 turns this off). Fork only: the workers inherit the rows and the
    settings instead of having them pickled; never from a process that runs other threads."""
    if rows < PARALLEL_MIN_ROWS or threading.active_count() > 1:
        return 1
    if not sys.platform.startswith("linux"):  # fork is only safe to rely on there
        return 1
    wanted = os.environ.get("CANLIAN_IMPORT_WORKERS", "")
    workers = int(wanted) if wanted.isdigit() else min(os.cpu_count() or 1, 4)
    return max(1, workers)


@contextmanager
def _prepared_chunks(rows: list[tuple[int, list]], ctx: _Context) -> Iterator[Iterator[tuple]]:
    """``(start, end, prepared)`` for consecutive slices of the rows, in order. For big files the slices are
    prepared by worker processes while the caller handles the earlier ones; the workers are forked on entry
    (before the caller opens a transaction) and always stopped on exit."""
    global _FORKED
    total = len(rows)
    bounds = [(start, min(start + PARALLEL_CHUNK, total)) for start in range(0, total, PARALLEL_CHUNK)]
    workers = import_workers(total)
    if workers == 1:
        yield ((start, end, _prepare(rows[start:end], ctx)) for start, end in bounds)
        return
    _FORKED = (rows, ctx)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.imap(_prepare_slice, bounds)
            yield ((start, end, part) for (start, end), part in zip(bounds, parts, strict=True))
    finally:
        _FORKED = None


def _row_digest(r: RowResult) -> bytes:
    """What a commit would do with this row (masked), for the fingerprint. Plain for the common cases."""
    if not r.errors and not r.changes:
        return f"{r.row}\x1f{r.outcome}\n".encode()
    changes = services.masked_changes(r.changes) if r.changes else {}
    return json.dumps([r.row, r.outcome, sorted(r.errors.items()), changes], default=str).encode() + b"\n"


class _Classifier:
    """Turns prepared slices into classified rows: file-level rules (template example, town scope, a person
    repeated in the file), then the registry lookups of ``_classify``; keeps the running fingerprint."""

    def __init__(self, *, scope, region_names: dict[int, str], today: date, lock: bool):
        self.scope, self.region_names, self.today, self.lock = scope, region_names, today, lock
        self.first_row_of: dict[str, int] = {}
        self.digest = hashlib.sha256()

    def __call__(self, items: list[tuple[int, list]], prepared: list[tuple]) -> list[RowResult]:
        scope, rows = self.scope, []
        for (row_number, cells), (
            record,
            errors,
            id_index,
            cert_index,
            pinyin,
            sealed,
            created_audit,
            copy_tails,
        ) in zip(items, prepared, strict=True):
            if record.id_number == TEMPLATE_EXAMPLE["id_number"] and record.name == TEMPLATE_EXAMPLE["name"]:
                errors.clear()
                errors["id_number"] = "这是导入模板中的示例行，请删除后再导入"
            if scope is not None and record.town_id is not None and record.town_id != scope.pk:
                errors["town"] = (
                    f"您只能导入本镇(街道)（{scope.name}）的人员，该行属于“{self.region_names[record.town_id]}”"
                )
            if record.id_number and "id_number" not in errors:
                first = self.first_row_of.setdefault(record.id_number, row_number)
                if first != row_number:
                    errors["id_number"] = f"与第{first}行的身份证号重复（同一人在文件中出现多次）"
            rows.append(
                RowResult(
                    row_number,
                    cells,
                    record,
                    errors,
                    id_index=id_index,
                    cert_index=cert_index,
                    pinyin=pinyin,
                    sealed=sealed,
                    created_audit=created_audit,
                    copy_tails=copy_tails,
                )
            )
        _classify(rows, today=self.today, scope=scope, region_names=self.region_names, lock=self.lock)
        for r in rows:
            self.digest.update(_row_digest(r))
        return rows

    @property
    def fingerprint(self) -> str:
        return self.digest.hexdigest()


def _begin(
    source, *, acting_user, filename: str, allow_new_communities: bool, today: date | None, lock: bool
) -> tuple[Staged, _Context, _Classifier]:
    if not access.can_import(acting_user):
        raise PermissionDenied("您无权批量导入残疾人信息")
    today = today or timezone.localdate()
    filename = filename or (Path(source).name if not isinstance(source, bytes) else "")
    table = staged_import.read_table(
        source,
        aliases=PERSON_COLUMNS,
        required={k: FIELD_LABELS[k] for k in REQUIRED_COLUMNS},
        filename=filename,
    )
    region_names = _region_names()
    ctx = _Context(
        columns=tuple(table.columns.items()),
        regions=RegionLookup.load(),
        today=today,
        allow_new_communities=allow_new_communities,
        has_economic="economic_status" in table.columns,
        has_facts=any(k in table.columns for k in circumstances.IMPORT_COLUMNS),
        created_by_id=acting_user.pk,
        # only an import that writes (``lock``) has the workers format the rows for COPY
        copy=_CopyFormats.for_import(acting_user=acting_user, now=timezone.now()) if lock else None,
    )
    staged = Staged(table, filename, today, allow_new_communities, region_names)
    classify = _Classifier(
        scope=access.town_scope(acting_user), region_names=region_names, today=today, lock=lock
    )
    return staged, ctx, classify


def persons_stage(
    source: str | Path | bytes,
    *,
    acting_user,
    filename: str = "",
    allow_new_communities: bool = False,
    today: date | None = None,
    progress: Progress = noop_progress,
) -> Staged:
    """Read and validate every row and classify it; write nothing.

    Raises SpreadsheetError for a file that cannot be used and PermissionDenied for a user who may not
    import."""
    progress(0, 0, PHASE_READ)
    staged, ctx, classify = _begin(
        source,
        acting_user=acting_user,
        filename=filename,
        allow_new_communities=allow_new_communities,
        today=today,
        lock=False,
    )
    rows, total = staged.table.rows, len(staged.table.rows)
    progress(0, total, PHASE_STAGE)
    with _prepared_chunks(rows, ctx) as chunks:
        for start, end, prepared in chunks:
            staged.rows += classify(rows[start:end], prepared)
            progress(end, total, PHASE_STAGE)
    staged.fingerprint = classify.fingerprint
    return staged


def write_slice_rows() -> int:
    """Rows classified before they are written. SQLite writes in this process, so small slices keep the
    validation workers busy meanwhile. PostgreSQL inserts in its own process while this one converts the
    rows it streams into a COPY, and each COPY ends with a wait for the server, so fewer, bigger COPYs pay
    off. Measured at 100,000 rows (bench/import_persons.py, docs/benchmarks.md): PostgreSQL 2,500 rows →
    15.4–16.1 s, 5,000 → 14.0–14.7 s, 10,000 → 13.5–13.7 s, 20,000 → 14.7–15.6 s; SQLite 2,500 → 11.9–12.2 s,
    10,000 → 12.3–12.6 s."""
    return 10_000 if connection.vendor == "postgresql" else PARALLEL_CHUNK


class _PreviewChanged(Exception):
    """Raised inside the import transaction to roll it back when the result differs from the preview."""


def persons_import(
    source: str | Path | bytes,
    *,
    acting_user,
    filename: str = "",
    allow_new_communities: bool = False,
    expect_fingerprint: str | None = None,
    job_id: str = "",
    today: date | None = None,
    progress: Progress = noop_progress,
) -> Staged:
    """Validate and write in one pass and ONE transaction: each slice of rows is written while the next is
    being validated. Registered persons are read under ``select_for_update`` in the same transaction, so
    what is written is what was checked.

    With ``expect_fingerprint`` (the preview the user confirmed), nothing is written when the rows would
    now be written differently (``staged.committed`` stays False; the result is the new preview).
    Raises ImportConflict, with nothing written, when a unique ID or certificate number is taken
    concurrently.

    On SQLite (``common.bulk.sliced_writes``) the rows are committed in short slices instead: see
    ``persons_import_sliced``."""
    if sliced_writes():
        return persons_import_sliced(
            source,
            acting_user=acting_user,
            filename=filename,
            allow_new_communities=allow_new_communities,
            expect_fingerprint=expect_fingerprint,
            job_id=job_id,
            today=today,
            progress=progress,
        )
    progress(0, 0, PHASE_READ)
    staged, ctx, classify = _begin(
        source,
        acting_user=acting_user,
        filename=filename,
        allow_new_communities=allow_new_communities,
        today=today,
        lock=True,
    )
    rows, total = staged.table.rows, len(staged.table.rows)
    writer = _Writer(
        acting_user=acting_user, today=staged.today, region_names=staged.region_names, copy=ctx.copy
    )
    slice_rows = write_slice_rows()
    progress(0, total, PHASE_IMPORT)
    try:
        # audit rows appended at the end of the transaction: the audit chain's lock for moments, not the import
        with _prepared_chunks(rows, ctx) as chunks, write_cache(), transaction.atomic(), appends_held():
            pending: list[RowResult] = []
            for start, end, prepared in chunks:
                part = classify(rows[start:end], prepared)
                staged.rows += part
                pending += part
                if len(pending) >= slice_rows or end == total:
                    writer.write(pending)
                    pending = []
                progress(end, total, PHASE_IMPORT)
            staged.fingerprint = classify.fingerprint
            if expect_fingerprint is not None and staged.fingerprint != expect_fingerprint:
                raise _PreviewChanged
            writer.finish(staged, job_id=job_id)
    except _PreviewChanged:
        return staged
    except IntegrityError:
        raise ImportConflict(_CONFLICT) from None
    staged.committed, staged.communities_created = True, writer.communities_created
    return staged


def _index_lookup(model, column: str, values: list[str], *, select: str = "id") -> dict[str, Any]:
    """``column`` value → ``select`` value for the rows whose ``column`` is in ``values``: one plain query per
    slice (the ORM's per-parameter preparation costs more than the query here). On PostgreSQL the slice is
    one array parameter, unnested in a subquery: 2,500 placeholders cost the driver more than the lookup, and
    ``= ANY(array)`` makes the planner estimate every element (24 → 14 ms per 2,500 keys, measured)."""
    found: dict[str, Any] = {}
    if not values:
        return found
    quote = connection.ops.quote_name
    head = f"SELECT {quote(column)}, {quote(select)} FROM {quote(model._meta.db_table)} WHERE {quote(column)}"
    with connection.cursor() as cursor:
        for chunk in _chunks(values, PARALLEL_CHUNK):
            if connection.vendor == "postgresql":
                cursor.execute(head + " IN (SELECT unnest(%s::varchar[]))", [chunk])
            else:
                cursor.execute(head + f" IN ({', '.join(['%s'] * len(chunk))})", chunk)
            found.update(cursor.fetchall())
    return found


def _existing_persons(indexes: list[str], *, lock: bool, facts: bool = False) -> dict[str, Person]:
    """Registered persons by ID blind index, with their current certificate and economic periods (and their
    circumstances, when the file has such columns: one more query per slice)."""
    present = _index_lookup(Person, "id_number_index", indexes)
    if not present:
        return {}
    qs = Person.objects.filter(pk__in=list(present.values())).prefetch_related(
        Prefetch(
            "certificates",
            queryset=Certificate.objects.filter(is_current=True),
            to_attr="_current_certificates",
        ),
        "economic_periods",
        *(["circumstances"] if facts else []),
    )
    if lock:
        qs = qs.select_for_update(of=("self",)).order_by("pk")
    return {person.id_number_index: person for person in qs}


def _existing_certificates(indexes: list[str]) -> dict[str, int]:
    """Certificate number index → holder's person id, for the given indexes."""
    return _index_lookup(Certificate, "number_index", indexes, select="person_id")


def _classify(rows: list[RowResult], *, today: date, scope, region_names: dict[int, str], lock: bool) -> None:
    """Created, updated, unchanged or rejected, against the registry: one lookup per slice, none per row."""
    valid = [r for r in rows if not r.errors]
    facts = any(r.record.facts for r in valid)
    persons = _existing_persons([r.id_index for r in valid], lock=lock, facts=facts) if valid else {}
    for r in valid:
        person = persons.get(r.id_index)
        record = r.record
        if person is None:
            r.outcome, r.new_cert = CREATED, True
            if record.facts:
                r.fact_ops, _changes, fact_errors = circumstances.plan_facts(
                    record.facts, (), today=today, birth_date=record.birth_date
                )
                r.errors.update(fact_errors)
            continue
        r.person = person
        if scope is not None and person.town_id != scope.pk:
            r.errors["town"] = "该身份证号已在其他镇(街道)登记，您无权修改（如需迁入，请联系区残联）"
            continue
        changes = services.person_changes(person, record, on=today)
        if record.community_name and record.community_id is None:
            changes["community_id"] = (person.community_id, None)  # a community created on commit
        if "economic_status" in changes:
            later = [p.valid_from for p in person.economic_periods.all() if p.valid_from >= today]
            if later:
                r.errors["economic_status"] = (
                    f"该人员已有自{max(later).isoformat()}起的家庭经济状况记录，不能再从今天起变更"
                )
                continue
        if record.facts:
            r.fact_ops, fact_changes, fact_errors = circumstances.plan_facts(
                record.facts, person.circumstances.all(), today=today, birth_date=person.birth_date
            )
            if fact_errors:
                r.errors.update(fact_errors)
                continue
            changes |= fact_changes
        r.changes = changes
        r.outcome = UPDATED if changes else UNCHANGED
        r.new_cert = "certificate_number" in changes
    new_certs = [r for r in valid if r.new_cert and not r.errors]
    holders = _existing_certificates([r.cert_index for r in new_certs]) if new_certs else {}
    for r in new_certs:
        holder = holders.get(r.cert_index)
        if holder is None:
            continue
        if r.person is not None and holder == r.person.pk:
            r.errors["certificate_number"] = "该残疾人证号是此人已登记的历史证件，不能再设为当前证件"
        else:
            r.errors["certificate_number"] = "该残疾人证号已登记在另一份档案中"
    for r in rows:
        if r.errors:
            r.outcome, r.changes, r.new_cert, r.fact_ops = REJECTED, {}, False, []


# ---- display -------------------------------------------------------------------------------------------

_CHOICE_LABELS = {
    "household_type": dict(HouseholdType.choices),
    "employment_status": dict(EmploymentStatus.choices),
    "economic_status": dict(EconomicStatus.choices),
}


def display_changes(changes: dict[str, tuple], region_names: dict[int, str]) -> dict[str, list]:
    """Field label → [old, new], masked, with names for places and labels for choices."""
    out: dict[str, list] = {}
    for key, (old, new) in services.masked_changes(changes).items():
        base = key.removesuffix("_id")
        if base in ("town", "community"):
            old, new = region_names.get(old, "") if old else "", region_names.get(new, "") if new else ""
        elif key in _CHOICE_LABELS:
            old, new = _CHOICE_LABELS[key].get(old, old or ""), _CHOICE_LABELS[key].get(new, new or "")
        label = FIELD_LABELS.get(base) or circumstances.FACT_LABELS.get(base, base)
        out[label] = [old if old is not None else "", new if new is not None else ""]
    return out


# ---- commit --------------------------------------------------------------------------------------------

_CONFLICT = (
    "写入时发现重复的身份证号或残疾人证号（可能有他人同时导入或登记），本次导入未写入任何数据，请重新导入"
)


def persons_commit(
    staged: Staged, *, acting_user, job_id: str = "", progress: Progress = noop_progress
) -> Staged:
    """Write the created and updated rows of an earlier ``persons_stage`` in ONE transaction, set-based;
    audit each person and the import. Re-checks first that nothing it relies on changed since staging
    (a person or certificate registered, an updated record modified); if so raises ImportConflict and
    writes nothing. On SQLite (``common.bulk.sliced_writes``) commits in slices: ``persons_commit_sliced``."""
    if not access.can_import(acting_user):
        raise PermissionDenied("您无权批量导入残疾人信息")
    if sliced_writes():
        return persons_commit_sliced(staged, acting_user=acting_user, job_id=job_id, progress=progress)
    creates = [r for r in staged.rows if r.outcome == CREATED]
    updates = [r for r in staged.rows if r.outcome == UPDATED]
    writer = _Writer(acting_user=acting_user, today=staged.today, region_names=staged.region_names)
    total, done = len(staged.rows), 0
    try:
        with write_cache(), transaction.atomic(), appends_held():
            _recheck(creates, updates)
            for part in _chunks(staged.rows, BATCH_SIZE):
                writer.write(part)
                done += len(part)
                progress(done, total, PHASE_COMMIT)
            writer.finish(staged, job_id=job_id)
    except IntegrityError:
        raise ImportConflict(_CONFLICT) from None
    staged.committed, staged.communities_created = True, writer.communities_created
    return staged


def _recheck(creates: list[RowResult], updates: list[RowResult]) -> None:
    by_index = {r.id_index: r for r in creates}
    for chunk in _chunks(list(by_index), PARALLEL_CHUNK):
        taken = Person.objects.filter(id_number_index__in=chunk).values_list("id_number_index", flat=True)
        index = next(iter(taken), None)
        if index is not None:
            raise ImportConflict(
                f"第{by_index[index].row}行的身份证号在校验后已被登记，本次导入未写入任何数据，请重新校验后再导入"
            )
    by_pk = {r.person.pk: r for r in updates}
    for chunk in _chunks(sorted(by_pk), PARALLEL_CHUNK):
        rows = Person.objects.select_for_update().filter(pk__in=chunk).order_by("pk")
        current = dict(rows.values_list("pk", "updated_at"))
        for pk in chunk:
            if current.get(pk) != by_pk[pk].person.updated_at:
                raise ImportConflict(
                    f"第{by_pk[pk].row}行对应的档案在校验后已被修改，本次导入未写入任何数据，请重新校验后再导入"
                )
    cert_rows = {r.cert_index: r for r in [*creates, *updates] if r.new_cert}
    index = next(iter(_existing_certificates(list(cert_rows))), None)
    if index is not None:
        raise ImportConflict(
            f"第{cert_rows[index].row}行的残疾人证号在校验后已被登记，本次导入未写入任何数据，请重新校验后再导入"
        )


# ---- SQLite: commit in slices -------------------------------------------------------------------------

SLICE_ROWS = 500
_NOTHING_WRITTEN = "本次导入未写入任何数据，"

logger = logging.getLogger(__name__)


class ImportInterrupted(DomainError):
    """A sliced import stopped after some slices were committed; re-running the same file resumes it."""


def persons_import_sliced(
    source: str | Path | bytes,
    *,
    acting_user,
    filename: str = "",
    allow_new_communities: bool = False,
    expect_fingerprint: str | None = None,
    job_id: str = "",
    today: date | None = None,
    progress: Progress = noop_progress,
) -> Staged:
    """``persons_import`` for SQLite: validate and classify every row first (``persons_stage``, no write
    lock held), compare with the preview the user confirmed, then ``persons_commit_sliced``."""
    staged = persons_stage(
        source,
        acting_user=acting_user,
        filename=filename,
        allow_new_communities=allow_new_communities,
        today=today,
        progress=progress,
    )
    if expect_fingerprint is not None and staged.fingerprint != expect_fingerprint:
        return staged
    return persons_commit_sliced(staged, acting_user=acting_user, job_id=job_id, progress=progress)


def persons_commit_sliced(
    staged: Staged, *, acting_user, job_id: str = "", progress: Progress = noop_progress
) -> Staged:
    """Write a staged import in transactions of ``SLICE_ROWS`` rows, so SQLite's single write lock is
    never held for more than a fraction of a second and the web keeps answering during a long import.

    Each slice re-checks its own rows first (``_recheck``: no person or certificate registered, no updated
    record modified since staging) and is written whole or not at all. What the user is promised instead
    of one transaction: if a slice cannot be written (a conflict, or the process stops), the slices before
    it stay written, an ``import.interrupted`` audit row says how far it got, and ImportInterrupted says so;
    re-running the same file is idempotent: the rows already written are then "unchanged" and the rest is
    written. A conflict in the first slice writes nothing (ImportConflict, as ``persons_commit``)."""
    if not access.can_import(acting_user):
        raise PermissionDenied("您无权批量导入残疾人信息")
    writer = _Writer(acting_user=acting_user, today=staged.today, region_names=staged.region_names)
    total, done = len(staged.rows), 0
    with write_cache():
        for part in _chunks(staged.rows, SLICE_ROWS):
            try:
                with transaction.atomic():
                    _recheck(
                        [r for r in part if r.outcome == CREATED], [r for r in part if r.outcome == UPDATED]
                    )
                    writer.write(part)
            except ImportConflict as exc:
                _interrupted(staged, writer, part, acting_user=acting_user, job_id=job_id, reason=exc.message)
            except IntegrityError:
                _interrupted(staged, writer, part, acting_user=acting_user, job_id=job_id, reason=_CONFLICT)
            except Exception:
                if not (writer.created or writer.updated):
                    raise
                logger.exception("person import %s: slice from row %s failed", job_id, part[0].row)
                _interrupted(
                    staged,
                    writer,
                    part,
                    acting_user=acting_user,
                    job_id=job_id,
                    reason="写入时发生内部错误（已记录日志）。",
                )
            done += len(part)
            progress(done, total, PHASE_COMMIT)
        with transaction.atomic():
            writer.finish(staged, job_id=job_id)
    staged.committed, staged.communities_created = True, writer.communities_created
    return staged


def _interrupted(
    staged: Staged, writer: _Writer, part: list[RowResult], *, acting_user, job_id, reason
) -> None:
    """Stop a sliced import at ``part``: nothing written yet → ImportConflict; else audit how far it got and
    raise ImportInterrupted saying what is written and how to finish."""
    if not (writer.created or writer.updated):
        raise ImportConflict(reason)
    reason = reason.replace(_NOTHING_WRITTEN, "").rstrip("。，")
    first = part[0].row
    with transaction.atomic():
        audit_record(
            acting_user=acting_user,
            action="import.interrupted",
            object_type="registry.person_import",
            object_id=job_id,
            object_repr=staged.filename[:200],
            changes={
                "created": writer.created,
                "updated": writer.updated,
                "communities_created": writer.communities_created,
                "stopped_at_row": first,
                "reason": reason,
            },
            detail=f"批量导入中途停止：{staged.filename}",
        )
    raise ImportInterrupted(
        f"导入在第{first}行所在的一批停止：{reason}。第{first}行之前的行已写入"
        f"（新增{writer.created}人，更新{writer.updated}人），其余未写入；"
        "处理上述问题后重新导入同一文件即可继续，已写入的行将显示为“无变化”"
    )


class _Writer:
    """Writes classified rows slice by slice inside the caller's transaction."""

    def __init__(
        self, *, acting_user, today: date, region_names: dict[int, str], copy: _CopyFormats | None = None
    ):
        self.acting_user, self.today, self.region_names = acting_user, today, region_names
        self.copy = copy
        self.now = copy.now if copy is not None else timezone.now()
        self.community_ids: dict[tuple[int, str], int] = {}
        self.communities_created = self.created = self.updated = 0

    def write(self, rows: list[RowResult]) -> None:
        creates = [r for r in rows if r.outcome == CREATED]
        updates = [r for r in rows if r.outcome == UPDATED]
        self._communities([*creates, *updates])
        if creates:
            _write_creates(
                creates, acting_user=self.acting_user, today=self.today, now=self.now, copy=self.copy
            )
        if updates:
            _write_updates(updates, acting_user=self.acting_user, today=self.today, now=self.now)
        self.created += len(creates)
        self.updated += len(updates)

    def _communities(self, rows: list[RowResult]) -> None:
        """Create the unknown communities these rows name (allowed at staging), once each, audited."""
        wanted = {(r.record.town_id, r.record.community_name) for r in rows if r.record.community_name}
        for town_id, name in sorted(wanted - set(self.community_ids)):
            region = Region.objects.filter(parent_id=town_id, name=name).first()
            if region is None:
                town = Region.objects.get(pk=town_id)
                region = services.community_create(acting_user=self.acting_user, town=town, name=name)
                self.communities_created += 1
            self.community_ids[(town_id, name)] = region.pk
            self.region_names[region.pk] = region.name
        for r in rows:
            if r.record.community_name:
                r.record.community_id = self.community_ids[(r.record.town_id, r.record.community_name)]

    def finish(self, staged: Staged, *, job_id: str) -> None:
        """One audit row for the import itself, when it wrote anything."""
        if not (self.created or self.updated):
            return
        audit_record(
            acting_user=self.acting_user,
            action="import.commit",
            object_type="registry.person_import",
            object_id=job_id,
            object_repr=staged.filename[:200],
            changes={**staged.counts, "communities_created": self.communities_created},
            detail=f"批量导入残疾人：{staged.filename}",
        )


def _certificate(person_id: int, r: RowResult) -> Certificate:
    record = r.record
    return Certificate(
        person_id=person_id,
        number=record.certificate_number,
        number_index=r.cert_index,
        category=record.category,
        grade=record.grade,
        issue_date=record.issue_date,
        valid_until=services.valid_until_for(record.issue_date),
        reissue_count=record.reissue,
        is_current=True,
    )


def _write_creates(
    rows: list[RowResult], *, acting_user, today: date, now, copy: _CopyFormats | None = None
) -> None:
    """Insert the persons, their certificates, economic periods and audit rows. The sensitive values come
    encrypted from ``_prepare`` (``EncryptedTextField`` passes ciphertext through), the audit entries
    serialised; plain values are encrypted here as on ``save()``. On PostgreSQL the workers formatted the
    rows for COPY already (``_CopyFormats``): only the ids are added here."""
    if copy is not None and all(r.copy_tails is not None for r in rows):
        _copy_creates(rows, acting_user=acting_user, copy=copy, today=today, now=now)
        return
    # sealed: the values a worker encrypted (``EncryptedTextField`` passes ciphertext through)
    persons = [
        {
            **_person_values(r.record, r.id_index, r.pinyin, acting_user.pk),
            "community_id": r.record.community_id,
            **(r.sealed or {}),
        }
        for r in rows
    ]
    reserved = reserve_pks(Person, len(persons))
    if reserved is not None:  # PostgreSQL: the ids are known before the COPY
        for person, pk in zip(persons, reserved, strict=True):
            person["id"] = pk
        insert_rows(Person, persons, now=now, with_pk=True)
        pks = [*reserved]
    else:
        insert_rows(Person, persons, now=now)
        found = _index_lookup(Person, "id_number_index", [r.id_index for r in rows])
        pks = [found[r.id_index] for r in rows]
    insert_rows(
        Certificate,
        [
            {
                **_certificate_values(r.record, r.cert_index),
                "number": (r.sealed or {}).get("certificate_number", r.record.certificate_number),
                "person_id": pk,
            }
            for r, pk in zip(rows, pks, strict=True)
        ],
        now=now,
    )
    insert_rows(EconomicStatusPeriod, _economic_periods(rows, pks, today), now=now)
    _write_facts(rows, pks, acting_user=acting_user, now=now)
    entries = []
    for r, pk in zip(rows, pks, strict=True):
        object_repr, changes = r.created_audit or _created_audit(r.record)
        entries.append(
            {
                "object_type": "registry.person",
                "object_id": pk,
                "object_repr": object_repr,
                "changes": changes,
            }
        )
    audit_record_many(acting_user=acting_user, action="person.import_create", entries=entries)


def _copy_creates(rows: list[RowResult], *, acting_user, copy: _CopyFormats, today: date, now) -> None:
    pks = reserve_pks(Person, len(rows))
    copy.person.write(
        [
            f"{pk}\t{copy_text(r.record.community_id)}\t{r.copy_tails[0]}\n"
            for r, pk in zip(rows, pks, strict=True)
        ]
    )
    copy.certificate.write([f"{pk}\t{r.copy_tails[1]}\n" for r, pk in zip(rows, pks, strict=True)])
    insert_rows(EconomicStatusPeriod, _economic_periods(rows, pks, today), now=now)
    _write_facts(rows, pks, acting_user=acting_user, now=now)
    copy.audit.write([(pk, r.copy_tails[2]) for r, pk in zip(rows, pks, strict=True)])


def _write_facts(rows: list[RowResult], pks: list[int], *, acting_user, now) -> None:
    """The circumstance periods the rows' plans end and open (``circumstances.plan_facts``): one UPDATE per
    end date (nearly always the day before the import), one bulk INSERT; persons whose move out opens are
    marked 迁出. Nothing at all for a file without circumstance columns."""
    ends: dict[date, list[int]] = {}
    opens, moved = [], []
    user_id = getattr(acting_user, "pk", None)
    for r, pk in zip(rows, pks, strict=True):
        for op in r.fact_ops:
            if op.period_id is not None:
                ends.setdefault(op.valid_to, []).append(op.period_id)
                continue
            opens.append(
                {
                    "person_id": pk,
                    "kind": op.kind,
                    "amount": op.amount,
                    "valid_from": op.valid_from,
                    "valid_to": None,
                    "source": "导入",
                    "created_by_id": user_id,
                }
            )
            if op.kind == CircumstanceKind.MOVED_OUT:
                moved.append(pk)
    for valid_to, ids in sorted(ends.items()):  # ended first: one open period per kind
        for chunk in _chunks(ids, PARALLEL_CHUNK):
            PersonCircumstance.objects.filter(pk__in=chunk).update(valid_to=valid_to)
    insert_rows(PersonCircumstance, opens, now=now)
    for chunk in _chunks(moved, PARALLEL_CHUNK):
        Person.objects.filter(pk__in=chunk, status=Person.Status.ACTIVE).update(
            status=Person.Status.MOVED_OUT, updated_at=now
        )


def _write_employment(changes: list[tuple[int, str, str]], *, acting_user, today: date, now) -> None:
    """Employment status changed by the import, dated as ``circumstances.employment_status_change`` does,
    set-based: the open period ends yesterday (a person with none gets the earlier status as a period up to
    yesterday), and the new status opens today."""
    ids = [pk for pk, _old, _new in changes]
    EmploymentPeriod.objects.filter(person_id__in=ids, valid_from=today).delete()  # a same-day correction
    dated = set(EmploymentPeriod.objects.filter(person_id__in=ids).values_list("person_id", flat=True))
    EmploymentPeriod.objects.filter(person_id__in=ids, valid_to__isnull=True).update(
        valid_to=today - timedelta(days=1)
    )
    births = dict(
        Person.objects.filter(pk__in=[pk for pk in ids if pk not in dated]).values_list("pk", "birth_date")
    )
    user_id, rows = acting_user.pk, []
    for pk, old, new in changes:
        if pk in births and old and births[pk] < today:
            rows.append(
                {
                    "person_id": pk,
                    "status": old,
                    "valid_from": births[pk],
                    "valid_to": today - timedelta(days=1),
                    "source": "此前登记的就业状况",
                    "created_by_id": user_id,
                }
            )
        if new:
            rows.append(
                {
                    "person_id": pk,
                    "status": new,
                    "valid_from": today,
                    "valid_to": None,
                    "source": "导入",
                    "created_by_id": user_id,
                }
            )
    insert_rows(EmploymentPeriod, rows, now=now)


def _economic_periods(rows: list[RowResult], pks: list[int], today: date) -> list[dict]:
    """The economic-status period of each created person that has one (other than 无), from today."""
    return [
        {"person_id": pk, "status": r.record.economic_status, "valid_from": today, "source": "导入"}
        for r, pk in zip(rows, pks, strict=True)
        if r.record.economic_status and r.record.economic_status != EconomicStatus.NONE
    ]


def _write_updates(rows: list[RowResult], *, acting_user, today: date, now) -> None:
    for batch in _chunks(rows, BATCH_SIZE):
        persons, fields, audits = [], {"updated_at"}, []
        new_certs, cert_dates, econ_changes, employment_changes = [], [], [], []
        for r in batch:
            person, changes = r.person, dict(r.changes)
            if "community_id" in changes:  # a community created on commit has its id only now
                changes["community_id"] = (person.community_id, r.record.community_id)
            for key in services.PERSON_FIELDS:
                if key in changes:
                    setattr(person, key, changes[key][1])
                    fields.add(key)
            if "name" in changes:
                person.name_pinyin, person.name_initials = r.pinyin
                fields |= {"name_pinyin", "name_initials"}
            person.updated_at = now
            persons.append(person)
            audits.append((person, changes))
            if "certificate_number" in changes:
                new_certs.append(r)
            elif "issue_date" in changes:
                cert = person.current_certificate
                cert.issue_date = r.record.issue_date
                cert.valid_until = services.valid_until_for(r.record.issue_date)
                cert_dates.append(cert)
            if "economic_status" in changes:
                econ_changes.append(r)
            if "employment_status" in changes:
                employment_changes.append((person.pk, *changes["employment_status"]))
        Person.objects.bulk_update(persons, sorted(fields), batch_size=500)
        if new_certs:
            Certificate.objects.filter(
                person_id__in=[r.person.pk for r in new_certs], is_current=True
            ).update(is_current=False)
            Certificate.objects.bulk_create(
                [_certificate(r.person.pk, r) for r in new_certs], batch_size=BATCH_SIZE
            )
        if cert_dates:
            Certificate.objects.bulk_update(cert_dates, ["issue_date", "valid_until"], batch_size=500)
        if econ_changes:
            EconomicStatusPeriod.objects.filter(
                person_id__in=[r.person.pk for r in econ_changes], valid_to__isnull=True
            ).update(valid_to=today - timedelta(days=1))
            EconomicStatusPeriod.objects.bulk_create(
                [
                    EconomicStatusPeriod(
                        person_id=r.person.pk,
                        status=r.record.economic_status,
                        valid_from=today,
                        source="导入",
                    )
                    for r in econ_changes
                    if r.record.economic_status != EconomicStatus.NONE
                ],
                batch_size=BATCH_SIZE,
            )
        _write_facts(batch, [r.person.pk for r in batch], acting_user=acting_user, now=now)
        if employment_changes:
            _write_employment(employment_changes, acting_user=acting_user, today=today, now=now)
        audit_record_many(
            acting_user=acting_user,
            action="person.import_update",
            entries=(
                {
                    "object_type": "registry.person",
                    "object_id": person.pk,
                    "object_repr": f"{person.name}（{person.masked_id}）",
                    "changes": services.masked_changes(changes),
                }
                for person, changes in audits
            ),
        )


# ---- report --------------------------------------------------------------------------------------------


def report_write(staged: Staged, out, *, committed: bool = False) -> None:
    """The original rows plus 处理结果 and 错误说明, cells in error flagged with a note, the error list, and the
    changes (``staged_import.report_write`` with ``Staged.report_sheets``)."""
    staged_import.report_write(staged, out, committed=committed)


# ---- template ------------------------------------------------------------------------------------------

_FLAG_NOTE = (
    "选填：是/否（也可填 Y/N、1/0、√）。“是”从导入当天起登记（或按“<列名>起始日期”列）；"
    "“否”结束已登记的记录（截止到导入前一天）；不填表示不变。"
)


def template_write(out) -> None:
    """The import template: the standard columns, one example row, and a 说明 sheet."""
    from .validation import ECONOMIC_STATUSES, EMPLOYMENT_STATUSES, HOUSEHOLD_TYPES

    labels = FIELD_LABELS | circumstances.FACT_LABELS
    headers = [labels[k] for k in TEMPLATE_COLUMNS]
    text_columns = [TEMPLATE_COLUMNS.index(k) for k in TEXT_KEYS if k in TEMPLATE_COLUMNS]
    towns = list(
        Region.objects.filter(level=Region.Level.TOWN).order_by("code").values_list("name", flat=True)
    )
    choice_lists = {
        "town": towns,
        "household_type": [label for _v, label in HouseholdType.choices],
        "economic_status": [label for _v, label in EconomicStatus.choices],
        "category": [label for _v, label in Certificate.Category.choices],
        "grade": [label for _v, label in Certificate.Grade.choices],
        "employment_status": [label for v, label in EmploymentStatus.choices if v],
        **{key: ["是", "否"] for key in circumstances.FLAG_KINDS},
    }
    with spreadsheet.XlsxBook(out) as book:
        sheet = book.add_sheet("残疾人名单", headers, text_columns=text_columns, widths={1: 22, 2: 24, 3: 12})
        sheet.append([TEMPLATE_EXAMPLE[k] for k in TEMPLATE_COLUMNS])
        ws = sheet.worksheet
        for key, values in choice_lists.items():
            col = TEMPLATE_COLUMNS.index(key)
            ws.data_validation(
                1,
                col,
                100000,
                col,
                {
                    "validate": "list",
                    "source": values,
                    "error_type": "warning",
                    "error_message": "请从下拉列表中选择",
                },
            )
        notes = book.add_sheet("说明", ["列名", "是否必填", "填写说明"], widths=[16, 10, 90])
        required = set(REQUIRED_COLUMNS)
        explain = {
            "name": "2至30个汉字，少数民族姓名可含“·”。",
            "id_number": "18位居民身份证号（15位旧号会自动升为18位）。请把该列设为“文本”格式，"
            "否则 Excel 会把它变成 3.20506E+17 这样的数字并丢失后几位。",
            "certificate_number": "身份证号 + 残疾类别(1-7) + 残疾等级(1-4)，补发证可带 B1、B2…；"
            "其中的身份证号必须与本行身份证号一致。",
            "issue_date": "可填 Excel 日期，或 2019-05-06、2019/5/6、2019年5月6日；不能早于出生日期，不能晚于今天。",
            "town": "本区的镇(街道)名称或9位代码："
            + "、".join(towns)
            + "。镇(街道)工作人员只能导入本镇(街道)的人员。",
            "community": "所属镇(街道)下的村(社区)名称（国家统计局区划名称），可写简称：新家社区即新家社区居委会，"
            "杨湾村即杨湾村委会。名称写错时会提示最接近的名称。新设立、尚未列入的村(社区)，"
            "只有勾选“允许自动新建村(社区)”时才会新建。",
            "household_type": "可填："
            + "、".join(sorted(k for k in HOUSEHOLD_TYPES if not k.isascii()))
            + "。",
            "economic_status": "可填："
            + "、".join(sorted(k for k in ECONOMIC_STATUSES if k and not k.isascii()))
            + "；不填视为“无”。变更自导入当天起生效。",
            "phone": "11位手机号，或带区号的固定电话（如 0512-66551234）。",
            "category": "选填；如填写，须与残疾人证号中的类别一致："
            + "、".join(choice_lists["category"])
            + "。",
            "grade": "选填；如填写，须与残疾人证号中的等级一致：" + "、".join(choice_lists["grade"]) + "。",
            "employment_status": "选填："
            + "、".join(sorted(k for k in EMPLOYMENT_STATUSES if k and not k.isascii()))
            + "。",
            **{key: _FLAG_NOTE for key in circumstances.FLAG_KINDS},
            "elderly_care": "选填：每月领取的老年护理补贴金额（元，最多两位小数），用于与护理补贴择高；"
            "填 0 或“否”表示已停发（截止到导入前一天），不填表示不变。",
            "moved_out": "选填：户籍迁出本区的日期。迁出当月照发，次月起停发；迁出前各月的补发不受影响。不填表示不变。",
        }
        for key in TEMPLATE_COLUMNS:
            notes.append([labels[key], "必填" if key in required else "选填", explain[key]])
        notes.append([])
        for line in (
            "第2行是示例，导入前请删除（系统不会导入示例行）。",
            "表头可以在前20行的任意一行；列的顺序不限；列名中的空格、全角括号不影响识别"
            "（如“身份证号码”“证件号码”都可识别为身份证号，“街道”“镇”都可识别为镇(街道)）。",
            "同一身份证号在文件中出现多次时，以第一次出现的行为准，后面的行报错。",
            "已登记的人员按身份证号匹配：信息有变化的行将更新档案（导入前可预览变化），没有变化的行不做处理。",
            "重复导入同一个文件不会产生任何变化。有错误的行不导入，可下载错误报告修改后重新导入。",
            "支持 .xlsx、.xls、.ods 和 .csv（UTF-8 或 GBK 编码）文件。",
            "无固定收入等情况如需注明起始日期，可另加一列“<列名>起始日期”（如“无固定收入起始日期”），"
            "不加则从导入当天起算。",
        ):
            notes.append(["", "", line])


# ---- command line --------------------------------------------------------------------------------------


def import_persons_cli(
    *,
    path: str,
    dry_run: bool = False,
    report: str | None = None,
    as_json: bool = False,
    allow_new_communities: bool = False,
    acting_user,
) -> int:
    """``canlian import persons``, through ``staged_import.cli_run``: exit 0 when no row was rejected, 1 when
    some were, 2 when the file could not be used."""
    step = persons_stage if dry_run else persons_import

    def run(progress):
        return step(
            Path(path),
            acting_user=acting_user,
            allow_new_communities=allow_new_communities,
            progress=progress,
        )

    return staged_import.cli_run(
        run,
        dry_run=dry_run,
        as_json=as_json,
        report=report,
    )
