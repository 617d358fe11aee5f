"""``devices_demo`` on the demo registry: the catalogue in two versions, service points, cases at every
stage by the roles that make each move, last year's imported fittings, loans with some overdue; a second call
adds nothing; the reset removes it and leaves the custodial reset able to run."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.accounts.services import system_user
from canlian.casework.demo import custodial_demo, custodial_demo_delete
from canlian.casework.device_models import DeviceCatalogVersion, DeviceFitting, DeviceLoan
from canlian.casework.devices_demo import devices_demo, devices_demo_delete
from canlian.casework.models import Case
from canlian.common.models import AuditLog
from canlian.registry.demo import demo_load, demo_users_ensure
from canlian.workplan.selectors import progress

pytestmark = pytest.mark.django_db


def test_devices_demo(towns):
    demo_users_ensure(acting_user=system_user())
    demo_load(persons=1500, seed=2023, acting_user=system_user())
    today = date(2023, 11, 15)
    custodial_demo(seed=2023, today=today)
    result = devices_demo(seed=2023, today=today)
    assert result["items"] == 32 and result["points"] == 2, result
    assert (
        result["cases"] >= 30 and result["fitted"] >= 15 and result["rejected"] > 0 and result["applied"] > 0
    )
    assert result["imported"] >= 10 and result["loans"] > 0 and result["overdue"] > 0
    cases = Case.objects.filter(programme="devices")
    assert cases.count() == result["cases"] + result["imported"]
    assert DeviceCatalogVersion.objects.count() == 2
    for f in DeviceFitting.objects.filter(fitted_on__isnull=False).select_related("item"):
        assert f.subsidy == min(f.price, f.item.cap) and f.own_share == f.price - f.subsidy
    fitted = progress(2023)["indicators"]["devices_fitted"]["actual"]
    assert fitted == result["fitted"]
    assert progress(2022)["indicators"]["devices_fitted"]["actual"] == result["imported"]
    assert AuditLog.objects.filter(action="case.devices.deliver").count() == result["fitted"]
    assert devices_demo(seed=2023, today=today) == {"skipped": True}
    assert devices_demo_delete(acting_user=system_user()) == result["cases"] + result["imported"]
    assert not cases.exists() and not DeviceLoan.objects.exists()
    assert custodial_demo_delete(acting_user=system_user()) == 48
