"""Person export: masked unless allowed, scoped, filtered, audited; CLI and web."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from django.db import connection
from django.urls import reverse
from python_calamine import CalamineWorkbook

from canlian.cli import main
from canlian.common.exceptions import PermissionDenied
from canlian.common.models import AuditLog, Job
from canlian.common.tests.export_client import content, export_through_job
from canlian.registry import exporters, importers
from canlian.registry.selectors import PersonFilters

pytestmark = pytest.mark.usefixtures("cli_password")  # --user X proves X by password


@pytest.fixture
def people(make_person):
    return {
        "zhang": make_person(
            name="张伟", town="甪直镇", category=4, grade=2, phone="13812345678", economic="低保"
        ),
        "li": make_person(
            name="李娜", town="甪直镇", category=5, grade=1, birth=date(2015, 3, 1), issue=date(2020, 1, 2)
        ),
        "zhao": make_person(name="赵敏", town="木渎镇", category=4, grade=3),
    }


def read(path_or_bytes):
    if isinstance(path_or_bytes, bytes):
        wb = CalamineWorkbook.from_filelike(io.BytesIO(path_or_bytes))
    else:
        wb = CalamineWorkbook.from_path(str(path_or_bytes))
    rows = wb.get_sheet_by_name("残疾人名单").to_python()
    return rows[0], rows[1:]


def test_masked_export_of_the_filtered_list_is_audited(tmp_path, users, people):
    # Given district staff asking for physical disabilities only, masked
    out = tmp_path / "a.xlsx"
    filters = PersonFilters(category=4)

    # When exported
    count = exporters.persons_export(acting_user=users["district"], filters=filters, unmasked=False, out=out)

    # Then two persons, numbers masked, and one audit row saying what was exported
    headers, rows = read(out)
    assert count == 2
    assert headers == list(exporters.MASKED_HEADERS) and "出生日期" not in headers and "年龄" in headers
    zhang = people["zhang"]
    assert rows[0] == [
        "张伟",
        zhang.id_number[:6] + "*" * 10 + zhang.id_number[-2:],
        zhang.id_number[:6] + "*" * 12 + "42",
        date(2019, 5, 6),
        "甪直镇",
        "",
        "城镇",
        "低保",
        "138****5678",
        "肢体",
        "二级",
        "",
        "男",
        zhang.age_on(date.today()),
        date(2029, 5, 6),
        "有效" if date.today() <= date(2029, 5, 6) else "过期",
        "在册",
        "",
    ]
    assert [r[0] for r in rows] == ["张伟", "赵敏"]
    assert zhang.id_number not in json.dumps(rows, default=str)
    # no birth date in any form: it would rebuild the full number with the masked one (common/masking.py)
    assert not any(isinstance(v, date) and v == zhang.birth_date for r in rows for v in r)
    assert zhang.id_number[6:14] not in json.dumps(rows, default=str)
    log = AuditLog.objects.get(action="person.export")
    assert (log.username, log.result, log.object_type) == ("district1", "success", "registry.person")
    assert log.changes == {"count": 2, "filters": {"category": 4}, "masked": True}


def test_unmasked_export_for_the_allowed_role(tmp_path, users, people):
    out = tmp_path / "a.xlsx"
    exporters.persons_export(acting_user=users["district"], filters=PersonFilters(), unmasked=True, out=out)
    headers, rows = read(out)
    assert headers == list(exporters.HEADERS)
    by_name = {r[0]: r for r in rows}
    assert by_name["张伟"][1:3] == [people["zhang"].id_number, people["zhang"].id_number + "42"]
    assert by_name["张伟"][headers.index("出生日期")] == people["zhang"].birth_date
    assert by_name["张伟"][8] == "13812345678"
    assert AuditLog.objects.get(action="person.export").changes == {
        "count": 3,
        "filters": {},
        "masked": False,
    }


def test_unmasked_export_is_refused_to_town_staff_and_the_refusal_audited(tmp_path, users, people):
    out = tmp_path / "a.xlsx"
    with pytest.raises(PermissionDenied) as exc:
        exporters.persons_export(
            acting_user=users["town_luzhi"], filters=PersonFilters(), unmasked=True, out=out
        )
    assert exc.value.message == "您无权导出未打码的身份证号、残疾人证号和联系电话，请导出打码名单"
    assert not out.exists()
    log = AuditLog.objects.get(action="person.export")
    assert (log.username, log.result, log.changes) == ("luzhi1", "denied", {"filters": {}, "masked": False})


def test_town_staff_export_only_their_town(tmp_path, users, people):
    out = tmp_path / "a.xlsx"
    # Asking for another town changes nothing: the list is scoped first
    count = exporters.persons_export(
        acting_user=users["town_luzhi"], filters=PersonFilters(), unmasked=False, out=out
    )
    _headers, rows = read(out)
    assert count == 2 and sorted(r[0] for r in rows) == ["张伟", "李娜"]


@pytest.mark.parametrize("role", ["auditor", "institution", "admin"])
def test_roles_without_export_right(tmp_path, users, people, role):
    with pytest.raises(PermissionDenied) as exc:
        exporters.persons_export(
            acting_user=users[role], filters=PersonFilters(), unmasked=False, out=tmp_path / "a.xlsx"
        )
    assert exc.value.message == "您无权导出残疾人名单"
    assert AuditLog.objects.filter(action="person.export").get().result == "denied"


def test_search_by_id_is_masked_in_the_audit_row(tmp_path, users, people):
    number = people["li"].id_number
    count = exporters.persons_export(
        acting_user=users["leader"], filters=PersonFilters(q=number), unmasked=False, out=tmp_path / "a.xlsx"
    )
    log = AuditLog.objects.get(action="person.export")
    assert count == 1
    assert log.changes["filters"] == {"q": people["li"].masked_id}


def test_export_reads_in_a_fixed_number_of_queries(
    tmp_path, users, people, make_person, django_assert_num_queries
):
    for _ in range(5):
        make_person()
    # the count (for the progress), persons, current certificates, current economic periods, the audit row:
    # the audit chain's head (after its append lock on PostgreSQL) and the insert
    audit_row = 3 if connection.vendor == "postgresql" else 2
    with django_assert_num_queries(4 + audit_row):
        exporters.persons_export(
            acting_user=users["district"], filters=PersonFilters(), unmasked=False, out=tmp_path / "a.xlsx"
        )


def test_unmasked_export_imports_back_unchanged(tmp_path, users, people):
    out = tmp_path / "a.xlsx"
    exporters.persons_export(acting_user=users["district"], filters=PersonFilters(), unmasked=True, out=out)
    staged = importers.persons_stage(out, acting_user=users["district"])
    assert staged.counts == {"rows": 3, "created": 0, "updated": 0, "unchanged": 3, "rejected": 0}


# ---- command line --------------------------------------------------------------------------------------


def test_cli_export_by_town_masked_by_default(tmp_path, people, capsys):
    out = tmp_path / "甪直.xlsx"
    assert main(["export", "persons", str(out), "--town", "320506100"]) == 0
    _headers, rows = read(out)
    assert sorted(r[0] for r in rows) == ["张伟", "李娜"]
    assert all("*" in r[1] for r in rows)
    captured = capsys.readouterr()
    assert captured.out == f"已导出 2 人到 {out}（身份证号等已打码）\n"
    assert "导出残疾人名单" in captured.err and "2/2" in captured.err  # the progress bar (common.exports)
    log = AuditLog.objects.get(action="person.export")
    assert (log.username, log.changes["masked"], log.changes["count"]) == ("system", True, 2)


def test_cli_export_unmasked(tmp_path, people, users, cli_token):
    out = tmp_path / "all.xlsx"
    cli_token(users["district"])  # full numbers only for a proven user
    assert main(["export", "persons", str(out), "--unmasked"]) == 0
    _headers, rows = read(out)
    assert people["zhao"].id_number in [r[1] for r in rows]


def test_cli_export_refusals(tmp_path, users, people, capsys):
    out = tmp_path / "x.xlsx"
    assert main(["export", "persons", str(out), "--town", "999"]) == 2
    assert "未知的镇(街道)：999" in capsys.readouterr().err
    assert main(["export", "persons", str(out), "--unmasked", "--user", "luzhi1"]) == 2
    assert "导出失败：您无权导出未打码的身份证号" in capsys.readouterr().err
    assert not out.exists()


# ---- web -----------------------------------------------------------------------------------------------


def test_web_export_uses_the_list_filters(client, users, people):
    client.force_login(users["district"])
    url = reverse("registry:person_export") + "?grade=1&age=7-17"
    page, response = export_through_job(client, url)
    assert "导出完成：共 1 行" in page.content.decode()
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    _headers, rows = read(content(response))
    assert [r[0] for r in rows] == ["李娜"]
    assert AuditLog.objects.get(action="person.export").changes == {
        "count": 1,
        "filters": {"grade": 1, "age_band": "7-17"},
        "masked": True,
    }
    download = AuditLog.objects.get(action="export.download")
    assert download.changes["masked"] == [None, True] and download.changes["rows"] == [None, 1]


def test_web_unmasked_refused_to_town_staff(client, users, people):
    client.force_login(users["town_luzhi"])
    response = client.post(reverse("registry:person_export") + "?q=%E5%BC%A0", {"unmasked": "1"})
    assert response.status_code == 302
    assert response.url == reverse("registry:person_list") + "?q=%E5%BC%A0"
    assert AuditLog.objects.get(action="person.export").result == "denied"
    assert not Job.objects.filter(kind="export").exists()


def test_web_export_forbidden_for_auditor(client, users, people):
    client.force_login(users["auditor"])
    assert client.post(reverse("registry:person_export")).status_code == 403
    assert client.get(reverse("registry:person_export")).status_code == 405
    assert not AuditLog.objects.filter(action="person.export").exists()
