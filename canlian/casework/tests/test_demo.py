"""``custodial_demo`` on the demo registry: designated providers, placements across towns with some overdue
visits, the demo institution account bound to a provider; a second call adds nothing; reset removes it."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.accounts.models import User
from canlian.accounts.services import system_user
from canlian.casework import access
from canlian.casework.demo import custodial_demo, custodial_demo_delete
from canlian.casework.models import Case, DueItem
from canlian.common.models import AuditLog
from canlian.institutions.models import Institution
from canlian.registry.demo import demo_load, demo_users_ensure
from canlian.workplan.selectors import progress

pytestmark = pytest.mark.django_db


def test_custodial_demo(towns):
    demo_users_ensure(acting_user=system_user())
    demo_load(persons=600, seed=2023, acting_user=system_user())
    today = date(2023, 11, 15)
    result = custodial_demo(seed=2023, today=today)
    assert result["institutions"] == 6 and result["placements"] == 48
    assert result["overdue"] > 0 and result["visits_done"] > 0
    assert Institution.objects.filter(state="designated").count() == 6
    assert len(set(Case.objects.values_list("town_id", flat=True))) >= 3
    assert (
        DueItem.objects.filter(done_on__isnull=True, due_on__lt=today, cancelled=False).count()
        == result["overdue"]
    )
    staff = User.objects.get(username="demo_institution")
    assert staff.institution.name == "吴中区阳光托养中心"
    visible = access.cases_visible(staff)
    assert visible.count() == Case.objects.filter(institution=staff.institution).count() > 0
    assert 0 < progress(2023)["indicators"]["custodial_new"]["actual"] <= 48
    assert AuditLog.objects.filter(action="case.custodial_care.open").count() == 48
    assert custodial_demo(seed=2023, today=today) == {"skipped": True}
    assert custodial_demo_delete(acting_user=system_user()) == 48
    assert Case.objects.count() == 0 and Institution.objects.count() == 0
