"""The auditor's page: filters, keyset paging, old → new changes, and the audited .xlsx export."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from canlian.common import exporters as common_exporters
from canlian.common import views as common_views
from canlian.common.audit import audit_record
from canlian.common.models import AuditLog
from canlian.common.tests.export_client import export_through_job
from canlian.registry import services

AUDIT = reverse("common:audit_list")
EXPORT = reverse("common:audit_export")


@pytest.fixture
def auditor(users) -> Client:
    client = Client()
    client.force_login(users["auditor"])
    return client


@pytest.fixture
def history(make_person, users):
    """张伟 created by district staff, revealed by the 甪直镇 clerk, a refused reveal by a leader."""
    person = make_person(name="张伟")
    services.person_reveal_id(acting_user=users["town_luzhi"], person=person)
    with pytest.raises(services.PermissionDenied):
        services.person_reveal_id(acting_user=users["leader"], person=person)
    other = make_person(name="李娜", town="木渎镇")
    return person, other


def row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-audit="(\d+)"', html)]


def shown(client, **params) -> list[tuple[str, str, str]]:
    """(username, action, result) of the rows the page shows, newest first."""
    html = client.get(AUDIT, params).content.decode()
    ids = row_ids(html)
    rows = {r.pk: r for r in AuditLog.objects.filter(pk__in=ids)}
    return [(rows[i].username, rows[i].action, rows[i].result) for i in ids]


def test_lists_newest_first_with_chinese_actions_and_masked_changes(auditor, history):
    person, _ = history
    response = auditor.get(AUDIT)
    html = response.content.decode()
    assert response.status_code == 200
    ids = row_ids(html)
    assert ids == sorted(ids, reverse=True)
    assert "查看完整身份证号" in html and "新建档案" in html
    assert "身份证号：</span>" not in html  # changes are label：value, not raw keys
    assert "身份证号：" in html and person.masked_id in html
    assert person.id_number not in html


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"user": "luzhi1"}, [("luzhi1", "person.reveal_id", "success")]),
        ({"user": "leader1"}, [("leader1", "person.reveal_id", "denied")]),
        (
            {"action": "person.reveal_id"},
            [("leader1", "person.reveal_id", "denied"), ("luzhi1", "person.reveal_id", "success")],
        ),
        ({"action": "person.reveal_id", "result": "denied"}, [("leader1", "person.reveal_id", "denied")]),
        ({"user": "nobody"}, []),
    ],
)
def test_filters_by_user_action_and_result(auditor, history, params, expected):
    assert shown(auditor, **params) == expected


def test_filters_by_object(auditor, history):
    person, other = history
    rows = shown(auditor, object_type="registry.person", object_id=str(other.pk))
    assert rows == [("district1", "person.create", "success")]
    rows = shown(auditor, object_type="registry.person", object_id=str(person.pk))
    assert rows == [
        ("leader1", "person.reveal_id", "denied"),
        ("luzhi1", "person.reveal_id", "success"),
        ("district1", "person.create", "success"),
    ]


def test_filters_by_date(auditor, history):
    today = timezone.localdate()
    all_rows = shown(auditor)
    assert shown(auditor, **{"from": today.isoformat(), "to": today.isoformat()}) == all_rows
    assert shown(auditor, **{"from": (today + timedelta(days=1)).isoformat()}) == []
    assert shown(auditor, to=(today - timedelta(days=1)).isoformat()) == []


def test_bad_dates_are_chinese_errors_next_to_the_field(auditor, history):
    response = auditor.get(AUDIT, {"from": "2023-13-01", "to": "2023-01-01"})
    html = response.content.decode()
    assert response.status_code == 400
    assert (
        '<div class="invalid-feedback" id="a-from_error">“2023-13-01”不是有效日期，请用 2023-05-06 的格式</div>'
        in html
    )
    assert row_ids(html) == []
    response = auditor.get(AUDIT, {"from": "2023-02-01", "to": "2023-01-01"})
    assert (
        '<div class="invalid-feedback" id="a-to_error">截止日期不能早于起始日期</div>'
        in response.content.decode()
    )


def test_keyset_pages_have_no_repeats_and_no_count(
    auditor, users, monkeypatch, django_assert_max_num_queries
):
    # given 12 rows and pages of 5
    monkeypatch.setattr(common_views, "AUDIT_PAGE_SIZE", 5)
    for n in range(12):
        audit_record(
            acting_user=users["district"], action="person.update", object_type="registry.person", object_id=n
        )
    seen: list[int] = []
    before = None
    pages = 0
    # when the auditor follows "更早的记录" to the end
    while True:
        params = {"action": "person.update"} | ({"before": before} if before else {})
        with django_assert_max_num_queries(8) as ctx:
            html = auditor.get(AUDIT, params).content.decode()
        assert not any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries)
        seen += row_ids(html)
        pages += 1
        m = re.search(r'id="audit-older" href="\?[^"]*before=(\d+)"', html)
        if not m:
            break
        before = m.group(1)
    # then
    assert pages == 3
    assert seen == sorted(
        AuditLog.objects.filter(action="person.update").values_list("pk", flat=True), reverse=True
    )
    assert len(seen) == len(set(seen)) == 12


def test_changes_show_old_and_new_with_region_names(auditor, make_person, users, towns):
    person = make_person(name="张伟", town="甪直镇")
    community = services.community_create(
        acting_user=users["district"], town=towns["甪直镇"], name="澄湖社区"
    )
    services.person_set_status(acting_user=users["district"], person=person, status="moved_out")
    audit_record(
        acting_user=users["district"],
        action="person.update",
        obj=person,
        changes={"community_id": [None, community.pk], "household_type": ["urban", "rural"]},
    )
    html = auditor.get(AUDIT, {"object_type": "registry.person"}).content.decode()
    assert '状态：<span class="old">在册</span> → <span class="new">迁出</span>' in html
    assert '户口性质：<span class="old">城镇</span> → <span class="new">农村</span>' in html
    assert '村(社区)：<span class="new">澄湖社区</span>' in html


def test_export_is_an_xlsx_of_the_filtered_rows_and_is_audited(auditor, history, users):
    # when the auditor exports the refused and granted reveals
    _, response = export_through_job(auditor, f"{EXPORT}?action=person.reveal_id")
    # then the file holds exactly those rows, newest first
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].startswith("attachment; filename*=utf-8''")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True).active
    rows = [tuple(c or "" for c in row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == (
        "时间",
        "用户名",
        "角色",
        "操作",
        "结果",
        "对象类型",
        "对象编号",
        "对象",
        "变更",
        "客户端IP",
        "说明",
    )
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows[1:]] == [
        ("leader1", "领导", "查看完整身份证号", "拒绝", "残疾人"),
        ("luzhi1", "镇(街道)残联专职委员", "查看完整身份证号", "成功", "残疾人"),
    ]
    person = history[0]
    assert rows[1][7] == f"张伟（{person.masked_id}）"
    assert person.id_number not in str(rows)
    # and the export itself is in the log, with who, how many rows and which filter
    log = AuditLog.objects.get(action="audit.export")
    assert (log.username, log.result, log.changes) == ("auditor1", "success", {"rows": [None, 2]})
    assert log.detail == "筛选：操作=查看完整身份证号"


def test_export_never_turns_text_into_formulas(auditor, users):
    audit_record(acting_user=None, username='=HYPERLINK("http://x")', action="login", result="failure")
    _, response = export_through_job(auditor, f"{EXPORT}?action=login&result=failure")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    cell = sheet.cell(row=2, column=2)
    assert cell.value == '=HYPERLINK("http://x")'
    assert cell.data_type == "s"


def test_export_with_bad_filters_goes_back_to_the_page_and_writes_nothing(auditor, history):
    response = auditor.post(f"{EXPORT}?from=notadate")
    assert response.status_code == 302
    assert response["Location"] == f"{AUDIT}?from=notadate"
    assert AuditLog.objects.filter(action="audit.export").count() == 0


def test_export_is_capped(auditor, users, monkeypatch):
    monkeypatch.setattr(common_exporters, "AUDIT_EXPORT_LIMIT", 3)
    for n in range(5):
        audit_record(
            acting_user=users["district"], action="person.update", object_type="registry.person", object_id=n
        )
    _, response = export_through_job(auditor, f"{EXPORT}?action=person.update")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True).active
    object_ids = [row[6] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert object_ids == ["4", "3", "2"]
    assert AuditLog.objects.get(action="audit.export").changes == {"rows": [None, 3]}
