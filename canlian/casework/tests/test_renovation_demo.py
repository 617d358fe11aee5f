"""``renovation_demo`` on the demo registry: households at every stage, accepted ones counted; reset removes
them."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.accounts.services import system_user
from canlian.casework.models import Case, RenovationPhoto
from canlian.casework.programmes.renovation import renovation_done_by_town
from canlian.casework.renovation_demo import renovation_demo, renovation_demo_delete
from canlian.registry.demo import demo_load, demo_users_ensure

pytestmark = pytest.mark.django_db


def test_renovation_demo(towns):
    demo_users_ensure(acting_user=system_user())
    demo_load(persons=1500, seed=2023, acting_user=system_user())
    result = renovation_demo(seed=2023, today=date(2023, 11, 15))
    cases = Case.objects.filter(programme="renovation")
    assert result["applications"] == cases.count() > 0
    states = set(cases.values_list("state", flat=True))
    assert "accepted" in states  # the 1,500-person sample has few eligible households; 15,000 has more
    accepted = cases.filter(state="accepted")
    assert sum(renovation_done_by_town(2023).values()) == accepted.count() == result["accepted"]
    assert RenovationPhoto.objects.filter(stage="acceptance").count() == accepted.count()
    assert renovation_demo(seed=2023, today=date(2023, 11, 15)) == {"skipped": True}
    assert (
        renovation_demo_delete() == cases.count() or Case.objects.filter(programme="renovation").count() == 0
    )
    assert not Case.objects.filter(programme="renovation").exists()
