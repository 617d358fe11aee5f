"""Applications through the pages: the whole path with two town clerks and two district officers, maker ≠
checker, a stale page, the review queue of each role, and suspending an enrolment from the person page."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from canlian.benefits.models import Application, Enrolment, EnrolmentChange
from canlian.benefits.services.applications import application_create, application_transition
from canlian.benefits.workflows import APPLICATION_WORKFLOW
from canlian.common.models import AuditLog
from canlian.common.workflow import history_of

from . import test_views_pages as shared
from .test_views_pages import URLS, client_for, enrol

MOVE_ACTIONS = [f"application.{m.name}" for m in APPLICATION_WORKFLOW.moves]

# Fixtures shared with the other view tests (registered here by name: staff, living, dibao_person).
staff_fixture = shared.staff_fixture
living_fixture = shared.living_fixture
dibao_person_fixture = shared.dibao_person_fixture

pytestmark = [
    pytest.mark.urls(URLS),
    pytest.mark.usefixtures("example_standards_2023"),
]  # 2023 months: the example standards
S = Application.Status


def move(client, app, to: str, expected: str, **fields):
    data = {"move": to, f"m-{to}-expected_status": expected}
    data |= {f"m-{to}-{k}": v for k, v in fields.items()}
    return client.post(reverse("benefits:application_move", args=[app.pk]), data)


def field_error(html: str, field_id: str) -> str:
    m = re.search(rf'<div class="invalid-feedback" id="{re.escape(field_id)}_error">(.*?)</div>', html, re.S)
    return m.group(1).strip() if m else ""


def state(app: Application) -> tuple:
    app.refresh_from_db()
    return app.status, app.version, history_of(app).count()


def test_the_whole_path_through_the_pages(staff, dibao_person, living):
    luzhi1, luzhi2 = client_for(staff["town_luzhi"]), client_for(staff["luzhi2"])
    district1, district2 = client_for(staff["district"]), client_for(staff["district2"])
    today = timezone.localdate()

    # 1. Town clerk 1 files the application from the person page, with two attachments
    form = luzhi1.get(
        reverse("benefits:application_create") + f"?person={dibao_person.pk}&programme=living_allowance"
    )
    assert form.status_code == 200
    assert 'id="applicant"' in form.content.decode()
    created = luzhi1.post(
        reverse("benefits:application_create"),
        {
            "person": dibao_person.pk,
            "programme": "living_allowance",
            "applied_on": "2023-05-10",
            "bank_name": "农商行",
            "bank_account": "6222 0200 0000 0001",
            "note": "低保户，肢体二级",
            "attachments": [
                SimpleUploadedFile("申请表.pdf", b"%PDF-1.4 form", content_type="application/pdf"),
                SimpleUploadedFile("低保证.jpg", b"\xff\xd8\xff photo", content_type="image/jpeg"),
            ],
        },
    )
    app = Application.objects.get()
    assert created.status_code == 302
    assert created["Location"] == reverse("benefits:application_detail", args=[app.pk])
    assert (app.status, app.bank_account, app.created_by.username) == (S.DRAFT, "6222020000000001", "luzhi1")
    assert sorted(app.attachments.values_list("name", flat=True)) == ["低保证.jpg", "申请表.pdf"]
    page = luzhi1.get(created["Location"]).content.decode()
    assert "622*********0001" in page and "6222020000000001" not in page
    attachment = app.attachments.get(name="申请表.pdf")
    download = luzhi1.get(reverse("benefits:attachment_download", args=[app.pk, attachment.pk]))
    assert b"".join(download.streaming_content) == b"%PDF-1.4 form"

    # 2. Clerk 1 submits; clerk 2 reviews and starts the posting (7 days from today)
    assert move(luzhi1, app, S.SUBMITTED, S.DRAFT).status_code == 302
    assert move(luzhi2, app, S.TOWN_REVIEWED, S.SUBMITTED, note="材料齐全").status_code == 302
    assert move(luzhi2, app, S.POSTED, S.TOWN_REVIEWED).status_code == 302
    app.refresh_from_db()
    assert (app.posting_start, app.posting_end) == (today, today + timedelta(days=7))
    page = district1.get(reverse("benefits:application_detail", args=[app.pk])).content.decode()
    assert f"{today:%Y-%m-%d} 至 {today + timedelta(days=7):%Y-%m-%d}" in page
    assert "还剩 7 天" in page
    assert f"公示期至 {today + timedelta(days=7):%Y-%m-%d}，期满后方可审核通过。" in page

    # 3. The district cannot review before the posting is over
    early = move(district1, app, S.DISTRICT_REVIEWED, S.POSTED)
    assert early.status_code == 409
    assert f"公示期未满 7 天，{today + timedelta(days=7):%Y-%m-%d} 后方可审核" in early.content.decode()
    assert app.__class__.objects.get(pk=app.pk).status == S.POSTED

    # 4. Given the posting period is over, district officer 1 reviews and records the objections
    Application.objects.filter(pk=app.pk).update(
        posting_start=today - timedelta(days=8), posting_end=today - timedelta(days=1)
    )
    assert (
        "公示期已满" in district1.get(reverse("benefits:application_detail", args=[app.pk])).content.decode()
    )
    assert move(district1, app, S.DISTRICT_REVIEWED, S.POSTED, objections="无异议").status_code == 302

    # 5. Officer 2 decides; without a document number the form says so next to the field
    missing = move(district2, app, S.APPROVED, S.DISTRICT_REVIEWED, decision_date="2023-05-25")
    assert missing.status_code == 400
    assert (
        field_error(missing.content.decode(), "id_m-approved-decision_doc_no")
        == "请填写民政部门审定日期和文号"
    )
    assert state(app)[0] == S.DISTRICT_REVIEWED
    decided = move(
        district2,
        app,
        S.APPROVED,
        S.DISTRICT_REVIEWED,
        decision_date="2023-05-25",
        decision_doc_no="吴民〔2023〕12号",
    )
    assert decided.status_code == 302

    # 6. Officer 1 enrols: the enrolment starts in the month of application
    assert move(district1, app, S.ENROLLED, S.APPROVED).status_code == 302
    app.refresh_from_db()
    assert (app.status, app.objections, app.decision_date, app.decision_doc_no) == (
        S.ENROLLED,
        "无异议",
        date(2023, 5, 25),
        "吴民〔2023〕12号",
    )
    enrolment = Enrolment.objects.get(application=app)
    assert (enrolment.status, enrolment.start_month, enrolment.bank_account) == (
        "active",
        date(2023, 5, 1),
        "6222020000000001",
    )
    assert list(history_of(app).values_list("to_state", "by__username", "note")) == [
        ("submitted", "luzhi1", ""),
        ("town_reviewed", "luzhi2", "材料齐全"),
        ("posted", "luzhi2", ""),
        ("district_reviewed", "district1", ""),
        ("approved", "district2", ""),
        ("enrolled", "district1", ""),
    ]
    assert AuditLog.objects.filter(action__in=MOVE_ACTIONS, object_id=str(app.pk)).count() == 6
    assert AuditLog.objects.filter(action="application.attach", object_id=str(app.pk)).count() == 2
    done = luzhi1.get(reverse("benefits:application_detail", args=[app.pk])).content.decode()
    assert 'id="no-moves"' in done and "已办结" in done


def test_maker_cannot_check_own_work_and_the_page_says_why(staff, dibao_person, living):
    app = application_create(
        acting_user=staff["town_luzhi"], person=dibao_person, programme=living, applied_on=date(2023, 5, 10)
    )
    application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    before = state(app)
    client = client_for(staff["town_luzhi"])
    # The page warns before anyone clicks
    page = client.get(reverse("benefits:application_detail", args=[app.pk])).content.decode()
    assert "上一环节由您办理；经办与审核须由不同人员办理。" in page
    # When the maker reviews anyway
    response = move(client, app, S.TOWN_REVIEWED, S.SUBMITTED)
    # Then the service's message is shown and nothing changed
    assert response.status_code == 403
    assert (
        "经办与审核须由不同人员办理：您已办理上一环节，不能再办理“镇(街道)初审通过”"
        in response.content.decode()
    )
    assert state(app) == before
    assert AuditLog.objects.filter(action__in=MOVE_ACTIONS, object_id=str(app.pk)).count() == 1


def test_a_stale_page_shows_who_acted_first(staff, dibao_person, living):
    app = application_create(
        acting_user=staff["town_luzhi"], person=dibao_person, programme=living, applied_on=date(2023, 5, 10)
    )
    application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    # Given clerk 2 opened the page while the application was "submitted"
    clerk2 = client_for(staff["luzhi2"])
    assert clerk2.get(reverse("benefits:application_detail", args=[app.pk])).status_code == 200
    # And clerk 1 then withdrew it
    assert move(client_for(staff["town_luzhi"]), app, S.WITHDRAWN, S.SUBMITTED).status_code == 302
    before = state(app)
    # When clerk 2 reviews from the stale page
    response = move(clerk2, app, S.TOWN_REVIEWED, S.SUBMITTED)
    # Then the page says someone acted first, and nothing changed
    assert response.status_code == 409
    html = response.content.decode()
    assert "当前状态已变为“已撤回”，请刷新后重试" in html
    assert before == state(app) == (S.WITHDRAWN, 2, 2)


def test_a_clerk_of_another_town_gets_404_and_changes_nothing(staff, dibao_person, living):
    app = application_create(
        acting_user=staff["town_luzhi"], person=dibao_person, programme=living, applied_on=date(2023, 5, 10)
    )
    response = move(client_for(staff["town_mudu"]), app, S.SUBMITTED, S.DRAFT)
    assert response.status_code == 404
    assert state(app) == (S.DRAFT, 0, 0)


def test_new_application_errors_are_shown_next_to_the_fields(staff, dibao_person, living, id_for):
    client = client_for(staff["town_luzhi"])
    # An unknown ID number, no programme and a future date
    response = client.post(
        reverse("benefits:application_create"),
        {"id_number": id_for(date(1990, 1, 1), 77), "programme": "", "applied_on": "2999-01-01"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert field_error(html, "id_id_number") == "未找到该身份证号对应的残疾人，或不在您的辖区"
    assert field_error(html, "id_programme") == "请选择待遇项目"
    # Then found by ID number; the service refuses the future date and a letter in the account
    response = client.post(
        reverse("benefits:application_create"),
        {
            "id_number": dibao_person.id_number,
            "programme": "living_allowance",
            "applied_on": (timezone.localdate() + timedelta(days=3)).isoformat(),
            "bank_account": "62220A",
        },
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert field_error(html, "id_applied_on") == "申请日期不能晚于今天"
    assert Application.objects.count() == 0
    # And a second open application for the same programme is refused
    application_create(
        acting_user=staff["town_luzhi"], person=dibao_person, programme=living, applied_on=date(2023, 5, 10)
    )
    response = client.post(
        reverse("benefits:application_create"),
        {"person": dibao_person.pk, "programme": "living_allowance", "applied_on": "2023-05-11"},
    )
    assert (
        field_error(response.content.decode(), "id_programme")
        == "该残疾人已有一份未办结的“困难残疾人生活补贴”申请"
    )
    assert Application.objects.count() == 1


# ---- review queue ----------------------------------------------------------------------------------------


def test_review_queue_of_each_role(staff, make_person, dibao_person, living):
    today = timezone.localdate()
    submitted = application_create(
        acting_user=staff["town_luzhi"], person=dibao_person, programme=living, applied_on=date(2023, 5, 10)
    )
    application_transition(acting_user=staff["town_luzhi"], application=submitted, to_status=S.SUBMITTED)
    other = make_person(name="陈二", grade=1)
    posted = application_create(
        acting_user=staff["town_luzhi"], person=other, programme=living, applied_on=date(2023, 5, 10)
    )
    for to, user in ((S.SUBMITTED, "town_luzhi"), (S.TOWN_REVIEWED, "luzhi2"), (S.POSTED, "luzhi2")):
        posted = application_transition(
            acting_user=staff[user], application=posted, to_status=to, today=today
        )
    third = make_person(name="刘三", grade=1)
    ripe = application_create(
        acting_user=staff["town_luzhi"], person=third, programme=living, applied_on=date(2023, 5, 10)
    )
    for to, user in ((S.SUBMITTED, "town_luzhi"), (S.TOWN_REVIEWED, "luzhi2"), (S.POSTED, "luzhi2")):
        ripe = application_transition(
            acting_user=staff[user], application=ripe, to_status=to, today=today - timedelta(days=10)
        )

    def sections(user):
        response = client_for(staff[user]).get(reverse("benefits:review_queue"))
        assert response.status_code == 200
        return {s.key: [a.pk for a in s.items] for s in response.context["sections"]}, response

    luzhi2, page2 = sections("luzhi2")
    assert luzhi2 == {"submitted": [submitted.pk], "town_reviewed": [], "draft": []}
    assert 'data-move="town_reviewed"' in page2.content.decode()
    luzhi1, page1 = sections("town_luzhi")
    assert luzhi1["submitted"] == [submitted.pk]
    assert "上一环节由您办理，须由他人审核" in page1.content.decode()
    assert 'data-move="town_reviewed"' not in page1.content.decode()
    assert sections("town_mudu")[0] == {"submitted": [], "town_reviewed": [], "draft": []}
    district, page = sections("district")
    assert district == {"posted": [ripe.pk], "district_reviewed": [], "approved": []}
    assert page.context["waiting"] == 1  # still in its posting period


def test_review_from_the_queue_returns_to_the_queue(staff, dibao_person, living):
    app = application_create(
        acting_user=staff["town_luzhi"], person=dibao_person, programme=living, applied_on=date(2023, 5, 10)
    )
    application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    queue = reverse("benefits:review_queue")
    response = client_for(staff["luzhi2"]).post(
        reverse("benefits:application_move", args=[app.pk]),
        {"move": S.TOWN_REVIEWED, f"m-{S.TOWN_REVIEWED}-expected_status": S.SUBMITTED, "next": queue},
    )
    assert (response.status_code, response["Location"]) == (302, queue)
    assert state(app)[0] == S.TOWN_REVIEWED


# ---- the person's benefits page ----------------------------------------------------------------------------


def test_person_benefits_explains_eligibility_and_shows_enrolments(staff, dibao_person, living):
    enrol(staff, dibao_person, living)
    response = client_for(staff["town_luzhi"]).get(
        reverse("benefits:person_benefits", args=[dibao_person.pk]) + "?month=2023-06"
    )
    assert response.status_code == 200
    rows = {r.programme.code: r for r in response.context["rows"]}
    assert (rows["living_allowance"].eligible, str(rows["living_allowance"].amount)) == (True, "328.50")
    assert rows["living_allowance"].enrolment.status == "active"
    assert rows["care_allowance"].eligible is True
    assert rows["care_allowance"].can_apply is True
    assert rows["suhuibao"].eligible is False
    assert any(not r.ok for r in rows["suhuibao"].reasons)
    assert all(r.ok for r in rows["living_allowance"].reasons)
    html = response.content.decode()
    assert 'class="ok"' in html and 'class="no"' in html
    assert 'id="enrolment-' in html
    # The leader reads the page but gets no change form
    leader = client_for(staff["leader"]).get(reverse("benefits:person_benefits", args=[dibao_person.pk]))
    assert leader.status_code == 200
    assert "确认变更" not in leader.content.decode()


def test_suspend_from_the_person_page(staff, dibao_person, living):
    app = enrol(staff, dibao_person, living)
    enrolment = Enrolment.objects.get(application=app)
    client = client_for(staff["town_luzhi"])
    url = reverse("benefits:enrolment_change", args=[enrolment.pk])
    prefix = f"e{enrolment.pk}"
    # A missing reason is shown next to the field; nothing changes
    bad = client.post(url, {f"{prefix}-kind": "suspend", f"{prefix}-effective_month": "2023-08"})
    assert bad.status_code == 400
    assert field_error(bad.content.decode(), f"id_{prefix}-reason") == "请填写变更原因"
    assert Enrolment.objects.get(pk=enrolment.pk).status == "active"
    # When the clerk suspends from August 2023 with a reason
    ok = client.post(
        url,
        {f"{prefix}-kind": "suspend", f"{prefix}-effective_month": "2023-08", f"{prefix}-reason": "入狱服刑"},
    )
    assert ok.status_code == 302
    assert ok["Location"] == reverse("benefits:person_benefits", args=[dibao_person.pk]) + "#enrolments"
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.suspended_from) == ("suspended", date(2023, 8, 1))
    assert list(EnrolmentChange.objects.values_list("kind", "effective_month", "reason", "by__username")) == [
        ("suspend", date(2023, 8, 1), "入狱服刑", "luzhi1")
    ]
    assert AuditLog.objects.filter(action="enrolment.suspend", object_id=str(dibao_person.pk)).count() == 1
    # Then the page shows the history and offers resume / stop only
    page = client.get(reverse("benefits:person_benefits", args=[dibao_person.pk]))
    e = next(x for x in page.context["enrolments"] if x.pk == enrolment.pk)
    assert [k for k, _ in e.change_form.fields["kind"].choices] == ["resume", "stop"]
    assert "入狱服刑" in page.content.decode()


def test_enrolment_change_refused_for_the_leader_and_another_town(staff, dibao_person, living):
    app = enrol(staff, dibao_person, living)
    enrolment = Enrolment.objects.get(application=app)
    url = reverse("benefits:enrolment_change", args=[enrolment.pk])
    prefix = f"e{enrolment.pk}"
    data = {f"{prefix}-kind": "stop", f"{prefix}-effective_month": "2023-08", f"{prefix}-reason": "死亡"}
    leader = client_for(staff["leader"]).post(url, data)
    assert leader.status_code == 403
    assert "您无权办理“终止”" in leader.content.decode()
    assert client_for(staff["town_mudu"]).post(url, data).status_code == 404
    enrolment.refresh_from_db()
    assert (enrolment.status, enrolment.end_month, enrolment.changes.count()) == ("active", None, 0)
