"""Suzhou's standards through the database: the CLI, payroll back pay across a certificate renewal, months with
no known standard, and the two postings (village, then 民政's approval) with their dated lengths."""

from __future__ import annotations

import json
from datetime import date

import pytest

from canlian.benefits.models import Application, Enrolment, Payroll, PayrollLine, Programme
from canlian.benefits.services.applications import PostingRule, application_create, application_transition
from canlian.benefits.services.parameters import parameter_value_add
from canlian.benefits.services.payroll import payroll_generate
from canlian.cli import main
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.common.models import AuditLog
from canlian.common.workflow import history_of
from canlian.registry.models import Certificate, EconomicStatusPeriod
from canlian.registry.services import certificate_index

S = Application.Status


@pytest.fixture
def staff(users, make_user):
    return {
        **users,
        "luzhi2": make_user("luzhi2", "town_staff", "甪直镇"),
        "district2": make_user("district2", "district_staff"),
    }


@pytest.fixture
def living():
    return Programme.objects.get(code="living_allowance")


def _dibao(person):
    EconomicStatusPeriod.objects.create(person=person, status="dibao", valid_from=date(2020, 1, 1))
    return person


# ---- the CLI: Suzhou's amounts to the fen, and a month with no known standard ----------------------------


def test_cli_pays_suzhou_rates_across_the_july_2025_change(make_person, capsys):
    severe = _dibao(make_person(name="王芳", category=4, grade=2))
    other = _dibao(make_person(name="李娜", category=4, grade=4))
    unemployed = make_person(name="张强", category=5, grade=3)  # not 低保, unemployed grade 3 intellectual

    def amounts(person, month):
        assert main(["eligibility", person.id_number, month, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)["programmes"]
        return out["living_allowance"]["amount"], out["care_allowance"]["amount"]

    assert amounts(severe, "2025-06") == ("404.25", "160.00")  # 1,155 × 35%
    assert amounts(severe, "2025-07") == ("422.80", "160.00")  # 1,208 × 35%
    assert amounts(other, "2025-06") == ("288.75", "0.00")  # 1,155 × 25%
    assert amounts(other, "2025-07") == ("302.00", "0.00")  # 1,208 × 25%
    assert amounts(unemployed, "2025-07") == ("724.80", "0.00")  # 1,208 × 60%, no care allowance in Suzhou


def test_cli_says_when_no_standard_is_known_for_the_month(make_person, capsys):
    person = _dibao(make_person(name="王芳", category=5, grade=2))
    code = main(["eligibility", person.id_number, "2025-04", "--json"])
    captured = capsys.readouterr()
    assert code == 3
    assert "2025-04 没有已知的标准，未测算：困难残疾人生活补贴、重度残疾人护理补贴" in captured.err
    out = json.loads(captured.out)["programmes"]
    for name in ("living_allowance", "care_allowance"):
        assert (out[name]["determined"], out[name]["eligible"], out[name]["amount"]) == (False, None, None)
        assert "已知最早取值自 2025-05-01 起" in out[name]["reasons"][0]
    assert (out["suhuibao"]["determined"], out["suhuibao"]["eligible"]) == (True, True)
    # the text form says the same
    assert main(["eligibility", person.id_number, "2025-04"]) == 3
    assert "困难残疾人生活补贴：无法测算（本月没有已知标准）" in capsys.readouterr().out


# ---- payroll: back pay across a certificate renewal, months with no standard ------------------------------


def _lines(payroll):
    return [
        (line.kind, f"{line.for_month:%Y-%m}", str(line.amount))
        for line in payroll.lines.order_by("for_month", "kind")
    ]


def test_payroll_back_pay_across_a_certificate_renewal(staff, make_person, living):
    """The old certificate ends on 2025-06-10; the new one is issued on 2025-11-05. June is paid on the old
    one; July is more than 3 months before the new issue month and is never paid; August to October are
    paid back in November's payroll as arrears, November as the regular line (1,208 × 35% = 422.80)."""
    person = _dibao(make_person(name="王芳", category=4, grade=2, issue=date(2015, 6, 10)))
    old = person.certificates.get()
    assert old.valid_until == date(2025, 6, 10)
    enrolment = Enrolment.objects.create(
        person=person, programme=living, start_month=date(2025, 6, 1), bank_account="6222020000000001"
    )
    june = payroll_generate(acting_user=staff["district"], programme=living, month=date(2025, 6, 1))
    assert _lines(june) == [("regular", "2025-06", "404.25")]
    july = payroll_generate(acting_user=staff["district"], programme=living, month=date(2025, 7, 1))
    assert _lines(july) == []  # expired: stopped from the month after 2025-06-10

    # the new certificate (the old one stays in the history, no longer current)
    Certificate.objects.filter(pk=old.pk).update(is_current=False)
    number = f"{person.id_number}42B1"
    Certificate.objects.create(
        person=person,
        number=number,
        number_index=certificate_index(number),
        category=4,
        grade=2,
        issue_date=date(2025, 11, 5),
        valid_until=date(2035, 11, 5),
    )
    november = payroll_generate(acting_user=staff["district"], programme=living, month=date(2025, 11, 1))
    assert _lines(november) == [
        ("arrears", "2025-08", "422.80"),
        ("arrears", "2025-09", "422.80"),
        ("arrears", "2025-10", "422.80"),
        ("regular", "2025-11", "422.80"),
    ]
    assert (november.line_count, str(november.total)) == (4, "1691.20")
    assert set(november.lines.values_list("enrolment_id", flat=True)) == {enrolment.pk}

    # with the back pay set to 1 month (a dated setting), only October would have been paid back
    Payroll.objects.filter(pk=november.pk).delete()
    parameter_value_add(
        acting_user=staff["admin"],
        name="common.certificate_back_pay_months",
        valid_from=date(2025, 1, 1),
        value="1",
        reference="测试：本市补发 1 个月",
    )
    again = payroll_generate(acting_user=staff["district"], programme=living, month=date(2025, 11, 1))
    assert _lines(again) == [("arrears", "2025-10", "422.80"), ("regular", "2025-11", "422.80")]


def test_grade_reassessment_keeps_paying_the_old_standard(staff, make_person, living):
    person = _dibao(make_person(name="王芳", category=4, grade=2, issue=date(2015, 6, 10)))
    cert = person.certificates.get()
    Certificate.objects.filter(pk=cert.pk).update(status="reassessing", status_changed_on=date(2025, 5, 20))
    Enrolment.objects.create(person=person, programme=living, start_month=date(2025, 9, 1))
    september = payroll_generate(acting_user=staff["district"], programme=living, month=date(2025, 9, 1))
    assert _lines(september) == [("regular", "2025-09", "422.80")]


def test_payroll_for_a_month_with_no_known_standard_is_refused(staff, make_person, living):
    person = _dibao(make_person(name="王芳", category=4, grade=2))
    Enrolment.objects.create(person=person, programme=living, start_month=date(2025, 1, 1))
    with pytest.raises(DomainError, match="2025-04 没有已知的“困难残疾人生活补贴”标准，不能生成发放批次"):
        payroll_generate(acting_user=staff["district"], programme=living, month=date(2025, 4, 1))
    assert Payroll.objects.count() == 0 and PayrollLine.objects.count() == 0
    assert not AuditLog.objects.filter(action="payroll.generate").exists()

    # May 2025, the first sourced month: January to April cannot be computed and are named in the audit row
    may = payroll_generate(acting_user=staff["district"], programme=living, month=date(2025, 5, 1))
    assert _lines(may) == [("regular", "2025-05", "404.25")]
    log = AuditLog.objects.get(action="payroll.generate")
    assert log.changes["months"] == [None, 1]
    assert log.changes["months_without_standard"] == [None, ["2025-01", "2025-02", "2025-03", "2025-04"]]


# ---- postings: the village posting and the posting of 民政's approval ----------------------------------------


def _to_approved(staff, person, programme, *, posted: date, reviewed: date, decided: date):
    app = application_create(
        acting_user=staff["town_luzhi"], person=person, programme=programme, applied_on=date(2025, 6, 20)
    )
    app = application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    app = application_transition(acting_user=staff["luzhi2"], application=app, to_status=S.TOWN_REVIEWED)
    app = application_transition(
        acting_user=staff["luzhi2"], application=app, to_status=S.POSTED, today=posted
    )
    app = application_transition(
        acting_user=staff["district"], application=app, to_status=S.DISTRICT_REVIEWED, today=reviewed
    )
    return application_transition(
        acting_user=staff["district2"],
        application=app,
        to_status=S.APPROVED,
        decision_date=decided,
        decision_doc_no="吴民〔2025〕7号",
        today=decided,
    )


def test_the_approval_is_posted_before_enrolment(staff, make_person, living):
    person = _dibao(make_person(name="王芳"))
    app = _to_approved(
        staff, person, living, posted=date(2025, 6, 30), reviewed=date(2025, 7, 7), decided=date(2025, 7, 10)
    )
    assert (app.posting_start, app.posting_end) == (date(2025, 6, 30), date(2025, 7, 7))
    assert (app.approval_posting_start, app.approval_posting_end) == (date(2025, 7, 10), date(2025, 7, 17))
    log = AuditLog.objects.filter(action="application.approve", object_id=str(app.pk)).latest("id")
    assert log.changes["approval_posting"] == [None, "2025-07-10～2025-07-17（7 天）"]
    audits = AuditLog.objects.count()

    # one day early: refused, nothing changed
    with pytest.raises(
        DomainError, match="民政审定结果公示期未满 7 天（2025-07-10 起），2025-07-17 后方可纳入发放"
    ):
        application_transition(
            acting_user=staff["district"], application=app, to_status=S.ENROLLED, today=date(2025, 7, 16)
        )
    app.refresh_from_db()
    assert app.status == S.APPROVED
    assert not Enrolment.objects.filter(person=person).exists()
    assert history_of(app).count() == 5 and AuditLog.objects.count() == audits

    app = application_transition(
        acting_user=staff["district"], application=app, to_status=S.ENROLLED, today=date(2025, 7, 17)
    )
    assert app.status == S.ENROLLED
    assert Enrolment.objects.get(person=person).start_month == date(2025, 6, 1)


def test_a_decision_date_in_the_future_is_refused(staff, make_person, living):
    person = _dibao(make_person(name="王芳"))
    app = application_create(
        acting_user=staff["town_luzhi"], person=person, programme=living, applied_on=date(2025, 6, 20)
    )
    app = application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    app = application_transition(acting_user=staff["luzhi2"], application=app, to_status=S.TOWN_REVIEWED)
    app = application_transition(
        acting_user=staff["luzhi2"], application=app, to_status=S.POSTED, today=date(2025, 6, 30)
    )
    app = application_transition(
        acting_user=staff["district"], application=app, to_status=S.DISTRICT_REVIEWED, today=date(2025, 7, 7)
    )
    with pytest.raises(ValidationFailed) as exc:
        application_transition(
            acting_user=staff["district2"],
            application=app,
            to_status=S.APPROVED,
            decision_date=date(2025, 7, 11),
            decision_doc_no="吴民〔2025〕7号",
            today=date(2025, 7, 10),
        )
    assert exc.value.errors == {"decision_date": "民政审定日期不能晚于今天"}
    app.refresh_from_db()
    assert (app.status, app.decision_date, app.approval_posting_end) == (S.DISTRICT_REVIEWED, None, None)


def test_posting_length_in_working_days_is_a_dated_setting(staff, make_person, living):
    for name, value in (("common.posting_working_days", "是"), ("common.posting_days", "5")):
        parameter_value_add(
            acting_user=staff["admin"], name=name, valid_from=date(2025, 7, 1), value=value, reference="测试"
        )
    # posted on Monday 2025-06-30, before the new setting: 7 calendar days
    before = _to_approved(
        staff,
        _dibao(make_person(name="王芳")),
        living,
        posted=date(2025, 6, 30),
        reviewed=date(2025, 7, 7),
        decided=date(2025, 7, 8),
    )
    assert before.posting_end == date(2025, 7, 7)
    # posted on Friday 2025-07-04: 5 working days (Mon 7 … Fri 11); the approval too (5 working days of the
    # setting, the second posting keeps its own length of 7: 7 working days from Friday 11 = Tuesday 22)
    person = _dibao(make_person(name="李娜"))
    app = application_create(
        acting_user=staff["town_luzhi"], person=person, programme=living, applied_on=date(2025, 7, 1)
    )
    app = application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    app = application_transition(acting_user=staff["luzhi2"], application=app, to_status=S.TOWN_REVIEWED)
    app = application_transition(
        acting_user=staff["luzhi2"], application=app, to_status=S.POSTED, today=date(2025, 7, 4)
    )
    assert (app.posting_start, app.posting_end) == (date(2025, 7, 4), date(2025, 7, 11))
    with pytest.raises(DomainError, match="公示期未满 5 个工作日，2025-07-11 后方可审核"):
        application_transition(
            acting_user=staff["district"],
            application=app,
            to_status=S.DISTRICT_REVIEWED,
            today=date(2025, 7, 10),
        )
    app = application_transition(
        acting_user=staff["district"], application=app, to_status=S.DISTRICT_REVIEWED, today=date(2025, 7, 11)
    )
    app = application_transition(
        acting_user=staff["district2"],
        application=app,
        to_status=S.APPROVED,
        decision_date=date(2025, 7, 11),
        decision_doc_no="吴民〔2025〕8号",
        today=date(2025, 7, 11),
    )
    assert (app.approval_posting_start, app.approval_posting_end) == (date(2025, 7, 11), date(2025, 7, 22))


@pytest.mark.parametrize(
    ("start", "days", "working", "end"),
    [
        (date(2025, 7, 4), 5, True, date(2025, 7, 11)),  # Friday → next Friday
        (date(2025, 7, 5), 1, True, date(2025, 7, 7)),  # Saturday → Monday
        (date(2025, 7, 7), 5, True, date(2025, 7, 14)),  # Monday → next Monday
        (date(2025, 12, 31), 7, False, date(2026, 1, 7)),  # across the year, calendar days
        (date(2025, 1, 31), 7, False, date(2025, 2, 7)),
    ],
)
def test_posting_end(start, days, working, end):
    assert PostingRule(days, working).end(start) == end


# ---- the person's benefits page ----------------------------------------------------------------------------


@pytest.mark.urls("canlian.benefits.tests.test_views_pages")
def test_person_page_shows_not_determined_before_the_first_standard(staff, make_person):
    from django.urls import reverse

    from .test_views_pages import client_for

    person = _dibao(make_person(name="王芳", category=4, grade=2))
    client = client_for(staff["town_luzhi"])
    url = reverse("benefits:person_benefits", args=[person.pk])
    april = client.get(url + "?month=2025-04")
    assert april.status_code == 200
    rows = {r.programme.code: r for r in april.context["rows"]}
    assert rows["living_allowance"].eligible is None
    assert "2025-04 没有已知的标准，无法测算" in rows["living_allowance"].reasons[0].text
    assert 'data-eligible="unknown"' in april.content.decode()
    july = client.get(url + "?month=2025-07")
    rows = {r.programme.code: r for r in july.context["rows"]}
    assert (rows["living_allowance"].eligible, str(rows["living_allowance"].amount)) == (True, "422.80")
    assert (rows["care_allowance"].eligible, str(rows["care_allowance"].amount)) == (True, "160.00")
