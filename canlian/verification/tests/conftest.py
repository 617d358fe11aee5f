"""Fixtures of the verification tests: staff, enrolments through the benefits services, paid payrolls,
and outside-list files written as .xlsx or .csv."""

from __future__ import annotations

import io
from datetime import date

import pytest

from canlian.benefits.exporters import payroll_bank_file
from canlian.benefits.models import Application, Enrolment, Programme
from canlian.benefits.services.applications import application_create, application_transition
from canlian.benefits.services.payroll import payroll_generate, payroll_transition, results_apply
from canlian.common.spreadsheet import write_xlsx

S = Application.Status


@pytest.fixture(autouse=True)
def _standards_2023(example_standards_2023):
    """The verification tests work in 2023 months: the example standards of the root conftest."""
    return example_standards_2023


@pytest.fixture
def staff(users, make_user):
    return {
        **users,
        "luzhi2": make_user("luzhi2", "town_staff", "甪直镇"),
        "district2": make_user("district2", "district_staff"),
    }


@pytest.fixture
def programmes(towns):
    return {p.code: p for p in Programme.objects.all()}


def enrol(staff, person, programme, applied_on=date(2023, 5, 10)) -> Enrolment:
    """Through the whole application flow (maker ≠ checker), as in real use."""
    if person.town.name == "甪直镇":
        maker, checker = staff["town_luzhi"], staff["luzhi2"]
    else:  # another town: the district files it (district staff may act for every town)
        maker, checker = staff["district"], staff["district2"]
    app = application_create(
        acting_user=maker,
        person=person,
        programme=programme,
        applied_on=applied_on,
        bank_name="农商行",
        bank_account="6222020000000001",
    )
    app = application_transition(acting_user=maker, application=app, to_status=S.SUBMITTED)
    app = application_transition(acting_user=checker, application=app, to_status=S.TOWN_REVIEWED)
    app = application_transition(
        acting_user=checker, application=app, to_status=S.POSTED, today=applied_on.replace(day=12)
    )
    app = application_transition(
        acting_user=staff["district"],
        application=app,
        to_status=S.DISTRICT_REVIEWED,
        today=applied_on.replace(day=19),
    )
    app = application_transition(
        acting_user=staff["district2"],
        application=app,
        to_status=S.APPROVED,
        decision_date=applied_on.replace(day=25),
        decision_doc_no="吴民〔2023〕12号",
    )
    application_transition(acting_user=staff["district"], application=app, to_status=S.ENROLLED)
    return Enrolment.objects.get(application=app)


def pay_month(staff, programme, month: date):
    """Generate, review, approve, export and close a payroll with every line paid."""
    payroll = payroll_generate(acting_user=staff["district"], programme=programme, month=month)
    payroll = payroll_transition(acting_user=staff["district"], payroll=payroll, to_status="reviewed")
    payroll = payroll_transition(acting_user=staff["district2"], payroll=payroll, to_status="approved")
    payroll_bank_file(acting_user=staff["district"], payroll=payroll, out=io.BytesIO(), unmasked=True)
    lines = list(payroll.lines.values_list("pk", flat=True))
    if lines:
        results_apply(
            acting_user=staff["district"],
            payroll=payroll,
            results=[{"row": i + 2, "line_id": pk, "paid": True, "reason": ""} for i, pk in enumerate(lines)],
        )
    payroll.refresh_from_db()
    return payroll


def xlsx_bytes(headers, rows) -> bytes:
    buf = io.BytesIO()
    write_xlsx(buf, headers, rows, text_columns=range(len(headers)))
    return buf.getvalue()


def csv_bytes(headers, rows, encoding="utf-8-sig") -> bytes:
    lines = [",".join(headers)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)
