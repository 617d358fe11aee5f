"""The uploads area: files users upload for a background import (persons, outside lists) and the reports
written back, under ``MEDIA_ROOT/imports/<job id>/``.

Uploads hold full ID numbers in the clear: each import deletes its upload when its Job finishes, uploads
never confirmed are deleted after UPLOAD_KEEP_DAYS, and reports (which repeat the rows) after
REPORT_KEEP_DAYS, by ``purge_old_files``, which every import runs first.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from django.conf import settings

from .spreadsheet import SUPPORTED_EXTENSIONS

REPORT_NAME = "report.xlsx"
UPLOAD_KEEP_DAYS = 7  # an unconfirmed upload (full ID numbers in the clear) is deleted after this
REPORT_KEEP_DAYS = 30  # the report repeats the uploaded rows: deleted after this


def import_dir(job_id) -> Path:
    return Path(settings.MEDIA_ROOT) / "imports" / str(job_id)


def upload_save(upload) -> Path:
    """Write a Django upload into a fresh folder of the uploads area; returns the file's path. The caller
    renames the folder to its Job's id (``import_dir(job.pk)``) or removes it if the file is refused."""
    folder = import_dir(f"upload-{uuid.uuid4().hex}")
    folder.mkdir(parents=True, exist_ok=True)
    ext = os.path.splitext(upload.name)[1].lower()
    path = folder / ("upload" + (ext if ext in SUPPORTED_EXTENSIONS else ""))
    with open(path, "wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    return path


def purge_old_files(*, now: float | None = None) -> int:
    """Delete uploads older than UPLOAD_KEEP_DAYS and reports older than REPORT_KEEP_DAYS; returns how many."""
    root = Path(settings.MEDIA_ROOT) / "imports"
    if not root.is_dir():
        return 0
    now = now or time.time()
    removed = 0
    for path in root.glob("*/*"):
        keep = REPORT_KEEP_DAYS if path.name == REPORT_NAME else UPLOAD_KEEP_DAYS
        if path.is_file() and now - path.stat().st_mtime > keep * 86400:
            path.unlink(missing_ok=True)
            removed += 1
    for folder in root.iterdir():
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return removed
