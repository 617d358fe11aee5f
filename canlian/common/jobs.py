"""Progress records for long work. Long functions take a ``progress(done, total, message)`` callback:
the background task passes one that writes the Job row (outside any transaction, so the page sees it),
the CLI passes one that draws a progress bar."""

from __future__ import annotations

from collections.abc import Callable

from django.utils import timezone

from .models import Job

Progress = Callable[[int, int, str], None]


def _noop(done: int, total: int, message: str = "") -> None:
    return None


noop_progress: Progress = _noop


def job_create(*, acting_user, kind: str, params: dict | None = None) -> Job:
    return Job.objects.create(kind=kind, params=params or {}, created_by=acting_user)


def job_progress_callback(job: Job, *, every: int = 500) -> Progress:
    last = {"done": -every}

    def report(done: int, total: int, message: str = "") -> None:
        if done - last["done"] < every and done < total and message == job.message:
            return
        last["done"] = done
        job.done, job.total, job.message = done, total, message[:200]
        Job.objects.filter(pk=job.pk).update(
            done=done, total=total, message=job.message, status=Job.Status.RUNNING
        )

    return report


def job_set_status(
    job: Job, *, status: str, result: dict | None = None, error: str = "", message: str = ""
) -> Job:
    job.status = status
    if result is not None:
        job.result = result
    job.error = error
    if message:
        job.message = message
    if status in (Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.WAITING):
        job.finished_at = timezone.now()
    job.save(update_fields=["status", "result", "error", "message", "finished_at"])
    return job


def cli_progress(desc: str, *, unit: str = "步", leave: bool = True):
    """A progress bar on stderr for the command line: returns (bar, progress callback); close the bar after."""
    import sys

    from tqdm import tqdm

    bar = tqdm(total=1, desc=desc, unit=unit, file=sys.stderr, leave=leave, dynamic_ncols=True)

    def progress(done: int, total: int, message: str = "") -> None:
        bar.total = max(total, 1)
        bar.n = done
        if message:
            bar.set_postfix_str(message)
        bar.refresh()

    return bar, progress
