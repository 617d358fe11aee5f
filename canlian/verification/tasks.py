"""Background work of the data comparison, with progress on a ``common.Job`` row."""

from __future__ import annotations

import logging
from datetime import date

from django.contrib.auth import get_user_model
from django_tasks import task

from canlian.benefits.parameters import ParameterError
from canlian.common.exceptions import DomainError
from canlian.common.jobs import job_progress_callback, job_set_status
from canlian.common.models import Job

logger = logging.getLogger(__name__)

JOB_KIND = "verification_run"


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
