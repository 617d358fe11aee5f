"""``renovation_demo`` on the demo registry: households at every stage in the towns with demo accounts, this
year's applications and last year's imported acceptances in the other towns, accepted ones counted, the same
result for the same seed; reset removes them."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from canlian.accounts.services import system_user
from canlian.casework.models import Case, RenovationPhoto
from canlian.casework.programmes.renovation import renovation_done_by_town
from canlian.casework.renovation_demo import renovation_demo, renovation_demo_delete
from canlian.common.models import AuditLog
from canlian.registry.demo import demo_load, demo_users_ensure

pytestmark = pytest.mark.django_db

EVERY_STAGE = {
    "applied",
    "town_reviewed",
    "surveyed",
    "planned",
    "approved",
    "in_works",
    "works_done",
    "accepted",
    "rejected",
}


def _snapshot():
    return sorted(
        Case.objects.filter(programme="renovation").values_list(
            "person_id", "state", "opened_on", "closed_on", "source"
        )
    )


def test_renovation_demo(towns):
    demo_users_ensure(acting_user=system_user())
    demo_load(persons=6000, seed=2023, acting_user=system_user())
    today = date(2023, 11, 15)
    result = renovation_demo(seed=2023, today=today)
    cases = Case.objects.filter(programme="renovation")
    assert result["applications"] == cases.count(), result
    assert set(cases.values_list("state", flat=True)) == EVERY_STAGE
    assert result["stages"]["returned"] >= 1  # a plan sent back: surveyed again, with the reason
    assert (
        cases.filter(state="surveyed", data__has_key="return_reason").count() == result["stages"]["returned"]
    )
    by_town = Counter(cases.values_list("town__name", flat=True))
    assert len(by_town) == result["towns"] >= 10  # across the district, not two towns
    worked = cases.filter(town__code__in=["320506100", "320506103"])
    assert {c.town.name: set() for c in worked} and all(
        set(worked.filter(town__name=t).values_list("state", flat=True))
        >= {"applied", "accepted", "in_works"}
        for t in ("甪直镇", "木渎镇")
    )
    # the other towns: this year's applications (district) and last year's acceptances (roster import)
    others = cases.exclude(town__code__in=["320506100", "320506103"])
    assert set(others.values_list("state", "source").distinct()) == {
        ("applied", "web"),
        ("accepted", "import"),
    }
    assert others.filter(source="import").count() == result["imported"] > 0
    assert set(others.filter(source="import").values_list("closed_on__year", flat=True)) == {2022}
    # no date after "today", no household with two active cases
    assert not cases.filter(opened_on__gt=today).exists() and not cases.filter(closed_on__gt=today).exists()
    active = Counter(
        c.data["household"]
        for c in cases.exclude(state__in=["accepted", "rejected"])
        if c.data.get("household")
    )
    assert max(active.values()) == 1
    # this year's accepted (the workflow) and last year's (the roster) are both counted, each in its year
    accepted = cases.filter(state="accepted")
    assert (
        sum(renovation_done_by_town(2023).values())
        == result["accepted"]
        == accepted.filter(closed_on__year=2023).count()
    )
    assert sum(renovation_done_by_town(2022).values()) == result["imported"]
    assert RenovationPhoto.objects.filter(stage="acceptance").count() == result["accepted"]
    # every step by the role that makes it
    who = dict(
        AuditLog.objects.filter(action__startswith="case.renovation.")
        .values_list("action", "username")
        .distinct()
    )
    assert who["case.renovation.approve"] == "demo_district"
    assert who["case.renovation.accept"] in {"demo_luzhi2", "demo_mudu2"}
    assert renovation_demo(seed=2023, today=today) == {"skipped": True}
    first = _snapshot()
    assert renovation_demo_delete() == len(first)
    assert not Case.objects.filter(programme="renovation").exists()
    # deterministic: the same seed gives the same cases
    assert renovation_demo(seed=2023, today=today)["applications"] == len(first)
    assert [r[:4] for r in _snapshot()] == [r[:4] for r in first]
