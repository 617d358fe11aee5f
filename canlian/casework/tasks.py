"""Background roster imports (django-tasks) with progress on a ``common.Job``.

Upload → ``roster_enqueue`` (Job ``roster_import``, file under ``MEDIA_ROOT/imports/<job id>/``) →
``roster_stage_task`` validates every row, writes the error report, leaves the Job WAITING with the counts,
errors and warnings → the user confirms → ``roster_commit_task`` validates the stored file again and writes
the valid rows in one transaction (with the import's audit row; SQLite: in slices) → SUCCEEDED; the upload (full ID numbers) is deleted then."""

from __future__ import annotations

from pathlib import Path

from django.urls import reverse
from django_tasks import task

from canlian.common import staged_import
from canlian.common.jobs import job_progress_callback, job_set_status
from canlian.common.models import Job
from canlian.common.uploads import purge_old_files

from .importing import report_write, roster_import, roster_stage

JOB_KIND = "roster_import"
SHOWN = 200  # errors and warnings kept on the Job for the page (the report has all)


def roster_enqueue(*, acting_user, kind: str, stored: Path, filename: str) -> Job:
    purge_old_files()
    return staged_import.job_enqueue(
        acting_user=acting_user,
        kind=JOB_KIND,
        stored=stored,
        filename=filename,
        params={"roster": kind},
        detail_url=lambda job: reverse("casework:import_job", args=[job.pk]),
        task=roster_stage_task,
    )


def _summary(staged) -> dict:
    s = staged.summary()
    return {
        **s,
        "errors": s["errors"][:SHOWN],
        "warnings": s["warnings"][:SHOWN],
        "more_errors": max(0, len(s["errors"]) - SHOWN),
    }


@task()
def roster_stage_task(job_id: str) -> None:
    job = Job.objects.select_related("created_by").get(pk=job_id)
    job_set_status(job, status=Job.Status.RUNNING, message="正在读取文件")

    def work():
        staged = roster_stage(
            job.params["roster"],
            staged_import.job_upload_path(job),
            acting_user=job.created_by,
            filename=job.params.get("filename", ""),
            progress=job_progress_callback(job),
        )
        report_write(staged, staged_import.job_report_path(job))
        return staged

    ok, staged = staged_import.job_run(job, work, what="校验")
    if ok:
        job_set_status(
            job, status=Job.Status.WAITING, result=_summary(staged), message="校验完成，等待确认导入"
        )


def roster_commit_claim(job: Job) -> bool:
    """Move a WAITING job to QUEUED for the commit; False if another tab already did."""
    return staged_import.job_claim(job)


@task()
def roster_commit_task(job_id: str) -> None:
    job = Job.objects.select_related("created_by").get(pk=job_id)
    job_set_status(job, status=Job.Status.RUNNING, message="正在重新校验并写入")
    if not staged_import.job_upload_path(job).is_file():
        staged_import.job_fail(job, "上传的文件已被删除，请重新上传")
        return

    def work():
        staged = roster_import(
            job.params["roster"],
            staged_import.job_upload_path(job),
            acting_user=job.created_by,
            filename=job.params.get("filename", ""),
            progress=job_progress_callback(job),
            job_id=str(job.pk),
        )
        staged_import.job_discard_upload(job)
        report_write(staged, staged_import.job_report_path(job))
        return staged

    ok, staged = staged_import.job_run(job, work)
    if ok:
        job_set_status(
            job,
            status=Job.Status.SUCCEEDED,
            result={**_summary(staged), "committed": True},
            message="导入完成",
        )
