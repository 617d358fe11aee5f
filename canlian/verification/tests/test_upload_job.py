"""The web upload of an outside list, the staged import (tasks run inline in tests: ImmediateBackend): the
upload creates a job attributed to the user that checks every row with progress and waits with a preview
(counts, first errors and warnings by row and column, an .xlsx report), the column-mapping step before it
when needed; a confirmation imports and matches the list (a second one is refused in Chinese), a
cancellation writes nothing; a bad file fails the check with row / column errors in Chinese, its report and
nothing written; a failure while writing leaves nothing behind; only the job's creator sees it (404 for
anyone else); the upload is kept in the uploads area only while needed and purged like the person
import's."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from canlian.common import uploads
from canlian.common.models import AuditLog, Job
from canlian.verification import engine, importers, tasks
from canlian.verification.models import Match, OutsideList, OutsideRow, OutsideSource
from canlian.verification.services import outside_list_import

from .conftest import csv_bytes, xlsx_bytes

pytestmark = pytest.mark.urls("canlian.verification.tests.urls")

FORM = {"kind": "deaths", "source_name": "殡仪馆", "received_on": "2023-08-02"}
MAPPED_HEADERS = ["死者", "公民证件", "去世时间"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "uploads"
    return settings.MEDIA_ROOT


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def upload(client, content: bytes, filename="死亡名单.xlsx", **fields):
    return client.post(
        reverse("verification:list_upload"),
        {**FORM, **fields, "file": SimpleUploadedFile(filename, content)},
    )


def job_page(client, job, **headers):
    return client.get(reverse("verification:import_job", args=[job.pk]), **headers)


def nothing_written():
    return (
        OutsideList.objects.count(),
        OutsideRow.objects.count(),
        OutsideSource.objects.count(),
        Match.objects.count(),
        AuditLog.objects.filter(action="verification.import").count(),
    ) == (0, 0, 0, 0, 0)


def confirm(client, job):
    return client.post(reverse("verification:list_confirm", args=[job.pk]))


def test_upload_is_checked_previewed_then_imported_and_matched_on_confirmation(staff, make_person):
    # given a registered person and a deaths list naming them, a stranger, a row with an impossible date
    # and a row with an invalid ID number (kept, matched by name and birth date)
    person = make_person(name="张伟")
    content = xlsx_bytes(
        ["姓名", "身份证号", "死亡日期"],
        [
            ["张伟", person.id_number, "2023-05-20"],
            ["赵六", "11010519491231002X", "2023-05-21"],
            ["钱七", "", "2023-02-30"],
            ["孙八", "110105194912310021", "2023-05-22"],
        ],
    )
    client = client_for(staff["district"])

    # when it is uploaded
    response = upload(client, content)

    # then a job attributed to the user checked every row in the background and waits with the preview;
    # nothing is written yet, the upload is kept for the confirmation
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("verification:import_job", args=[job.pk])
    assert (job.kind, job.status, job.created_by, job.message) == (
        "verification_import",
        "waiting",
        staff["district"],
        "校验完成，等待确认导入",
    )
    assert job.result == {
        "staged": True,
        "rows": 4,
        "kept": 3,
        "invalid_ids": 1,
        "rejected": 1,
        "errors": [{"row": 4, "column": "死亡日期", "message": "日期“2023-02-30”不存在"}],
        "errors_total": 1,
        "warnings": [{"row": 5, "column": "身份证号", "message": "身份证号校验位错误（应为 X）"}],
        "warnings_total": 1,
    }
    assert (job.done, job.total) == (4, 4)  # the progress was written to the job
    assert nothing_written() and tasks.upload_path(job).is_file()
    html = job_page(client, job).content.decode()
    assert 'data-job-status="waiting"' in html and "hx-trigger" not in html
    assert "校验完成，尚未写入任何数据：共 4 行，将导入 3 行（其中 1 行身份证号无效" in html
    assert "1 行有误不导入" in html
    assert "<td>第4行</td><td>死亡日期</td>" in html and "日期“2023-02-30”不存在" in html
    assert 'id="import-warnings"' in html and "<td>第5行</td><td>身份证号</td>" in html
    assert 'id="import-confirm"' in html and "确认导入 3 行（有误的 1 行不导入）" in html
    assert 'id="import-cancel"' in html
    assert reverse("verification:import_report", args=[job.pk]) in html
    assert person.id_number not in html
    lists = client.get(reverse("verification:list_index")).content.decode()
    assert f'data-import-job="{job.pk}"' in lists and "待确认导入" in lists

    # the report: every row as read, the errors and warnings in last columns, a 错误明细 sheet; audited
    report = client.get(reverse("verification:import_report", args=[job.pk]))
    assert report.status_code == 200
    assert "%E6%A0%A1%E9%AA%8C%E6%8A%A5%E5%91%8A.xlsx" in report["Content-Disposition"]  # 校验报告.xlsx
    book = openpyxl.load_workbook(io.BytesIO(b"".join(report.streaming_content)))
    main = [list(r) for r in book["名单"].iter_rows(values_only=True)]
    assert main[0] == ["姓名", "身份证号", "死亡日期", "处理结果", "错误说明", "提示"]
    assert main[3][3:] == ["有错误，不导入", "死亡日期：日期“2023-02-30”不存在", None]
    assert main[4][3:5] == ["将新增", None] and main[4][5] == "身份证号：身份证号校验位错误（应为 X）"
    assert [list(r) for r in book["错误明细"].iter_rows(values_only=True)][1] == [
        4,
        "死亡日期",
        "日期“2023-02-30”不存在",
    ]
    (read,) = AuditLog.objects.filter(action="import.report_download")
    assert (read.user, read.object_id, read.object_repr) == (
        staff["district"],
        str(job.pk),
        "死亡名单-校验报告.xlsx",
    )

    # when the user confirms, the stored file is imported and matched
    done = confirm(client, job)
    assert done.status_code == 302 and done["Location"] == reverse("verification:import_job", args=[job.pk])
    job.refresh_from_db()
    lst = OutsideList.objects.get()
    assert (job.status, job.message) == ("succeeded", "导入完成")
    assert job.result == {
        "list": lst.pk,
        "counts": {"rows": 3, "matched_exact": 1, "candidates": 0, "unmatched": 2, "invalid_ids": 1},
        "rejected": 1,
        "errors": [
            {"row": 4, "column": "死亡日期", "message": "日期“2023-02-30”不存在"},
            {
                "row": 5,
                "column": "身份证号",
                "message": "身份证号校验位错误（应为 X）（已保留，按姓名和出生日期模糊比对）",
            },
        ],
        "errors_total": 2,
    }
    assert (job.params["filename"], job.params["kind"], job.params["source_name"]) == (
        "死亡名单.xlsx",
        "deaths",
        "殡仪馆",
    )
    assert (lst.uploaded_by, lst.source.name, lst.received_on, lst.file_name, lst.rejected_count) == (
        staff["district"],
        "殡仪馆",
        date(2023, 8, 2),
        "死亡名单.xlsx",
        1,
    )
    assert Match.objects.get(status="auto").person_id == person.pk
    assert AuditLog.objects.get(action="verification.import").user == staff["district"]
    # the upload (full ID numbers in the clear) is gone once the job is finished; the report stays
    assert not tasks.upload_path(job).exists() and tasks.report_path(job).is_file()
    html = client.get(done["Location"]).content.decode()
    assert 'data-job-status="succeeded"' in html and "hx-trigger" not in html
    assert "导入完成：共 3 行，身份证号精确匹配 1 行" in html and "1 行有误未导入" in html
    assert reverse("verification:list_detail", args=[lst.pk]) in html
    assert reverse("verification:import_report", args=[job.pk]) in html
    assert 'id="import-confirm"' not in html
    partial = job_page(client, job, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and 'id="import-job"' in partial
    # the generic job page knows it too and links back here
    generic = client.get(reverse("common:job_detail", args=[job.pk])).content.decode()
    assert reverse("verification:import_job", args=[job.pk]) in generic
    # the report now says what was kept
    book = openpyxl.load_workbook(tasks.report_path(job))
    assert [r[3] for r in book["名单"].iter_rows(min_row=2, values_only=True)] == [
        "已新增",
        "已新增",
        "有错误，未导入",
        "已新增",
    ]

    # a second confirmation (the button clicked twice, another tab) imports nothing twice
    again = confirm(client, job)
    assert again.status_code == 302
    page = client.get(again["Location"]).content.decode()
    assert "该导入已确认或已结束，不能重复确认" in page
    assert OutsideList.objects.count() == 1 and Match.objects.count() == 1
    assert AuditLog.objects.filter(action="verification.import").count() == 1
    # nor can a finished import be cancelled
    cancelled = client.post(reverse("verification:list_cancel", args=[job.pk]), follow=True)
    assert "该导入已在进行或已结束，不能取消" in cancelled.content.decode()
    job.refresh_from_db()
    assert job.status == "succeeded"


def test_a_preview_cancelled_writes_nothing_and_drops_the_upload_and_report(staff, make_person):
    person = make_person()
    client = client_for(staff["district"])
    upload(client, xlsx_bytes(["姓名", "身份证号", "死亡日期"], [["张伟", person.id_number, "2023-05-20"]]))
    job = Job.objects.get()
    assert job.status == "waiting" and tasks.report_path(job).is_file()

    response = client.post(reverse("verification:list_cancel", args=[job.pk]), follow=True)

    assert response.redirect_chain == [(reverse("verification:list_index"), 302)]
    assert "已取消导入“死亡名单.xlsx”，未写入任何数据" in response.content.decode()
    job.refresh_from_db()
    assert (job.status, job.message, job.error, job.result["cancelled"]) == (
        "failed",
        "已取消",
        "已取消导入，未写入任何数据",
        True,
    )
    assert nothing_written() and not uploads.import_dir(job.pk).exists()
    html = job_page(client, job).content.decode()
    assert 'id="job-cancelled"' in html and 'id="import-confirm"' not in html
    assert client.get(reverse("verification:import_report", args=[job.pk])).status_code == 404
    # confirming it afterwards does nothing
    page = confirm(client, job)
    assert "该导入已确认或已结束，不能重复确认" in client.get(page["Location"]).content.decode()
    assert nothing_written()


def test_the_import_reports_progress_row_by_row(staff, make_person, monkeypatch):
    monkeypatch.setattr(importers, "PROGRESS_EVERY", 1)
    heard = []
    content = csv_bytes(["姓名", "身份证号", "死亡日期"], [["甲", "", "2023-05-20"]] * 3)
    outside_list_import(
        acting_user=staff["district"],
        source=content,
        kind="deaths",
        filename="a.csv",
        source_name="殡仪馆",
        received_on=date(2023, 8, 2),
        progress=lambda done, total, message: heard.append((done, total, message)),
    )
    R, S, W, D = importers.PHASE_READ, importers.PHASE_STAGE, importers.PHASE_WRITE, importers.PHASE_DONE
    assert heard == [(0, 0, R), (0, 3, S), (1, 3, S), (2, 3, S), (3, 3, S), (3, 3, W), (3, 3, D)]


def test_job_page_shows_progress_while_running_and_an_indeterminate_bar_while_writing(staff):
    job = Job.objects.create(
        kind="verification_import",
        status="running",
        done=500,
        total=1000,
        message=importers.PHASE_STAGE,
        params={"filename": "a.xlsx", "kind": "deaths", "source_name": "殡仪馆", "received_on": "2023-08-02"},
        created_by=staff["district"],
    )
    client = client_for(staff["district"])
    html = job_page(client, job).content.decode()
    assert 'hx-trigger="every 1s"' in html and "正在校验：500 / 1000 行" in html and "50%" in html
    Job.objects.filter(pk=job.pk).update(done=1000, message=importers.PHASE_WRITE)
    partial = job_page(client, job, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "正在保存 1000 行并与档案比对" in partial
    assert 'hx-trigger="every 1s"' in partial


def test_the_mapping_step_on_the_job_page(staff, make_person):
    # given a list whose columns have names the importer does not know
    person = make_person()
    content = xlsx_bytes(MAPPED_HEADERS, [["张伟", person.id_number, "2023-05-20"]])
    client = client_for(staff["district"])

    # when it is uploaded, the job waits for the user to say which column is which; the upload is kept
    upload(client, content)
    job = Job.objects.get()
    assert (job.status, job.result["mapping_required"], job.result["headers"]) == (
        "waiting",
        True,
        MAPPED_HEADERS,
    )
    assert job.result["missing"] == ["name", "id_number", "event_date"]
    assert tasks.upload_path(job).is_file()
    assert nothing_written()
    html = job_page(client, job).content.decode()
    assert 'id="mapping-form"' in html and "去世时间" in html
    assert "文件中没有找到必需的列：姓名、身份证号、死亡日期" in html
    url = reverse("verification:list_map", args=[job.pk])

    # an incomplete mapping is refused by the form; the job still waits
    bad = client.post(url, {"map_name": "死者"})
    assert bad.status_code == 400 and "请指定“身份证号”对应的列" in bad.content.decode()
    job.refresh_from_db()
    assert job.status == "waiting" and nothing_written()

    # one column for two fields: the import says so and the job waits again
    client.post(url, {"map_name": "死者", "map_id_number": "死者", "map_event_date": "去世时间"})
    job.refresh_from_db()
    assert (job.status, job.result["mapping_error"]) == ("waiting", "同一列“死者”不能对应多项信息")
    assert "同一列“死者”不能对应多项信息" in job_page(client, job).content.decode()
    assert nothing_written()

    # a complete mapping: the same stored file is checked with it and previewed, nothing written yet
    done = client.post(url, {"map_name": "死者", "map_id_number": "公民证件", "map_event_date": "去世时间"})
    assert done.status_code == 302 and done["Location"] == reverse("verification:import_job", args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.result["staged"], job.result["kept"]) == ("waiting", True, 1)
    assert nothing_written() and 'id="import-confirm"' in job_page(client, job).content.decode()
    # confirmed: imported, the mapping remembered for the source
    confirm(client, job)
    job.refresh_from_db()
    lst = OutsideList.objects.get()
    assert (job.status, job.result["list"], job.result["counts"]["matched_exact"]) == ("succeeded", lst.pk, 1)
    assert job.params["mapping"] == {"name": "死者", "id_number": "公民证件", "event_date": "去世时间"}
    assert OutsideSource.objects.get().mapping == job.params["mapping"]
    assert not tasks.upload_path(job).exists()

    # mapping a finished job again changes nothing
    again = client.post(url, {"map_name": "死者", "map_id_number": "公民证件", "map_event_date": "去世时间"})
    assert again.status_code == 302 and OutsideList.objects.count() == 1

    # the same source next time: no mapping step, straight to the preview
    upload(client, content)
    second = Job.objects.exclude(pk=job.pk).get()
    assert (second.status, second.result["kept"]) == ("waiting", 1)
    confirm(client, second)
    assert OutsideList.objects.count() == 2


def test_a_file_with_no_usable_row_fails_the_job_with_row_and_column_errors(staff):
    content = xlsx_bytes(
        ["姓名", "身份证号", "死亡日期"],
        [["张伟", "11010519491231002X", "2023-02-30"], ["李娜", "", ""], ["", "", "2023-05-01"]],
    )
    client = client_for(staff["district"])
    upload(client, content)
    job = Job.objects.get()
    assert (job.status, job.error) == (
        "failed",
        "没有可以导入的行（3 行有误）：第2行“死亡日期”：日期“2023-02-30”不存在；第3行“死亡日期”：死亡日期不能为空；"
        "第4行“姓名”：姓名和身份证号均为空",
    )
    assert job.result["errors_total"] == 3 and job.result["rejected"] == 3
    assert nothing_written()
    assert not tasks.upload_path(job).exists()
    html = job_page(client, job).content.decode()
    assert "导入失败，未写入任何数据" in html and 'id="import-errors"' in html
    assert "<td>第3行</td><td>死亡日期</td>" in html
    assert 'id="import-confirm"' not in html
    # the report marks every error in its cell
    assert reverse("verification:import_report", args=[job.pk]) in html
    report = client.get(reverse("verification:import_report", args=[job.pk]))
    book = openpyxl.load_workbook(io.BytesIO(b"".join(report.streaming_content)))
    assert [list(r) for r in book["错误明细"].iter_rows(min_row=2, values_only=True)] == [
        [2, "死亡日期", "日期“2023-02-30”不存在"],
        [3, "死亡日期", "死亡日期不能为空"],
        [4, "姓名", "姓名和身份证号均为空"],
    ]
    assert book["名单"]["C2"].comment.text == "日期“2023-02-30”不存在"
    # a confirmation of a failed check does nothing
    assert "该导入已确认或已结束" in client.get(confirm(client, job)["Location"]).content.decode()
    assert nothing_written()


def test_an_unreadable_file_fails_the_job_with_the_message(staff):
    client = client_for(staff["district"])
    upload(client, b"1,2\r\n3,4\r\n", filename="a.csv")
    job = Job.objects.get()
    assert job.status == "failed"
    assert job.error.startswith("未找到表头：前20行中没有")
    assert nothing_written()
    assert "导入失败，未写入任何数据" in job_page(client, job).content.decode()


def test_a_failure_while_writing_leaves_nothing_half_written(staff, make_person, monkeypatch):
    person = make_person()

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(engine, "match_rows", broken)  # after the list and its rows are inserted
    client = client_for(staff["district"])
    upload(client, xlsx_bytes(["姓名", "身份证号", "死亡日期"], [["张伟", person.id_number, "2023-05-20"]]))
    job = Job.objects.get()
    confirm(client, job)
    job.refresh_from_db()
    assert (job.status, job.error) == (
        "failed",
        "导入时发生内部错误，未写入任何数据；请联系管理员（已记录日志）",
    )
    assert nothing_written()
    assert not tasks.upload_path(job).exists()


def test_only_the_creator_sees_maps_confirms_cancels_or_downloads_the_job(staff, make_person):
    person = make_person()
    creator = client_for(staff["district"])
    upload(creator, xlsx_bytes(MAPPED_HEADERS, [["张伟", person.id_number, "2023-05-20"]]))
    mapping_job = Job.objects.get()
    upload(creator, xlsx_bytes(["姓名", "身份证号", "死亡日期"], [["张伟", person.id_number, "2023-05-20"]]))
    preview_job = Job.objects.exclude(pk=mapping_job.pk).get()
    assert preview_job.result["staged"] and tasks.report_path(preview_job).is_file()
    mapping = {"map_name": "死者", "map_id_number": "公民证件", "map_event_date": "去世时间"}
    for who in ("town_mudu", "town_luzhi", "district2", "leader"):
        other = client_for(staff[who])
        runner_refused = 404 if who == "district2" else 403  # only district staff may import at all
        for job in (mapping_job, preview_job):
            assert job_page(other, job).status_code == 404, who
            assert other.get(reverse("common:job_detail", args=[job.pk])).status_code == 404, who
            for name in ("list_confirm", "list_cancel"):
                posted = other.post(reverse(f"verification:{name}", args=[job.pk]))
                assert posted.status_code == runner_refused, (who, name)
        posted = other.post(reverse("verification:list_map", args=[mapping_job.pk]), mapping)
        assert posted.status_code == runner_refused, who
        report = other.get(reverse("verification:import_report", args=[preview_job.pk]))
        assert report.status_code == 404, who
        if who != "leader":
            page = other.get(reverse("verification:list_index")).content.decode()
            assert str(mapping_job.pk) not in page and str(preview_job.pk) not in page, who
    for job in (mapping_job, preview_job):
        job.refresh_from_db()
        assert job.status == "waiting"
    assert nothing_written() and tasks.report_path(preview_job).is_file()
    assert not AuditLog.objects.filter(action="import.report_download").exists()


def test_a_job_waiting_for_its_column_mapping_cannot_be_confirmed_but_can_be_cancelled(staff, make_person):
    person = make_person()
    client = client_for(staff["district"])
    upload(client, xlsx_bytes(MAPPED_HEADERS, [["张伟", person.id_number, "2023-05-20"]]))
    job = Job.objects.get()
    page = client.get(confirm(client, job)["Location"]).content.decode()
    assert "请先指定列对应关系并查看校验结果，再确认导入" in page
    job.refresh_from_db()
    assert job.status == "waiting" and nothing_written()
    assert 'id="import-cancel"' in page
    client.post(reverse("verification:list_cancel", args=[job.pk]))
    job.refresh_from_db()
    assert (job.status, job.message) == ("failed", "已取消")
    assert not uploads.import_dir(job.pk).exists() and nothing_written()


def test_upload_errors_and_permissions(staff):
    client = client_for(staff["district"])
    pdf = upload(client, b"%PDF-1", filename="a.pdf")
    assert pdf.status_code == 400 and "这是PDF 文档，不是表格文件" in pdf.content.decode()
    missing = client.post(reverse("verification:list_upload"), {**FORM, "source_name": ""})
    assert missing.status_code == 400
    assert "请选择要上传的文件" in missing.content.decode() and "请填写来源单位" in missing.content.decode()
    town = upload(client_for(staff["town_luzhi"]), b"x", filename="a.xlsx")
    assert town.status_code == 403
    assert Job.objects.count() == 0 and nothing_written()
    assert not any(uploads.import_dir("x").parent.glob("*/*"))  # no refused upload left behind


def test_a_waiting_upload_is_purged_like_the_person_imports_and_mapping_it_then_fails_clearly(
    staff, make_person
):
    person = make_person()
    client = client_for(staff["district"])
    upload(client, xlsx_bytes(MAPPED_HEADERS, [["张伟", person.id_number, "2023-05-20"]]))
    job = Job.objects.get()
    stored = tasks.upload_path(job)
    week = 86400 * uploads.UPLOAD_KEEP_DAYS
    assert stored.parent == uploads.import_dir(job.pk)  # the person import's uploads area

    assert uploads.purge_old_files(now=stored.stat().st_mtime + week - 60) == 0
    assert uploads.purge_old_files(now=stored.stat().st_mtime + week + 60) == 1
    client.post(
        reverse("verification:list_map", args=[job.pk]),
        {"map_name": "死者", "map_id_number": "公民证件", "map_event_date": "去世时间"},
    )

    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "上传的文件已超过保留期（7天）被删除，请重新上传")
    assert nothing_written()
