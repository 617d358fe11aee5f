"""Background work of the data comparison, with progress on a ``common.Job``.

The import of an outside list (web), the staged import of every spreadsheet (``common.staged_import``):
the upload is saved where the person import keeps its uploads (``MEDIA_ROOT/imports/<job id>/``,
``common.uploads``) and a Job of kind ``verification_import`` is created →
``outside_list_stage_task`` reads and checks every row with progress (``services.outside_list_check``,
nothing written), writes the error report and leaves the Job WAITING with the preview (counts, first errors
and warnings) → the user confirms (``import_confirm``) or cancels (``import_cancel``) →
``outside_list_import_task`` reads the stored file again, keeps and matches the list
(``services.outside_list_import``, one transaction) → SUCCEEDED with the counts and the first row errors.
When required columns are missing, the Job waits (WAITING, ``mapping_required``) with the columns found;
the user says which column is which on the Job's page and the check runs again on the same stored file with
that mapping. A file without a single usable row fails at the check, its report kept for download.
The upload is deleted once the Job is finished; an upload left waiting is deleted after
``common.uploads.UPLOAD_KEEP_DAYS`` by ``common.uploads.purge_old_files``, run at the start of every import
(person or list).

The comparison run: ``verification_run_task``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path

from django.contrib.auth import get_user_model
from django.urls import reverse
from django_tasks import task

from canlian.benefits.parameters import ParameterError
from canlian.common import staged_import
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.common.jobs import job_progress_callback, job_set_status
from canlian.common.models import Job
from canlian.common.uploads import UPLOAD_KEEP_DAYS, purge_old_files

from .importers import PHASE_READ, MappingRequired, NothingToImport

logger = logging.getLogger(__name__)

JOB_KIND = "verification_run"
IMPORT_JOB_KIND = "verification_import"
RESULT_ERRORS = 50  # row errors (and warnings) kept on the Job for its page; the report has them all
PHASE_PREVIEW = "校验完成，等待确认导入"


# ---- import of an outside list -------------------------------------------------------------------------


def upload_path(job: Job) -> Path:
    return staged_import.job_upload_path(job)


def report_path(job: Job) -> Path:
    return staged_import.job_report_path(job)


def import_enqueue(
    *,
    acting_user,
    stored: Path,
    filename: str,
    kind: str,
    source_name: str,
    received_on: date,
    complete: bool,
) -> Job:
    """Create the Job (attributed to ``acting_user``, visible to them only), move the saved upload into its
    folder and queue the check (``staged_import.job_enqueue``)."""
    return staged_import.job_enqueue(
        acting_user=acting_user,
        kind=IMPORT_JOB_KIND,
        stored=stored,
        filename=filename,
        params={
            "kind": kind,
            "source_name": source_name,
            "received_on": received_on.isoformat(),
            "complete": bool(complete),
            "mapping": {},
        },
        detail_url=lambda job: reverse("verification:import_job", args=[job.pk]),
        task=outside_list_stage_task,
    )


def import_map_enqueue(job: Job, *, mapping: dict[str, str]) -> bool:
    """Check the waiting upload again with the user's column mapping; False if it no longer waits (already
    mapped from another tab, or finished)."""
    claimed = staged_import.job_claim(
        job, message="等待校验", total=0, error="", params={**job.params, "mapping": dict(mapping)}
    )
    if claimed:
        outside_list_stage_task.enqueue(str(job.pk))
    return claimed


def import_previewed(job: Job) -> bool:
    """The job waits for the user to confirm its preview (not for a column mapping)."""
    return job.status == Job.Status.WAITING and bool((job.result or {}).get("staged"))


def import_confirm(job: Job) -> bool:
    """Queue the import of a previewed list; False if it is not waiting for a confirmation (confirmed
    already, from this tab or another, cancelled, or waiting for a column mapping)."""
    if not import_previewed(job):
        return False
    claimed = staged_import.job_claim(job, message="等待导入")
    if claimed:
        outside_list_import_task.enqueue(str(job.pk))
    return claimed


def import_cancel(job: Job) -> bool:
    """Drop a waiting import (preview or mapping step): nothing is written, the upload and report go."""
    return staged_import.job_cancel(job)


def _fail(job: Job, message: str, *, result: dict | None = None) -> None:
    staged_import.job_fail(job, message, result=result or {})


def _ask_mapping(job: Job, result: dict) -> None:
    job_set_status(job, status=Job.Status.WAITING, result=result, message="请指定列对应关系")


def _errors_result(errors: list[dict], rejected: int, **extra) -> dict:
    return {"rejected": rejected, "errors": errors[:RESULT_ERRORS], "errors_total": len(errors), **extra}


def _run(job: Job, work: Callable, *, what: str):
    """``work()``, or None with the job WAITING for a (new) column mapping or FAILED with a Chinese message
    (an internal error logged). The upload is kept while the job waits and deleted when it fails."""
    params = job.params
    purge_old_files()
    if not upload_path(job).is_file():
        _fail(job, f"上传的文件已超过保留期（{UPLOAD_KEEP_DAYS}天）被删除，请重新上传")
        return None
    job_set_status(job, status=Job.Status.RUNNING, message=PHASE_READ)
    try:
        return work(
            acting_user=job.created_by,
            source=upload_path(job),
            kind=params["kind"],
            filename=params.get("filename", ""),
            source_name=params.get("source_name", ""),
            received_on=date.fromisoformat(params["received_on"]),
            mapping=params.get("mapping") or None,
            progress=job_progress_callback(job, every=1000),
        )
    except MappingRequired as exc:
        _ask_mapping(
            job,
            {
                "mapping_required": True,
                "reason": exc.message,
                "headers": exc.headers,
                "missing": exc.missing,
                "found": exc.found,
            },
        )
    except ValidationFailed as exc:
        if "mapping" in exc.errors and (job.result or {}).get("mapping_required"):
            # the user's mapping is unusable (one column for two fields): ask again, saying why
            _ask_mapping(
                job, {**job.result, "mapping_error": exc.errors["mapping"], "given": params["mapping"]}
            )
        else:
            _fail(job, exc.message)
    except NothingToImport as exc:
        _fail(job, exc.message, result=_errors_result(exc.errors, exc.rejected))
    except DomainError as exc:
        _fail(job, exc.message)
    except Exception:
        logger.exception("outside list %s %s failed", what, job.pk)
        _fail(job, staged_import.INTERNAL_ERROR.format(what=what))
    return None


@task()
def outside_list_stage_task(job_id: str) -> None:
    """Check every row (nothing written), write the report, wait for the user's confirmation."""
    from .services import outside_list_check

    job = Job.objects.select_related("created_by").get(pk=job_id)
    staged = _run(job, outside_list_check, what="校验")
    if staged is None:
        return
    try:
        staged_import.report_write(staged, report_path(job))
    except Exception:
        logger.exception("outside list report %s failed", job_id)
        _fail(job, staged_import.INTERNAL_ERROR.format(what="生成校验报告"))
        return
    errors, warnings = list(staged.errors()), list(staged.warnings())
    if not staged.kept:
        first = "；".join(staged_import.error_line(e) for e in errors[:5])
        _fail(
            job,
            f"没有可以导入的行（{staged.rejected} 行有误）：{first}",
            result=_errors_result(errors, staged.rejected, rows=len(staged.rows)),
        )
        return
    job_set_status(
        job,
        status=Job.Status.WAITING,
        result={
            "staged": True,
            "rows": len(staged.rows),
            "kept": len(staged.kept),
            "invalid_ids": staged.invalid_ids,
            **_errors_result(errors, staged.rejected),
            "warnings": warnings[:RESULT_ERRORS],
            "warnings_total": len(warnings),
        },
        message=PHASE_PREVIEW,
    )


@task()
def outside_list_import_task(job_id: str) -> None:
    """The confirmed import: the stored file read and checked again, kept and matched in one transaction."""
    from .services import outside_list_import

    job = Job.objects.select_related("created_by").get(pk=job_id)
    complete = bool(job.params.get("complete"))
    result = _run(job, lambda **kw: outside_list_import(complete=complete, **kw), what="导入")
    if result is None:
        return
    try:  # the report now says what was kept; the preview's report if this fails
        staged_import.report_write(result.staged, report_path(job))
    except Exception:
        logger.exception("outside list report %s failed", job_id)
    job_set_status(
        job,
        status=Job.Status.SUCCEEDED,
        result={
            "list": result.outside_list.pk,
            "counts": result.counts,
            **_errors_result(result.errors, result.rejected),
        },
        message="导入完成",
    )
    staged_import.job_discard_upload(job)


# ---- comparison run ------------------------------------------------------------------------------------


@task()
def verification_run_task(job_id: str) -> None:
    from .services import verification_run

    job = Job.objects.get(pk=job_id)
    user = get_user_model().objects.get(pk=job.created_by_id)
    month = job.params.get("month")
    try:
        run = verification_run(
            acting_user=user,
            month=date.fromisoformat(month) if month else None,
            all_lists=bool(job.params.get("all_lists")),
            progress=job_progress_callback(job, every=1),
        )
    except DomainError as exc:
        job_set_status(job, status=Job.Status.FAILED, error=exc.message)
        return
    except ParameterError as exc:
        job_set_status(job, status=Job.Status.FAILED, error=f"参数缺失：{exc}")
        return
    except Exception:
        logger.exception("verification run failed (job %s)", job.pk)
        job_set_status(job, status=Job.Status.FAILED, error="比对失败：系统错误，已记录日志，请联系管理员")
        raise
    job_set_status(
        job,
        status=Job.Status.SUCCEEDED,
        result={"run": run.pk, "findings": run.stats["findings"], "candidates": run.stats["candidates"]},
        message="比对完成",
    )
