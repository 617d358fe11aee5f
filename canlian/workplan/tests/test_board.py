"""The board: every target with done / target (percent), status, the towns; a town clerk sees their town."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from .test_progress import LIVE, published, test_indicators  # noqa: F401  (fixtures)


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def split(users, towns, published):  # noqa: F811
    from canlian.workplan import services

    services.quotas_set(
        acting_user=users["district"],
        target_id=published[8].pk,
        values={towns["木渎镇"].pk: "60", towns["甪直镇"].pk: "40"},
    )
    LIVE.update({"count": {towns["木渎镇"].pk: 30, towns["甪直镇"].pk: 5}})
    return published


def test_leader_board_shows_counts_next_to_percentages(users, towns, split):
    page = _client(users["leader"]).get(reverse("workplan:board") + "?year=2023").content.decode()
    row = re.search(rf'<tr data-target="{split[8].pk}".*?</tr>', page, re.S).group(0)
    assert "<strong>35</strong> / ≥100人（35.0%）" in row
    # the towns: count, quota and rate side by side; the ranking; the chart data beside the chart
    assert "<td>木渎镇</td><td>30</td><td>60</td><td>50.0%</td>" in page
    assert "木渎镇：30 / 60（50.0%）" in page and "甪直镇：5 / 40（12.5%）" in page
    data = json.loads(
        re.search(
            rf'id="target-{split[8].pk}-data" type="application/json">(.*?)</script>', page, re.S
        ).group(1)
    )
    assert data["towns"] == ["甪直镇", "木渎镇"] and data["actual"] == [5, 30] and data["quota"] == [40, 60]
    assert len(data["series"]) == len(data["pace"]) == len(data["months"])


def test_town_clerk_sees_their_own_town(users, towns, split):
    page = _client(users["town_luzhi"]).get(reverse("workplan:board") + "?year=2023").content.decode()
    assert "目标进度：甪直镇" in page
    assert "<td>甪直镇</td><td>5</td><td>40</td><td>12.5%</td>" in page
    assert "<td>木渎镇</td>" not in page and "各镇(街道)完成情况排名" not in page


def test_no_plan_published_says_so(users, towns):
    page = _client(users["leader"]).get(reverse("workplan:board") + "?year=2031").content.decode()
    assert "2031 年尚未发布工作要点" in page
    assert _client(users["auditor"]).get(reverse("workplan:board")).status_code == 403
