"""The service pages through the real URLs: roster upload → preview → confirm, the case page with its move
buttons and a move made from it, due-item recording, attachment upload and audited download."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from canlian.casework.models import Attachment, Case, DueItem
from canlian.casework.services import case_open
from canlian.common.models import AuditLog, Job

from .conftest import xlsx_bytes

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_roster_upload_preview_confirm(users, make_person, provider):
    a = make_person(name="张伟", category=5, grade=2)
    data = xlsx_bytes(
        ["姓名", "身份证号", "托养方式", "服务机构", "开始日期", "结束日期"],
        [
            ["张伟", a.id_number, "日间照料", provider.name, "2023-03-01", ""],
            ["李四", "123", "日间照料", provider.name, "2023-03-01", ""],
        ],
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    c = client_for(users["town_luzhi"])
    assert c.get(reverse("casework:roster_upload", args=["custodial_care"])).status_code == 200
    r = c.post(
        reverse("casework:roster_upload", args=["custodial_care"]),
        {"file": SimpleUploadedFile("托养.xlsx", data)},
    )
    job = Job.objects.get(kind="roster_import")
    assert r.status_code == 302 and r["Location"] == reverse("casework:import_job", args=[job.pk])
    assert job.status == "waiting" and Case.objects.count() == 0
    html = c.get(r["Location"]).content.decode()
    assert "共 2 行：将新增 1，更新 0，无变化 0，有错误 1（不导入）" in html
    assert "身份证号应为18位，实际为3位" in html
    report = c.get(reverse("casework:import_report", args=[job.pk]))
    assert report.status_code == 200 and AuditLog.objects.filter(action="roster.report_download").count() == 1
    assert client_for(users["town_mudu"]).get(r["Location"]).status_code == 404  # someone else's job
    c.post(reverse("casework:import_commit", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == "succeeded" and job.result["created"] == 1
    assert Case.objects.get().person == a
    # the import's own audit row: who, which roster, which file, the counts, the job
    (done,) = AuditLog.objects.filter(action="roster.import")
    assert (done.user, done.object_type, done.object_id, done.object_repr) == (
        users["town_luzhi"],
        "casework.roster_import",
        str(job.pk),
        "托养.xlsx",
    )
    assert done.changes == {
        "roster": "custodial_care",
        "file": "托养.xlsx",
        "rows": 2,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    again = c.post(reverse("casework:import_commit", args=[job.pk]))
    assert again.status_code == 302 and Case.objects.count() == 1
    bad = c.post(
        reverse("casework:roster_upload", args=["custodial_care"]),
        {"file": SimpleUploadedFile("x.xlsx", b"%PDF-1.4 nope")},
    )
    assert bad.status_code == 400 and "PDF" in bad.content.decode()
    for who in ("leader", "institution", "auditor", "admin"):
        assert (
            client_for(users[who]).get(reverse("casework:roster_upload", args=["custodial_care"])).status_code
            == 403
        )


def test_case_page_moves_and_visits(users, make_person, provider, inst_staff):
    p = make_person(name="张伟", category=5, grade=2)
    case = case_open(
        acting_user=users["town_luzhi"], programme="custodial_care", person=p, opened_on=date(2023, 2, 1)
    )
    c = client_for(users["town_luzhi"])
    html = c.get(reverse("casework:case_detail", args=[case.pk])).content.decode()
    assert 'data-move="town_review"' in html and 'data-move="approve"' not in html
    r = c.post(
        reverse("casework:case_move", args=[case.pk]), {"move": "town_review", "expected_state": "applied"}
    )
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.state == "town_reviewed"
    # a stale form: the message says what happened and nothing changes
    r = c.post(
        reverse("casework:case_move", args=[case.pk]),
        {"move": "town_review", "expected_state": "applied"},
        follow=True,
    )
    assert "当前状态已变为“镇(街道)审核通过”，请刷新后重试" in r.content.decode()
    d = client_for(users["district"])
    d.post(
        reverse("casework:case_move", args=[case.pk]), {"move": "approve", "expected_state": "town_reviewed"}
    )
    r = d.post(
        reverse("casework:case_move", args=[case.pk]),
        {
            "move": "place",
            "expected_state": "approved",
            "institution": str(provider.pk),
            "opened_on": "2023-13-01",
        },
        follow=True,
    )
    assert "托养开始日期格式不正确，应为 2023-05-06" in r.content.decode()
    d.post(
        reverse("casework:case_move", args=[case.pk]),
        {
            "move": "place",
            "expected_state": "approved",
            "institution": str(provider.pk),
            "opened_on": "2023-03-01",
        },
    )
    case.refresh_from_db()
    assert (case.state, case.institution) == ("placed", provider)
    # the institution's staff now see it and record a visit
    i = client_for(inst_staff)
    assert (
        i.get(reverse("casework:case_list", args=["custodial_care"])).content.decode().count("data-case=")
        == 1
    )
    item = DueItem.objects.filter(case=case).order_by("seq").first()
    i.post(reverse("casework:due_done", args=[item.pk]), {"done_on": "2023-04-01", "note": "情况良好"})
    item.refresh_from_db()
    assert (item.done_on, item.done_by, item.note) == (date(2023, 4, 1), inst_staff, "情况良好")
    # other town: 404 on the page and on a move
    m = client_for(users["town_mudu"])
    assert m.get(reverse("casework:case_detail", args=[case.pk])).status_code == 404
    assert (
        m.post(
            reverse("casework:case_move", args=[case.pk]), {"move": "end", "expected_state": "placed"}
        ).status_code
        == 404
    )


def test_attachment_upload_and_download(users, make_person, provider, inst_staff):
    from django.core.files.uploadedfile import SimpleUploadedFile

    case = case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=make_person(name="张伟"),
        opened_on=date(2023, 3, 1),
        institution=provider,
        state="placed",
    )
    i = client_for(inst_staff)
    i.post(
        reverse("casework:attachment_add", args=[case.pk]),
        {"file": SimpleUploadedFile("协议.pdf", b"%PDF-1.4 agreement", content_type="application/pdf")},
    )
    att = Attachment.objects.get()
    r = i.get(reverse("casework:attachment_download", args=[att.pk]))
    assert r.status_code == 200 and r.content == b"%PDF-1.4 agreement" and r["Cache-Control"] == "no-store"
    assert AuditLog.objects.filter(action="case.custodial_care.download", username="inst_luzhi").count() == 1
    for who in ("town_mudu", "leader", "institution", "auditor"):
        assert (
            client_for(users[who]).get(reverse("casework:attachment_download", args=[att.pk])).status_code
            == 404
        )
    assert AuditLog.objects.filter(action="case.custodial_care.download").count() == 1


def test_institution_pages(users, district2, towns):
    d = client_for(users["district"])
    r = d.post(reverse("institutions:create"), {"name": "", "kind": "x", "town": ""})
    assert r.status_code == 400 and "请填写机构名称" in r.content.decode()
    r = d.post(
        reverse("institutions:create"),
        {
            "name": "越溪残疾人之家",
            "kind": "care_home",
            "town": str(towns["越溪街道"].pk),
            "phone": "0512-1234567",
        },
    )
    from canlian.institutions.models import Institution

    inst = Institution.objects.get()
    assert r["Location"] == reverse("institutions:detail", args=[inst.pk])
    html = d.get(r["Location"]).content.decode()
    assert "0512-1234567" not in html and 'data-move="submit"' in html
    d.post(
        reverse("institutions:move", args=[inst.pk]),
        {"move": "submit", "expected_state": "draft", "designated_from": "2023-01-01"},
    )
    html = d.get(r["Location"]).content.decode()
    assert 'data-move="designate"' not in html  # the maker is not offered the check
    client_for(district2).post(
        reverse("institutions:move", args=[inst.pk]), {"move": "designate", "expected_state": "submitted"}
    )
    inst.refresh_from_db()
    assert inst.state == "designated"
    assert (
        client_for(users["town_luzhi"]).post(reverse("institutions:create"), {"name": "x"}).status_code == 403
    )
    assert (
        client_for(users["institution"]).get(reverse("institutions:detail", args=[inst.pk])).status_code
        == 404
    )
