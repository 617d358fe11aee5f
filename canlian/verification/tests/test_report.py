"""The run report: counts by kind × town and money at stake reconcile with the findings, for each scope;
the .xlsx export carries the same numbers, masked IDs, and is audited."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.db.models import Sum

from canlian.common.models import AuditLog
from canlian.common.spreadsheet import read_sheets
from canlian.verification.exporters import report_xlsx
from canlian.verification.models import Finding
from canlian.verification.selectors import report
from canlian.verification.services import verification_run

from . import world

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(staff, make_person):
    w = world.build(make_person)
    world.import_lists(staff["district"], w["persons"])
    return verification_run(acting_user=staff["district"], month=world.RUN_MONTH)


def test_report_reconciles(run, staff):
    rep = report(staff["district"], run)
    assert rep.total == {"count": 13, "money": Decimal("2192.50"), "overpayment": Decimal("0.00")}
    assert sum(k["count"] for k in rep.by_kind) == sum(t["count"] for t in rep.by_town) == 13
    assert sum(rep.cells.values()) == 13
    assert sum(k["money"] for k in rep.by_kind) == sum(t["money"] for t in rep.by_town) == Decimal("2192.50")
    assert {t["town"]: t["count"] for t in rep.by_town} == {"甪直镇": 10, "木渎镇": 3}
    assert rep.chart()["towns"] == ["甪直镇", "木渎镇"]
    deceased = next(k for k in rep.by_kind if k["kind"] == "deceased")
    assert (deceased["count"], deceased["money"], deceased["open"]) == (2, Decimal("502.50"), 2)
    assert Finding.objects.filter(run=run).aggregate(s=Sum("money_at_stake_fen"))["s"] == 219250


def test_report_is_scoped(run, staff):
    assert report(staff["town_mudu"], run).total["count"] == 3
    assert report(staff["town_luzhi"], run).total["count"] == 10
    assert report(staff["leader"], run).total["count"] == 13
    assert report(staff["auditor"], run).total["count"] == 0


def test_export_numbers_masked_and_audited(run, staff):
    buf = io.BytesIO()
    assert report_xlsx(acting_user=staff["town_mudu"], run=run, out=buf) == 3
    _, sheets = read_sheets(buf.getvalue())
    summary, detail = sheets[0].rows, sheets[1].rows
    assert summary[0] == ["疑点类型", "木渎镇", "合计", "每月涉及金额（元）", "多发金额（元）"]
    assert summary[-1][:3] == ["合计", 3.0, 3.0]
    ids = [row[4] for row in detail[1:]]
    assert len(ids) == 3 and all("*" in i and len(i) == 18 for i in ids)
    audit = AuditLog.objects.get(action="verification.report_export")
    assert (audit.user, audit.changes) == (staff["town_mudu"], {"rows": [None, 3], "masked": [None, True]})
