"""``community_demo`` on a small demo registry: every kind of record, made by the role that owns it, counted by
the indicators, the same result for the same seed; reset removes them."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.accounts.services import system_user
from canlian.casework.community import selectors
from canlian.casework.community.demo import community_demo, community_demo_delete
from canlian.casework.models import HomeTeachingSession, HotlineCall, ShishiProject, Visit
from canlian.common.models import AuditLog
from canlian.registry.demo import demo_load, demo_users_ensure

pytestmark = pytest.mark.django_db


def _snapshot():
    return sorted(Visit.objects.values_list("person_id", "kind", "visited_on", "need"))


def test_community_demo(towns):
    demo_users_ensure(acting_user=system_user())
    demo_load(persons=1500, seed=2023, acting_user=system_user())
    today = date(2023, 11, 15)
    result = community_demo(seed=2023, today=today)
    assert result["visits"] == Visit.objects.filter(kind="home").count() > 0
    assert sum(selectors.visits_by_town(2023).values()) == result["visits"]
    assert (
        sum(selectors.shishi_projects_by_town(2023).values())
        == result["projects"]
        == ShishiProject.objects.count()
    )
    assert sum(selectors.hotline_calls_by_town(2023).values()) == result["calls"] == 40
    assert sum(selectors.home_teaching_sessions_by_town(2023).values()) == result["sessions"]
    assert sum(selectors.legal_aid_cases_by_town(2023).values()) == result["legal"] > 0
    assert sum(selectors.activities_by_town(2023).values()) == result["activities"] > 0
    assert sum(selectors.activity_participants_by_town(2023).values()) > result["activities"]
    assert set(HotlineCall.objects.values_list("counsellor__username", flat=True)) == {"demo_counsellor"}
    assert not HomeTeachingSession.objects.filter(held_on__gt=today).exists()
    who = dict(
        AuditLog.objects.filter(action="shishi_project.approve").values_list("action", "username").distinct()
    )
    assert who == {"shishi_project.approve": "demo_district2"}
    assert community_demo(seed=2023, today=today) == {"skipped": True}
    first = _snapshot()
    assert community_demo_delete() > len(first)
    assert not Visit.objects.exists() and not HotlineCall.objects.exists()
    assert community_demo(seed=2023, today=today) == result
    assert _snapshot() == first
