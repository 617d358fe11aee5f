"""An export in a real browser (Playwright + Debian chromium): the button starts a background job, the job
page shows the progress as the job moves (htmx polling, no inline script: no CSP violation), then the file
downloads and holds the right rows."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_export_shows_progress_then_downloads(browser_page, login_as, users, make_person, settings):
    from canlian.common.exports import export_run
    from canlian.common.models import Job

    # the job waits in the queue until the test runs it (the live server shares these settings)
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    people = [make_person(name=name, town="甪直镇", category=4) for name in ("张伟", "李娜", "王芳")]
    make_person(name="赵敏", town="甪直镇", category=5)
    page = browser_page
    csp: list[str] = []
    page.on("console", lambda msg: csp.append(msg.text) if "Content Security Policy" in msg.text else None)
    login_as(page, "district1")
    page.goto("/registry/persons/?category=4")
    with page.expect_navigation():
        page.click("#person-export")
    assert re.search(r"/exports/[0-9a-f-]+/$", page.url)
    expect(page.locator("#export-job")).to_contain_text("排队等待导出")

    # the page follows the job as it moves
    job = Job.objects.get(kind="export")
    Job.objects.filter(pk=job.pk).update(status="running", done=2, total=3, message="正在导出")
    expect(page.locator("#job-message")).to_contain_text("正在导出：2 / 3 行")
    expect(page.locator("#export-bar")).to_have_class(re.compile(r"\bw-pct-66\b"))
    Job.objects.filter(pk=job.pk).update(status="queued")
    export_run(Job.objects.select_related("created_by").get(pk=job.pk))
    expect(page.locator("#job-done")).to_contain_text("导出完成：共 3 行")

    with page.expect_download() as info:
        page.click("#export-download")
    download = info.value
    assert download.suggested_filename.startswith(
        "残疾人名单-打码-"
    ) and download.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(download.path().read_bytes()), read_only=True).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert sorted(r[0] for r in rows) == ["张伟", "李娜", "王芳"]
    assert {r[1] for r in rows} == {p.masked_id for p in people}

    # 我的导出 lists it
    page.goto("/exports/")
    expect(page.locator("#export-list")).to_contain_text("残疾人名单")
    assert csp == []
