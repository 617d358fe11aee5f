"""One machinery for every .xlsx export: declared once, run as a background job with progress on the web and
synchronously with a progress bar on the command line, downloaded only by whoever asked, audited, and
deleted after ``CANLIAN_EXPORT_KEEP_HOURS``.

Declaring an export (in your app's ``exporters.py``: every installed app's ``exporters`` module is imported
the first time an export is looked up, as Django's admin discovers ``admin.py``)::

    from canlian.common.exports import Export, export_register

    def roster_build(*, acting_user, params, out, progress) -> int:
        qs = access.employment_cases_visible(acting_user).filter(...)   # scoped exactly as the list page
        total = qs.count()
        with XlsxBook(out, constant_memory=True) as book:
            sheet = book.add_sheet("就业服务名单", HEADERS, text_columns=[1])
            for n, case in enumerate(qs.iterator(chunk_size=2000), 1):
                sheet.append([case.person.name, mask_id_number(case.person.id_number), ...])
                progress(n, total, "正在写入")
        audit_record(acting_user=acting_user, action="employment.export", ...,
                     changes={"rows": [None, total], "masked": [None, True]})
        return total

    export_register(Export(
        name="employment_roster",                      # unique; the job and the URL name it
        title="就业服务名单",                            # Chinese, shown on the job page and in 我的导出
        build=roster_build,
        filename=lambda params: "就业服务名单",          # the download name's stem: "-<YYYYmmdd-HHMM>.xlsx" added
        check=roster_check,                            # optional: refuse at once, before a job is queued
    ))

- ``build(*, acting_user, params, out, progress) -> rows``: writes the workbook to ``out`` (a binary file),
  reports ``progress(done, total, message)`` and returns the number of data rows. It checks permissions,
  scopes every queryset through ``access`` and masks (``common/masking.py``) as a synchronous export would,
  and writes the export's own audit row (what was exported, how many rows, masked or not): it is the same
  code the command line runs. ``params`` is a JSON-able dict parsed and validated by the view.
- ``unmasked``: a bool, or a function of ``params``, saying whether the file holds full ID or account
  numbers. An unmasked file can be downloaded once: it is deleted as it is sent.
- ``check(*, acting_user, params)``: optional; raises ``PermissionDenied`` / ``DomainError`` (Chinese
  message) so the page refuses at once instead of showing a failed job.

Starting one from a view (POST)::

    return export_start_response(request, "employment_roster", {"town": town_id}, back=list_url)

which starts the job (or finds the same export of the same user still running: a double submit opens that
job and says so) and redirects to its page (``common:export_detail``): a progress bar polled with htmx, then
a download link (``common:export_download``). ``common:export_list`` (我的导出) lists the user's recent
exports. On the command line: ``export_cli(name=..., acting_user=..., params=..., out=path)``.

Files live under ``DATA_DIR/exports/`` (folder 0700, files 0600, named by the job's id), are deleted
``CANLIAN_EXPORT_KEEP_HOURS`` after they were written (``exports_purge``, run by every export and by the
list page; a file past its time is refused even before it is purged), and an unmasked one on its download.
Each download is audited (``export.download``: which export, rows, masked or not, file name).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from .audit import audit_read
from .context import client_ip
from .exceptions import DomainError, PermissionDenied
from .jobs import Progress, job_progress_callback, job_set_status, noop_progress
from .models import Job

logger = logging.getLogger(__name__)

JOB_KIND = "export"
DEFAULT_KEEP_HOURS = 24
STALE_AFTER = timedelta(hours=2)  # a queued/running job older than this no longer absorbs a double submit
INTERNAL_ERROR = "导出时发生内部错误，未生成文件；请联系管理员（已记录日志）"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Build = Callable[..., int]


@dataclass(frozen=True)
class Export:
    name: str
    title: str
    build: Build
    filename: Callable[[dict], str]
    unmasked: bool | Callable[[dict], bool] = False
    check: Callable[..., None] | None = None
    stamped: bool = True  # add "-<YYYYmmdd-HHMM>" to the file name

    def file_name(self, params: dict) -> str:
        stem = self.filename(params)
        return f"{stem}-{timezone.localtime():%Y%m%d-%H%M}.xlsx" if self.stamped else f"{stem}.xlsx"

    def is_unmasked(self, params: dict) -> bool:
        return bool(self.unmasked(params) if callable(self.unmasked) else self.unmasked)


class ExportUnavailable(DomainError):
    """The file is not (or no longer) there: still running, failed, expired, or an unmasked file already
    downloaded. The message says which, in Chinese."""


_EXPORTS: dict[str, Export] = {}
_discovered = False


def export_register(spec: Export) -> Export:
    """Declare an export (idempotent by name, so a re-import changes nothing)."""
    _EXPORTS[spec.name] = spec
    return spec


def export_get(name: str) -> Export:
    global _discovered
    if name not in _EXPORTS and not _discovered:
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("exporters")
        _discovered = True
    try:
        return _EXPORTS[name]
    except KeyError:
        raise DomainError(f"未知的导出类型“{name}”") from None


# ---- files ---------------------------------------------------------------------------------------------


def keep_hours() -> float:
    return float(getattr(settings, "CANLIAN_EXPORT_KEEP_HOURS", DEFAULT_KEEP_HOURS))


def export_dir() -> Path:
    folder = Path(settings.DATA_DIR) / "exports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def export_path(job_id) -> Path:
    return export_dir() / f"{job_id}.xlsx"


def _expired(job: Job, now=None) -> bool:
    written = job.finished_at or job.created_at
    return (now or timezone.now()) - written > timedelta(hours=keep_hours())


def exports_purge(*, now: float | None = None) -> int:
    """Delete export files (and unfinished ``.part`` files) older than the keep time; returns how many."""
    now = now or time.time()
    limit = keep_hours() * 3600
    removed = 0
    for path in export_dir().iterdir():
        try:
            if path.is_file() and now - path.stat().st_mtime > limit:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # a download or another purge took it first
            continue
    return removed


# ---- starting, running ---------------------------------------------------------------------------------


def _key(name: str, params: dict) -> str:
    return hashlib.sha256(json.dumps([name, params], sort_keys=True, default=str).encode()).hexdigest()[:40]


def exports_visible(user):
    from canlian.accounts import access

    return access.jobs_visible(user).filter(kind=JOB_KIND)


def export_start(*, acting_user, name: str, params: dict) -> tuple[Job, bool]:
    """Queue the export ``name`` with ``params`` for ``acting_user``; returns (job, created). The same
    export with the same parameters still queued or running for this user is returned instead of a second
    job (created False). ``check`` refusals raise before anything is queued."""
    from canlian.accounts.models import User

    spec = export_get(name)
    if spec.check is not None:
        spec.check(acting_user=acting_user, params=params)
    key = _key(name, params)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=acting_user.pk).first()  # one start at a time per user
        running = (
            Job.objects.filter(
                created_by=acting_user,
                kind=JOB_KIND,
                status__in=(Job.Status.QUEUED, Job.Status.RUNNING),
                created_at__gte=timezone.now() - STALE_AFTER,
                params__key=key,
            )
            .order_by("-created_at")
            .first()
        )
        if running is not None:
            return running, False
        job = Job.objects.create(
            kind=JOB_KIND,
            created_by=acting_user,
            message="排队等待导出",
            params={
                "export": name,
                "args": params,
                "key": key,
                "title": spec.title,
                "filename": spec.file_name(params),
                "unmasked": spec.is_unmasked(params),
                "ip": client_ip.get() or "",
            },
        )
    export_job.enqueue(str(job.pk))  # after the commit: the worker must see the row
    return job, True


@task()
def export_job(job_id: str) -> None:
    job = Job.objects.select_related("created_by").get(pk=job_id)
    if job.status != Job.Status.QUEUED:
        return
    token = client_ip.set(job.params.get("ip") or None)  # the build's audit row carries the requester's IP
    try:
        export_run(job)
    finally:
        client_ip.reset(token)


def export_run(job: Job) -> Job:
    """Build the file of ``job`` (the task body): SUCCEEDED with the row count, or FAILED with a Chinese
    message and no file."""
    exports_purge()
    job_set_status(job, status=Job.Status.RUNNING, message="正在导出")
    path = export_path(job.pk)
    part = path.with_suffix(".part")
    try:
        spec = export_get(job.params["export"])
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            rows = spec.build(
                acting_user=job.created_by,
                params=job.params.get("args", {}),
                out=out,
                progress=job_progress_callback(job, every=500),
            )
        os.replace(part, path)
    except DomainError as exc:
        part.unlink(missing_ok=True)
        return job_set_status(job, status=Job.Status.FAILED, error=exc.message, message="导出失败")
    except Exception:
        logger.exception("export %s (%s) failed", job.pk, job.params.get("export"))
        part.unlink(missing_ok=True)
        return job_set_status(job, status=Job.Status.FAILED, error=INTERNAL_ERROR, message="导出失败")
    Job.objects.filter(pk=job.pk).update(done=rows, total=rows)
    job.done = job.total = rows
    return job_set_status(
        job,
        status=Job.Status.SUCCEEDED,
        result={"rows": rows, "size": path.stat().st_size},
        message=f"导出完成：共 {rows} 行",
    )


def export_cli(*, name: str, acting_user, params: dict, out: str, bar: bool = True) -> int:
    """The same export, synchronously, to the path ``out``, with a progress bar on stderr; returns the rows.
    Refusals raise as they do for the web (``PermissionDenied`` / ``DomainError``)."""
    from .jobs import cli_progress

    spec = export_get(name)
    if spec.check is not None:
        spec.check(acting_user=acting_user, params=params)
    progress_bar, progress = cli_progress(f"导出{spec.title}", unit="行") if bar else (None, noop_progress)
    try:
        with open(out, "wb") as fh:
            return spec.build(acting_user=acting_user, params=params, out=fh, progress=progress)
    except BaseException:
        Path(out).unlink(missing_ok=True)  # no half-written file left behind
        raise
    finally:
        if progress_bar is not None:
            progress_bar.close()


# ---- state for the pages, download ---------------------------------------------------------------------


@dataclass
class ExportState:
    job: Job
    running: bool
    ready: bool  # the file can be downloaded now
    gone: str  # why a finished export has no file any more ("" when ready or not finished)
    expires_at: Any


def export_state(job: Job, now=None) -> ExportState:
    now = now or timezone.now()
    running = job.status in (Job.Status.QUEUED, Job.Status.RUNNING)
    gone, ready = "", False
    if job.status == Job.Status.SUCCEEDED:
        if job.result.get("downloaded_at"):
            gone = "未打码文件只能下载一次，已下载并删除；如需再次获取请重新导出"
        elif _expired(job, now) or not export_path(job.pk).is_file():
            gone = f"文件已超过保留期（{keep_hours():g}小时）被删除，请重新导出"
        else:
            ready = True
    expires = (job.finished_at or job.created_at) + timedelta(hours=keep_hours()) if ready else None
    return ExportState(job=job, running=running, ready=ready, gone=gone, expires_at=expires)


def export_open(*, acting_user, job: Job):
    """The file of ``job`` opened for sending, and its download name; the download is audited, and an
    unmasked file is deleted as it is taken (the open handle still reads it). ``job`` must come from
    ``exports_visible(acting_user)``. Raises ``ExportUnavailable`` with the reason."""
    state = export_state(job)
    if not state.ready:
        if job.status == Job.Status.FAILED:
            raise ExportUnavailable("导出失败，没有可下载的文件")
        raise ExportUnavailable(state.gone or "导出尚未完成，请稍候")
    path = export_path(job.pk)
    unmasked = bool(job.params.get("unmasked"))
    if unmasked:
        taken = path.with_suffix(f".taken-{os.getpid()}-{time.monotonic_ns()}")
        try:
            os.rename(path, taken)  # atomic: of two simultaneous downloads only one gets the file
        except FileNotFoundError:
            raise ExportUnavailable("未打码文件只能下载一次，已下载并删除；如需再次获取请重新导出") from None
        handle = open(taken, "rb")
        taken.unlink()
        job.result = {**job.result, "downloaded_at": timezone.now().isoformat()}
        Job.objects.filter(pk=job.pk).update(result=job.result)
    else:
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            raise ExportUnavailable("文件已被删除，请重新导出") from None
    rows = job.result.get("rows", 0)
    audit_read(
        acting_user=acting_user,
        action="export.download",
        obj=job,
        object_repr=job.params.get("filename", "")[:200],
        changes={
            "export": [None, job.params.get("title", "")],
            "rows": [None, rows],
            "masked": [None, not unmasked],
            "file": [None, job.params.get("filename", "")],
        },
    )
    return handle, job.params.get("filename") or "导出.xlsx"


def export_start_response(request, name: str, params: dict, *, back: str):
    """For a POST view: start the export and redirect to its page; a refusal goes back to ``back`` with the
    message; a double submit opens the running job with a note."""
    from django.contrib import messages
    from django.shortcuts import redirect

    try:
        job, created = export_start(acting_user=request.user, name=name, params=params)
    except DomainError as exc:  # PermissionDenied is a DomainError
        messages.error(request, exc.message)
        return redirect(back)
    if not created:
        messages.info(request, "相同的导出正在进行中，已为您打开该任务，请勿重复提交")
    return redirect("common:export_detail", pk=job.pk)


__all__ = [
    "Export",
    "ExportUnavailable",
    "PermissionDenied",
    "Progress",
    "export_cli",
    "export_get",
    "export_open",
    "export_register",
    "export_start",
    "export_start_response",
    "export_state",
    "exports_purge",
    "exports_visible",
]
