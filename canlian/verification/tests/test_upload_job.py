"""The web upload of an outside list as a background job (tasks run inline in tests: ImmediateBackend):
the upload creates a job attributed to the user, the job imports and matches the list with progress, the
column-mapping step on the job's page, a bad file fails the job with row / column errors in Chinese and
nothing written, a failure while writing leaves nothing behind, only the job's creator sees it, the upload
is kept in the uploads area only while needed and purged like the person import's."""

from __future__ import annotations

from datetime import date

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


def test_upload_creates_a_job_that_imports_and_matches_the_list(staff, make_person):
    # given a registered person and a deaths list naming them, a stranger and a row with an impossible date
    person = make_person(name="张伟")
    content = xlsx_bytes(
        ["姓名", "身份证号", "死亡日期"],
        [
            ["张伟", person.id_number, "2023-05-20"],
            ["赵六", "11010519491231002X", "2023-05-21"],
            ["钱七", "", "2023-02-30"],
        ],
    )
    client = client_for(staff["district"])

    # when it is uploaded
    response = upload(client, content)

    # then a job attributed to the user imported it, matched it, and the page shows the result
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("verification:import_job", args=[job.pk])
    assert (job.kind, job.status, job.created_by, job.message) == (
        "verification_import",
        "succeeded",
        staff["district"],
        "导入完成",
    )
    lst = OutsideList.objects.get()
    assert job.result == {
        "list": lst.pk,
        "counts": {"rows": 2, "matched_exact": 1, "candidates": 0, "unmatched": 1, "invalid_ids": 0},
        "rejected": 1,
        "errors": [{"row": 4, "column": "死亡日期", "message": "日期“2023-02-30”不存在"}],
        "errors_total": 1,
    }
    assert (job.done, job.total) == (2, 2)  # the progress was written to the job
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
    # the upload (full ID numbers in the clear) is gone once the job is finished
    assert not uploads.import_dir(job.pk).exists()
    html = job_page(client, job).content.decode()
    assert 'data-job-status="succeeded"' in html and "hx-trigger" not in html
    assert "导入完成：共 2 行，身份证号精确匹配 1 行" in html and "1 行有误未导入" in html
    assert reverse("verification:list_detail", args=[lst.pk]) in html
    assert "第4行" in html and "日期“2023-02-30”不存在" in html
    assert person.id_number not in html
    partial = job_page(client, job, HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith("{#") is False and "<html" not in partial
    assert 'id="import-job"' in partial
    # the generic job page knows it too and links back here
    generic = client.get(reverse("common:job_detail", args=[job.pk])).content.decode()
    assert reverse("verification:import_job", args=[job.pk]) in generic
    # the lists page shows it under the user's recent uploads
    lists = client.get(reverse("verification:list_index")).content.decode()
    assert f'data-import-job="{job.pk}"' in lists


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

    # a complete mapping: the same stored file is imported, the mapping remembered for the source
    done = client.post(url, {"map_name": "死者", "map_id_number": "公民证件", "map_event_date": "去世时间"})
    assert done.status_code == 302 and done["Location"] == reverse("verification:import_job", args=[job.pk])
    job.refresh_from_db()
    lst = OutsideList.objects.get()
    assert (job.status, job.result["list"], job.result["counts"]["matched_exact"]) == ("succeeded", lst.pk, 1)
    assert job.params["mapping"] == {"name": "死者", "id_number": "公民证件", "event_date": "去世时间"}
    assert OutsideSource.objects.get().mapping == job.params["mapping"]
    assert not uploads.import_dir(job.pk).exists()

    # mapping a finished job again changes nothing
    again = client.post(url, {"map_name": "死者", "map_id_number": "公民证件", "map_event_date": "去世时间"})
    assert again.status_code == 302 and OutsideList.objects.count() == 1

    # the same source next time: no mapping step
    upload(client, content)
    second = Job.objects.exclude(pk=job.pk).get()
    assert second.status == "succeeded" and OutsideList.objects.count() == 2


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
    assert not uploads.import_dir(job.pk).exists()
    html = job_page(client, job).content.decode()
    assert "导入失败，未写入任何数据" in html and 'id="import-errors"' in html
    assert "<td>第3行</td><td>死亡日期</td>" in html


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
    assert (job.status, job.error) == (
        "failed",
        "导入时发生内部错误，未写入任何数据；请联系管理员（已记录日志）",
    )
    assert nothing_written()
    assert not uploads.import_dir(job.pk).exists()


def test_only_the_creator_sees_or_maps_the_job(staff, make_person):
    person = make_person()
    upload(
        client_for(staff["district"]), xlsx_bytes(MAPPED_HEADERS, [["张伟", person.id_number, "2023-05-20"]])
    )
    job = Job.objects.get()
    mapping = {"map_name": "死者", "map_id_number": "公民证件", "map_event_date": "去世时间"}
    for who in ("town_mudu", "town_luzhi", "district2", "leader"):
        other = client_for(staff[who])
        assert job_page(other, job).status_code == 404, who
        assert other.get(reverse("common:job_detail", args=[job.pk])).status_code == 404, who
        posted = other.post(reverse("verification:list_map", args=[job.pk]), mapping)
        assert posted.status_code == (404 if who == "district2" else 403), who
        if who != "leader":
            page = other.get(reverse("verification:list_index")).content.decode()
            assert str(job.pk) not in page, who
    job.refresh_from_db()
    assert job.status == "waiting" and nothing_written()


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
