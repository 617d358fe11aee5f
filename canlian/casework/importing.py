"""Service roster imports: the kinds of ``common.staged_import`` that every service roster declares.

A ``RosterSpec`` (an ``ImportSpec``) declares its columns (key, Chinese label, aliases, required) and the
hooks ``prepare`` (bulk look-ups for all rows at once: persons by blind index, institutions by name …),
``validate`` (one row → values, errors and warnings keyed by column), ``plan`` (the preview: created,
updated or unchanged, nothing written) and ``commit`` (write the valid rows through the services and say
for each whether it was created, updated or unchanged).

``roster_stage`` reads and validates (the preview / dry run: nothing is written); ``roster_import`` does the
same then commits the valid rows in one transaction (on SQLite, a long import in slices: see
``staged_import.run``), with one ``roster.import`` audit row for the import itself (who, which roster, which
file, the counts) in that transaction. Both return a ``Staged`` whose ``counts`` and
``errors()`` are the JSON contract of every import::

    {"rows", "created", "updated", "unchanged", "rejected", "errors": [{"row", "column", "message"}]}

``report_write`` writes the error report (the file's rows with the wrong cells in red, 错误 and 提示
columns, the 错误明细 sheet); ``roster_import_cli`` is ``canlian services import KIND FILE [--dry-run]
[--json]`` (exit 0 / 1 / 2), and ``tasks.roster_import_task`` runs the same in the background with a
``common.Job`` for progress.
"""

from __future__ import annotations

from pathlib import Path

from canlian.common import staged_import
from canlian.common.audit import audit_record
from canlian.common.audit_display import VALUE_LABELS
from canlian.common.exceptions import DomainError
from canlian.common.jobs import Progress, noop_progress
from canlian.common.staged_import import (
    CREATED,
    REJECTED,
    UNCHANGED,
    UPDATED,
    Column,
    ImportSpec,
    Row,
    SpecStaged,
)

__all__ = [
    "CREATED",
    "REJECTED",
    "UNCHANGED",
    "UPDATED",
    "Column",
    "RosterSpec",
    "Row",
    "Staged",
    "report_write",
    "roster_import",
    "roster_import_cli",
    "roster_kinds",
    "roster_register",
    "roster_spec",
    "roster_stage",
]

Staged = SpecStaged
# Below this many valid rows a spec's per-row ``commit`` writes them (through the same services as the web
# forms); from it on, its ``commit_many`` if it has one.
BULK_MIN_ROWS = 50


class RosterSpec(ImportSpec):
    """Subclass per roster kind; register with ``roster_register``. The hooks are ``ImportSpec``'s:
    ``prepare``, ``validate``, ``plan``, ``commit``."""

    def bulk_min_rows(self) -> int:
        return BULK_MIN_ROWS  # read at call time: tests set it to force either path

    def committed(self, staged: Staged, *, acting_user, filename: str, job_id: str) -> None:
        c = staged.counts
        audit_record(
            acting_user=acting_user,
            action="roster.import",
            object_type="casework.roster_import",
            object_id=job_id,
            object_repr=filename[:200],
            changes={
                "roster": self.kind,
                "file": filename,
                "rows": c["rows"],
                "created": c[CREATED],
                "updated": c[UPDATED],
                "unchanged": c[UNCHANGED],
                "rejected": c[REJECTED],
            },
            detail=f"导入{self.name}：{filename}",
        )

    def interrupted(
        self, staged: Staged, *, acting_user, filename: str, job_id: str, stopped_at_row: int, reason: str
    ) -> None:
        c = staged.counts
        audit_record(
            acting_user=acting_user,
            action="roster.import_interrupted",
            object_type="casework.roster_import",
            object_id=job_id,
            object_repr=filename[:200],
            changes={
                "roster": self.kind,
                "file": filename,
                "rows": c["rows"],
                "created": c[CREATED],
                "updated": c[UPDATED],
                "stopped_at_row": stopped_at_row,
                "reason": reason,
            },
            detail=f"导入{self.name}中途停止：{filename}",
        )


_SPECS: dict[str, RosterSpec] = {}


def roster_register(spec: RosterSpec) -> RosterSpec:
    _SPECS[spec.kind] = spec
    VALUE_LABELS.setdefault("roster", {})[spec.kind] = spec.name  # the audit page names the roster
    return spec


def roster_spec(kind: str) -> RosterSpec:
    try:
        return _SPECS[kind]
    except KeyError:
        raise DomainError(f"未知的名单类型“{kind}”，可选：{'、'.join(sorted(_SPECS)) or '无'}") from None


def roster_kinds() -> list[str]:
    return sorted(_SPECS)


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
    return staged_import.stage(
        roster_spec(kind), source, acting_user=acting_user, filename=filename, progress=progress, plan=plan
    )


def roster_import(
    kind: str,
    source,
    *,
    acting_user,
    filename: str = "",
    progress: Progress = noop_progress,
    job_id: str = "",
) -> Staged:
    """Validate, then write every valid row in one transaction (rejected rows are left out) with the
    import's ``roster.import`` audit row (``job_id``: the web's background job, else empty)."""
    return staged_import.run(
        roster_spec(kind),
        source,
        acting_user=acting_user,
        filename=filename or getattr(source, "name", ""),
        progress=progress,
        job_id=job_id,
    )


def report_write(staged: Staged, out) -> None:
    """The error report: every row as read, wrong cells in red with the message as a comment, the errors and
    warnings in two last columns, and the 错误明细 sheet."""
    staged_import.report_write(staged, out)


def roster_import_cli(
    *, kind: str, path: str, dry_run: bool, as_json: bool, acting_user, report: str | None = None
) -> int:
    """Exit 0 when no row was rejected, 1 when some were, 2 when the file could not be used."""
    step = roster_stage if dry_run else roster_import

    def run(progress):
        return step(kind, Path(path), acting_user=acting_user, filename=Path(path).name, progress=progress)

    return staged_import.cli_run(run, dry_run=dry_run, as_json=as_json, report=report)
