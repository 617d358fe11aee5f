"""``verification_demo``: sample outside lists from the demo registry and enrolments yield findings of
every kind and candidates waiting for a person; a second call adds nothing."""

from __future__ import annotations

import pytest

from canlian.accounts.models import User
from canlian.accounts.services import system_user
from canlian.benefits.demo import benefits_demo
from canlian.registry.demo import demo_load, demo_users_ensure
from canlian.verification.demo import verification_demo
from canlian.verification.models import FindingKind, Match, OutsideList

pytestmark = pytest.mark.django_db


def test_demo_produces_every_kind(towns):
    demo_users_ensure(acting_user=system_user())
    for name, role, town in (
        ("demo_luzhi2", "town_staff", "甪直镇"),
        ("demo_mudu2", "town_staff", "木渎镇"),
        ("demo_district2", "district_staff", None),
    ):
        if not User.objects.filter(username=name).exists():
            User.objects.create_user(username=name, password="x", role=role, jurisdiction=towns.get(town))
    demo_load(persons=1200, seed=2023, acting_user=system_user())
    benefits_demo(seed=2023)
    result = verification_demo(seed=2023)
    assert set(result["findings"]) == set(FindingKind.values)
    assert result["candidates"] >= 1
    deaths = result["lists"]["deaths"]
    assert (deaths["rows"], deaths["matched_exact"], deaths["candidates"], deaths["unmatched"]) == (
        7,
        5,
        1,
        1,
    )
    assert OutsideList.objects.count() == 7
    assert Match.objects.filter(status="pending").count() == result["candidates"]
    assert verification_demo(seed=2023) == {"skipped": True}
