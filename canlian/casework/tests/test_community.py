"""Community services (issue 11 §3) through the services and the real URLs: visits and the 实事 projects they
open (maker ≠ checker, Decimal budget), special education, legal aid, activities (attendees, encrypted
photos), the lists' filters and scope, the Excel export, the indicators' date boundaries, the timeline."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from canlian.casework.community import selectors
from canlian.casework.community import services as sv
from canlian.casework.community.kinds import KINDS
from canlian.casework.models import (
    Activity,
    ActivityPhoto,
    HomeTeachingSession,
    HotlineCall,
    LegalAidCase,
    ShishiProject,
    Visit,
)
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog
from canlian.common.workflow import transition

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def person(make_person):
    return make_person(name="张伟", town="甪直镇")


@pytest.fixture
def child(make_person):
    return make_person(name="王小明", town="甪直镇", birth=date(2015, 3, 1), category=5)


def create(user, code, **values):
    return sv.record_create(acting_user=user, kind=KINDS[code], values=values)


def test_visit_need_becomes_a_project_approved_by_another_person(users, person, make_user):
    district2 = make_user("district2", "district_staff")
    visit = create(
        users["town_luzhi"],
        "visit",
        kind="home",
        visited_on=date(2023, 4, 3),
        id_number=person.id_number,
        visitors="李委员、村委王主任",
        found="家中卫生间无扶手，老人行走困难",
        need="卫生间加装扶手",
    )
    assert (visit.town.name, visit.person_id, visit.created_by) == ("甪直镇", person.pk, users["town_luzhi"])
    project = sv.visit_to_project(
        acting_user=users["district"],
        visit=visit,
        name="困难残疾人家庭加装扶手",
        owner="甪直镇残联",
        budget=Decimal("12000.50"),
        year=2023,
    )
    project.refresh_from_db()
    assert (project.visit_id, project.budget, project.state, project.town_id) == (
        visit.pk,
        Decimal("12000.50"),
        "proposed",
        visit.town_id,
    )
    # the proposer may not approve (maker ≠ checker); another district clerk may
    with pytest.raises(PermissionDenied):
        transition(project, "approve", acting_user=users["district"], expected_state="proposed")
    project = transition(project, "approve", acting_user=district2, expected_state="proposed")
    project = transition(project, "start", acting_user=users["town_luzhi"], expected_state="approved")
    assert project.state == "in_progress"
    assert list(
        AuditLog.objects.filter(action__regex=r"^(community|shishi_project)\.")
        .order_by("id")
        .values_list("action", "username")
    ) == [
        ("community.visit.create", "luzhi1"),
        ("community.project.create", "district1"),
        ("community.visit.to_project", "district1"),
        ("shishi_project.approve", "district2"),
        ("shishi_project.start", "luzhi1"),
    ]
    assert selectors.shishi_projects_by_town(2023) == {visit.town_id: 1}
    assert selectors.shishi_projects_by_town(2024) == {}


def test_town_staff_enter_only_their_town(users, person, towns):
    with pytest.raises(ValidationFailed) as exc:
        create(
            users["town_mudu"],
            "activity",
            kind="culture",
            held_on=date(2023, 5, 1),
            town=towns["甪直镇"].pk,
            title="书法展",
            organiser="甪直镇残联",
        )
    assert exc.value.errors == {"town": "请从列表中选择镇(街道)"}
    # a person of another town is "not found" for the 木渎 clerk
    with pytest.raises(ValidationFailed) as exc:
        create(
            users["town_mudu"],
            "legal",
            id_number=person.id_number,
            received_on=date(2023, 5, 1),
            matter="labour",
            request="工资拖欠",
        )
    assert "未找到该身份证号" in exc.value.errors["id_number"]
    with pytest.raises(PermissionDenied):
        create(users["leader"], "visit", kind="home", visited_on=date(2023, 5, 1))
    assert not Activity.objects.exists() and not LegalAidCase.objects.exists()


def test_home_teaching_plan_sessions_and_indicator_boundaries(users, child):
    plan = create(
        users["town_luzhi"],
        "plan",
        id_number=child.id_number,
        school_year="2023-2024",
        school="甪直实验小学",
        teacher="陈老师",
        start_on=date(2023, 9, 1),
        lessons_planned=216,
    )
    for day in (date(2022, 12, 31), date(2023, 1, 1), date(2023, 12, 31), date(2024, 1, 1)):
        create(
            users["town_luzhi"],
            "session",
            plan=plan.pk,
            held_on=day,
            lessons=3,
            teacher="陈老师",
            content="识字",
        )
    with pytest.raises(ValidationFailed) as exc:  # one session a day per plan
        create(
            users["town_luzhi"],
            "session",
            plan=plan.pk,
            held_on=date(2023, 1, 1),
            lessons=3,
            teacher="陈",
            content="x",
        )
    assert exc.value.errors == {"form": "该计划当天已有送教记录"}
    with pytest.raises(ValidationFailed) as exc:
        create(
            users["town_luzhi"],
            "session",
            plan=plan.pk,
            held_on=date(2023, 1, 2),
            lessons=9,
            teacher="陈",
            content="x",
        )
    assert exc.value.errors == {"form": "每次送教课时应为 1～8"}
    assert selectors.home_teaching_sessions_by_town(2023) == {plan.town_id: 2}
    with pytest.raises(PermissionDenied):  # another town's clerk cannot add to this plan
        create(
            users["town_mudu"],
            "session",
            plan=plan.pk,
            held_on=date(2023, 3, 1),
            lessons=3,
            teacher="x",
            content="x",
        )
    assert HomeTeachingSession.objects.count() == 4


def test_legal_aid_referral_and_close(users, person):
    case = create(
        users["town_luzhi"],
        "legal",
        id_number=person.id_number,
        received_on=date(2023, 6, 1),
        matter="labour",
        request="工资拖欠三个月",
    )
    with pytest.raises(ValidationFailed) as exc:
        transition(
            case,
            "refer",
            acting_user=users["town_luzhi"],
            expected_state="received",
            referred_to="station",
            referred_on=date(2023, 5, 1),
        )
    assert exc.value.errors == {"referred_on": "日期不能早于受理日期"}
    case = transition(
        case,
        "refer",
        acting_user=users["town_luzhi"],
        expected_state="received",
        referred_to="centre",
        referred_on=date(2023, 6, 2),
    )
    case = transition(
        case,
        "close",
        acting_user=users["district"],
        expected_state="referred",
        outcome="调解成功，补发工资",
        closed_on=date(2023, 7, 1),
    )
    assert (case.state, case.referred_to, case.outcome) == ("closed", "centre", "调解成功，补发工资")
    assert selectors.legal_aid_cases_by_town(2023) == {case.town_id: 1}


def test_activity_participants_and_encrypted_photo(users, person, make_person, towns):
    act = create(
        users["town_luzhi"],
        "activity",
        kind="sports",
        held_on=date(2023, 12, 31),
        town=towns["甪直镇"].pk,
        title="残疾人趣味运动会",
        organiser="甪直镇残联",
        headcount=20,
    )
    sv.activity_attendee_add(acting_user=users["town_luzhi"], activity=act, id_number=person.id_number)
    sv.activity_attendee_add(
        acting_user=users["town_luzhi"], activity=act, id_number=make_person(name="李娜").id_number
    )
    create(
        users["district"],
        "activity",
        kind="law",
        held_on=date(2024, 1, 1),
        town=towns["甪直镇"].pk,
        title="普法讲座",
        organiser="区残联",
        headcount=50,
    )
    assert selectors.activities_by_town(2023) == {act.town_id: 1}
    assert selectors.activity_participants_by_town(2023) == {act.town_id: 22}
    photo = sv.activity_photo_add(
        acting_user=users["town_luzhi"], activity=act, name="合影.png", content=PNG, content_type="image/png"
    )
    with connection.cursor() as cur:
        cur.execute("SELECT content FROM casework_activityphoto WHERE id = %s", [photo.pk])
        raw = cur.fetchone()[0]
    assert "iVBOR" not in raw and ActivityPhoto.objects.get(pk=photo.pk).content.startswith(
        "iVBOR"
    )  # not stored as the plain base64 of the PNG
    with pytest.raises(ValidationFailed):
        sv.activity_photo_add(
            acting_user=users["town_luzhi"],
            activity=act,
            name="x.svg",
            content=b"<svg/>",
            content_type="image/svg+xml",
        )
    response = client_for(users["leader"]).get(reverse("casework:community_photo", args=[photo.pk]))
    assert response.status_code == 200 and response.content == PNG
    assert (
        client_for(users["town_mudu"]).get(reverse("casework:community_photo", args=[photo.pk])).status_code
        == 404
    )
    assert AuditLog.objects.filter(action="community.activity.photo_read").get().username == "leader1"


def test_visits_indicator_boundaries(users, person, towns):
    for day, kind in (
        (date(2022, 12, 31), "home"),
        (date(2023, 1, 1), "home"),
        (date(2023, 12, 31), "institution"),
    ):
        Visit.objects.create(
            kind=kind,
            visited_on=day,
            town=person.town,
            person=person,
            visitors="x",
            found="x",
            created_by=users["district"],
        )
    Visit.objects.create(
        kind="law",
        visited_on=date(2023, 6, 1),
        town=person.town,
        person=person,
        visitors="x",
        found="x",
        created_by=users["district"],
    )
    assert selectors.visits_by_town(2023) == {person.town_id: 2}


def test_hotline_indicator_counts_local_new_year(users, towns):
    tz = timezone.get_current_timezone()
    for moment in (
        datetime(2022, 12, 31, 23, 59, tzinfo=tz),
        datetime(2023, 1, 1, 0, 0, tzinfo=tz),
        datetime(2023, 12, 31, 23, 59, tzinfo=tz),
    ):
        HotlineCall.objects.create(
            called_at=moment,
            duration_minutes=10,
            topic="emotion",
            town=towns["木渎镇"],
            counsellor=users["counsellor"],
        )
    assert selectors.hotline_calls_by_town(2023) == {towns["木渎镇"].pk: 2}


def test_list_filters_scope_and_export(users, person, make_person, towns):
    other = make_person(name="李娜", town="木渎镇")
    for p, day, kind in (
        (person, date(2023, 3, 5), "home"),
        (person, date(2023, 4, 5), "home"),
        (other, date(2023, 3, 6), "home"),
    ):
        create(
            users["district"],
            "visit",
            kind=kind,
            visited_on=day,
            id_number=p.id_number,
            visitors="x",
            found=f"发现{p.name}{day}",
        )
    url = reverse("casework:community_list", args=["visit"])
    html = client_for(users["town_luzhi"]).get(url, {"month": "2023-03"}).content.decode()
    assert html.count("data-row=") == 1 and "发现张伟2023-03-05" in html
    html = client_for(users["district"]).get(url, {"town": towns["木渎镇"].pk}).content.decode()
    assert html.count("data-row=") == 1 and "发现李娜" in html
    # the 木渎 clerk's town filter cannot reach 甪直
    html = client_for(users["town_mudu"]).get(url, {"town": towns["甪直镇"].pk}).content.decode()
    assert "data-row=" not in html
    for role in ("institution", "auditor", "counsellor", "admin"):
        assert client_for(users[role]).get(url).status_code == 403
    response = client_for(users["town_luzhi"]).get(reverse("casework:community_export", args=["visit"]))
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("日期", "类型", "镇(街道)")
    assert [r[5] for r in rows[1:]] == ["发现张伟2023-04-05", "发现张伟2023-03-05"]
    log = AuditLog.objects.get(action="community.visit.export")
    assert (log.username, log.changes["rows"]) == ("luzhi1", [None, 2])


def test_create_through_the_page_shows_errors_at_their_field(users, towns):
    c = client_for(users["town_luzhi"])
    url = reverse("casework:community_list", args=["project"])
    response = c.post(
        url,
        {
            "year": "2023",
            "name": "无障碍坡道",
            "town": str(towns["甪直镇"].pk),
            "owner": "镇残联",
            "budget": "12.345",
        },
    )
    assert response.status_code == 400
    assert "预算(元)应为不小于 0 的金额，最多两位小数" in response.content.decode()
    response = c.post(
        url,
        {
            "year": "2023",
            "name": "无障碍坡道",
            "town": str(towns["甪直镇"].pk),
            "owner": "镇残联",
            "budget": "8000",
        },
    )
    project = ShishiProject.objects.get()
    assert response.status_code == 302 and project.budget == Decimal("8000.00")
    detail = c.get(reverse("casework:community_detail", args=["project", project.pk])).content.decode()
    assert "无障碍坡道" in detail and 'data-move="approve"' not in detail  # town staff do not approve
    leader = client_for(users["leader"]).get(
        reverse("casework:community_list", args=["project"]), {"year": 2023}
    )
    assert "无障碍坡道" in leader.content.decode()


def test_timeline_shows_visits_and_legal_aid_but_never_counselling(users, person):
    create(
        users["town_luzhi"],
        "visit",
        kind="home",
        visited_on=date(2023, 4, 3),
        id_number=person.id_number,
        visitors="x",
        found="x",
        need="助听器",
    )
    create(
        users["counsellor"],
        "counselling",
        id_number=person.id_number,
        held_on=date(2023, 4, 4),
        duration_minutes=50,
        mode="face",
        notes="失眠焦虑",
    )
    from canlian.registry.timeline import person_timeline

    titles = [e.title for e in person_timeline(users["district"], person)]
    assert "入户访视" in titles
    assert not any("咨询" in t or "心理" in t for t in titles)


def test_double_submit_gives_a_chinese_message(users, person):
    c = client_for(users["town_luzhi"])
    url = reverse("casework:community_list", args=["visit"])
    form = {
        "kind": "home",
        "visited_on": "2023-04-03",
        "id_number": person.id_number,
        "visitors": "李委员",
        "found": "情况稳定",
    }
    assert c.post(url, form).status_code == 302
    again = c.post(url, form)
    assert again.status_code == 400
    assert "您刚刚已登记过相同的访视（可能是重复提交），请在列表中查看" in again.content.decode()
    assert Visit.objects.count() == 1
    assert AuditLog.objects.filter(action="community.visit.create").count() == 1
