"""The places that serve: services offered, attendees, the roll call, build projects against their deadline,
the 强基/赋能 checklists, encrypted evidence, the star rating (maker ≠ checker) and the indicators."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog
from canlian.common.workflow import transition
from canlian.institutions import places
from canlian.institutions.models import Attendance, BuildProject, PlaceEvidence, StarRating

DAY = date(2023, 3, 6)


def test_roll_call_sets_exactly_the_present_and_refuses_a_double_submit(home, attendees, home_staff):
    a, b, c = attendees
    seen = places.roll_call_seen(home, "day_care", DAY)
    out = places.attendance_record(
        acting_user=home_staff, institution=home, service="day_care", on=DAY, present={a.pk, b.pk}, seen=seen
    )
    assert out == {"added": 2, "removed": 0, "present": 2}
    # the same page submitted again: the day changed since it was shown
    with pytest.raises(DomainError, match="重复提交"):
        places.attendance_record(
            acting_user=home_staff,
            institution=home,
            service="day_care",
            on=DAY,
            present={a.pk, b.pk},
            seen=seen,
        )
    seen = places.roll_call_seen(home, "day_care", DAY)
    out = places.attendance_record(
        acting_user=home_staff, institution=home, service="day_care", on=DAY, present={b.pk, c.pk}, seen=seen
    )
    assert out == {"added": 1, "removed": 1, "present": 2}
    assert set(Attendance.objects.filter(on=DAY).values_list("person_id", flat=True)) == {b.pk, c.pk}
    grid = places.roll_call(home, "day_care", DAY)
    assert [(r["person"].name, r["present"]) for r in grid] == [
        ("张伟", False),
        ("王芳", True),
        ("李强", True),
    ]
    log = AuditLog.objects.filter(action="place.attendance").order_by("id")
    assert log.count() == 2 and log.last().username == "home_staff"
    assert log.last().changes["present"] == [2, 2]


def test_roll_call_refusals(home, other_home, attendees, home_staff, users, make_person):
    a = attendees[0]
    stranger = make_person(name="赵敏", town="甪直镇")
    with pytest.raises(ValidationFailed, match="不是该日登记的服务对象"):
        places.attendance_record(
            acting_user=home_staff, institution=home, service="day_care", on=DAY, present={stranger.pk}
        )
    with pytest.raises(ValidationFailed, match="不能晚于今天"):
        places.attendance_record(
            acting_user=home_staff,
            institution=home,
            service="day_care",
            on=date.today() + timedelta(days=1),
            present={a.pk},
        )
    with pytest.raises(ValidationFailed, match="只有日间照料和辅助性就业"):
        places.attendance_record(
            acting_user=home_staff, institution=home, service="rehab", on=DAY, present=set()
        )
    # a member only from the day they joined
    with pytest.raises(ValidationFailed):
        places.attendance_record(
            acting_user=home_staff, institution=home, service="day_care", on=date(2023, 1, 1), present={a.pk}
        )
    # institution staff: only their own place; the other town's clerk: not this town's place
    for user in (home_staff, users["town_mudu"]):
        with pytest.raises(PermissionDenied):
            places.attendance_record(
                acting_user=user,
                institution=other_home if user == home_staff else home,
                service="day_care",
                on=DAY,
                present=set(),
            )
    with pytest.raises(PermissionDenied):
        places.attendance_record(
            acting_user=users["leader"], institution=home, service="day_care", on=DAY, present=set()
        )
    assert not Attendance.objects.exists()


def test_member_leave_not_before_last_attendance(home, attendees, users):
    a = attendees[0]
    places.attendance_record(
        acting_user=users["district"], institution=home, service="day_care", on=DAY, present={a.pk}
    )
    m = home.members.get(person=a)
    with pytest.raises(ValidationFailed, match="最后出勤日"):
        places.member_leave(acting_user=users["town_luzhi"], member=m, left_on=DAY - timedelta(days=1))
    places.member_leave(acting_user=users["town_luzhi"], member=m, left_on=DAY)
    assert places.roll_call(home, "day_care", DAY + timedelta(days=1))[0]["person"] != a


def _project(users, home, deadline=date(2023, 10, 31)):
    return places.project_create(
        acting_user=users["town_luzhi"],
        institution=home,
        name="甪直镇残疾人之家新建项目",
        started_on=date(2023, 3, 1),
        deadline=deadline,
        milestones=[
            ("选址立项", date(2023, 3, 31)),
            ("施工改造", date(2023, 8, 31)),
            ("验收运营", date(2023, 10, 31)),
        ],
    )


def test_project_status_against_its_deadline(home, users):
    p = _project(users, home)
    assert (
        p.marks.filter(checklist="qiangji").count() == 5 and p.marks.filter(checklist="funeng").count() == 5
    )
    assert places.project_status(p, date(2023, 3, 15)) == "on_time"
    assert places.project_status(p, date(2023, 4, 1)) == "at_risk"  # 选址立项 overdue
    assert places.project_status(p, date(2023, 11, 1)) == "late"
    ms = list(p.milestones.all())
    places.milestone_done(acting_user=users["town_luzhi"], milestone=ms[0], done_on=date(2023, 3, 30))
    with pytest.raises(DomainError, match="重复提交"):
        places.milestone_done(acting_user=users["town_luzhi"], milestone=ms[0], done_on=date(2023, 3, 30))
    assert places.project_status(p, date(2023, 4, 1)) == "on_time"
    assert places.project_status(p, date(2023, 10, 2)) == "at_risk"  # within 30 days, milestones open
    with pytest.raises(ValidationFailed) as exc:
        places.project_complete(acting_user=users["town_luzhi"], project=p, completed_on=date(2023, 10, 20))
    assert "施工改造" in exc.value.errors["milestones"] and "Q1" in exc.value.errors["marks"]
    for m in ms[1:]:
        places.milestone_done(acting_user=users["town_luzhi"], milestone=m, done_on=date(2023, 10, 20))
    for mark in p.marks.all():
        places.checklist_mark(
            acting_user=users["town_luzhi"],
            project=p,
            checklist=mark.checklist,
            code=mark.code,
            met_on=date(2023, 10, 20),
        )
    with pytest.raises(ValidationFailed, match="不能早于最后一个节点"):
        places.project_complete(acting_user=users["town_luzhi"], project=p, completed_on=date(2023, 10, 19))
    p = places.project_complete(acting_user=users["town_luzhi"], project=p, completed_on=date(2023, 10, 26))
    assert places.project_status(p, date(2024, 1, 1)) == "built_on_time"
    assert places.facilities_built_by_town(2023) == {home.town_id: 1}
    assert places.facilities_built_on_time_by_town(2023) == {home.town_id: 1}
    assert places.facilities_built_by_town(2022) == {} and places.facilities_built_by_town(2024) == {}
    assert places.facilities_deadline_missed_by_town(2023) == {}


def test_project_scope_and_missed_deadline(home, users):
    with pytest.raises(PermissionDenied):
        _project({"town_luzhi": users["town_mudu"]}, home)
    p = _project(users, home, deadline=date(2023, 12, 31))
    assert places.facilities_deadline_missed_by_town(2023, today=date(2023, 12, 31)) == {}
    assert places.facilities_deadline_missed_by_town(2023, today=date(2024, 1, 1)) == {home.town_id: 1}
    BuildProject.objects.filter(pk=p.pk).update(completed_on=date(2024, 1, 1))
    assert places.facilities_deadline_missed_by_town(2023) == {home.town_id: 1}
    assert places.facilities_built_by_town(2024) == {home.town_id: 1}
    assert places.facilities_built_on_time_by_town(2024) == {}


def test_evidence_is_encrypted_and_reads_are_audited(home, users):
    p = _project(users, home)
    ev = places.evidence_add(
        acting_user=users["town_luzhi"],
        project=p,
        about="Q1",
        name="场地照片.jpg",
        content=b"\xff\xd8photo-bytes",
    )
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"SELECT content FROM {PlaceEvidence._meta.db_table} WHERE id = %s", [ev.pk])
        assert b"photo-bytes" not in str(cur.fetchone()[0]).encode()
    _ev, data = places.evidence_read(acting_user=users["leader"], pk=ev.pk)
    assert data == b"\xff\xd8photo-bytes"
    assert AuditLog.objects.filter(action="place.evidence_download", username="leader1").count() == 1
    with pytest.raises(PermissionDenied):
        places.evidence_read(acting_user=users["town_mudu"], pk=ev.pk)


def _scores(off=0):
    """Full marks but ``off`` points less on S5 (worth 20)."""
    from canlian.institutions.places import star_checklist

    out = {i["code"]: str(i["points"]) for i in star_checklist(2023).items}
    out["S5"] = str(20 - off)
    return out


def test_star_rating_maker_is_not_checker(home, users, checker):
    with pytest.raises(PermissionDenied):
        places.star_rating_record(
            acting_user=users["town_luzhi"], institution=home, year=2023, scores=_scores()
        )
    with pytest.raises(ValidationFailed, match="未评分"):
        places.star_rating_record(acting_user=users["district"], institution=home, year=2023, scores={})
    r = places.star_rating_record(
        acting_user=users["district"], institution=home, year=2023, scores=_scores(15)
    )
    assert r.score == Decimal("85.0") and r.stars == 4 and r.stars_label == "四星级" and r.state == "draft"
    with pytest.raises(ValidationFailed, match="已有 2023 年度"):
        places.star_rating_record(
            acting_user=users["district"], institution=home, year=2023, scores=_scores()
        )
    r = transition(r, "submit", acting_user=users["district"], expected_state="draft")
    with pytest.raises(PermissionDenied, match="不同人员"):
        transition(r, "rate", acting_user=users["district"], expected_state="submitted")
    r = transition(r, "return", acting_user=checker, expected_state="submitted", state_reason="S5 佐证不足")
    r = places.star_rating_rescore(
        acting_user=users["district"], rating=r, scores=_scores(10), expected_version=r.version
    )
    assert r.score == Decimal("90.0") and r.stars == 5
    r = transition(r, "submit", acting_user=users["district"], expected_state="draft")
    r = transition(r, "rate", acting_user=checker, expected_state="submitted")
    assert r.state == "rated" and r.rated_on == date.today()
    assert StarRating.objects.get().stars == 5
    log = AuditLog.objects.filter(action="star_rating.rate").get()
    assert log.username == "district_checker" and log.changes["stars"] == [None, 5]


def test_indicator_boundaries(home, attendees, users, make_place):
    a = attendees[0]
    for day in (date(2022, 12, 31), date(2023, 1, 2), date(2023, 12, 29)):
        places.attendance_record(
            acting_user=users["district"], institution=home, service="day_care", on=day, present={a.pk}
        ) if day >= date(2023, 1, 2) else None
    assert places.day_care_attendance_by_town(2023) == {home.town_id: 2}
    assert places.day_care_attendance_by_town(2024) == {}
    point = make_place(
        "甪直镇社区康复点", "甪直镇", kind="rehab_point", services=("rehab",), since=date(2023, 12, 31)
    )
    assert places.rehab_points_by_town(2023) == {point.town_id: 1}
    assert places.rehab_points_by_town(2022) == {}
    from canlian.workplan.selectors import progress

    out = progress(2023)["indicators"]
    assert out["day_care_attendance"]["by_town"]["甪直镇"] == 2
    assert out["rehab_points"]["actual"] == 1
    assert out["facilities_built"]["actual"] == 0


def test_timeline_shows_attendees_to_those_who_see_the_place(home, attendees, users, home_staff):
    from canlian.registry.timeline import person_timeline

    a = attendees[0]
    places.attendance_record(
        acting_user=users["district"], institution=home, service="day_care", on=DAY, present={a.pk}
    )
    entries = [e for e in person_timeline(users["town_luzhi"], a) if "残疾人之家" in e.title]
    assert [(e.title, e.state, e.detail) for e in entries] == [
        ("甪直镇残疾人之家·日间照料（2023-01-02 起）", "在册", "出勤 1 天")
    ]
    assert not [e for e in person_timeline(users["town_mudu"], a) if "残疾人之家" in e.title]


def test_status_filter_agrees_with_the_status(home, other_home, users):
    done = _project(users, home)
    late = places.project_create(
        acting_user=users["district"],
        institution=other_home,
        name="木渎镇项目",
        started_on=date(2023, 3, 1),
        deadline=date(2023, 12, 31),
        milestones=[("选址立项", date(2023, 6, 30))],
    )
    for day in (date(2023, 3, 15), date(2023, 4, 1), date(2023, 7, 1), date(2023, 12, 15), date(2024, 1, 2)):
        for status in places.STATUS_LABELS:
            found = set(
                BuildProject.objects.filter(places.project_status_filter(status, day)).values_list(
                    "pk", flat=True
                )
            )
            expected = {p.pk for p in (done, late) if places.project_status(p, day) == status}
            assert found == expected, (day, status)
