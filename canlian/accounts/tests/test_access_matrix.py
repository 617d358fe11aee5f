"""Who may do what on the registry and audit pages: every role × every action, exact status codes.

The person under test lives in 甪直镇. ``town_own`` is the 甪直镇 clerk, ``town_other`` the 木渎镇 clerk.
A denied write must leave the record and the audit log exactly as they were.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from canlian.common.models import AuditLog
from canlian.registry.models import Person

ROLES = {
    "admin": "admin",
    "district": "district",
    "town_own": "town_luzhi",
    "town_other": "town_mudu",
    "institution": "institution",
    "leader": "leader",
    "auditor": "auditor",
    "counsellor": "counsellor",
}

# (status, sees the person) for pages that list; a bare status where only the code matters.
EXPECTED = {
    "admin": {
        "list": (403, None),
        "detail": 404,
        "edit_get": 404,
        "edit_post": 404,
        "search": (403, None),
        "reveal": 404,
        "status": 404,
        "audit": 403,
    },
    "district": {
        "list": (200, True),
        "detail": 200,
        "edit_get": 200,
        "edit_post": 302,
        "search": (200, True),
        "reveal": 200,
        "status": 302,
        "audit": 403,
    },
    "town_own": {
        "list": (200, True),
        "detail": 200,
        "edit_get": 200,
        "edit_post": 302,
        "search": (200, True),
        "reveal": 200,
        "status": 302,
        "audit": 403,
    },
    "town_other": {
        "list": (200, False),
        "detail": 404,
        "edit_get": 404,
        "edit_post": 404,
        "search": (200, False),
        "reveal": 404,
        "status": 404,
        "audit": 403,
    },
    "institution": {
        "list": (403, None),
        "detail": 404,
        "edit_get": 404,
        "edit_post": 404,
        "search": (403, None),
        "reveal": 404,
        "status": 404,
        "audit": 403,
    },
    "leader": {
        "list": (200, True),
        "detail": 200,
        "edit_get": 404,
        "edit_post": 404,
        "search": (200, True),
        "reveal": 403,
        "status": 404,
        "audit": 403,
    },
    "auditor": {
        "list": (403, None),
        "detail": 404,
        "edit_get": 404,
        "edit_post": 404,
        "search": (403, None),
        "reveal": 404,
        "status": 404,
        "audit": 200,
    },
    # the counselling role sees counselling records only (test_hotline_* below), never the registry
    "counsellor": {
        "list": (403, None),
        "detail": 404,
        "edit_get": 404,
        "edit_post": 404,
        "search": (403, None),
        "reveal": 404,
        "status": 404,
        "audit": 403,
    },
}


@pytest.fixture
def person(make_person):
    return make_person(name="张伟", town="甪直镇", address="旧地址")


@pytest.fixture
def bystander(make_person):
    """Someone in 木渎镇, so the 木渎镇 clerk's list is not empty for a boring reason."""
    return make_person(name="李娜", town="木渎镇")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def edit_data(person, **overrides) -> dict:
    data = {
        "name": person.name,
        "issue_date": person.current_certificate.issue_date.isoformat(),
        "town": str(person.town_id),
        "community": "",
        "household_type": person.household_type,
        "economic_status": "none",
        "address": "新地址",
        "employment_status": "",
        "guardian_name": "",
        "guardian_relation": "",
    }
    return data | overrides


def snapshot(person) -> tuple:
    person = Person.objects.get(pk=person.pk)
    return (person.name, person.address, person.status, person.death_date, person.updated_at)


def person_row_in(html: str, person) -> bool:
    return reverse("registry:person_detail", args=[person.pk]) in html


@pytest.mark.parametrize("role", list(ROLES))
def test_person_list(role, users, person, bystander):
    # given a person in 甪直镇 and one in 木渎镇
    client = client_for(users[ROLES[role]])
    # when the role opens the list
    response = client.get(reverse("registry:person_list"))
    # then
    status, sees = EXPECTED[role]["list"]
    assert response.status_code == status
    if status == 200:
        html = response.content.decode()
        assert person_row_in(html, person) is sees
        assert person.id_number not in html
        assert person.masked_id in html or not sees


@pytest.mark.parametrize("role", list(ROLES))
def test_person_detail(role, users, person):
    client = client_for(users[ROLES[role]])
    response = client.get(reverse("registry:person_detail", args=[person.pk]))
    assert response.status_code == EXPECTED[role]["detail"]
    if response.status_code == 200:
        html = response.content.decode()
        assert person.masked_id in html
        assert person.id_number not in html
        may_write = EXPECTED[role]["edit_post"] == 302
        assert ('id="person-edit"' in html) is may_write
        assert ('id="status-form"' in html) is may_write
        assert ('id="reveal-button"' in html) is (EXPECTED[role]["reveal"] == 200)


@pytest.mark.parametrize("role", list(ROLES))
def test_person_edit_get(role, users, person):
    client = client_for(users[ROLES[role]])
    response = client.get(reverse("registry:person_edit", args=[person.pk]))
    assert response.status_code == EXPECTED[role]["edit_get"]
    if response.status_code == 200:
        html = response.content.decode()
        # the edit form never carries the full ID number, not even inside the certificate number
        assert person.id_number not in html


@pytest.mark.parametrize("role", list(ROLES))
def test_person_edit_post(role, users, person):
    # given
    before = snapshot(person)
    updates_before = AuditLog.objects.filter(action="person.update").count()
    client = client_for(users[ROLES[role]])
    # when
    response = client.post(reverse("registry:person_edit", args=[person.pk]), edit_data(person))
    # then
    assert response.status_code == EXPECTED[role]["edit_post"]
    updates = AuditLog.objects.filter(action="person.update")
    if response.status_code == 302:
        assert response["Location"] == reverse("registry:person_detail", args=[person.pk])
        assert Person.objects.get(pk=person.pk).address == "新地址"
        log = updates.get()
        assert log.username == users[ROLES[role]].username
        assert log.changes == {"address": ["旧地址", "新地址"]}
    else:
        assert snapshot(person) == before
        assert updates.count() == updates_before == 0


@pytest.mark.parametrize("role", list(ROLES))
def test_search_by_full_id_number(role, users, person, bystander):
    client = client_for(users[ROLES[role]])
    response = client.get(reverse("registry:person_list"), {"q": person.id_number})
    status, sees = EXPECTED[role]["search"]
    assert response.status_code == status
    if status == 200:
        html = response.content.decode()
        assert person_row_in(html, person) is sees
        assert not person_row_in(html, bystander)  # a full ID finds exactly its holder
        # the full number appears only where the page echoes what the user typed (search box, links)
        echoed = html.count(f'value="{person.id_number}"') + html.count(f"q={person.id_number}")
        assert html.count(person.id_number) == echoed


@pytest.mark.parametrize("role", list(ROLES))
def test_reveal_id_number(role, users, person):
    # given
    client = client_for(users[ROLES[role]])
    # when the role asks for the full number the way the page does (htmx POST)
    response = client.post(reverse("registry:person_reveal", args=[person.pk]), HTTP_HX_REQUEST="true")
    # then
    expected = EXPECTED[role]["reveal"]
    assert response.status_code == expected
    body = response.content.decode()
    reveals = list(AuditLog.objects.filter(action="person.reveal_id").values_list("username", "result"))
    username = users[ROLES[role]].username
    if expected == 200:
        assert person.id_number in body
        assert "no-store" in response["Cache-Control"]
        assert reveals == [(username, "success")]
    elif expected == 403:
        assert person.id_number not in body
        assert body == "您无权查看完整身份证号"
        assert reveals == [(username, "denied")]
    else:
        assert person.id_number not in body
        assert reveals == []


@pytest.mark.parametrize("role", list(ROLES))
def test_status_change(role, users, person):
    before = snapshot(person)
    client = client_for(users[ROLES[role]])
    response = client.post(reverse("registry:person_status", args=[person.pk]), {"status": "moved_out"})
    assert response.status_code == EXPECTED[role]["status"]
    logs = AuditLog.objects.filter(action="person.status")
    if response.status_code == 302:
        assert Person.objects.get(pk=person.pk).status == "moved_out"
        today = timezone.localdate().isoformat()  # the move is dated (registry.circumstances)
        assert logs.get().changes == {
            "status": ["active", "moved_out"],
            "death_date": [None, None],
            "moved_out": [None, today],
        }
    else:
        assert snapshot(person) == before
        assert logs.count() == 0


@pytest.mark.parametrize("role", list(ROLES))
def test_audit_page(role, users, person):
    client = client_for(users[ROLES[role]])
    response = client.get(reverse("common:audit_list"))
    assert response.status_code == EXPECTED[role]["audit"]
    exported = client.post(reverse("common:audit_export"))
    assert exported.status_code == (302 if EXPECTED[role]["audit"] == 200 else EXPECTED[role]["audit"])
    assert AuditLog.objects.filter(action="audit.export").count() == (1 if role == "auditor" else 0)


@pytest.mark.parametrize("role", list(ROLES))
def test_navigation_offers_only_what_the_role_may_open(role, users):
    client = client_for(users[ROLES[role]])
    html = client.get(reverse("registry:region_list") if role != "auditor" else reverse("common:audit_list"))
    html = html.content.decode()
    nav = html.split('aria-label="主导航"')[1].split("</nav>")[0]
    assert (reverse("registry:person_list") in nav) is (EXPECTED[role]["list"][0] == 200)
    assert (reverse("common:audit_list") in nav) is (role == "auditor")
    assert (reverse("registry:region_list") in nav) is (role != "auditor")
    assert (reverse("registry:import_start") in nav) is (role in {"district", "town_own", "town_other"})


def test_town_clerk_cannot_reach_other_town_through_the_town_filter(users, person, bystander):
    # given the 木渎镇 clerk asks the list for 甪直镇 explicitly
    client = client_for(users["town_mudu"])
    response = client.get(reverse("registry:person_list"), {"town": person.town_id})
    # then the filter is ignored: the clerk stays in 木渎镇
    html = response.content.decode()
    assert response.status_code == 200
    assert not person_row_in(html, person)
    assert person_row_in(html, bystander)
    assert 'id="f-town"' not in html  # the town filter is not offered to town staff


def test_town_clerk_cannot_move_a_person_to_another_town(users, person, towns):
    before = snapshot(person)
    client = client_for(users["town_luzhi"])
    response = client.post(
        reverse("registry:person_edit", args=[person.pk]), edit_data(person, town=str(towns["木渎镇"].pk))
    )
    assert response.status_code == 400
    assert "请从列表中选择镇(街道)" in response.content.decode()
    assert snapshot(person) == before
    assert Person.objects.get(pk=person.pk).town_id == towns["甪直镇"].pk
    assert AuditLog.objects.filter(action="person.update").count() == 0


@pytest.mark.parametrize(
    "name,args",
    [
        ("registry:person_reveal", True),
        ("registry:person_status", True),
        ("common:audit_export", False),
    ],
)
def test_write_endpoints_refuse_get(name, args, users, person):
    user = users["auditor"] if name.startswith("common") else users["district"]
    client = client_for(user)
    response = client.get(reverse(name, args=[person.pk] if args else []))
    assert response.status_code == 405
    assert (
        AuditLog.objects.filter(action__in=["person.reveal_id", "person.status", "audit.export"]).count() == 0
    )


def test_writes_need_the_csrf_token(users, person):
    # given a logged-in clerk whose browser does not send the CSRF token
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["town_luzhi"])
    before = snapshot(person)
    # when
    edit = client.post(reverse("registry:person_edit", args=[person.pk]), edit_data(person))
    status = client.post(reverse("registry:person_status", args=[person.pk]), {"status": "moved_out"})
    reveal = client.post(reverse("registry:person_reveal", args=[person.pk]))
    # then
    assert (edit.status_code, status.status_code, reveal.status_code) == (403, 403, 403)
    assert snapshot(person) == before
    assert AuditLog.objects.exclude(action__in=["person.create", "login", "access.denied"]).count() == 0
    # each refusal is recorded as such
    refused = AuditLog.objects.filter(action="access.denied").order_by("id")
    assert [(r.username, r.result, r.object_id) for r in refused] == [
        ("luzhi1", "denied", str(person.pk))
    ] * 3


@pytest.mark.parametrize("role", list(ROLES))
def test_create_page(role, users):
    client = client_for(users[ROLES[role]])
    response = client.get(reverse("registry:person_create"))
    may = role in {"district", "town_own", "town_other"}
    assert response.status_code == (200 if may else 403)


def test_anonymous_is_sent_to_login(db, person):
    client = Client()
    for url in (
        reverse("registry:person_list"),
        reverse("registry:person_detail", args=[person.pk]),
        reverse("common:audit_list"),
        reverse("registry:region_list"),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


# ---- services: institution staff see exactly the cases their institution serves -------------------------

CASE_ROLES = {**ROLES, "institution_own": "inst_own"}
# (case list status, sees the case served by 甪直镇阳光托养中心, case detail status, sees the 木渎镇 case)
CASE_EXPECTED = {
    "admin": (403, None, 404, None),
    "district": (200, True, 200, True),
    "town_own": (200, True, 200, False),
    "town_other": (200, False, 404, True),
    "institution": (200, False, 404, False),  # an institution-staff account bound to no institution
    "institution_own": (200, True, 200, False),
    "leader": (200, True, 200, True),
    "auditor": (403, None, 404, None),
    "counsellor": (403, None, 404, None),
}


@pytest.fixture
def served(users, make_user, make_person, towns):
    from datetime import date

    from canlian.casework.services import case_open
    from canlian.common.workflow import transition
    from canlian.institutions.models import Institution
    from canlian.institutions.services import institution_create

    checker = make_user("district_checker", "district_staff")

    def provider(name, town):
        inst = institution_create(
            acting_user=users["district"],
            name=name,
            kind=Institution.Kind.CUSTODIAL_PROVIDER,
            town=towns[town],
        )
        inst = transition(
            inst,
            "submit",
            acting_user=users["district"],
            expected_state="draft",
            designated_from=date(2020, 1, 1),
        )
        return transition(inst, "designate", acting_user=checker, expected_state="submitted")

    own, other = provider("甪直镇阳光托养中心", "甪直镇"), provider("木渎镇托养中心", "木渎镇")
    staff = make_user("inst_own", "institution_staff")
    staff.institution = own
    staff.save(update_fields=["institution"])
    users["inst_own"] = staff
    mine = case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=make_person(name="张伟", town="甪直镇"),
        opened_on=date(2023, 3, 1),
        institution=own,
        state="placed",
    )
    theirs = case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=make_person(name="李娜", town="木渎镇"),
        opened_on=date(2023, 3, 1),
        institution=other,
        state="placed",
    )
    return mine, theirs


@pytest.mark.parametrize("role", list(CASE_ROLES))
def test_case_list_and_detail(role, users, served):
    mine, theirs = served
    client = client_for(users[CASE_ROLES[role]])
    list_status, sees_mine, detail_status, sees_theirs = CASE_EXPECTED[role]
    response = client.get(reverse("casework:case_list", args=["custodial_care"]))
    assert response.status_code == list_status
    if list_status == 200:
        html = response.content.decode()
        assert (f'data-case="{mine.pk}"' in html) is sees_mine
        assert (f'data-case="{theirs.pk}"' in html) is sees_theirs
        assert mine.person.id_number not in html
    assert client.get(reverse("casework:case_detail", args=[mine.pk])).status_code == detail_status


@pytest.mark.parametrize("role", list(CASE_ROLES))
def test_case_move_denied_changes_nothing(role, users, served):
    mine, _ = served
    client = client_for(users[CASE_ROLES[role]])
    writes = AuditLog.objects.exclude(action="access.denied")
    before = (mine.state, mine.version, writes.count())
    response = client.post(
        reverse("casework:case_move", args=[mine.pk]),
        {"move": "end", "expected_state": "placed", "closed_on": "2023-06-30", "close_reason": "家属接回"},
    )
    mine.refresh_from_db()
    # ending a placement: district staff, the town's staff and the serving institution's staff
    if role in {"district", "town_own", "institution_own"}:
        assert response.status_code == 302 and mine.state == "ended"
        assert (
            AuditLog.objects.filter(action="case.custodial_care.end").get().username
            == users[CASE_ROLES[role]].username
        )
    else:
        assert response.status_code in (302, 403, 404)
        assert (mine.state, mine.version, writes.count()) == before


# ---- employment (issue 11 §1): lists, a training class's page, entry ------------------------------------
# (就业登记 list status, sees the 甪直镇 employment, training-class page status, may register a job fair)
EMPLOYMENT_EXPECTED = {
    "admin": (403, None, 403, 403),
    "district": (200, True, 200, 302),
    "town_own": (200, True, 200, 302),
    "town_other": (200, False, 404, 400),  # a fair in another town: refused at the town field
    "institution": (403, None, 403, 403),
    "leader": (200, True, 200, 403),
    "auditor": (403, None, 403, 403),
    "counsellor": (403, None, 403, 403),
}


@pytest.fixture
def employment_world(users, towns, make_person):
    from datetime import date

    from canlian.casework.programmes.employment import employment_record
    from canlian.casework.programmes.employment_records import training_class_create

    person = make_person(name="张伟", town="甪直镇")
    employment_record(
        acting_user=users["district"],
        person=person,
        kind="quota",
        employer="甲厂",
        valid_from=date(2023, 1, 1),
    )
    tc = training_class_create(
        acting_user=users["district"],
        kind="heritage",
        name="木雕班",
        town=towns["甪直镇"],
        starts_on=date(2023, 1, 1),
        ends_on=date(2023, 3, 1),
    )
    return person, tc


@pytest.mark.parametrize("role", list(ROLES))
def test_employment_pages(role, users, towns, employment_world):
    from canlian.casework.models import JobFair
    from canlian.registry.models import EmploymentPeriod

    person, tc = employment_world
    client = client_for(users[ROLES[role]])
    list_status, sees, detail_status, fair_status = EMPLOYMENT_EXPECTED[role]
    response = client.get(reverse("casework:employment_list", args=["periods"]))
    assert response.status_code == list_status
    if list_status == 200:
        period = EmploymentPeriod.objects.get(person=person, status="employed")
        assert (f'data-pk="{period.pk}"' in response.content.decode()) is sees
        assert person.id_number not in response.content.decode()
    assert client.get(reverse("casework:training_detail", args=[tc.pk])).status_code == detail_status
    writes = AuditLog.objects.exclude(action__in=["access.denied"]).count()
    response = client.post(
        reverse("casework:job_fair_new"),
        {
            "kind": "help_day",
            "title": "助残日招聘会",
            "held_on": "2023-05-21",
            "town": str(towns["甪直镇"].pk),
            "place": "文体中心",
            "employers": "10",
            "positions": "30",
            "attendees": "20",
            "offers": "5",
        },
    )
    assert response.status_code == fair_status
    if fair_status != 302:
        assert not JobFair.objects.exists()
        assert AuditLog.objects.exclude(action__in=["access.denied"]).count() == writes


# ---- the places that serve: town staff their town's places, institution staff their own place -----------

PLACE_ROLES = {**ROLES, "institution_own": "home_own"}
# (place list status, sees the 甪直镇 home, its page, its roll call saved (302 + row) or refused, project page,
#  rating page)
PLACE_EXPECTED = {
    "admin": (403, None, 403, 403, 403, 403),
    "district": (200, True, 200, 302, 200, 200),
    "town_own": (200, True, 200, 302, 200, 200),
    "town_other": (200, False, 404, 404, 404, 404),
    "institution": (200, False, 404, 404, 404, 404),  # institution staff bound to no institution
    "institution_own": (200, True, 200, 302, 200, 200),
    "leader": (200, True, 200, 403, 200, 200),
    "auditor": (403, None, 403, 403, 403, 403),
    "counsellor": (403, None, 403, 403, 403, 403),
}


@pytest.fixture
def place(users, make_user, make_person, towns):
    from datetime import date

    from canlian.common.workflow import transition
    from canlian.institutions import places
    from canlian.institutions.services import institution_create

    checker = make_user("place_checker", "district_staff")
    home = institution_create(
        acting_user=users["district"], name="甪直镇残疾人之家", kind="care_home", town=towns["甪直镇"]
    )
    home = transition(
        home,
        "submit",
        acting_user=users["district"],
        expected_state="draft",
        designated_from=date(2023, 1, 1),
    )
    home = transition(home, "designate", acting_user=checker, expected_state="submitted")
    places.place_service_add(
        acting_user=users["district"], institution=home, service="day_care", since=date(2023, 1, 1)
    )
    person = make_person(name="张伟", town="甪直镇")
    places.member_add(
        acting_user=users["district"],
        institution=home,
        person=person,
        service="day_care",
        joined_on=date(2023, 1, 2),
    )
    staff = make_user("home_own", "institution_staff")
    staff.institution = home
    staff.save(update_fields=["institution"])
    users["home_own"] = staff
    project = places.project_create(
        acting_user=users["district"],
        institution=home,
        name="甪直镇残疾人之家新建项目",
        started_on=date(2023, 3, 1),
        deadline=date(2023, 10, 31),
        milestones=[("验收运营", date(2023, 10, 31))],
    )
    scores = {i["code"]: str(i["points"]) for i in places.star_checklist(2023).items}
    rating = places.star_rating_record(
        acting_user=users["district"], institution=home, year=2023, scores=scores
    )
    return home, person, project, rating


@pytest.mark.parametrize("role", list(PLACE_ROLES))
def test_place_pages_and_roll_call(role, users, place):
    from canlian.institutions.models import Attendance

    home, person, project, rating = place
    client = client_for(users[PLACE_ROLES[role]])
    list_status, sees, detail, roll, project_status, rating_status = PLACE_EXPECTED[role]
    response = client.get(reverse("institutions:places"))
    assert response.status_code == list_status
    if list_status == 200:
        assert (f'data-place="{home.pk}"' in response.content.decode()) is sees
    assert client.get(reverse("institutions:place_detail", args=[home.pk])).status_code == detail
    assert client.get(reverse("institutions:project_detail", args=[project.pk])).status_code == project_status
    assert client.get(reverse("institutions:rating_detail", args=[rating.pk])).status_code == rating_status
    writes = AuditLog.objects.exclude(action="access.denied").count()
    response = client.post(
        reverse("institutions:place_roll_call", args=[home.pk]),
        {"service": "day_care", "on": "2023-03-06", "present": [person.pk]},
    )
    assert response.status_code == roll
    assert Attendance.objects.filter(person=person).exists() is (roll == 302)
    if roll != 302:
        assert AuditLog.objects.exclude(action="access.denied").count() == writes


# ---- counselling: the most sensitive records. Content for counsellors only, counts for the open readers ----

SECRET = ("热线内容甲：夜间情绪崩溃", "跟进乙：约定复诊", "咨询记录丙：失眠与焦虑", "团体辅导丁：校园适应")
COUNSEL_KINDS = ("hotline", "counselling", "group")
# list page: 200 with content / 200 counts only / 403
COUNSEL_LIST = {
    "admin": 403,
    "district": "counts",
    "town_own": "counts",
    "town_other": "counts",
    "institution": 403,
    "leader": "counts",
    "auditor": 403,
    "counsellor": "content",
}


@pytest.fixture
def counselled(users, person, towns):
    from datetime import date, datetime

    from canlian.casework.community import services as sv
    from canlian.casework.community.kinds import KINDS

    tz = timezone.get_current_timezone()
    counsellor = users["counsellor"]
    call = sv.record_create(
        acting_user=counsellor,
        kind=KINDS["hotline"],
        values={
            "called_at": datetime(2023, 5, 6, 23, 10, tzinfo=tz),
            "duration_minutes": 35,
            "topic": "crisis",
            "risk": True,
            "town": towns["甪直镇"].pk,
            "id_number": person.id_number,
            "summary": SECRET[0],
            "follow_up": SECRET[1],
        },
    )
    session = sv.record_create(
        acting_user=counsellor,
        kind=KINDS["counselling"],
        values={
            "id_number": person.id_number,
            "held_on": date(2023, 5, 8),
            "duration_minutes": 50,
            "mode": "face",
            "notes": SECRET[2],
        },
    )
    group = sv.record_create(
        acting_user=counsellor,
        kind=KINDS["group"],
        values={
            "held_on": date(2023, 5, 9),
            "town": towns["甪直镇"].pk,
            "place_kind": "school",
            "place": "甪直中学",
            "participants": 12,
            "topic": SECRET[3],
        },
    )
    return {"hotline": call, "counselling": session, "group": group}


def _no_secret(body: bytes | str) -> bool:
    text = body.decode() if isinstance(body, bytes) else body
    return not any(s in text for s in SECRET)


@pytest.mark.parametrize("role", list(ROLES))
def test_hotline_content_is_invisible_to_every_other_role(role, users, person, counselled):
    """List, detail, export, person timeline and search: only the counsellor ever receives the content."""
    client = client_for(users[ROLES[role]])
    expected = COUNSEL_LIST[role]
    for code in COUNSEL_KINDS:
        record = counselled[code]
        listed = client.get(reverse("casework:community_list", args=[code]), {"year": 2023, "q": SECRET[0]})
        detail = client.get(reverse("casework:community_detail", args=[code, record.pk]))
        export = client.get(reverse("casework:community_export", args=[code]))
        if expected == "content":
            assert listed.status_code == detail.status_code == export.status_code == 200
            assert f'data-row="{record.pk}"' in listed.content.decode()
        else:
            assert listed.status_code == (200 if expected == "counts" else 403)
            assert detail.status_code == 404
            assert export.status_code == 403
            for response in (listed, detail, export):
                assert _no_secret(response.content)
            assert "data-row=" not in listed.content.decode()
    if expected == "counts":
        html = client.get(
            reverse("casework:community_list", args=["hotline"]), {"year": 2023}
        ).content.decode()
        assert 'id="counselling-counts"' in html
        cells = html.split('data-count="hotline">')[1:]
        assert sorted(int(c.split("<")[0]) for c in cells)[-1] == (0 if role == "town_other" else 1)
    # the person's page and timeline, and the registry search, never carry counselling
    page = client.get(reverse("registry:person_detail", args=[person.pk]))
    assert _no_secret(page.content)
    assert "心理" not in page.content.decode() or page.status_code != 200
    # searching the register by what was said on the hotline finds nobody (content is not searchable)
    search = client.get(reverse("registry:person_list"), {"q": "夜间情绪崩溃"})
    assert not person_row_in(search.content.decode(), person)
    from canlian.registry.timeline import person_timeline

    assert not any(
        "心理" in e.title or "咨询" in e.title for e in person_timeline(users[ROLES[role]], person)
    )
    # counselling reads are audited; nobody else's request reads content
    reads = AuditLog.objects.filter(action__in=[f"community.{c}.read" for c in COUNSEL_KINDS])
    if expected == "content":
        assert set(reads.values_list("username", flat=True)) == {users["counsellor"].username}
        hows = {tuple(r.changes["how"])[1] for r in reads}
        assert hows == {"list", "detail", "export"}
    else:
        assert not reads.exists()


def test_counselling_content_never_reaches_the_audit_log(users, counselled):
    assert all(_no_secret(str(log.changes) + log.detail + log.object_repr) for log in AuditLog.objects.all())


def test_session_notes_only_for_the_persons_own_counsellor(users, make_user, counselled):
    other = client_for(make_user("counsellor2", "counsellor"))
    session, call = counselled["counselling"], counselled["hotline"]
    # another counsellor on the hotline desk reads the calls, but not the notes of someone else's client
    assert other.get(reverse("casework:community_detail", args=["hotline", call.pk])).status_code == 200
    assert (
        other.get(reverse("casework:community_detail", args=["counselling", session.pk])).status_code == 404
    )
    listed = other.get(reverse("casework:community_list", args=["counselling"]))
    assert listed.status_code == 200 and _no_secret(listed.content)
    own = client_for(users["counsellor"])
    body = own.get(reverse("casework:community_detail", args=["counselling", session.pk])).content.decode()
    assert SECRET[2] in body


def test_counselling_is_entered_only_by_counsellors(users, person):
    from canlian.casework.models import HotlineCall

    for role in ("district", "town_own", "leader"):
        client = client_for(users[ROLES[role]])
        response = client.post(
            reverse("casework:community_list", args=["hotline"]),
            {"called_at": "2023-05-06T10:00", "duration_minutes": "5", "topic": "policy", "town": "1"},
        )
        assert response.status_code == 403
    assert not HotlineCall.objects.exists()
