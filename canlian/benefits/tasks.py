"""Background work of the benefits app, with progress on a Job row."""

from __future__ import annotations

import logging
from datetime import date

from django.contrib.auth import get_user_model
from django_tasks import task

from canlian.common.exceptions import DomainError
from canlian.common.jobs import job_progress_callback, job_set_status
from canlian.common.models import Job

from .parameters import ParameterError

logger = logging.getLogger(__name__)


@task()
def payroll_generate_task(job_id: str) -> None:
    from .models import Programme
    from .services.payroll import payroll_generate

    job = Job.objects.get(pk=job_id)
    user = get_user_model().objects.get(pk=job.created_by_id)
    try:
        payroll = payroll_generate(
            acting_user=user,
            programme=Programme.objects.get(code=job.params["programme"]),
            month=date.fromisoformat(job.params["month"]),
            progress=job_progress_callback(job, every=1),
        )
    except DomainError as exc:
        job_set_status(job, status=Job.Status.FAILED, error=exc.message)
        return
    except ParameterError as exc:
        job_set_status(job, status=Job.Status.FAILED, error=f"参数缺失：{exc}")
        return
    except Exception:
        logger.exception("payroll generation failed (job %s)", job.pk)
        job_set_status(job, status=Job.Status.FAILED, error="生成失败：系统错误，已记录日志，请联系管理员")
        raise
    job_set_status(
        job,
        status=Job.Status.SUCCEEDED,
        result={"payroll": payroll.pk, "lines": payroll.line_count, "total": str(payroll.total)},
        message="已生成",
    )
