"""The work-plan pages: import, review, publish; who sees drafts; edited URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from canlian.common.models import AuditLog
from canlian.workplan.models import Plan

SEED = Path(__file__).resolve().parent / "data" / "wuzhong_2023.txt"


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def imported(users, towns):
    c = _client(users["district"])
    response = c.post(
        reverse("workplan:plan_list"),
        {"year": "2023", "file": SimpleUploadedFile("2023年工作要点.txt", SEED.read_bytes())},
    )
    plan = Plan.objects.get()
    assert response.status_code == 302 and response.url == reverse("workplan:plan_detail", args=[plan.pk])
    return plan


def test_import_page_then_review_page(users, imported):
    c = _client(users["district"])
    page = c.get(reverse("workplan:plan_detail", args=[imported.pk])).content.decode()
    assert "吴中区残联 2023 年工作要点" in page and "待审核" in page
    assert page.count('data-task="') == 17 and page.count('<tr data-target="') == 4
    assert "文中“甬直镇”按相近名称识别为“甪直镇”" in page and "还有 4 个目标未关联" in page
    assert 'id="plan-publish"' in page


def test_a_bad_file_is_refused_on_the_page_in_chinese(users, towns):
    c = _client(users["district"])
    response = c.post(
        reverse("workplan:plan_list"),
        {
            "year": "2023",
            "file": SimpleUploadedFile("a.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
        },
    )
    assert response.status_code == 400
    assert "旧版 Word 文档" in response.content.decode() and not Plan.objects.exists()
    response = c.post(reverse("workplan:plan_list"), {"year": "", "file": SimpleUploadedFile("a.txt", b"x")})
    assert response.status_code == 400 and "请填写年度" in response.content.decode()


def test_edit_publish_through_the_pages(users, imported):
    c = _client(users["district"])
    targets = list(imported.targets.order_by("task__number"))
    url = reverse("workplan:target_update", args=[imported.pk, targets[2].pk])
    response = c.post(url, {"value": "abc"}, follow=True)
    assert "目标值“abc”不是有效的数字" in response.content.decode()
    c.post(url, {"link": "indicator", "indicator": "custodial_new", "department": "康复科"})
    for t in targets[:2] + targets[3:]:
        c.post(reverse("workplan:target_update", args=[imported.pk, t.pk]), {"link": "milestone"})
    response = c.post(reverse("workplan:plan_publish", args=[imported.pk]), follow=True)
    assert "已发布工作要点" in response.content.decode()
    imported.refresh_from_db()
    assert imported.status == "published"
    # twice: a Chinese message, no error page, nothing changes
    response = c.post(reverse("workplan:plan_publish", args=[imported.pk]), follow=True)
    assert response.status_code == 200 and "不能再发布" in response.content.decode()
    assert AuditLog.objects.filter(action="workplan.publish").count() == 1


def test_who_sees_what(users, imported):
    detail = reverse("workplan:plan_detail", args=[imported.pk])
    # a draft is the district staff's: others do not see it at all
    for role in ("town_luzhi", "leader"):
        assert _client(users[role]).get(detail).status_code == 404
        assert (
            f'data-plan="{imported.pk}"'
            not in _client(users[role]).get(reverse("workplan:plan_list")).content.decode()
        )
    for role in ("auditor", "institution"):
        assert _client(users[role]).get(reverse("workplan:plan_list")).status_code == 403
    # nobody but district staff writes
    target = imported.targets.first()
    for role in ("town_luzhi", "leader", "admin"):
        c = _client(users[role])
        assert (
            c.post(
                reverse("workplan:target_update", args=[imported.pk, target.pk]), {"value": "1"}
            ).status_code
            == 403
        )
        assert c.post(reverse("workplan:plan_list"), {"year": "2023"}).status_code == 403
    # once published, town staff and leaders read it
    Plan.objects.filter(pk=imported.pk).update(status="published")
    assert _client(users["town_luzhi"]).get(detail).status_code == 200


def test_an_edited_url_naming_another_plans_target_is_not_found(users, imported):
    other = Plan.objects.create(
        year=2022,
        version=1,
        source_name="x",
        source_kind="txt",
        source_sha256="0",
        created_by=users["district"],
    )
    target = imported.targets.first()
    c = _client(users["district"])
    assert (
        c.post(reverse("workplan:target_update", args=[other.pk, target.pk]), {"value": "1"}).status_code
        == 404
    )
    assert c.post(reverse("workplan:target_delete", args=[other.pk, target.pk])).status_code == 404
    assert (
        c.post(reverse("workplan:target_update", args=[999999, target.pk]), {"value": "1"}).status_code == 404
    )
    target.refresh_from_db()
    assert target.value == 97


def test_split_across_towns_and_mark_a_milestone_on_the_page(users, towns, imported):
    c = _client(users["district"])
    targets = list(imported.targets.order_by("task__number"))
    custodial, home = targets[2], targets[1]
    url = reverse("workplan:target_quotas", args=[imported.pk, custodial.pk])
    response = c.post(
        url, {f"town_{towns['木渎镇'].pk}": "70", f"town_{towns['甪直镇'].pk}": "20"}, follow=True
    )
    assert "各镇(街道)合计 90人，与目标值 100人 不符（相差 10）" in response.content.decode()
    c.post(url, {f"town_{towns['木渎镇'].pk}": "70", f"town_{towns['甪直镇'].pk}": "30"})
    assert {q.town.name: q.value for q in custodial.quotas.all()} == {"木渎镇": 70, "甪直镇": 30}
    page = c.get(reverse("workplan:plan_detail", args=[imported.pk])).content.decode()
    assert "（已分解）" in page
    # a milestone is marked once the plan is published
    for t in targets:
        c.post(reverse("workplan:target_update", args=[imported.pk, t.pk]), {"link": "milestone"})
    c.post(reverse("workplan:plan_publish", args=[imported.pk]))
    done = reverse("workplan:target_milestone", args=[imported.pk, home.pk])
    assert "不正确" in c.post(done, {"done_on": "2023-13-01"}, follow=True).content.decode()
    c.post(done, {"done_on": "2023-10-20"})
    home.refresh_from_db()
    assert str(home.milestone_done_on) == "2023-10-20"
    assert _client(users["town_luzhi"]).post(done, {"done_on": ""}).status_code == 403
