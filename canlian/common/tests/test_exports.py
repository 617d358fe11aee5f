"""The export machinery (common/exports.py): job with progress, owner-only download, audit, expiry, once-only
unmasked files, double submits, failures in Chinese; and the person export through it, read back."""

from __future__ import annotations

import io
import os
import stat
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from python_calamine import CalamineWorkbook

from canlian.common import exports
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError
from canlian.common.models import AuditLog, Job
from canlian.common.spreadsheet import XlsxBook
from canlian.common.tests.export_client import content, export_through_job
from canlian.registry import exporters as person_exporters

pytestmark = pytest.mark.django_db

BIG = 15_000
seen_progress: list[tuple[int, int]] = []


def _numbers_build(*, acting_user, params, out, progress) -> int:
    """A toy export of ``params["rows"]`` numbered rows; records the progress the job row shows."""
    rows = params["rows"]
    with XlsxBook(out, constant_memory=True) as book:
        sheet = book.add_sheet("数字", ["序号", "平方"])
        for n in range(1, rows + 1):
            sheet.append([n, n * n])
            progress(n, rows, "正在写入")
            if n % 2500 == 0:
                job = Job.objects.filter(kind=exports.JOB_KIND).order_by("-created_at").first()
                seen_progress.append((job.done, job.total))
    audit_record(acting_user=acting_user, action="audit.export", changes={"rows": [None, rows]})
    return rows


def _failing_build(*, acting_user, params, out, progress) -> int:
    out.write(b"half a file")
    if params.get("internal"):
        raise RuntimeError("disk on fire")
    raise DomainError("所选月份没有发放批次，无法导出")


exports.export_register(
    exports.Export(name="test_numbers", title="测试数字", build=_numbers_build, filename=lambda p: "数字")
)
exports.export_register(
    exports.Export(
        name="test_numbers_unmasked",
        title="测试数字（未打码）",
        build=_numbers_build,
        filename=lambda p: "数字",
        unmasked=True,
    )
)
exports.export_register(
    exports.Export(name="test_failing", title="测试失败", build=_failing_build, filename=lambda p: "失败")
)


@pytest.fixture(autouse=True)
def own_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # the export files of this test only


def login(client, user):
    client.force_login(user)
    return client


def start(user, name="test_numbers", **params):
    job, created = exports.export_start(acting_user=user, name=name, params=params)
    job.refresh_from_db()
    return job, created


def read_rows(data: bytes, sheet: str) -> list[list]:
    return CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name(sheet).to_python()


def test_a_15000_row_export_runs_as_a_job_with_progress_and_downloads_whole(client, users):
    seen_progress.clear()
    job, created = start(users["district"], rows=BIG)
    assert created and job.status == Job.Status.SUCCEEDED
    assert (job.done, job.total, job.result["rows"], job.message) == (BIG, BIG, BIG, "导出完成：共 15000 行")
    # the job row moved while the file was written (what the page polls)
    assert len(seen_progress) == 6 and {total for _, total in seen_progress} == {BIG}
    dones = [done for done, _ in seen_progress]
    assert dones == sorted(set(dones)) and all(
        2500 * i - 500 <= d <= 2500 * i for i, d in enumerate(dones, 1)
    )

    page = login(client, users["district"]).get(reverse("common:export_detail", args=[job.pk]))
    html = page.content.decode()
    assert "导出完成：共 15000 行" in html and 'id="export-download"' in html and "hx-get" not in html
    response = client.get(reverse("common:export_download", args=[job.pk]))
    assert response.status_code == 200 and response["Content-Type"] == exports.XLSX
    rows = read_rows(content(response), "数字")
    assert rows[0] == ["序号", "平方"]
    assert rows[1:] == [[float(n), float(n * n)] for n in range(1, BIG + 1)]
    # a masked file can be downloaded again until it expires; each download is audited
    assert client.get(reverse("common:export_download", args=[job.pk])).status_code == 200
    downloads = AuditLog.objects.filter(action="export.download").order_by("id")
    assert [(d.username, d.object_type, d.object_id, d.changes) for d in downloads] == [
        (
            "district1",
            "common.job",
            str(job.pk),
            {
                "export": [None, "测试数字"],
                "rows": [None, BIG],
                "masked": [None, True],
                "file": [None, job.params["filename"]],
            },
        )
    ] * 2


def test_a_running_job_polls_and_shows_its_progress(client, users, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    job, _ = start(users["district"], rows=10)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, done=4, total=10, message="正在写入")
    page = login(client, users["district"]).get(
        reverse("common:export_detail", args=[job.pk]), HTTP_HX_REQUEST="true"
    )
    html = page.content.decode()
    assert 'hx-trigger="every 1s"' in html and "正在写入：4 / 10 行" in html and "w-pct-40" in html
    assert "<html" not in html  # the polled block alone
    not_ready = client.get(reverse("common:export_download", args=[job.pk]))
    assert not_ready.status_code == 410 and "导出尚未完成，请稍候" in not_ready.content.decode()


def test_only_the_user_who_asked_sees_the_job_and_its_file(client, users):
    job, _ = start(users["town_luzhi"], rows=3)
    for other in ("town_mudu", "district", "auditor"):
        login(client, users[other])
        assert client.get(reverse("common:export_detail", args=[job.pk])).status_code == 404
        assert client.get(reverse("common:export_download", args=[job.pk])).status_code == 404
        assert str(job.pk) not in client.get(reverse("common:export_list")).content.decode()
    assert not AuditLog.objects.filter(action="export.download").exists()
    login(client, users["town_luzhi"])
    listing = client.get(reverse("common:export_list")).content.decode()
    assert reverse("common:export_detail", args=[job.pk]) in listing and "测试数字" in listing


def test_a_double_submit_opens_the_running_job(client, users, settings, make_person):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    make_person(name="张伟", town="甪直镇")
    login(client, users["district"])
    url = reverse("registry:person_export") + "?town=&category=4"
    first = client.post(url)
    second = client.post(url)
    jobs = list(Job.objects.filter(kind=exports.JOB_KIND))
    assert len(jobs) == 1 and first.url == second.url == reverse("common:export_detail", args=[jobs[0].pk])
    page = client.get(second.url).content.decode()
    assert "相同的导出正在进行中，已为您打开该任务，请勿重复提交" in page
    # other parameters, or another user, are another export
    assert client.post(reverse("registry:person_export") + "?category=5").url != first.url
    _, created = start(users["town_luzhi"], name="persons", filters={"category": 4}, unmasked=False)
    assert created and Job.objects.filter(kind=exports.JOB_KIND).count() == 3
    # a finished job does not absorb the next request
    Job.objects.filter(pk=jobs[0].pk).update(status=Job.Status.SUCCEEDED)
    assert client.post(url).url != first.url


def test_files_are_private_and_expire(client, users, settings):
    job, _ = start(users["district"], rows=5)
    path = exports.export_path(job.pk)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # past the keep time the file is refused at once, then deleted by the next purge
    Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(hours=25))
    login(client, users["district"])
    gone = client.get(reverse("common:export_download", args=[job.pk]))
    assert gone.status_code == 410
    assert "文件已超过保留期（24小时）被删除，请重新导出" in gone.content.decode()
    fresh, _ = start(users["district"], rows=6)
    old = time.time() - 25 * 3600
    os.utime(path, (old, old))
    stale_part = path.with_name("crashed.part")
    stale_part.write_bytes(b"x")
    os.utime(stale_part, (old, old))
    assert exports.exports_purge() == 2
    assert not path.exists() and not stale_part.exists() and exports.export_path(fresh.pk).is_file()
    listing = client.get(reverse("common:export_list")).content.decode()
    assert "已删除" in listing and "可下载" in listing
    settings.CANLIAN_EXPORT_KEEP_HOURS = 0.0001
    time.sleep(0.5)
    assert exports.exports_purge() == 1 and not exports.export_path(fresh.pk).exists()


def test_an_unmasked_file_downloads_once(client, users):
    job, _ = start(users["district"], name="test_numbers_unmasked", rows=2)
    login(client, users["district"])
    assert (
        "未打码文件只能下载一次"
        in client.get(reverse("common:export_detail", args=[job.pk])).content.decode()
    )
    first = client.get(reverse("common:export_download", args=[job.pk]))
    assert first.status_code == 200 and read_rows(content(first), "数字")[1:] == [[1.0, 1.0], [2.0, 4.0]]
    assert not exports.export_path(job.pk).exists()
    again = client.get(reverse("common:export_download", args=[job.pk]))
    assert again.status_code == 410
    assert "未打码文件只能下载一次，已下载并删除；如需再次获取请重新导出" in again.content.decode()
    (audit,) = AuditLog.objects.filter(action="export.download")
    assert audit.changes["masked"] == [None, False]


@pytest.mark.parametrize(
    "internal, message",
    [
        (False, "所选月份没有发放批次，无法导出"),
        (True, "导出时发生内部错误，未生成文件；请联系管理员（已记录日志）"),
    ],
)
def test_a_failure_shows_a_chinese_message_and_leaves_no_file(client, users, internal, message):
    job, _ = start(users["district"], name="test_failing", internal=internal)
    assert (job.status, job.error) == (Job.Status.FAILED, message)
    assert not any(exports.export_dir().glob(f"{job.pk}*"))
    login(client, users["district"])
    html = client.get(reverse("common:export_detail", args=[job.pk])).content.decode()
    assert "导出失败，未生成文件" in html and message in html
    assert client.get(reverse("common:export_download", args=[job.pk])).status_code == 410


def test_a_refused_export_queues_nothing(client, users):
    login(client, users["town_luzhi"])
    response = client.post(reverse("registry:person_export"), {"unmasked": "1"}, follow=True)
    assert "您无权导出未打码的身份证号" in response.content.decode()
    assert not Job.objects.filter(kind=exports.JOB_KIND).exists()
    with pytest.raises(DomainError, match="未知的导出类型"):
        exports.export_start(acting_user=users["district"], name="nope", params={})


def test_the_person_export_job_keeps_town_scope_and_masking(client, users, make_person):
    zhang = make_person(name="张伟", town="甪直镇", category=4, grade=2, phone="13812345678")
    make_person(name="赵敏", town="木渎镇", category=4, grade=3)
    # the town clerk asks for every town: the file holds their town only, masked
    _, response = export_through_job(login(client, users["town_luzhi"]), reverse("registry:person_export"))
    rows = read_rows(content(response), "残疾人名单")
    assert rows[0] == list(person_exporters.MASKED_HEADERS)
    assert [(r[0], r[1], r[4], r[8]) for r in rows[1:]] == [
        ("张伟", zhang.id_number[:6] + "*" * 10 + zhang.id_number[-2:], "甪直镇", "138****5678")
    ]
    export = AuditLog.objects.get(action="person.export")
    assert (export.username, export.changes["count"], export.changes["masked"]) == ("luzhi1", 1, True)
    # the district officer's unmasked file has both, in full, and can be imported back
    client.force_login(users["district"])
    _, full = export_through_job(client, reverse("registry:person_export"), {"unmasked": "1"})
    rows = read_rows(content(full), "残疾人名单")
    assert sorted(r[0] for r in rows[1:]) == ["张伟", "赵敏"]
    assert zhang.id_number in [r[1] for r in rows[1:]] and all("*" not in r[1] for r in rows[1:])
    assert "-打码" not in full["Content-Disposition"]
