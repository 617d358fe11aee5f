"""The outside-list upload in a real browser (Playwright + Debian chromium, tasks inline): upload a file whose
columns the importer does not know → say which column is which → preview with the row errors by row and
column → download the xlsx report → confirm (a second tab still showing the preview confirms too late and
is told so in Chinese) → the list is imported and matched; a second upload is cancelled and writes nothing."""

from __future__ import annotations

import openpyxl
import pytest

from canlian.common.models import AuditLog, Job
from canlian.verification.models import Match, OutsideList

from .conftest import xlsx_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "uploads"


def upload(page, path, *, source: str):
    page.goto("/verification/lists/")
    page.select_option("#id_kind", "deaths")
    page.fill("#id_source_name", source)
    page.fill("#id_received_on", "2023-08-02")
    page.set_input_files("#id_file", str(path))
    with page.expect_navigation():
        page.click("#upload-submit")


def test_outside_list_upload_map_preview_report_confirm_and_cancel(
    browser_page, login_as, users, make_person, tmp_path
):
    person = make_person(name="张伟")
    file = tmp_path / "殡仪馆八月.xlsx"
    file.write_bytes(
        xlsx_bytes(
            ["死者", "公民证件", "去世时间"],
            [["张伟", person.id_number, "2023-05-20"], ["钱七", "", "2023-02-30"]],
        )
    )
    page = login_as(browser_page, "district1")

    # the columns have names the importer does not know: the page asks which is which
    upload(page, file, source="殡仪馆")
    assert "文件中没有找到必需的列：姓名、身份证号、死亡日期" in page.locator("#mapping-message").inner_text()
    page.select_option("#id_map_name", "死者")
    page.select_option("#id_map_id_number", "公民证件")
    page.select_option("#id_map_event_date", "去世时间")
    with page.expect_navigation():
        page.click("#mapping-submit")

    # the preview: counts, the row error by row and column; nothing written yet
    assert "共 2 行，将导入 1 行" in page.locator("#preview-message").inner_text()
    error_row = page.locator("#import-errors tbody tr").first.inner_text()
    assert "第3行" in error_row and "去世时间" in error_row and "日期“2023-02-30”不存在" in error_row
    assert OutsideList.objects.count() == 0
    assert person.id_number not in page.content()

    # the report downloads as an xlsx with the error beside its row
    with page.expect_download() as download:
        page.click("#import-report")
    assert download.value.suggested_filename == "殡仪馆八月-校验报告.xlsx"
    saved = tmp_path / "report.xlsx"
    download.value.save_as(saved)
    book = openpyxl.load_workbook(saved)
    assert [list(r) for r in book["错误明细"].iter_rows(min_row=2, values_only=True)] == [
        [3, "去世时间", "日期“2023-02-30”不存在"]
    ]
    assert AuditLog.objects.filter(action="import.report_download").count() == 1

    # a second tab shows the same preview
    other = page.context.new_page()
    other.goto(page.url)
    assert other.locator("#import-confirm").is_visible()

    # confirm: imported and matched
    with page.expect_navigation():
        page.click("#import-confirm")
    assert "导入完成：共 1 行，身份证号精确匹配 1 行" in page.locator("#job-done").inner_text()
    assert OutsideList.objects.count() == 1 and Match.objects.get().person_id == person.pk

    # the stale tab confirms too: told so in Chinese, nothing imported twice
    with other.expect_navigation():
        other.click("#import-confirm")
    assert "该导入已确认或已结束，不能重复确认" in other.locator(".messages").inner_text()
    assert OutsideList.objects.count() == 1 and Match.objects.count() == 1
    other.close()

    # the same source again (its columns remembered): straight to the preview; cancelled, nothing written
    upload(page, file, source="殡仪馆")
    assert page.locator("#preview-message").is_visible()
    with page.expect_navigation():
        page.click("#import-cancel")
    assert "已取消导入“殡仪馆八月.xlsx”，未写入任何数据" in page.locator(".messages").inner_text()
    assert "已取消" in page.locator("#recent-imports").inner_text()
    assert OutsideList.objects.count() == 1
    assert Job.objects.filter(status="failed", message="已取消").count() == 1
