"""Background tasks of the person import (django-tasks), with progress written to a ``common.Job``.

Web flow: the upload is saved under ``MEDIA_ROOT/imports/<job id>/`` and a Job of kind ``person_import`` is
created → ``person_import_stage`` reads and validates every row, writes the report and leaves the Job
WAITING with a summary (counts, first errors, first change previews, a fingerprint of what a commit would
do) → the user confirms → ``person_import_commit`` validates the same stored file again and writes it in
one transaction (``importers.persons_import``) if the result is still the one the user saw (same
fingerprint) → SUCCEEDED.

Why re-validate the stored file rather than keep the staged rows: the file is the only state, so nothing
staged can go stale, no second copy of the rows (with full ID numbers) sits in the database, and the commit
sees the registry as it is at commit time. If that differs from the preview (someone registered one of the
persons in between), the Job goes back to WAITING with the new preview instead of writing something the
user did not see. The upload is deleted once the Job is finished; the report stays for download.
Uploads never confirmed and old reports are deleted by ``common.uploads.purge_old_files``, run at the
start of every import.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django_tasks import task

from canlian.common import staged_import
from canlian.common.jobs import job_progress_callback, job_set_status
from canlian.common.models import Job
from canlian.common.uploads import UPLOAD_KEEP_DAYS, purge_old_files
from canlian.common.uploads import import_dir as import_dir  # the upload page moves the upload there

from . import importers

logger = logging.getLogger(__name__)

JOB_KIND = "person_import"


def upload_path(job: Job) -> Path:
    return staged_import.job_upload_path(job)


def report_path(job_id) -> Path:
    return staged_import.job_report_path(job_id)


def _stage(job: Job, progress):
    return importers.persons_stage(
        upload_path(job),
        acting_user=job.created_by,
        filename=job.params.get("filename", ""),
        allow_new_communities=bool(job.params.get("allow_new_communities")),
        progress=progress,
    )


@task()
def person_import_stage(job_id: str) -> None:
    job = Job.objects.select_related("created_by").get(pk=job_id)
    job_set_status(job, status=Job.Status.RUNNING, message="正在读取文件")
    purge_old_files()

    def work():
        staged = _stage(job, job_progress_callback(job, every=1000))
        importers.report_write(staged, report_path(job.pk))
        return staged

    ok, staged = staged_import.job_run(job, work, what="校验")
    if not ok:
        return
    summary = staged.summary()
    if staged.to_write:
        job_set_status(
            job, status=Job.Status.WAITING, result=summary, message="校验完成，请核对后点击“确认导入”"
        )
    else:
        job_set_status(
            job, status=Job.Status.SUCCEEDED, result=summary, message="校验完成：没有需要新增或更新的行"
        )
        staged_import.job_discard_upload(job)


@task()
def person_import_commit(job_id: str) -> None:
    job = Job.objects.select_related("created_by").get(pk=job_id)
    if not upload_path(job).is_file():
        staged_import.job_fail(job, f"上传的文件已超过保留期（{UPLOAD_KEEP_DAYS}天）被删除，请重新上传")
        return
    job_set_status(job, status=Job.Status.RUNNING, message="正在重新校验并写入，完成后本页自动刷新")
    ok, staged = staged_import.job_run(
        job,
        lambda: importers.persons_import(
            upload_path(job),
            acting_user=job.created_by,
            filename=job.params.get("filename", ""),
            allow_new_communities=bool(job.params.get("allow_new_communities")),
            expect_fingerprint=job.result.get("fingerprint", ""),
            job_id=str(job.pk),
            progress=job_progress_callback(job, every=1000),
        ),
    )
    if not ok:
        return
    try:
        importers.report_write(staged, report_path(job.pk), committed=staged.committed)
    except Exception:  # the rows are written (or the preview is new); a missing report must not hide that
        logger.exception("person import %s: report failed", job_id)
    if not staged.committed:
        job_set_status(
            job,
            status=Job.Status.WAITING if staged.to_write else Job.Status.SUCCEEDED,
            result=staged.summary() | {"changed_since_preview": True},
            message="校验后档案数据已发生变化，以下为最新的校验结果，请重新核对后再确认",
        )
        if not staged.to_write:
            staged_import.job_discard_upload(job)
        return
    job_set_status(job, status=Job.Status.SUCCEEDED, result=staged.summary(), message="导入完成")
    staged_import.job_discard_upload(job)
