"""``child_rehab_demo`` on the demo registry: designated rehab institutions, children served with months
held to the cap, referrals, settlements, autism events, evaluations; a second call adds nothing; the reset
removes it and leaves the custodial reset able to run."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.accounts.services import system_user
from canlian.casework.child_rehab_demo import child_rehab_demo, child_rehab_demo_delete
from canlian.casework.child_rehab_models import AutismScreening, ChildRehabMonth
from canlian.casework.demo import custodial_demo, custodial_demo_delete
from canlian.casework.models import Case
from canlian.common.models import AuditLog
from canlian.institutions.models import Institution
from canlian.registry.demo import demo_load, demo_users_ensure
from canlian.workplan.selectors import progress

pytestmark = pytest.mark.django_db


def test_child_rehab_demo(towns):
    demo_users_ensure(acting_user=system_user())
    demo_load(persons=1500, seed=2023, acting_user=system_user())
    today = date(2023, 11, 15)
    custodial_demo(seed=2023, today=today)
    result = child_rehab_demo(seed=2023, today=today)
    assert result["institutions"] == 3 and result["children"] >= 20, result
    assert result["served"] > 0 and result["referred"] > 0 and result["waiting"] > 0
    assert result["months"] == ChildRehabMonth.objects.count() > 0
    assert (
        result["settlements"] > 0
        and result["screened"] == AutismScreening.objects.filter(stage="first").count()
    )
    cases = Case.objects.filter(programme="child_rehab")
    assert cases.count() == result["children"]
    assert len(set(cases.values_list("town_id", flat=True))) >= 3
    served = progress(2023)["indicators"]["child_rehab_served"]["actual"]
    assert served == result["served"] + result["referred"]
    assert AuditLog.objects.filter(action="case.child_rehab.apply").count() == result["children"]
    assert child_rehab_demo(seed=2023, today=today) == {"skipped": True}
    assert child_rehab_demo_delete(acting_user=system_user()) == result["children"]
    assert not cases.exists() and not Institution.objects.filter(kind="rehab_institution").exists()
    assert custodial_demo_delete(acting_user=system_user()) == 48
