"""The place pages through the client: every list renders and exports (a real xlsx read back with openpyxl),
the roll call saves and refuses a second submit of the same page, projects and ratings are entered in the
browser's forms, the attendance import goes through the shared staged import, and scope gives 404."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
from django.test import Client
from django.urls import reverse

from canlian.common.models import AuditLog
from canlian.institutions import places
from canlian.institutions.models import Attendance, BuildProject, PlaceMember, StarRating

DAY = date(2023, 3, 6)


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_roll_call_page_saves_and_refuses_the_same_page_twice(home, attendees, home_staff):
    c = client_for(home_staff)
    url = reverse("institutions:place_roll_call", args=[home.pk])
    page = c.get(url, {"service": "day_care", "on": DAY.isoformat()})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="roll-call-form"' in html and all(p.name in html for p in attendees)
    assert attendees[0].id_number not in html
    seen = places.roll_call_seen(home, "day_care", DAY)
    data = {
        "service": "day_care",
        "on": DAY.isoformat(),
        "seen": seen,
        "present": [attendees[0].pk, attendees[2].pk],
    }
    r = c.post(url, data, follow=True)
    assert "共 2 人" in r.content.decode()
    r = c.post(url, data, follow=True)
    assert "重复提交" in r.content.decode()
    assert Attendance.objects.filter(on=DAY).count() == 2


def test_lists_render_filter_and_export(home, other_home, attendees, users):
    places.attendance_record(
        acting_user=users["district"], institution=home, service="day_care", on=DAY, present={attendees[0].pk}
    )
    c = client_for(users["district"])
    for name in ("places", "attendance", "projects", "ratings"):
        assert c.get(reverse(f"institutions:{name}")).status_code == 200
    r = c.get(
        reverse("institutions:attendance"), {"month": "2023-03", "town": home.town_id, "service": "day_care"}
    )
    assert 'data-attendance="' in r.content.decode()
    assert reverse("casework:roster_upload", args=["attendance"]) in r.content.decode()
    assert c.get(reverse("casework:roster_upload", args=["attendance"])).status_code == 200
    r = c.get(reverse("institutions:attendance"), {"month": "2023-04"})
    assert 'data-attendance="' not in r.content.decode()
    r = c.get(reverse("institutions:place_export", args=["attendance"]), {"month": "2023-03"})
    assert r.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.values)
    assert rows[0][:5] == ("日期", "机构", "镇(街道)", "服务项目", "姓名")
    assert rows[1][1:5] == ("甪直镇残疾人之家", "甪直镇", "日间照料", "张伟")
    assert attendees[0].id_number not in str(rows[1][5])
    assert AuditLog.objects.filter(action="place.attendance_export").count() == 1
    r = c.get(reverse("institutions:place_export", args=["places"]), {"town": home.town_id})
    names = [row[0] for row in openpyxl.load_workbook(io.BytesIO(r.content)).active.values]
    assert names == ["机构名称", "甪直镇残疾人之家"]


def test_town_and_institution_scope(home, other_home, home_staff, users):
    mudu = client_for(users["town_mudu"])
    assert mudu.get(reverse("institutions:place_detail", args=[home.pk])).status_code == 404
    assert mudu.get(reverse("institutions:place_detail", args=[other_home.pk])).status_code == 200
    assert f'data-place="{home.pk}"' not in mudu.get(reverse("institutions:places")).content.decode()
    staff = client_for(home_staff)
    assert staff.get(reverse("institutions:place_detail", args=[other_home.pk])).status_code == 404
    assert staff.get(reverse("institutions:place_roll_call", args=[other_home.pk])).status_code == 404
    html = staff.get(reverse("institutions:place_detail", args=[home.pk])).content.decode()
    assert 'data-roll-call="day_care"' in html and 'id="member-form"' not in html
    leader = client_for(users["leader"])
    assert leader.get(reverse("institutions:place_roll_call", args=[home.pk])).status_code == 403


def test_project_and_rating_through_the_forms(home, users, checker):
    town = client_for(users["town_luzhi"])
    r = town.post(
        reverse("institutions:project_new"),
        {
            "institution": home.pk,
            "name": "甪直镇残疾人之家新建项目",
            "started_on": "2023-03-01",
            "deadline": "2023-02-01",
            "milestone_name": ["选址立项", ""],
            "milestone_due": ["2023-03-31", ""],
        },
    )
    assert r.status_code == 400 and "建成期限不能早于开工日期" in r.content.decode()
    r = town.post(
        reverse("institutions:project_new"),
        {
            "institution": home.pk,
            "name": "甪直镇残疾人之家新建项目",
            "started_on": "2023-03-01",
            "deadline": "2023-10-31",
            "milestone_name": ["选址立项", "验收运营"],
            "milestone_due": ["2023-03-31", "2023-10-31"],
        },
    )
    p = BuildProject.objects.get()
    assert r.status_code == 302 and r["Location"] == reverse("institutions:project_detail", args=[p.pk])
    m = p.milestones.first()
    town.post(reverse("institutions:project_milestone_done", args=[m.pk]), {"done_on": "2023-03-30"})
    r = town.post(
        reverse("institutions:project_milestone_done", args=[m.pk]), {"done_on": "2023-03-30"}, follow=True
    )
    assert "重复提交" in r.content.decode()
    from django.core.files.uploadedfile import SimpleUploadedFile

    town.post(
        reverse("institutions:project_evidence", args=[p.pk]),
        {"about": "Q1", "file": SimpleUploadedFile("照片.jpg", b"jpeg-bytes", "image/jpeg")},
    )
    ev = p.evidence.get()
    assert (
        client_for(users["town_mudu"])
        .get(reverse("institutions:evidence_download", args=[ev.pk]))
        .status_code
        == 404
    )
    assert town.get(reverse("institutions:evidence_download", args=[ev.pk])).content == b"jpeg-bytes"
    html = town.get(reverse("institutions:project_detail", args=[p.pk])).content.decode()
    assert "2023-10-31" in html and 'id="project-status"' in html
    # the star rating: district scores, another district officer rates
    district = client_for(users["district"])
    scores = {f"score_{i['code']}": str(i["points"]) for i in places.star_checklist(2023).items}
    r = district.post(reverse("institutions:rating_new"), {"year": "2023", "institution": home.pk, **scores})
    rating = StarRating.objects.get()
    assert rating.stars == 5 and r["Location"] == reverse("institutions:rating_detail", args=[rating.pk])
    url = reverse("institutions:rating_move", args=[rating.pk])
    district.post(url, {"move": "submit", "expected_state": "draft"})
    r = district.post(url, {"move": "rate", "expected_state": "submitted"}, follow=True)
    assert "经办与审核须由不同人员办理" in r.content.decode()
    client_for(checker).post(url, {"move": "rate", "expected_state": "submitted"})
    rating.refresh_from_db()
    assert rating.state == "rated"
    assert (
        client_for(users["town_mudu"])
        .get(reverse("institutions:rating_detail", args=[rating.pk]))
        .status_code
        == 404
    )


def _xlsx(tmp_path, rows):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["姓名", "身份证号", "机构", "日期", "服务项目"])
    for r in rows:
        ws.append(r)
    path = tmp_path / "出勤.xlsx"
    wb.save(path)
    return path


def test_attendance_import(home, attendees, users, make_person, tmp_path):
    from canlian.casework.importing import roster_import, roster_stage

    newcomer = make_person(name="赵敏", town="甪直镇", birth=date(1990, 1, 1))
    a = attendees[0]
    path = _xlsx(
        tmp_path,
        [
            [a.name, a.id_number, "甪直镇残疾人之家", "2023-03-06", "日间照料"],
            [a.name, a.id_number, "甪直镇残疾人之家", "2023-03-06", "日间照料"],
            [newcomer.name, newcomer.id_number, "甪直镇残疾人之家", "2023-03-07", "辅助性就业"],
            ["王五", a.id_number, "甪直镇残疾人之家", "2023-03-08", "日间照料"],
            [a.name, a.id_number, "不存在的之家", "2023-03-08", "日间照料"],
            [a.name, a.id_number, "甪直镇残疾人之家", "2099-01-01", "康复"],
        ],
    )
    staged = roster_stage("attendance", path, acting_user=users["town_luzhi"])
    counts = staged.counts
    assert (counts["created"], counts["rejected"]) == (2, 4)
    errors = {(e["row"], e["column"]) for e in staged.errors()}
    assert {(3, "身份证号"), (5, "姓名"), (6, "机构"), (7, "日期"), (7, "服务项目")} <= errors
    assert not Attendance.objects.exists()
    staged = roster_import("attendance", path, acting_user=users["town_luzhi"])
    assert staged.counts["created"] == 2
    assert Attendance.objects.filter(source="import").count() == 2
    assert PlaceMember.objects.filter(
        person=newcomer, service="aux_employment", joined_on=date(2023, 3, 7)
    ).exists()
    again = roster_import("attendance", path, acting_user=users["town_luzhi"])
    assert again.counts["unchanged"] == 2 and Attendance.objects.count() == 2
    # the other town's clerk may not import this town's place
    other = roster_stage("attendance", path, acting_user=users["town_mudu"])
    assert other.counts["created"] == 0
