"""Background roster imports (django-tasks) with progress on a ``common.Job``.

Upload → ``roster_enqueue`` (Job ``roster_import``, file under ``MEDIA_ROOT/imports/<job id>/``) →
``roster_stage_task`` validates every row, writes the error report, leaves the Job WAITING with the counts,
errors and warnings → the user confirms → ``roster_commit_task`` validates the stored file again and writes
the valid rows in one transaction → SUCCEEDED; the upload (full ID numbers) is deleted then."""

from __future__ import annotations

import os
from pathlib import Path

from django.urls import reverse
from django_tasks import task

from canlian.common.exceptions import DomainError
from canlian.common.jobs import job_create, job_progress_callback, job_set_status
from canlian.common.models import Job
from canlian.common.uploads import REPORT_NAME, import_dir, purge_old_files

from .importing import report_write, roster_import, roster_stage

JOB_KIND = "roster_import"
SHOWN = 200  # errors and warnings kept on the Job for the page (the report has all)


def roster_enqueue(*, acting_user, kind: str, stored: Path, filename: str) -> Job:
    purge_old_files()
    job = job_create(
        acting_user=acting_user,
        kind=JOB_KIND,
        params={"roster": kind, "stored": stored.name, "filename": os.path.basename(filename)[:200]},
    )
    job.params["detail_url"] = reverse("casework:import_job", args=[job.pk])
    job.save(update_fields=["params"])
    stored.parent.rename(import_dir(job.pk))
    roster_stage_task.enqueue(str(job.pk))
    return job


def _summary(staged) -> dict:
    s = staged.summary()
    return {
        **s,
        "errors": s["errors"][:SHOWN],
        "warnings": s["warnings"][:SHOWN],
        "more_errors": max(0, len(s["errors"]) - SHOWN),
    }


def _discard(job: Job) -> None:
    path = import_dir(job.pk) / job.params.get("stored", "")
    if job.params.get("stored") and path.is_file():
        path.unlink()


@task()
def roster_stage_task(job_id: str) -> None:
    job = Job.objects.select_related("created_by").get(pk=job_id)
    try:
        staged = roster_stage(
            job.params["roster"],
            import_dir(job.pk) / job.params["stored"],
            acting_user=job.created_by,
            filename=job.params.get("filename", ""),
            progress=job_progress_callback(job),
        )
    except DomainError as exc:
        _discard(job)
        job_set_status(job, status=Job.Status.FAILED, error=exc.message)
        return
    report_write(staged, import_dir(job.pk) / REPORT_NAME)
    job_set_status(job, status=Job.Status.WAITING, result=_summary(staged), message="校验完成，等待确认导入")


def roster_commit_claim(job: Job) -> bool:
    """Move a WAITING job to QUEUED for the commit; False if another tab already did."""
    return bool(
        Job.objects.filter(pk=job.pk, status=Job.Status.WAITING).update(
            status=Job.Status.QUEUED, message="等待写入"
        )
    )


@task()
def roster_commit_task(job_id: str) -> None:
    job = Job.objects.select_related("created_by").get(pk=job_id)
    try:
        staged = roster_import(
            job.params["roster"],
            import_dir(job.pk) / job.params["stored"],
            acting_user=job.created_by,
            filename=job.params.get("filename", ""),
            progress=job_progress_callback(job),
        )
    except DomainError as exc:
        job_set_status(job, status=Job.Status.FAILED, error=exc.message)
        return
    finally:
        _discard(job)
    report_write(staged, import_dir(job.pk) / REPORT_NAME)
    job_set_status(
        job, status=Job.Status.SUCCEEDED, result={**_summary(staged), "committed": True}, message="导入完成"
    )
