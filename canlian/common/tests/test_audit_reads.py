"""Reads of personal data are audited (issue 10 §3): opening a person page, a search by ID or certificate
number (a masked ID plus a birth date could otherwise be confirmed unseen), downloads, and every refused
access (403, or 404 on a record), each with exactly one row, attributed and masked."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from canlian.common.audit_display import describe
from canlian.common.jobs import job_create
from canlian.common.masking import mask_id_number
from canlian.common.models import AuditLog

pytestmark = pytest.mark.django_db
LIST = reverse("registry:person_list")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows(action: str) -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=action).order_by("id"))


@pytest.fixture
def zhang(make_person):
    return make_person(name="张伟", town="甪直镇", birth=date(1980, 5, 6))


def test_opening_a_person_page_is_audited_and_kept_out_of_the_persons_history(users, zhang):
    assert rows("person.view") == []
    page = client_for(users["town_luzhi"]).get(reverse("registry:person_detail", args=[zhang.pk]))
    assert page.status_code == 200
    [row] = rows("person.view")
    assert (row.username, row.role, row.object_type, row.object_id, row.result) == (
        "luzhi1",
        "town_staff",
        "registry.person",
        str(zhang.pk),
        "success",
    )
    assert zhang.id_number not in row.object_repr and zhang.masked_id in row.object_repr
    # the person's change history on the page shows changes, not who looked
    again = client_for(users["town_luzhi"]).get(reverse("registry:person_detail", args=[zhang.pk]))
    assert "查看残疾人档案" not in again.content.decode() and len(rows("person.view")) == 2


def test_a_search_by_full_id_is_audited_masked_with_what_it_found(users, zhang, make_person):
    luzhi = client_for(users["town_luzhi"])
    # when the clerk searches by the full ID number
    response = luzhi.post(LIST, {"q": zhang.id_number})
    assert response.status_code == 200 and zhang.masked_id in response.content.decode()
    # then one row says who searched which (masked) number and that it found one person
    [row] = rows("person.search")
    assert (row.username, row.object_type, row.result) == ("luzhi1", "registry.person", "success")
    assert row.changes == {"q": [None, mask_id_number(zhang.id_number)], "results": [None, 1]}
    assert zhang.id_number not in f"{row.changes}{row.object_repr}{row.detail}"
    # and a search by certificate number too
    certificate = f"{zhang.id_number}42"
    luzhi.post(LIST, {"q": certificate})
    assert rows("person.search")[-1].changes == {
        "q": [None, mask_id_number(certificate)],
        "results": [None, 1],
    }
    # a search outside the clerk's town finds nothing, and is audited all the same
    client_for(users["town_mudu"]).post(LIST, {"q": zhang.id_number})
    last = rows("person.search")[-1]
    assert (last.username, last.changes["results"]) == ("mudu1", [None, 0])
    # a name search is an ordinary list (redirected to a GET) and writes nothing
    assert luzhi.post(LIST, {"q": "张伟"}).status_code == 302
    assert len(rows("person.search")) == 3
    # the auditor reads it in Chinese
    shown = {c.label: c.new for c in describe([rows("person.search")[0]])[0].change_list}
    assert shown == {"查询内容": mask_id_number(zhang.id_number), "结果数": "1"}


def test_downloading_an_application_attachment_is_audited(users, zhang):
    from canlian.benefits.models import Programme
    from canlian.benefits.services.applications import application_attach, application_create

    app = application_create(
        acting_user=users["town_luzhi"],
        person=zhang,
        programme=Programme.objects.get(code="care_allowance"),
        applied_on=date(2023, 5, 10),
        bank_name="农商行",
        bank_account="6222020000000001",
    )
    att = application_attach(
        acting_user=users["town_luzhi"],
        application=app,
        upload=SimpleUploadedFile("申请表.pdf", b"%PDF-1.4 form", content_type="application/pdf"),
    )
    assert rows("application.attachment_download") == []
    response = client_for(users["district"]).get(
        reverse("benefits:attachment_download", args=[app.pk, att.pk])
    )
    assert b"".join(response.streaming_content) == b"%PDF-1.4 form"
    [row] = rows("application.attachment_download")
    assert (row.username, row.object_type, row.object_id, row.changes) == (
        "district1",
        "benefits.application",
        str(app.pk),
        {"file": [None, "申请表.pdf"]},
    )


def test_downloading_an_import_report_is_audited(users):
    from canlian.registry import tasks

    job = job_create(
        acting_user=users["district"],
        kind=tasks.JOB_KIND,
        params={"filename": "名单.xlsx", "stored": "x.xlsx"},
    )
    path = tasks.report_path(job.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK report")
    response = client_for(users["district"]).get(reverse("registry:import_report", args=[job.pk]))
    assert b"".join(response.streaming_content) == b"PK report"
    [row] = rows("import.report_download")
    assert (row.username, row.object_type, row.object_id, row.object_repr, row.changes) == (
        "district1",
        "common.job",
        str(job.pk),
        "名单-导入报告.xlsx",
        {"file": [None, "名单.xlsx"]},
    )
    # another user's job is a 404, audited as a refusal, with no download row
    assert client_for(users["admin"]).get(reverse("registry:import_report", args=[job.pk])).status_code == 404
    assert len(rows("import.report_download")) == 1
    assert rows("access.denied")[-1].username == "admin1"


def test_a_person_out_of_scope_is_a_404_audited_as_a_refusal(users, zhang):
    response = client_for(users["town_mudu"]).get(reverse("registry:person_detail", args=[zhang.pk]))
    assert response.status_code == 404
    [row] = rows("access.denied")
    assert (row.username, row.role, row.result, row.object_type, row.object_id) == (
        "mudu1",
        "town_staff",
        "denied",
        "registry.person",
        str(zhang.pk),
    )
    assert row.object_repr == f"/registry/persons/{zhang.pk}/" or str(zhang.pk) in row.object_repr
    assert row.detail.endswith("未找到，或不在其管辖范围内（404）")
    assert rows("person.view") == []  # nothing was shown
    # a record that does not exist at all is recorded the same way (probing numbers)
    client_for(users["town_mudu"]).get(reverse("registry:person_detail", args=[zhang.pk + 1000]))
    assert [r.object_id for r in rows("access.denied")] == [str(zhang.pk), str(zhang.pk + 1000)]


def test_a_forbidden_page_is_a_403_audited_once(users, zhang):
    # a leader opening the auditor's page
    assert client_for(users["leader"]).get(reverse("common:audit_list")).status_code == 403
    [row] = rows("access.denied")
    assert (row.username, row.result, row.detail) == ("leader1", "denied", "GET /audit/：无权访问（403）")
    # a refused reveal is audited by the service itself: one row, not two
    response = client_for(users["leader"]).post(reverse("registry:person_reveal", args=[zhang.pk]))
    assert response.status_code == 403
    leader_rows = AuditLog.objects.filter(username="leader1").exclude(action="login").order_by("id")
    assert [(r.action, r.result) for r in leader_rows] == [
        ("access.denied", "denied"),
        ("person.reveal_id", "denied"),
    ]


def test_unknown_addresses_and_anonymous_visitors_write_nothing(users, zhang):
    luzhi = client_for(users["town_luzhi"])
    before = AuditLog.objects.count()
    assert luzhi.get("/no-such-page/").status_code == 404
    assert Client().get(reverse("registry:person_detail", args=[zhang.pk])).status_code == 302
    assert AuditLog.objects.count() == before


def test_the_auditor_reads_the_reads_in_chinese(users, zhang):
    client_for(users["town_luzhi"]).get(reverse("registry:person_detail", args=[zhang.pk]))
    client_for(users["town_mudu"]).get(reverse("registry:person_detail", args=[zhang.pk]))
    html = client_for(users["auditor"]).get(reverse("common:audit_list")).content.decode()
    assert "查看残疾人档案" in html and "访问被拒绝（无权限或记录不存在）" in html
