"""Issue 10 §1: hostile files posted to every place that reads an upload (the person import page and its
background task, the outside-list upload and its task, the bank's return file of a payroll, the CLI).

Without permission the file is never read (403, nothing saved); with permission the user gets the Chinese
message, nothing is written and a job is marked failed (never left running); a file that slips past the
checks kills only the reading child, never this process (which is the web server, the worker and the CLI
here: tasks run inline in the tests)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from canlian.benefits.models import Payroll, Programme
from canlian.cli import main
from canlian.common import safe_read, spreadsheet, uploads
from canlian.common.jobs import job_create
from canlian.common.models import AuditLog, Job
from canlian.common.safe_read import LIMIT_MESSAGE, PASSWORD_MESSAGE
from canlian.registry import tasks as registry_tasks
from canlian.registry.models import Person
from canlian.verification import tasks as verification_tasks
from canlian.verification.models import OutsideList, OutsideRow

from .hostile import encrypted_xls, encrypted_xlsx, xfd_xlsx, zip_bomb_xlsx

XFD_MESSAGE = "工作表“名单”声明的范围 A1:XFD1048576 到第 1,048,576 行，超过上限 200,000 行"
BOMB_MESSAGE = "文件解压后共 250.6 MB，超过上限 200.0 MB（可能是异常的压缩文件）；请分成几个文件上传"

pytestmark = pytest.mark.usefixtures("cli_password")  # --user X proves X by password


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "uploads"
    return settings.MEDIA_ROOT


@pytest.fixture(scope="module")
def bomb():
    return zip_bomb_xlsx(250 * 1024 * 1024)


@pytest.fixture
def never_read(monkeypatch):
    """Any attempt to look into an upload fails the test."""

    def refuse(*args, **kwargs):
        pytest.fail("the upload was read")

    from canlian.benefits.views import payroll as payroll_views
    from canlian.registry import views_import
    from canlian.verification import views as verification_views

    names = (
        "detect_format",
        "upload_check",
        "read_sheets",
        "check_structure",
        "read_isolated",
        "upload_save",
    )
    for target in (spreadsheet, safe_read, uploads, payroll_views, views_import, verification_views):
        for name in names:
            if hasattr(target, name):
                monkeypatch.setattr(target, name, refuse)


@pytest.fixture
def past_the_checks(settings):
    """Limits so high that the XFD file reaches calamine (in the child, which then aborts)."""
    settings.CANLIAN_UPLOAD_MAX_ROWS = 2_000_000
    settings.CANLIAN_UPLOAD_MAX_COLUMNS = 20_000
    settings.CANLIAN_UPLOAD_MAX_CELLS = 10**12


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def uploads_left(media) -> list[Path]:
    root = Path(media) / "imports"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# ---- person import: the page ---------------------------------------------------------------------------


def post_persons(client, data: bytes, name="名单.xlsx"):
    return client.post(reverse("registry:import_start"), {"file": SimpleUploadedFile(name, data)})


@pytest.mark.parametrize("role", ["leader", "auditor", "institution"])
def test_person_import_without_permission_never_reads_the_file(users, role, never_read, media):
    response = post_persons(client_for(users[role]), xfd_xlsx())
    assert response.status_code == 403
    assert uploads_left(media) == [] and Job.objects.count() == 0


@pytest.mark.parametrize(
    ("build", "name", "message"),
    [
        (xfd_xlsx, "名单.xlsx", XFD_MESSAGE),
        ("bomb", "名单.xlsx", BOMB_MESSAGE),
        (encrypted_xlsx, "名单.xlsx", PASSWORD_MESSAGE),
        (encrypted_xls, "名单.xls", PASSWORD_MESSAGE),
    ],
    ids=["xfd", "zip-bomb", "encrypted-xlsx", "encrypted-xls"],
)
def test_person_import_refuses_hostile_files_at_once(users, bomb, media, build, name, message):
    data = bomb if build == "bomb" else build()
    response = post_persons(client_for(users["district"]), data, name)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Job.objects.count() == 0 and Person.objects.count() == 0
    assert uploads_left(media) == []
    assert not AuditLog.objects.filter(action__startswith="import.").exists()


def test_person_import_size_limit_before_saving(users, media, settings):
    settings.CANLIAN_UPLOAD_MAX_BYTES = 4096
    response = post_persons(client_for(users["district"]), xfd_xlsx())
    assert response.status_code == 400
    assert "文件过大：0.0 MB，单个文件不能超过 0.0 MB" in response.content.decode()
    assert uploads_left(media) == [] and Job.objects.count() == 0


# ---- person import: the background task and the CLI ---------------------------------------------------


def person_job(user, data: bytes) -> Job:
    """A queued person import as the upload page leaves it (the file stored in the job's folder)."""
    job = job_create(
        acting_user=user,
        kind=registry_tasks.JOB_KIND,
        params={"filename": "名单.xlsx", "stored": "upload.xlsx", "allow_new_communities": False},
    )
    folder = uploads.import_dir(job.pk)
    folder.mkdir(parents=True)
    (folder / "upload.xlsx").write_bytes(data)
    return job


def test_person_import_task_fails_the_job_with_the_message(users, media):
    job = person_job(users["district"], xfd_xlsx())
    registry_tasks.person_import_stage.enqueue(str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.error, job.message) == ("failed", XFD_MESSAGE, "导入失败")
    assert job.finished_at is not None
    assert uploads_left(media) == [] and Person.objects.count() == 0


def test_person_import_task_survives_a_reader_that_dies(users, media, past_the_checks):
    # Before: calamine aborted the worker and the job stayed "running" forever
    parent = os.getpid()
    job = person_job(users["district"], xfd_xlsx())
    registry_tasks.person_import_stage.enqueue(str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", LIMIT_MESSAGE)
    assert os.getpid() == parent
    assert uploads_left(media) == [] and Person.objects.count() == 0


def test_cli_exits_2_with_the_message_and_no_backtrace(users, tmp_path, capfd, past_the_checks):
    # Before: exit 134 and a Rust backtrace
    path = tmp_path / "名单.xlsx"
    path.write_bytes(xfd_xlsx())
    assert main(["import", "persons", str(path), "--user", "district1"]) == 2
    err = capfd.readouterr().err
    assert f"导入失败：{LIMIT_MESSAGE}" in err
    assert "panicked" not in err and "backtrace" not in err and "Traceback" not in err
    assert Person.objects.count() == 0


@pytest.mark.parametrize("build", [xfd_xlsx, encrypted_xlsx], ids=["xfd", "encrypted"])
def test_cli_refuses_hostile_files_with_exit_2(users, tmp_path, capsys, build):
    path = tmp_path / "名单.xlsx"
    path.write_bytes(build())
    assert main(["import", "persons", str(path), "--user", "district1", "--json"]) == 2
    message = XFD_MESSAGE if build is xfd_xlsx else PASSWORD_MESSAGE
    assert f"导入失败：{message}" in capsys.readouterr().err
    assert Person.objects.count() == 0


# ---- outside lists (数据比对) ------------------------------------------------------------------------------

LIST_FORM = {"kind": "deaths", "source_name": "殡仪馆", "received_on": "2023-08-02"}


def post_list(client, data: bytes, name="死亡名单.xlsx"):
    return client.post(
        reverse("verification:list_upload"), {**LIST_FORM, "file": SimpleUploadedFile(name, data)}
    )


def test_outside_list_upload_without_permission_never_reads_the_file(users, never_read, media):
    response = post_list(client_for(users["town_luzhi"]), xfd_xlsx())
    assert response.status_code == 403
    assert uploads_left(media) == [] and Job.objects.count() == 0


@pytest.mark.parametrize(
    ("build", "message"),
    [(xfd_xlsx, XFD_MESSAGE), ("bomb", BOMB_MESSAGE), (encrypted_xlsx, PASSWORD_MESSAGE)],
    ids=["xfd", "zip-bomb", "encrypted"],
)
def test_outside_list_upload_refuses_hostile_files(users, bomb, media, build, message):
    response = post_list(client_for(users["district"]), bomb if build == "bomb" else build())
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Job.objects.count() == 0 and OutsideList.objects.count() == 0 and OutsideRow.objects.count() == 0
    assert uploads_left(media) == []


def list_job(user, data: bytes) -> Job:
    folder = uploads.import_dir("upload-test")
    folder.mkdir(parents=True)
    stored = folder / "upload.xlsx"
    stored.write_bytes(data)
    return verification_tasks.import_enqueue(
        acting_user=user,
        stored=stored,
        filename="死亡名单.xlsx",
        kind="deaths",
        source_name="殡仪馆",
        received_on=date(2023, 8, 2),
        complete=False,
    )


def test_outside_list_task_fails_the_job(users, media):
    job = list_job(users["district"], xfd_xlsx())
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", XFD_MESSAGE)
    assert uploads_left(media) == [] and OutsideList.objects.count() == 0


def test_outside_list_task_survives_a_reader_that_dies(users, media, past_the_checks):
    job = list_job(users["district"], xfd_xlsx())
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", LIMIT_MESSAGE)
    assert uploads_left(media) == [] and OutsideList.objects.count() == 0


# ---- the bank's return file of a payroll ----------------------------------------------------------------


@pytest.fixture
def exported_payroll(users):
    return Payroll.objects.create(
        programme=Programme.objects.get(code="living_allowance"),
        month=date(2023, 6, 1),
        status=Payroll.Status.EXPORTED,
        created_by=users["district"],
    )


def post_results(client, payroll, data: bytes):
    return client.post(
        reverse("benefits:payroll_results", args=[payroll.pk]),
        {"file": SimpleUploadedFile("回盘.xlsx", data)},
    )


def test_payroll_results_without_permission_never_reads_the_file(users, exported_payroll, never_read):
    # Before: the file was parsed first and the permission checked after (a town clerk could crash it)
    response = post_results(client_for(users["town_luzhi"]), exported_payroll, xfd_xlsx())
    assert response.status_code == 403
    assert "只有区残联业务科室可以导入回盘结果" in response.content.decode()
    assert not AuditLog.objects.filter(action="payroll.results").exists()


@pytest.mark.parametrize(
    ("build", "message"),
    [(xfd_xlsx, XFD_MESSAGE), ("bomb", BOMB_MESSAGE), (encrypted_xls, PASSWORD_MESSAGE)],
    ids=["xfd", "zip-bomb", "encrypted"],
)
def test_payroll_results_refuses_hostile_files(users, exported_payroll, bomb, build, message):
    response = post_results(
        client_for(users["district"]), exported_payroll, bomb if build == "bomb" else build()
    )
    assert response.status_code == 400
    assert f"回盘文件“回盘.xlsx”无法导入：{message}" in response.content.decode()
    exported_payroll.refresh_from_db()
    assert exported_payroll.status == "exported"
    assert not AuditLog.objects.filter(action="payroll.results").exists()


def test_payroll_results_survive_a_reader_that_dies(users, exported_payroll, past_the_checks):
    # Before: this request aborted the web server process
    response = post_results(client_for(users["district"]), exported_payroll, xfd_xlsx())
    assert response.status_code == 400
    assert f"回盘文件“回盘.xlsx”无法导入：{LIMIT_MESSAGE}" in response.content.decode()
    assert not AuditLog.objects.filter(action="payroll.results").exists()
    # the same process answers the next request
    assert client_for(users["district"]).get(reverse("benefits:payroll_list")).status_code == 200
