from __future__ import annotations

import io
from datetime import date

import pytest

from canlian.common.workflow import transition
from canlian.institutions.models import Institution
from canlian.institutions.services import institution_create


@pytest.fixture
def district2(make_user):
    return make_user("district2", "district_staff")


def designated(
    users, district2, towns, name, kind="custodial_provider", town="甪直镇", start=date(2020, 1, 1)
):
    inst = institution_create(acting_user=users["district"], name=name, kind=kind, town=towns[town])
    inst = transition(
        inst, "submit", acting_user=users["district"], expected_state="draft", designated_from=start
    )
    return transition(inst, "designate", acting_user=district2, expected_state="submitted")


@pytest.fixture
def provider(users, district2, towns):
    return designated(users, district2, towns, "甪直镇阳光托养中心")


@pytest.fixture
def provider_mudu(users, district2, towns):
    return designated(users, district2, towns, "木渎镇残疾人之家", kind="care_home", town="木渎镇")


@pytest.fixture
def inst_staff(make_user, provider):
    u = make_user("inst_luzhi", "institution_staff")
    u.institution = provider
    u.save(update_fields=["institution"])
    return u


def xlsx_bytes(headers, rows) -> bytes:
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("名单")
    ws.write_row(0, 0, headers)
    for i, row in enumerate(rows, start=1):
        for j, value in enumerate(row):
            if isinstance(value, date):
                ws.write_datetime(i, j, value, wb.add_format({"num_format": "yyyy-mm-dd"}))
            else:
                ws.write(i, j, value)
    wb.close()
    return buf.getvalue()


__all__ = ["Institution", "designated", "xlsx_bytes"]
