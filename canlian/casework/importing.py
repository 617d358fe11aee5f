"""One staged import path for service rosters (and, later, the person and outside-list imports).

A ``RosterSpec`` declares its columns (key, Chinese label, aliases, required) and three steps:
``prepare`` (bulk look-ups for all rows at once: persons by blind index, institutions by name …),
``validate`` (one row → values, errors and warnings keyed by column) and ``commit`` (write the valid rows,
set-based, through the services, and say for each whether it was created, updated or unchanged).

``roster_stage`` reads and validates (the preview / dry run: nothing is written); ``roster_import`` does the
same then commits the valid rows in one transaction. Both return a ``Staged`` whose ``counts`` and
``errors()`` are the JSON contract of the person import::

    {"rows", "created", "updated", "unchanged", "rejected", "errors": [{"row", "column", "message"}]}

``report_write`` writes the error report (the file's rows with the wrong cells in red and a 错误 column);
``roster_import_cli`` is ``canlian services import KIND FILE [--dry-run] [--json]`` (exit 0 / 1 / 2), and
``tasks.roster_import_task`` runs the same in the background with a ``common.Job`` for progress.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from canlian.common.exceptions import DomainError
from canlian.common.jobs import Progress, noop_progress
from canlian.common.spreadsheet import SpreadsheetError, Table, XlsxBook, read_table

CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"
# Below this many valid rows a spec's per-row ``commit`` writes them (through the same services as the web
# forms); from it on, its ``commit_many`` if it has one.
BULK_MIN_ROWS = 50


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    aliases: tuple[str, ...] = ()
    required: bool = True


@dataclass
class Row:
    row: int  # Excel row number
    raw: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # column key → message
    warnings: dict[str, str] = field(default_factory=dict)
    outcome: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


class RosterSpec:
    """Subclass per roster kind; register with ``roster_register``."""

    kind: str = ""
    name: str = ""
    columns: tuple[Column, ...] = ()

    def aliases(self) -> dict[str, tuple[str, ...]]:
        return {c.key: (c.label, *c.aliases) for c in self.columns}

    def required(self) -> dict[str, str]:
        return {c.key: c.label for c in self.columns if c.required}

    def prepare(self, rows: list[Row], *, acting_user) -> Any:
        return None

    def validate(self, row: Row, ctx, *, acting_user) -> None:
        raise NotImplementedError

    def plan(self, rows: list[Row], ctx) -> None:
        """Set ``outcome`` (created / updated / unchanged) on valid rows without writing: the preview."""
        raise NotImplementedError

    def commit(self, rows: list[Row], ctx, *, acting_user, progress: Progress) -> None:
        """Write the valid rows and set each one's ``outcome``."""
        raise NotImplementedError

    # Optional, ``commit_many(rows, ctx, *, acting_user, progress)``: the same writes as ``commit`` (the same
    # rows, tested equal), set-based; ``roster_import`` uses it for BULK_MIN_ROWS valid rows or more.
    commit_many = None


_SPECS: dict[str, RosterSpec] = {}


def roster_register(spec: RosterSpec) -> RosterSpec:
    _SPECS[spec.kind] = spec
    return spec


def roster_spec(kind: str) -> RosterSpec:
    try:
        return _SPECS[kind]
    except KeyError:
        raise DomainError(f"未知的名单类型“{kind}”，可选：{'、'.join(sorted(_SPECS)) or '无'}") from None


def roster_kinds() -> list[str]:
    return sorted(_SPECS)


@dataclass
class Staged:
    spec: RosterSpec
    table: Table
    rows: list[Row]
    committed: bool = False

    def column_label(self, key: str) -> str:
        label = next((c.label for c in self.spec.columns if c.key == key), key)
        return self.table.header_of(key, label)

    @property
    def counts(self) -> dict[str, int]:
        c = {"rows": len(self.rows), CREATED: 0, UPDATED: 0, UNCHANGED: 0, REJECTED: 0}
        for r in self.rows:
            if r.errors:
                c[REJECTED] += 1
            elif r.outcome in (CREATED, UPDATED, UNCHANGED):
                c[r.outcome] += 1
        return c

    def _ordered(self, r: Row, which: str) -> Iterator[dict]:
        order = self.table.columns
        d = getattr(r, which)
        for key in sorted(d, key=lambda k: order.get(k, 999)):
            yield {"row": r.row, "column": self.column_label(key), "message": d[key]}

    def errors(self) -> Iterator[dict]:
        for r in self.rows:
            yield from self._ordered(r, "errors")

    def warnings(self) -> Iterator[dict]:
        for r in self.rows:
            yield from self._ordered(r, "warnings")

    def summary(self) -> dict:
        return {**self.counts, "errors": list(self.errors()), "warnings": list(self.warnings())}


def _read(spec: RosterSpec, source, filename: str) -> tuple[Table, list[Row]]:
    table = read_table(source, aliases=spec.aliases(), required=spec.required(), filename=filename)
    rows = []
    for number, cells in table.rows:
        raw = {key: cells[index] if index < len(cells) else None for key, index in table.columns.items()}
        rows.append(Row(number, raw))
    return table, rows


def roster_stage(
    kind: str,
    source,
    *,
    acting_user,
    filename: str = "",
    progress: Progress = noop_progress,
    plan: bool = True,
) -> Staged:
    """Read and validate every row; nothing is written. With ``plan`` the spec also says what a commit would
    do (created / updated / unchanged) without writing."""
    spec = roster_spec(kind)
    table, rows = _read(spec, source, filename)
    progress(0, len(rows), "校验中")
    ctx = spec.prepare(rows, acting_user=acting_user)
    for i, r in enumerate(rows, start=1):
        spec.validate(r, ctx, acting_user=acting_user)
        if i % 500 == 0:
            progress(i, len(rows), "校验中")
    progress(len(rows), len(rows), "校验完成")
    staged = Staged(spec, table, rows)
    if plan:
        spec.plan([r for r in rows if r.ok], ctx)
    return staged


def roster_import(
    kind: str, source, *, acting_user, filename: str = "", progress: Progress = noop_progress
) -> Staged:
    """Validate, then write every valid row in one transaction (rejected rows are left out)."""
    spec = roster_spec(kind)
    staged = roster_stage(
        kind, source, acting_user=acting_user, filename=filename, progress=progress, plan=False
    )
    valid = [r for r in staged.rows if r.ok]
    with transaction.atomic():
        ctx = spec.prepare(staged.rows, acting_user=acting_user)
        bulk = spec.commit_many is not None and len(valid) >= BULK_MIN_ROWS
        (spec.commit_many if bulk else spec.commit)(valid, ctx, acting_user=acting_user, progress=progress)
    staged.committed = True
    return staged


def report_write(staged: Staged, out) -> None:
    """The error report: every row as read, wrong cells in red with the message as a comment, and the
    errors and warnings in two last columns."""
    headers = [*staged.table.headers, "错误", "提示"]
    width = len(staged.table.headers)
    with XlsxBook(out) as book:
        sheet = book.add_sheet(staged.spec.name or "名单", headers, text_columns=range(width))
        cells_by_row = dict(staged.table.rows)
        for r in staged.rows:
            cells = list(cells_by_row.get(r.row, []))[:width]
            flagged = {staged.table.columns[k] for k in r.errors if k in staged.table.columns}
            comments = {staged.table.columns[k]: m for k, m in r.errors.items() if k in staged.table.columns}
            errors = "；".join(f"{staged.column_label(k)}：{m}" for k, m in r.errors.items())
            warnings = "；".join(f"{staged.column_label(k)}：{m}" for k, m in r.warnings.items())
            sheet.append(
                [*cells, *([""] * (width - len(cells))), errors, warnings], flagged=flagged, comments=comments
            )


def roster_import_cli(
    *, kind: str, path: str, dry_run: bool, as_json: bool, acting_user, report: str | None = None
) -> int:
    """Exit 0 when no row was rejected, 1 when some were, 2 when the file could not be used."""
    from canlian.common.jobs import cli_progress

    bar, progress = cli_progress("校验" if dry_run else "导入", unit="行")
    try:
        step = roster_stage if dry_run else roster_import
        staged = step(kind, Path(path), acting_user=acting_user, filename=Path(path).name, progress=progress)
    except (SpreadsheetError, DomainError, FileNotFoundError, IsADirectoryError) as exc:
        bar.close()
        message = getattr(exc, "message", None) or f"无法读取文件：{path}"
        print(f"导入失败：{message}", file=sys.stderr)
        if as_json:
            print(json.dumps({"error": message}, ensure_ascii=False))
        return 2
    bar.close()
    if report:
        report_write(staged, report)
    counts, errors = staged.counts, list(staged.errors())
    if as_json:
        print(json.dumps({**counts, "errors": errors}, ensure_ascii=False))
    else:
        verb = "校验（未写入）" if dry_run else "导入"
        print(
            f"{verb}完成：共 {counts['rows']} 行，新增 {counts['created']}，更新 {counts['updated']}，"
            f"无变化 {counts['unchanged']}，有错误 {counts['rejected']}"
        )
        for e in errors[:50]:
            print(f"  第{e['row']}行 {e['column']}：{e['message']}")
        for w in list(staged.warnings())[:20]:
            print(f"  提示 第{w['row']}行 {w['column']}：{w['message']}")
    return 1 if counts["rejected"] else 0
