"""Employment's pages through the client: lists with filters and export, entry forms, a training class's page,
a project's page, the two case programmes' entry pages; errors in Chinese at their field; scope as 404."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse

from canlian.casework.models import AuxProjectMember, Case, TrainingAttendance, TrainingEnrolment
from canlian.casework.programmes.employment_records import training_class_create
from canlian.common.models import AuditLog
from canlian.registry.models import EmploymentPeriod

from .conftest import designated

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_employment_entry_list_filters_and_export(users, make_person):
    person = make_person(name="张伟", birth=date(1990, 1, 1))
    c = client_for(users["town_luzhi"])
    url = reverse("casework:employment_new")
    bad = c.post(url, {"id_number": person.id_number, "kind": "", "valid_from": "2023-13-01"})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "请选择就业形式" in html and "开始日期格式不正确，应为 2023-05-06" in html
    ok = c.post(
        url, {"id_number": person.id_number, "kind": "quota", "employer": "甲厂", "valid_from": "2023-03-01"}
    )
    assert ok.status_code == 302
    again = c.post(
        url, {"id_number": person.id_number, "kind": "quota", "employer": "甲厂", "valid_from": "2023-03-01"}
    )
    assert again.status_code == 302  # a double submit: "已登记，无变化", nothing written twice
    assert EmploymentPeriod.objects.filter(person=person, status="employed").count() == 1
    period = EmploymentPeriod.objects.get(person=person, status="employed")
    lst = reverse("casework:employment_list", args=["periods"])
    assert f'data-pk="{period.pk}"' in c.get(lst, {"month": "2023-03", "kind": "quota"}).content.decode()
    assert f'data-pk="{period.pk}"' not in c.get(lst, {"month": "2023-04"}).content.decode()
    assert f'data-pk="{period.pk}"' not in c.get(lst, {"kind": "flexible"}).content.decode()
    response = c.get(reverse("casework:employment_export", args=["periods"]), {"month": "2023-03"})
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0] == ("姓名", "身份证号", "镇(街道)", "就业形式", "就业单位", "开始日期", "结束日期", "来源")
    assert rows[1][0] == "张伟" and rows[1][1] == person.masked_id and rows[1][3] == "按比例就业"
    assert len(rows) == 2
    assert AuditLog.objects.get(action="employment.export").changes["rows"] == [None, 1]
    # another town's clerk: the list does not show it
    other = client_for(users["town_mudu"]).get(lst).content.decode()
    assert f'data-pk="{period.pk}"' not in other


def test_training_page_enrol_session_certify(users, towns, make_person):
    a, b = make_person(name="张伟"), make_person(name="李娜")
    tc = training_class_create(
        acting_user=users["town_luzhi"],
        kind="massage",
        name="盲人保健按摩培训班",
        town=towns["甪直镇"],
        starts_on=date(2023, 4, 1),
        ends_on=date(2023, 4, 30),
    )
    c = client_for(users["town_luzhi"])
    for p in (a, b):
        r = c.post(
            reverse("casework:training_enrol", args=[tc.pk]),
            {"id_number": p.id_number, "enrolled_on": "2023-04-01"},
        )
        assert r.status_code == 302
    ea = TrainingEnrolment.objects.get(person=a)
    r = c.post(
        reverse("casework:training_session", args=[tc.pk]),
        {"held_on": "2023-04-02", "topic": "经络", "present": [str(ea.pk)]},
    )
    assert r.status_code == 302
    assert list(TrainingAttendance.objects.values_list("enrolment_id", flat=True)) == [ea.pk]
    r = c.post(
        reverse("casework:training_certify", args=[tc.pk, ea.pk]),
        {"certificate": "保健按摩师（初级）", "certified_on": "2023-04-30"},
    )
    assert r.status_code == 302
    ea.refresh_from_db()
    assert (ea.certificate, ea.certified_on) == ("保健按摩师（初级）", date(2023, 4, 30))
    page = c.get(reverse("casework:training_detail", args=[tc.pk])).content.decode()
    assert "1 / 1" in page and "0 / 1" in page
    assert (
        client_for(users["town_mudu"]).get(reverse("casework:training_detail", args=[tc.pk])).status_code
        == 404
    )
    assert (
        client_for(users["town_mudu"])
        .post(
            reverse("casework:training_enrol", args=[tc.pk]),
            {"id_number": a.id_number, "enrolled_on": "2023-04-01"},
        )
        .status_code
        == 404
    )


def test_projects_practitioners_and_the_case_entry_pages(users, district2, towns, make_person):
    home = designated(users, district2, towns, "甪直镇残疾人之家", kind="care_home")
    a = make_person(name="张伟", birth=date(1990, 1, 1))
    c = client_for(users["town_luzhi"])
    r = c.post(
        reverse("casework:aux_project_new"),
        {
            "name": "电子元件组装",
            "company": "吴中电子厂",
            "institution": str(home.pk),
            "started_on": "2023-02-01",
        },
    )
    assert r.status_code == 302
    project_url = r["Location"]
    r = c.post(project_url, {"id_number": a.id_number, "joined_on": "2023-02-15"})
    assert r.status_code == 302
    assert AuxProjectMember.objects.get().person == a
    assert a.name in c.get(project_url).content.decode()
    r = c.post(
        reverse("casework:practitioner_new"),
        {
            "id_number": a.id_number,
            "qualification": "保健按摩师（中级）",
            "workplace": "甪直盲人按摩店",
            "since": "2020-01-01",
        },
    )
    assert r.status_code == 302
    r = c.post(reverse("casework:job_support_list"), {"id_number": a.id_number, "applied_on": "2023-03-01"})
    assert r.status_code == 302
    case = Case.objects.get(programme="job_support")
    assert case.person == a and case.state == "listed"
    r = c.post(
        reverse("casework:graduate_register"),
        {"id_number": a.id_number, "applied_on": "2023-06-30", "school": "苏州大学", "major": "会计"},
    )
    assert r.status_code == 302
    assert Case.objects.get(programme="graduate").data == {
        "year": "2023",
        "school": "苏州大学",
        "major": "会计",
    }
    r = c.post(
        reverse("casework:graduate_register"),
        {"id_number": a.id_number, "applied_on": "2023-07-01", "school": "苏州大学"},
    )
    assert r.status_code == 400 and "张伟已登记为 2023 年毕业生" in r.content.decode()
    for what in ("periods", "job_fairs", "training", "aux_projects", "practitioners"):
        assert c.get(reverse("casework:employment_list", args=[what])).status_code == 200
    assert c.get(reverse("casework:case_list", args=["graduate"])).status_code == 200
    assert c.get(reverse("casework:case_detail", args=[case.pk])).status_code == 200


def test_the_person_timeline_shows_employment_in_scope(users, towns, make_person):
    from canlian.casework.programmes.employment import employment_record
    from canlian.casework.programmes.employment_records import training_enrol
    from canlian.registry.timeline import person_timeline

    person = make_person(name="张伟")
    employment_record(
        acting_user=users["district"],
        person=person,
        kind="public_welfare",
        employer="甪直镇社区",
        valid_from=date(2023, 1, 1),
        valid_to=date(2023, 6, 30),
    )
    tc = training_class_create(
        acting_user=users["district"],
        kind="heritage",
        name="泥塑班",
        town=towns["甪直镇"],
        starts_on=date(2023, 2, 1),
        ends_on=date(2023, 3, 1),
    )
    training_enrol(
        acting_user=users["district"], training_class=tc, person=person, enrolled_on=date(2023, 2, 1)
    )
    titles = [
        (e.area, e.title, e.state) for e in person_timeline(users["town_luzhi"], person) if e.area == "就业"
    ]
    assert titles == [
        ("就业", "参加培训：泥塑班", "已报名"),
        ("就业", "公益性岗位（2023-01-01～2023-06-30，甪直镇社区）", "已结束"),
    ]
    assert [e for e in person_timeline(users["town_mudu"], person) if e.area == "就业"] == []


def test_a_care_homes_staff_read_only_their_projects(users, district2, towns, make_user, make_person):
    from canlian.casework.programmes.employment_records import aux_project_create

    own = designated(users, district2, towns, "甪直镇残疾人之家", kind="care_home")
    other = designated(users, district2, towns, "木渎镇残疾人之家", kind="care_home", town="木渎镇")
    staff = make_user("home_luzhi", "institution_staff")
    staff.institution = own
    staff.save(update_fields=["institution"])
    mine = aux_project_create(
        acting_user=users["district"],
        name="包装",
        company="甲厂",
        institution=own,
        started_on=date(2023, 1, 1),
    )
    theirs = aux_project_create(
        acting_user=users["district"],
        name="分拣",
        company="乙厂",
        institution=other,
        started_on=date(2023, 1, 1),
    )
    c = client_for(staff)
    html = c.get(reverse("casework:employment_index")).content.decode()
    assert f'data-pk="{mine.pk}"' in html and f'data-pk="{theirs.pk}"' not in html
    assert c.get(reverse("casework:aux_project_detail", args=[theirs.pk])).status_code == 404
    assert c.get(reverse("casework:employment_list", args=["periods"])).status_code == 403
    # reading is all: no member form, and a POST is refused without writing
    person = make_person(name="张伟")
    r = c.post(
        reverse("casework:aux_project_detail", args=[mine.pk]),
        {"id_number": person.id_number, "joined_on": "2023-02-01"},
    )
    assert r.status_code == 404 and not mine.members.exists()
