"""Background work of the data comparison, with progress on a ``common.Job`` row.

The import of an outside list (web): the upload is saved where the person import keeps its uploads
(``MEDIA_ROOT/imports/<job id>/``, ``common.uploads``) and a Job of kind ``verification_import``
is created → ``outside_list_import_task`` reads, checks, keeps and matches the list
(``services.outside_list_import``, one transaction) → SUCCEEDED with the counts and the first row errors.
When required columns are missing, the Job waits (WAITING) with the columns found; the user says which
column is which on the Job's page and the task runs again on the same stored file with that mapping.
The upload is deleted once the Job is finished; an upload left waiting is deleted after
``common.uploads.UPLOAD_KEEP_DAYS`` by ``common.uploads.purge_old_files``, run at the start of every import
(person or list).

The comparison run: ``verification_run_task``.
"""

from __future__ import annotations

import logging
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
RESULT_ERRORS = 50  # row errors kept on the Job for its page; the list keeps up to ERROR_LIMIT


# ---- import of an outside list -------------------------------------------------------------------------


def upload_path(job: Job) -> Path:
    return staged_import.job_upload_path(job)


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
    folder and queue the import (``staged_import.job_enqueue``)."""
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
        task=outside_list_import_task,
    )


def import_map_enqueue(job: Job, *, mapping: dict[str, str]) -> bool:
    """Queue the waiting import again with the user's column mapping; False if it no longer waits (already
    mapped from another tab, or finished)."""
    claimed = staged_import.job_claim(
        job, message="等待导入", total=0, error="", params={**job.params, "mapping": dict(mapping)}
    )
    if claimed:
        outside_list_import_task.enqueue(str(job.pk))
    return claimed


def _fail(job: Job, message: str, *, result: dict | None = None) -> None:
    staged_import.job_fail(job, message, result=result or {})


def _ask_mapping(job: Job, result: dict) -> None:
    job_set_status(job, status=Job.Status.WAITING, result=result, message="请指定列对应关系")


@task()
def outside_list_import_task(job_id: str) -> None:
    from .services import outside_list_import

    job = Job.objects.select_related("created_by").get(pk=job_id)
    params = job.params
    purge_old_files()
    if not upload_path(job).is_file():
        _fail(job, f"上传的文件已超过保留期（{UPLOAD_KEEP_DAYS}天）被删除，请重新上传")
        return
    job_set_status(job, status=Job.Status.RUNNING, message=PHASE_READ)
    try:
        result = outside_list_import(
            acting_user=job.created_by,
            source=upload_path(job),
            kind=params["kind"],
            filename=params.get("filename", ""),
            source_name=params.get("source_name", ""),
            received_on=date.fromisoformat(params["received_on"]),
            complete=bool(params.get("complete")),
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
        return
    except ValidationFailed as exc:
        if "mapping" in exc.errors and (job.result or {}).get("mapping_required"):
            # the user's mapping is unusable (one column for two fields): ask again, saying why
            _ask_mapping(
                job, {**job.result, "mapping_error": exc.errors["mapping"], "given": params["mapping"]}
            )
            return
        _fail(job, exc.message)
        return
    except NothingToImport as exc:
        _fail(
            job,
            exc.message,
            result={
                "rejected": exc.rejected,
                "errors": exc.errors[:RESULT_ERRORS],
                "errors_total": len(exc.errors),
            },
        )
        return
    except DomainError as exc:
        _fail(job, exc.message)
        return
    except Exception:
        logger.exception("outside list import %s failed", job_id)
        _fail(job, "导入时发生内部错误，未写入任何数据；请联系管理员（已记录日志）")
        return
    job_set_status(
        job,
        status=Job.Status.SUCCEEDED,
        result={
            "list": result.outside_list.pk,
            "counts": result.counts,
            "rejected": result.rejected,
            "errors": result.errors[:RESULT_ERRORS],
            "errors_total": len(result.errors),
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
