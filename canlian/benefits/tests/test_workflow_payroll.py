"""Applications through the transition table, enrolments, and the monthly payroll end to end."""

from __future__ import annotations

import io
import threading
from datetime import date

import pytest
from django.db import connection

from canlian.benefits.exporters import payroll_bank_file
from canlian.benefits.models import Application, Enrolment, ParameterValue, Payroll, PayrollLine, Programme
from canlian.benefits.services.applications import application_create, application_transition
from canlian.benefits.services.enrolments import enrolment_change
from canlian.benefits.services.payroll import payroll_generate, payroll_transition, results_apply, town_totals
from canlian.benefits.workflows import APPLICATION_WORKFLOW
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog
from canlian.common.workflow import history_of
from canlian.registry.models import EconomicStatusPeriod

MOVE_ACTIONS = [f"application.{m.name}" for m in APPLICATION_WORKFLOW.moves]

pytestmark = pytest.mark.usefixtures(
    "example_standards_2023"
)  # 2023 months: the example standards (root conftest)

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


def _enrol(staff, person, programme, applied_on=date(2023, 5, 10), account="6222020000000001"):
    app = application_create(
        acting_user=staff["town_luzhi"],
        person=person,
        programme=programme,
        applied_on=applied_on,
        bank_name="农商行",
        bank_account=account,
    )
    app = application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    app = application_transition(acting_user=staff["luzhi2"], application=app, to_status=S.TOWN_REVIEWED)
    app = application_transition(
        acting_user=staff["luzhi2"], application=app, to_status=S.POSTED, today=date(2023, 5, 12)
    )
    app = application_transition(
        acting_user=staff["district"], application=app, to_status=S.DISTRICT_REVIEWED, today=date(2023, 5, 19)
    )
    app = application_transition(
        acting_user=staff["district2"],
        application=app,
        to_status=S.APPROVED,
        decision_date=date(2023, 5, 25),
        decision_doc_no="吴民〔2023〕12号",
    )
    app = application_transition(acting_user=staff["district"], application=app, to_status=S.ENROLLED)
    return app


@pytest.fixture
def dibao_person(make_person):
    person = make_person(name="王芳", category=4, grade=2)
    EconomicStatusPeriod.objects.create(person=person, status="dibao", valid_from=date(2020, 1, 1))
    return person


def test_application_flow_records_everything(staff, dibao_person, living):
    app = _enrol(staff, dibao_person, living)
    assert app.status == S.ENROLLED
    assert (app.posting_start, app.posting_end) == (date(2023, 5, 12), date(2023, 5, 19))
    assert app.decision_doc_no == "吴民〔2023〕12号"
    enrolment = Enrolment.objects.get(application=app)
    assert enrolment.start_month == date(2023, 5, 1)  # from the month of application
    assert list(history_of(app).values_list("to_state", "by__username")) == [
        ("submitted", "luzhi1"),
        ("town_reviewed", "luzhi2"),
        ("posted", "luzhi2"),
        ("district_reviewed", "district1"),
        ("approved", "district2"),
        ("enrolled", "district1"),
    ]
    assert AuditLog.objects.filter(action__in=MOVE_ACTIONS, object_id=str(app.pk)).count() == 6


def test_maker_cannot_check_own_work(staff, dibao_person, living):
    app = application_create(
        acting_user=staff["town_luzhi"], person=dibao_person, programme=living, applied_on=date(2023, 5, 10)
    )
    application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    app.refresh_from_db()
    with pytest.raises(PermissionDenied, match="不同人员"):
        application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.TOWN_REVIEWED)
    app.refresh_from_db()
    assert app.status == S.SUBMITTED


def test_illegal_moves_and_posting_period(staff, dibao_person, living):
    app = application_create(
        acting_user=staff["town_luzhi"], person=dibao_person, programme=living, applied_on=date(2023, 5, 10)
    )
    with pytest.raises(DomainError, match="不能从“草稿”变为“已审定通过”"):
        application_transition(acting_user=staff["district"], application=app, to_status=S.APPROVED)
    application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    application_transition(
        acting_user=staff["luzhi2"], application=app, to_status=S.TOWN_REVIEWED, expected_status=S.SUBMITTED
    )
    application_transition(
        acting_user=staff["luzhi2"],
        application=app,
        to_status=S.POSTED,
        expected_status=S.TOWN_REVIEWED,
        today=date(2023, 5, 12),
    )
    with pytest.raises(DomainError, match="公示期未满 7 天"):
        application_transition(
            acting_user=staff["district"],
            application=app,
            to_status=S.DISTRICT_REVIEWED,
            expected_status=S.POSTED,
            today=date(2023, 5, 18),
        )
    with pytest.raises(PermissionDenied):
        application_transition(
            acting_user=staff["town_mudu"],
            application=app,
            to_status=S.REJECTED,
            expected_status=S.POSTED,
            reject_reason="x",
        )
    with pytest.raises(ValidationFailed):
        application_transition(
            acting_user=staff["district"], application=app, to_status=S.REJECTED, expected_status=S.POSTED
        )
    app.refresh_from_db()
    assert app.status == S.POSTED


def test_stale_page_gets_a_clear_message(staff, dibao_person, living):
    app = application_create(
        acting_user=staff["town_luzhi"], person=dibao_person, programme=living, applied_on=date(2023, 5, 10)
    )
    application_transition(
        acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED, expected_status=S.DRAFT
    )
    with pytest.raises(DomainError, match="当前状态已变为"):
        application_transition(
            acting_user=staff["luzhi2"], application=app, to_status=S.WITHDRAWN, expected_status=S.DRAFT
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reviews_exactly_one_wins(staff, dibao_person, living):
    from django.db import connections

    app = application_create(
        acting_user=staff["town_luzhi"], person=dibao_person, programme=living, applied_on=date(2023, 5, 10)
    )
    application_transition(acting_user=staff["town_luzhi"], application=app, to_status=S.SUBMITTED)
    third = staff["town_luzhi"].__class__.objects.create_user(
        username="luzhi3", password="x", role="town_staff", jurisdiction=staff["town_luzhi"].jurisdiction
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def act(user, to):
        try:
            barrier.wait()
            application_transition(
                acting_user=user,
                application=app,
                to_status=to,
                expected_status=S.SUBMITTED,
                reject_reason="材料不全",
            )
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.message)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=act, args=(staff["luzhi2"], S.TOWN_REVIEWED)),
        threading.Thread(target=act, args=(third, S.REJECTED)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=len)[0] == "ok"
    assert outcomes.count("ok") == 1
    assert any("请刷新后重试" in o for o in outcomes)
    app.refresh_from_db()
    assert history_of(app).count() == 2


def _lines(payroll):
    return sorted(
        (line.kind, f"{line.for_month:%Y-%m}", str(line.amount))
        for line in PayrollLine.objects.filter(payroll=payroll)
    )


def test_payroll_end_to_end(staff, dibao_person, living, make_person):
    _enrol(staff, dibao_person, living)
    july = payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 7, 1))
    assert _lines(july) == [
        ("arrears", "2023-05", "328.50"),
        ("arrears", "2023-06", "328.50"),
        ("regular", "2023-07", "352.50"),
    ]
    assert (july.status, july.line_count, str(july.total)) == ("draft", 3, "1009.50")
    assert (
        payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 7, 1)).pk
        == july.pk
    )
    assert PayrollLine.objects.filter(payroll=july).count() == 3
    totals = town_totals(PayrollLine.objects.filter(payroll=july))
    assert [(t["town__name"], t["count"], t["total_fen"]) for t in totals] == [("甪直镇", 3, 100950)]
    assert sum(t["total_fen"] for t in totals) == july.total_fen

    with pytest.raises(PermissionDenied):
        payroll_transition(acting_user=staff["town_luzhi"], payroll=july, to_status="reviewed")
    payroll_transition(acting_user=staff["district"], payroll=july, to_status="reviewed")
    july.refresh_from_db()
    with pytest.raises(PermissionDenied, match="不同人员"):
        payroll_transition(acting_user=staff["district"], payroll=july, to_status="approved")
    payroll_transition(acting_user=staff["district2"], payroll=july, to_status="approved")
    july.refresh_from_db()

    buf = io.BytesIO()
    assert payroll_bank_file(acting_user=staff["district"], payroll=july, out=buf) == 3
    from canlian.common.spreadsheet import read_table

    table = read_table(
        buf.getvalue(), aliases={"id": ["流水号"], "account": ["银行账号"], "amount": ["金额（元）"]}
    )
    accounts = {r[table.columns["account"]] for _, r in table.rows}
    assert accounts == {"622*********0001", ""}  # the last row is the total
    july.refresh_from_db()
    assert july.status == "approved"  # the masked copy is for reading
    with pytest.raises(PermissionDenied):
        payroll_bank_file(acting_user=staff["leader"], payroll=july, out=io.BytesIO(), unmasked=True)
    assert (
        payroll_bank_file(acting_user=staff["district"], payroll=july, out=io.BytesIO(), unmasked=True) == 3
    )
    july.refresh_from_db()
    assert july.status == "exported"

    june_line = PayrollLine.objects.get(payroll=july, for_month=date(2023, 6, 1))
    others = PayrollLine.objects.filter(payroll=july).exclude(pk=june_line.pk)
    result = results_apply(
        acting_user=staff["district"],
        payroll=july,
        results=[{"row": 2, "line_id": june_line.pk, "paid": False, "reason": "账户已销户"}]
        + [{"row": 3 + i, "line_id": line.pk, "paid": True, "reason": ""} for i, line in enumerate(others)],
    )
    assert result == {"paid": 2, "failed": 1, "pending": 0}
    july.refresh_from_db()
    assert july.status == "closed"

    # a standard raised retroactively from July yields arrears in August; the failed June line is re-issued
    ParameterValue.objects.create(
        name="common.dibao_standard_urban",
        valid_from=date(2023, 7, 1),
        value="1200.00",
        reference="test",
        created_by=staff["admin"],
    )
    august = payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 8, 1))
    assert _lines(august) == [
        ("arrears", "2023-07", "7.50"),
        ("regular", "2023-08", "360.00"),
        ("reissue", "2023-06", "328.50"),
    ]
    reissue = PayrollLine.objects.get(payroll=august, kind="reissue")
    assert reissue.reissue_of_id == june_line.pk

    # suspended from September: nothing for September
    enrolment = Enrolment.objects.get(person=dibao_person)
    enrolment_change(
        acting_user=staff["town_luzhi"],
        enrolment=enrolment,
        kind="suspend",
        effective_month=date(2023, 9, 1),
        reason="数据比对疑点核实中",
    )
    september = payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 9, 1))
    assert _lines(september) == []
    # resumed from September: October pays September as arrears and October
    enrolment.refresh_from_db()
    enrolment_change(
        acting_user=staff["town_luzhi"],
        enrolment=enrolment,
        kind="resume",
        effective_month=date(2023, 9, 1),
        reason="核实无误",
    )
    october = payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 10, 1))
    assert _lines(october) == [("arrears", "2023-09", "360.00"), ("regular", "2023-10", "360.00")]


def test_dead_person_not_paid_after_month_of_death(staff, dibao_person, living):
    _enrol(staff, dibao_person, living)
    dibao_person.status, dibao_person.death_date = "deceased", date(2023, 6, 20)
    dibao_person.save(update_fields=["status", "death_date"])
    july = payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 7, 1))
    assert _lines(july) == [("arrears", "2023-05", "328.50"), ("arrears", "2023-06", "328.50")]


def test_payroll_only_for_cash_programmes_and_district_staff(staff):
    with pytest.raises(DomainError, match="不按月发放现金"):
        payroll_generate(
            acting_user=staff["district"],
            programme=Programme.objects.get(code="suhuibao"),
            month=date(2023, 7, 1),
        )
    with pytest.raises(PermissionDenied):
        payroll_generate(
            acting_user=staff["town_luzhi"],
            programme=Programme.objects.get(code="care_allowance"),
            month=date(2023, 7, 1),
        )
    assert Payroll.objects.count() == 0


@pytest.mark.postgres
def test_unique_payroll_per_programme_and_month_is_a_database_constraint(staff, living):
    from django.db import IntegrityError, transaction

    Payroll.objects.create(programme=living, month=date(2023, 7, 1), created_by=staff["district"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Payroll.objects.create(programme=living, month=date(2023, 7, 1), created_by=staff["district"])
    assert connection.vendor == "postgresql"
