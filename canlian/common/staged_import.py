"""One staged import for every spreadsheet the platform takes in: the person import, the outside lists of the
data comparison, and every service roster.

The stages, the same for every kind:

1. **Read** (``read_table``): the first sheet whose first 20 rows hold a header with at least two known column
   names. Each field has a label and aliases (``Column``); spaces, full-width characters, brackets and notes
   such as “（必填）” do not matter (``spreadsheet.normalize_header``). A missing required column is refused
   with its name; a kind that lets the user say which column is which (``mappable``) gets ``MappingRequired``
   with the headers found instead, and ``apply_mapping`` puts the user's choice first next time.
2. **Validate**: every row, with errors and warnings keyed by column (``Row``); a row with an error is
   rejected, never written. The Chinese row/column format is ``error_line``: 第3行“身份证号”：…, row numbers
   as Excel shows them.
3. **Preview** (dry run): what a commit would do per row (created, updated, unchanged, rejected), with
   nothing written; **confirm**: the commit writes the valid rows in ONE transaction (a failure writes
   nothing), and the spec's ``committed`` hook (the import's own audit row) in the same transaction. On
   SQLite (``common.bulk.sliced_writes``) a long commit is written in slices instead: see ``run``.
4. **Report** (``report_write``): the file's rows as read, the cells in error red with the message as a
   comment, the errors (and warnings) in last columns, and a 错误明细 sheet listing every error.
5. **Result**: the JSON contract of the person import (``StagedImport.contract``)::

       {"rows", "created", "updated", "unchanged", "rejected", "errors": [{"row", "column", "message"}]}

   plus the extra keys a kind needs (the outside lists add their matches and ``fuzzy_matches``).

Running it: ``cli_run`` is the command line (progress bar on stderr, result on stdout, exit 0 when no row
was rejected, 1 when some were or the import was refused, 2 when the file or the arguments could not be
used); the ``job_*`` functions are the background job (upload kept under ``MEDIA_ROOT/imports/<job id>/``,
progress on a ``common.Job``, the upload deleted once the job is finished, failures in Chinese on the job).

A kind either declares its columns and four hooks on an ``ImportSpec`` (``prepare`` bulk look-ups,
``validate`` one row, ``plan`` the preview, ``commit`` the write) and runs through ``stage`` / ``run``
(service rosters), or keeps its own pipeline and returns a ``StagedImport`` (the person import, whose
validation runs in worker processes and whose writes are set-based).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import spreadsheet
from .bulk import sliced_writes, write_cache
from .exceptions import DomainError
from .jobs import Progress, job_create, job_set_status, noop_progress
from .models import Job
from .spreadsheet import SpreadsheetError, Table
from .uploads import REPORT_NAME, import_dir

logger = logging.getLogger(__name__)

CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"
OUTCOMES = (CREATED, UPDATED, UNCHANGED, REJECTED)
OUTCOME_LABELS = {
    "staged": {CREATED: "将新增", UPDATED: "将更新", UNCHANGED: "无变化", REJECTED: "有错误，不导入"},
    "committed": {CREATED: "已新增", UPDATED: "已更新", UNCHANGED: "无变化", REJECTED: "有错误，未导入"},
}
REPORT_COMMENT_LIMIT = 20000  # cell comments in a report (each one costs Excel memory when opened)
CLI_SHOWN = 50  # errors listed on the command line (the report has all)
INTERNAL_ERROR = "{what}时发生内部错误，未写入任何数据；请联系管理员（已记录日志）"


# ---- columns and rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # the template's header; also how errors name the column when the file has no such header
    aliases: tuple[str, ...] = ()  # other headers accepted for it
    required: bool = True


def column_aliases(columns: Iterable[Column]) -> dict[str, tuple[str, ...]]:
    """Field key → accepted headers, the label first."""
    return {c.key: (c.label, *c.aliases) for c in columns}


def required_columns(columns: Iterable[Column]) -> dict[str, str]:
    return {c.key: c.label for c in columns if c.required}


@dataclass
class Row:
    """One data row: the cells by field key as read (``raw``), what validation made of them (``values``),
    errors and warnings by field key, and, once planned or committed, the outcome."""

    row: int  # Excel row number
    raw: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # field key → message; any error rejects the row
    warnings: dict[str, str] = field(default_factory=dict)  # field key → message; the row is kept
    outcome: str = ""
    cells: list[Any] = field(default_factory=list, repr=False)  # the row as read, for the report

    @property
    def ok(self) -> bool:
        return not self.errors


def row_error(row: int, column: str, message: str) -> dict:
    """One entry of the contract's ``errors``."""
    return {"row": row, "column": column, "message": message}


def error_line(e: Mapping[str, Any]) -> str:
    """第3行“身份证号”：身份证号校验位错误…"""
    return f"第{e['row']}行“{e['column']}”：{e['message']}"


# ---- reading -------------------------------------------------------------------------------------------


class MappingRequired(DomainError):
    """The header lacks required columns: the user says which of the columns found (``headers``) holds
    which field; ``found`` are the fields already recognised (field key → header)."""

    def __init__(self, message: str, *, headers: list[str], missing: list[str], found: dict[str, str]):
        super().__init__(message)
        self.headers = headers
        self.missing = missing  # field keys
        self.found = found


def apply_mapping(
    aliases: Mapping[str, Sequence[str]], mapping: Mapping[str, str] | None
) -> dict[str, tuple[str, ...]]:
    """The user's choice (field key → header in the file) first: that header names that field only."""
    out = {k: tuple(v) for k, v in aliases.items()}
    for key, header in (mapping or {}).items():
        if key not in out or not str(header).strip():
            continue
        taken = spreadsheet.normalize_header(header)
        out = {
            k: tuple(a for a in names if spreadsheet.normalize_header(a) != taken) for k, names in out.items()
        }
        out[key] = (str(header),)
    return out


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def guess_headers(source, filename: str = "") -> list[str] | None:
    """The most likely header row when no row matched enough known names: the first row, within the first
    20 of the first sheet with data, that holds at least two text cells."""
    _, sheets = spreadsheet.read_sheets(source, filename=filename)
    for sheet in sheets:
        for cells in sheet.rows[: spreadsheet.HEADER_SCAN_ROWS]:
            texts = [_cell_text(c) for c in cells]
            if sum(1 for t in texts if t and not t.replace(".", "").isdigit()) >= 2:
                while texts and not texts[-1]:
                    texts.pop()
                return texts
    return None


def read_table(
    source,
    *,
    aliases: Mapping[str, Sequence[str]],
    required: Mapping[str, str] | None = None,
    filename: str = "",
    mappable: bool = False,
) -> Table:
    """The file's header resolved against ``aliases`` and its data rows (``spreadsheet.read_table``).
    SpreadsheetError for a file that cannot be used, naming what is missing; with ``mappable``, a header
    lacking required columns raises ``MappingRequired`` with the headers found instead."""
    if isinstance(source, str | os.PathLike) and not filename:
        filename = Path(source).name
    try:
        return spreadsheet.read_table(source, aliases=aliases, required=required, filename=filename)
    except (spreadsheet.UnsafeFile, spreadsheet.PasswordProtected):
        raise  # over a limit or locked: reading it again to guess its headers would fail the same way
    except SpreadsheetError as exc:
        if not mappable or not required:
            raise
        headers = guess_headers(source, filename)
        if headers is None:
            raise
        found_idx = spreadsheet.match_headers(headers, aliases)
        missing = [k for k in required if k not in found_idx]
        if not missing:
            raise
        labels = "、".join(required[k] for k in missing)
        raise MappingRequired(
            f"文件中没有找到必需的列：{labels}。请指定文件中的哪一列对应这些信息。",
            headers=[h for h in headers if h],
            missing=missing,
            found={k: headers[i] for k, i in found_idx.items()},
        ) from exc


def table_rows(table: Table) -> list[Row]:
    """A ``Row`` per data row: ``raw`` holds the cell of every recognised column (None past the row's end)."""
    rows = []
    columns = table.columns.items()
    for number, cells in table.rows:
        raw = {key: cells[index] if index < len(cells) else None for key, index in columns}
        rows.append(Row(number, raw, cells=cells))
    return rows


# ---- the result ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportLayout:
    """How a kind's report looks: the main sheet's name, the titles of the columns added after the file's
    (an outcome column only if ``outcome`` is set; warnings only if ``warnings`` is set), and the field keys
    whose columns are text (ID numbers: never turned into numbers). ``text_keys=None``: every column."""

    sheet: str = "导入结果"
    outcome: str | None = "处理结果"
    errors: str = "错误说明"
    warnings: str | None = None
    text_keys: tuple[str, ...] | None = None


class StagedImport:
    """What a staged import produced: ``table`` (the file as read), ``rows`` (each with ``row``, ``errors``,
    ``outcome``, and optionally ``warnings`` and ``cells``), ``committed``. Subclasses set ``layout`` and
    ``label_of`` and may add sheets to the report (``report_sheets``) and keys to the JSON (``extra``)."""

    layout = ReportLayout()
    table: Table
    rows: list
    committed: bool = False

    def label_of(self, key: str) -> str:
        return key

    def column_label(self, key: str) -> str:
        """The column's header as written in the file, else the field's label."""
        return self.table.header_of(key) or self.label_of(key)

    @property
    def counts(self) -> dict[str, int]:
        counts = {"rows": len(self.rows), CREATED: 0, UPDATED: 0, UNCHANGED: 0, REJECTED: 0}
        for r in self.rows:
            outcome = REJECTED if r.errors else r.outcome
            if outcome in counts:
                counts[outcome] += 1
        return counts

    def _by_column(self, which: str) -> Iterator[dict]:
        order = self.table.columns
        for r in self.rows:
            found = getattr(r, which, None)
            if found:
                for key in sorted(found, key=lambda k: order.get(k, 999)):
                    yield row_error(r.row, self.column_label(key), found[key])

    def errors(self) -> Iterator[dict]:
        """``{"row", "column", "message"}`` in row order, columns in the file's order."""
        return self._by_column("errors")

    def warnings(self) -> Iterator[dict]:
        return self._by_column("warnings")

    def contract(self, **extra) -> dict:
        """The JSON result every import gives: counts, every error, and the kind's extra keys."""
        return {**self.counts, "errors": list(self.errors()), **extra}

    def outcome_of(self, r) -> str:
        return REJECTED if r.errors else (r.outcome or UNCHANGED)

    def cells_of(self, r) -> list:
        return getattr(r, "cells", None) or []

    def report_sheets(self, book: spreadsheet.XlsxBook) -> None:
        """Sheets a kind adds after the rows and the error list."""


# ---- report --------------------------------------------------------------------------------------------


def report_write(staged: StagedImport, out, *, committed: bool | None = None) -> None:
    """The file's rows as read, cells in error flagged red with the message as a comment, the outcome (if the
    kind shows it), the errors (and warnings) of each row in last columns; a 错误明细 sheet with every error;
    then the kind's own sheets."""
    table, layout = staged.table, staged.layout
    committed = staged.committed if committed is None else committed
    labels = OUTCOME_LABELS["committed" if committed else "staged"]
    width = table.width
    if layout.text_keys is None:
        text_columns = list(range(width))
    else:
        text_columns = [table.columns[k] for k in layout.text_keys if k in table.columns]
    headers = [h or spreadsheet.column_letter(i) for i, h in enumerate(table.headers)]
    extra = [t for t in (layout.outcome, layout.errors, layout.warnings) if t]
    widths = {width + i: 60 for i in range(len(extra))}
    if layout.outcome:
        widths[width] = 14
    big = len(staged.rows) > spreadsheet.CONSTANT_MEMORY_ROWS
    comments_left = REPORT_COMMENT_LIMIT
    with spreadsheet.XlsxBook(out, constant_memory=big) as book:
        sheet = book.add_sheet(layout.sheet, [*headers, *extra], text_columns=text_columns, widths=widths)
        for r in staged.rows:
            flagged, comments, notes = [], {}, []
            for key, message in r.errors.items():
                notes.append(f"{staged.column_label(key)}：{message}")
                index = table.columns.get(key)
                if index is not None:
                    flagged.append(index)
                    if comments_left > 0:
                        comments[index] = message
                        comments_left -= 1
            cells = list(staged.cells_of(r)[:width])
            cells += [""] * (width - len(cells))
            trailing = []
            if layout.outcome:
                trailing.append(labels[staged.outcome_of(r)])
            trailing.append("；".join(notes))
            if layout.warnings:
                warnings = getattr(r, "warnings", None) or {}
                trailing.append("；".join(f"{staged.column_label(k)}：{m}" for k, m in warnings.items()))
            if r.errors:
                flagged += [width, width + 1] if layout.outcome else [width]
            sheet.append([*cells, *trailing], flagged=flagged, comments=comments)

        errors = book.add_sheet("错误明细", ["行号", "列", "错误说明"], widths=[8, 16, 80])
        for e in staged.errors():
            errors.append([e["row"], e["column"], e["message"]])
        staged.report_sheets(book)


# ---- the staged import of a declared kind --------------------------------------------------------------


class ImportSpec:
    """A kind declared by its columns and four hooks; ``stage`` and ``run`` drive it."""

    kind: str = ""
    name: str = ""  # Chinese, e.g. 托养服务名单: the report's sheet
    columns: tuple[Column, ...] = ()
    warnings_title: str | None = "提示"

    def aliases(self) -> dict[str, tuple[str, ...]]:
        return column_aliases(self.columns)

    def required(self) -> dict[str, str]:
        return required_columns(self.columns)

    def label(self, key: str) -> str:
        return next((c.label for c in self.columns if c.key == key), key)

    def prepare(self, rows: list[Row], *, acting_user) -> Any:
        """Bulk look-ups for all rows at once (persons by blind index …): the context of the other hooks."""
        return None

    def refresh(self, rows: list[Row], ctx, *, acting_user) -> Any:
        """The context for the commit, read under its transaction (``rows``: all of them, as for
        ``prepare``; ``ctx``: the one they were validated with). By default everything is looked up again; a spec whose commit reads
        only part of the context (the rest comes from ``row.values``) overrides this to read that part
        only."""
        return self.prepare(rows, acting_user=acting_user)

    def validate(self, row: Row, ctx, *, acting_user) -> None:
        """Fill ``row.values``; put what is wrong in ``row.errors`` (rejected) or ``row.warnings`` (kept)."""
        raise NotImplementedError

    def plan(self, rows: list[Row], ctx) -> None:
        """Set ``outcome`` (created / updated / unchanged) on valid rows without writing: the preview."""
        raise NotImplementedError

    def commit(self, rows: list[Row], ctx, *, acting_user, progress: Progress) -> None:
        """Write the valid rows (inside the caller's transaction) and set each one's ``outcome``."""
        raise NotImplementedError

    # Optional, ``commit_many(rows, ctx, *, acting_user, progress)``: the same writes as ``commit`` (the same
    # rows, tested equal), set-based; ``run`` uses it from ``bulk_min_rows()`` valid rows on.
    commit_many = None

    def bulk_min_rows(self) -> int:
        """Below this many valid rows the per-row ``commit`` writes them (the web forms' services)."""
        return 50

    def slice_rows(self) -> int:
        """Valid rows written per transaction when writes are sliced (SQLite): each slice must take well under
        a second, so that the web's writes (a sign-in, an audit row) get the lock between slices."""
        return SLICE_ROWS

    def committed(self, staged: SpecStaged, *, acting_user, filename: str, job_id: str) -> None:
        """Called once the rows are written, inside the (last) write transaction: the import's own audit row
        (who, which kind, which file, the counts)."""

    def interrupted(
        self, staged: SpecStaged, *, acting_user, filename: str, job_id: str, stopped_at_row: int, reason: str
    ) -> None:
        """A sliced commit stopped after some slices were written (``ImportInterrupted``): its audit row, in
        a transaction of its own. ``staged.counts`` are those of the rows written."""


@dataclass
class SpecStaged(StagedImport):
    spec: ImportSpec
    table: Table
    rows: list[Row]
    committed: bool = False

    @property
    def layout(self) -> ReportLayout:
        return ReportLayout(
            sheet=self.spec.name or "名单",
            outcome=None,
            errors="错误",
            warnings=self.spec.warnings_title,
            text_keys=None,
        )

    def label_of(self, key: str) -> str:
        return self.spec.label(key)

    def cells_of(self, r: Row) -> list:
        return r.cells

    def summary(self) -> dict:
        return {**self.counts, "errors": list(self.errors()), "warnings": list(self.warnings())}


PHASE_STAGE, PHASE_STAGED = "校验中", "校验完成"
PROGRESS_EVERY = 500


def stage(
    spec: ImportSpec,
    source,
    *,
    acting_user,
    filename: str = "",
    progress: Progress = noop_progress,
    plan: bool = True,
) -> SpecStaged:
    """Read and validate every row; nothing is written. With ``plan`` the spec also says what a commit would
    do (created / updated / unchanged) without writing: the preview and the dry run."""
    return _stage(spec, source, acting_user=acting_user, filename=filename, progress=progress, plan=plan)[0]


def _stage(spec: ImportSpec, source, *, acting_user, filename, progress, plan) -> tuple[SpecStaged, Any]:
    """``stage``, and the context the rows were validated with."""
    table = read_table(source, aliases=spec.aliases(), required=spec.required(), filename=filename)
    rows = table_rows(table)
    total = len(rows)
    progress(0, total, PHASE_STAGE)
    ctx = spec.prepare(rows, acting_user=acting_user)
    for i, r in enumerate(rows, start=1):
        spec.validate(r, ctx, acting_user=acting_user)
        if i % PROGRESS_EVERY == 0:
            progress(i, total, PHASE_STAGE)
    progress(total, total, PHASE_STAGED)
    staged = SpecStaged(spec, table, rows)
    if plan:
        spec.plan([r for r in rows if r.ok], ctx)
    return staged, ctx


SLICE_ROWS = 2000  # ≈ 0.5 s of writing on an idle machine (100,000 custodial rows: see docs/benchmarks.md)
# Between two slices the lock is left free this long: SQLite's busy handler polls a waiting writer (a
# sign-in's session) every 100 ms once it has waited 0.3 s, and a next slice begun at once would take the
# lock again before that poll. Measured under load: with no pause and with 50 ms a sign-in or sign-out still
# failed now and then (test_long_writes, 2 s busy timeout); 100 ms guarantees a poll inside the gap.
SLICE_PAUSE = 0.1


class ImportInterrupted(DomainError):
    """A sliced commit stopped after some slices were written; importing the same file again finishes it."""


def run(
    spec: ImportSpec,
    source,
    *,
    acting_user,
    filename: str = "",
    progress: Progress = noop_progress,
    job_id: str = "",
) -> SpecStaged:
    """Validate (no write lock held), then write every valid row (rejected rows are left out) and the spec's
    ``committed`` hook (the import's audit row) in ONE transaction; if the commit fails, nothing is written
    and the error propagates.

    On SQLite (``common.bulk.sliced_writes``) an import of more than ``spec.slice_rows()`` valid rows is
    written in slices instead, each its own short transaction (``_commit_sliced``), so that SQLite's single
    write lock is free between slices and the web keeps answering during a long import. What is promised
    then instead of one transaction: every slice is written whole or not at all; the import's audit row is
    written with the last slice; a slice that fails stops the import with the slices before it kept, an
    ``interrupted`` audit row and ``ImportInterrupted`` saying how far it got; and importing the same file
    again finishes it (a roster row is keyed by what it describes: rows already written are then
    "unchanged"). A process killed mid-import leaves its committed slices (each with its own per-case audit
    rows) and no import-level audit row; the same re-import finishes it."""
    staged, ctx = _stage(
        spec, source, acting_user=acting_user, filename=filename, progress=progress, plan=False
    )
    valid = [r for r in staged.rows if r.ok]
    bulk = spec.commit_many is not None and len(valid) >= spec.bulk_min_rows()
    write = spec.commit_many if bulk else spec.commit
    done = {"acting_user": acting_user, "filename": filename, "job_id": job_id}
    if sliced_writes() and len(valid) > spec.slice_rows():
        _commit_sliced(spec, staged, ctx, valid, write, progress=progress, **done)
    else:
        with transaction.atomic():
            ctx = spec.refresh(staged.rows, ctx, acting_user=acting_user)  # again, under the transaction
            write(valid, ctx, acting_user=acting_user, progress=progress)
            spec.committed(staged, **done)
    staged.committed = True
    return staged


PHASE_WRITE, PHASE_WRITTEN = "写入中", "导入完成"


def _commit_sliced(spec: ImportSpec, staged: SpecStaged, ctx, valid: list[Row], write, *, progress, **done):
    """``run``'s commit on SQLite: ``spec.slice_rows()`` valid rows per transaction, each re-read
    (``refresh``) and written under its own transaction; the audit row with the last one."""
    total, size = len(valid), spec.slice_rows()
    with write_cache():  # one page cache for all the slices (a bulk write inside restores this one)
        for first in range(0, total, size):
            part = valid[first : first + size]
            try:
                with transaction.atomic():
                    part_ctx = spec.refresh(part, ctx, acting_user=done["acting_user"])
                    # progress between slices only (a slice is short): reported with the lock free
                    write(part, part_ctx, acting_user=done["acting_user"], progress=noop_progress)
                    if first + size >= total:
                        spec.committed(staged, **done)
            except Exception as exc:
                for r in valid[first:]:
                    r.outcome = ""  # not written
                if first == 0:
                    raise  # nothing written: as one transaction
                _stopped(spec, staged, part[0].row, exc, **done)
            progress(first + len(part), total, PHASE_WRITE)
            if first + size < total:
                time.sleep(SLICE_PAUSE)  # the lock free long enough for a waiting writer's next poll
    progress(total, total, PHASE_WRITTEN)


def _stopped(spec: ImportSpec, staged: SpecStaged, row: int, exc: Exception, **done):
    """Stop a sliced commit whose slice from Excel row ``row`` failed, after earlier slices were written:
    the spec's ``interrupted`` audit row, then ``ImportInterrupted`` saying what is written and what to do."""
    if isinstance(exc, DomainError):
        reason = exc.message.rstrip("。")
    else:
        logger.exception("import %s (%s): the slice from row %s failed", done["job_id"], spec.kind, row)
        reason = "写入时发生内部错误（已记录日志）"
    counts = staged.counts
    with transaction.atomic():
        spec.interrupted(staged, stopped_at_row=row, reason=reason, **done)
    raise ImportInterrupted(
        f"导入在第{row}行所在的一批停止：{reason}。第{row}行之前的行已写入（新增{counts[CREATED]}，"
        f"更新{counts[UPDATED]}），其余未写入；处理上述问题后重新导入同一文件即可继续，"
        "已写入的行将显示为“无变化”"
    ) from exc


# ---- command line --------------------------------------------------------------------------------------


class ProgressBar:
    """A tqdm progress bar on stderr that follows ``progress(done, total, message)`` phase by phase."""

    def __init__(self):
        from tqdm import tqdm

        tqdm.monitor_interval = 0  # no monitor thread: validation may fork worker processes
        self._bar = tqdm(total=0, file=sys.stderr, unit="行", dynamic_ncols=True, leave=False)
        self._message = None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        bar = self._bar
        if message != self._message:
            self._message = message
            bar.set_description_str(message, refresh=False)
            bar.reset(total=total or None)
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        self._bar.close()


EXIT_OK, EXIT_REJECTED, EXIT_UNUSABLE = 0, 1, 2


def summary_line(counts: Mapping[str, int], *, dry_run: bool) -> str:
    verb = "校验（未写入）" if dry_run else "导入"
    return (
        f"{verb}完成：共 {counts['rows']} 行，新增 {counts['created']}，更新 {counts['updated']}，"
        f"无变化 {counts['unchanged']}，有错误 {counts['rejected']}"
    )


def cli_run(
    step: Callable[[Progress], StagedImport],
    *,
    dry_run: bool = False,
    as_json: bool = False,
    report: str | None = None,
    extra: Callable[[StagedImport], dict] | None = None,
    describe: Callable[[StagedImport], list[str]] | None = None,
    on_error: Callable[[DomainError], int | None] | None = None,
) -> int:
    """Run one import from the command line: ``step(progress)`` stages or imports. Prints the contract as
    JSON (``--json``, plus ``extra(result)``) or a summary (``describe(result)`` lines, default the counts)
    with the first errors; writes the report if asked. Exit 0 when no row was rejected, 1 when some were,
    2 when the file could not be used (``on_error`` may print its own message and choose the code)."""
    bar = ProgressBar()
    try:
        staged = step(bar)
    except (DomainError, FileNotFoundError, IsADirectoryError) as exc:
        bar.close()
        if isinstance(exc, DomainError) and on_error is not None:
            code = on_error(exc)
            if code is not None:
                return code
        message = getattr(exc, "message", None) or f"无法读取文件：{exc.filename}"
        print(f"导入失败：{message}", file=sys.stderr)
        if as_json:
            print(json.dumps({"error": message}, ensure_ascii=False))
        return EXIT_UNUSABLE
    bar.close()
    if report:
        report_write(staged, report)
    counts = staged.counts
    errors = list(staged.errors())
    if as_json:
        for e in errors[:CLI_SHOWN]:  # for a person watching; stdout stays the JSON alone
            print(error_line(e), file=sys.stderr)
        for w in list(staged.warnings())[:CLI_SHOWN]:
            print(f"提示 {error_line(w)}", file=sys.stderr)
        print(json.dumps(staged.contract(**(extra(staged) if extra else {})), ensure_ascii=False))
    else:
        for line in describe(staged) if describe else [summary_line(counts, dry_run=dry_run)]:
            print(line)
        for e in errors[:CLI_SHOWN]:
            print(f"  {error_line(e)}")
        if len(errors) > CLI_SHOWN:
            print(
                f"  ……另有 {len(errors) - CLI_SHOWN} 条错误"
                + ("，详见报告" if report else "，可用 --report 导出完整报告")
            )
        for w in list(staged.warnings())[:20]:
            print(f"  提示 {error_line(w)}")
        if report:
            print(f"报告已写入：{report}")
    return EXIT_REJECTED if counts[REJECTED] else EXIT_OK


# ---- background job ------------------------------------------------------------------------------------


def job_upload_path(job: Job) -> Path:
    return import_dir(job.pk) / job.params["stored"]


def job_report_path(job_or_id) -> Path:
    return import_dir(getattr(job_or_id, "pk", job_or_id)) / REPORT_NAME


def job_enqueue(
    *,
    acting_user,
    kind: str,
    stored: Path,
    filename: str,
    params: dict,
    detail_url: Callable[[Job], str],
    task,
) -> Job:
    """Create the Job (attributed to ``acting_user``, visible to them only), move the saved upload
    (``uploads.upload_save``) into its folder and queue ``task`` with the job's id."""
    job = job_create(
        acting_user=acting_user,
        kind=kind,
        params={
            "filename": os.path.basename(filename)[:200],
            "stored": stored.name,
            **params,
            "detail_url": "",
        },
    )
    job.params["detail_url"] = detail_url(job)
    job.save(update_fields=["params"])
    stored.parent.rename(import_dir(job.pk))
    task.enqueue(str(job.pk))
    return job


def job_claim(job: Job, *, message: str = "等待写入", **fields) -> bool:
    """Move a WAITING job to QUEUED (the user confirmed, or mapped the columns); False if another tab already
    did or the job is over."""
    return bool(
        Job.objects.filter(pk=job.pk, status=Job.Status.WAITING).update(
            status=Job.Status.QUEUED, message=message, done=0, finished_at=None, **fields
        )
    )


CANCELLED = "已取消"


def job_cancel(job: Job, *, error: str = "已取消导入，未写入任何数据") -> bool:
    """The user cancelled a WAITING job (a preview not confirmed, a mapping not given): FAILED with
    ``error``, ``result["cancelled"]``, and its upload and report deleted (both repeat the file's rows). False
    if it no longer waits (confirmed from another tab, or over)."""
    cancelled = Job.objects.filter(pk=job.pk, status=Job.Status.WAITING).update(
        status=Job.Status.FAILED,
        error=error,
        message=CANCELLED,
        result={**(job.result or {}), "cancelled": True},
        finished_at=timezone.now(),
    )
    if not cancelled:
        return False
    job.refresh_from_db()
    job_discard_upload(job)
    job_report_path(job).unlink(missing_ok=True)
    folder = import_dir(job.pk)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return True


def job_discard_upload(job: Job) -> None:
    """The upload holds full ID numbers in the clear: remove it as soon as the Job is finished (and its
    folder, if nothing else is in it)."""
    stored = job.params.get("stored")
    if not stored:
        return
    (import_dir(job.pk) / stored).unlink(missing_ok=True)
    folder = import_dir(job.pk)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def job_fail(job: Job, message: str, *, result: dict | None = None) -> None:
    job_set_status(job, status=Job.Status.FAILED, error=message, message="导入失败", result=result)
    job_discard_upload(job)


def job_run(job: Job, work: Callable[[], Any], *, what: str = "导入") -> tuple[bool, Any]:
    """``(True, work())``, or ``(False, None)`` with the job FAILED and the upload gone when ``work`` raised:
    a DomainError's Chinese message, else a logged internal error (the transaction rolled back)."""
    try:
        return True, work()
    except DomainError as exc:
        job_fail(job, exc.message)
    except Exception:
        logger.exception("import job %s (%s) failed", job.pk, job.kind)
        job_fail(job, INTERNAL_ERROR.format(what=what))
    return False, None
