"""``places_demo`` on a small demo registry: the seed's 甪直镇 project built on time against 2023-10-31, one
project at risk, 2023 attendance counted by ``day_care_attendance``, rehab points, star ratings rated by a
second officer; the same seed gives the same data; reset removes it."""

from __future__ import annotations

import time
from datetime import date

import pytest

from canlian.accounts.services import system_user
from canlian.casework.demo import custodial_demo
from canlian.common.models import AuditLog
from canlian.institutions import places
from canlian.institutions.models import Attendance, BuildProject, StarRating
from canlian.institutions.places_demo import places_demo, places_demo_delete
from canlian.registry.demo import demo_load, demo_users_ensure

pytestmark = pytest.mark.django_db
TODAY = date(2024, 3, 15)


def test_places_demo(towns):
    demo_users_ensure(acting_user=system_user())
    demo_load(persons=3000, seed=2023, acting_user=system_user())
    custodial_demo(seed=2023, today=TODAY)
    started = time.perf_counter()
    out = places_demo(seed=2023, today=TODAY)
    print(f"places_demo: {time.perf_counter() - started:.1f} s")
    assert out["projects"] == 2 and out["ratings"] >= 3 and out["rated"] >= 2, out
    luzhi = BuildProject.objects.get(town__name="甪直镇")
    assert (luzhi.deadline, luzhi.completed_on) == (date(2023, 10, 31), date(2023, 10, 26))
    assert places.project_status(luzhi, TODAY) == "built_on_time"
    other = BuildProject.objects.exclude(pk=luzhi.pk).get()
    assert places.project_status(other, TODAY) == "at_risk"
    assert places.facilities_built_by_town(2023) == {luzhi.town_id: 1}
    attendance = places.day_care_attendance_by_town(2023)
    assert len(attendance) == out["places"] - 4 and all(n > 1000 for n in attendance.values())
    assert sum(places.rehab_points_by_town(2023).values()) == 3
    assert Attendance.objects.filter(on__gte=date(2024, 3, 1), source="page").exists()
    rated = StarRating.objects.filter(state="rated")
    for r in rated:
        submit = AuditLog.objects.filter(action="star_rating.submit", object_id=str(r.pk)).get()
        rate = AuditLog.objects.filter(action="star_rating.rate", object_id=str(r.pk)).get()
        assert submit.username != rate.username
    snapshot = sorted(Attendance.objects.values_list("person_id", "on", "service"))
    assert places_demo(seed=2023, today=TODAY) == {"skipped": True}
    places_demo_delete(acting_user=system_user())
    assert not Attendance.objects.exists() and not StarRating.objects.exists()
    places_demo(seed=2023, today=TODAY)
    assert sorted(Attendance.objects.values_list("person_id", "on", "service")) == snapshot
