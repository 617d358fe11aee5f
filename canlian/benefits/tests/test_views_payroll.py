"""Payroll through the pages: generate as a background job (run inline by the ImmediateBackend in tests) →
review → approve by another user → bank file (.xlsx, masked unless allowed) → bank return file (bad rows
listed by row number, nothing written) → closed; totals by town reconcile with the lines."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from canlian.accounts import access
from canlian.benefits.models import Payroll, PayrollLine, Programme
from canlian.common.models import AuditLog, Job
from canlian.common.spreadsheet import write_xlsx
from canlian.common.tests.export_client import export_through_job
from canlian.registry.models import EconomicStatusPeriod

from . import test_views_pages as shared
from .test_views_pages import URLS, client_for, enrol

staff_fixture = shared.staff_fixture
living_fixture = shared.living_fixture
dibao_person_fixture = shared.dibao_person_fixture

pytestmark = [
    pytest.mark.urls(URLS),
    pytest.mark.usefixtures("example_standards_2023"),
]  # 2023 months: the example standards
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def two_towns(staff, make_person, dibao_person, living):
    """王芳 (甪直镇) and 李强 (木渎镇), both on the living allowance from May 2023 (328.50 a month)."""
    other = make_person(name="李强", town="木渎镇", category=4, grade=1)
    EconomicStatusPeriod.objects.create(person=other, status="dibao", valid_from=date(2020, 1, 1))
    enrol(staff, dibao_person, living, account="6222020000000001")
    enrol(staff, other, living, account="6222020000000002")
    return {"luzhi": dibao_person, "mudu": other}


def generate(client, month="2023-06"):
    return client.post(
        reverse("benefits:payroll_generate"), {"programme": "living_allowance", "month": month}
    )


def status_of(payroll) -> str:
    return Payroll.objects.get(pk=payroll.pk).status


def bank_rows(response) -> list[tuple]:
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return [tuple(r) for r in book.active.iter_rows(min_row=2, values_only=True)]


def results_file(rows: list[list]) -> SimpleUploadedFile:
    out = io.BytesIO()
    write_xlsx(out, ["流水号", "结果", "失败原因"], rows)
    return SimpleUploadedFile("回盘.xlsx", out.getvalue(), content_type=XLSX)


def test_generate_runs_as_a_job_and_the_page_shows_its_progress(staff, two_towns):
    district = client_for(staff["district"])
    assert 'id="generate-form"' in district.get(reverse("benefits:payroll_list")).content.decode()
    # When the district officer generates June 2023
    response = generate(district)
    # Then a job of kind payroll_generate ran, and its page links to the new draft
    job = Job.objects.get()
    assert (job.kind, job.params, job.status) == (
        "payroll_generate",
        {"programme": "living_allowance", "month": "2023-06-01"},
        "succeeded",
    )
    assert response["Location"] == reverse("benefits:payroll_job", args=[job.pk])
    payroll = Payroll.objects.get()
    assert (payroll.status, payroll.line_count, payroll.total_fen) == ("draft", 4, 131400)
    assert job.result == {"payroll": payroll.pk, "lines": 4, "total": "1314.00"}
    page = district.get(response["Location"]).content.decode()
    assert "已生成：4 笔，合计 1314.00 元。" in page
    assert reverse("benefits:payroll_detail", args=[payroll.pk]) in page
    partial = district.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<div id="job-progress"') and "<html" not in partial
    assert "hx-trigger" not in partial  # finished: no more polling
    # And generating the same month again opens the existing batch instead
    again = generate(district)
    assert again["Location"] == reverse("benefits:payroll_detail", args=[payroll.pk])
    assert (Payroll.objects.count(), Job.objects.count()) == (1, 1)
    # The job page is the creator's own
    assert client_for(staff["district2"]).get(response["Location"]).status_code == 404


def test_a_running_job_keeps_polling(staff):
    job = Job.objects.create(
        kind="payroll_generate",
        params={"programme": "living_allowance", "month": "2023-06-01"},
        created_by=staff["district"],
        status="running",
        done=3,
        total=12,
        message="计算 2023-03",
    )
    partial = client_for(staff["district"]).get(
        reverse("benefits:payroll_job", args=[job.pk]), HTTP_HX_REQUEST="true"
    )
    html = partial.content.decode()
    assert 'hx-trigger="every 1s"' in html
    assert 'aria-valuenow="25"' in html and "计算 2023-03" in html


def test_only_district_staff_generate(staff, two_towns):
    for role in ("town_luzhi", "leader", "admin"):
        assert generate(client_for(staff[role])).status_code == 403
    assert (Payroll.objects.count(), Job.objects.count()) == (0, 0)
    district = client_for(staff["district"])
    bad = district.post(reverse("benefits:payroll_generate"), {"programme": "suhuibao", "month": "2023-6x"})
    assert bad["Location"] == reverse("benefits:payroll_list")
    shown = [str(m) for m in district.get(bad["Location"]).context["messages"]]
    assert shown == ["请从列表中选择按月发放的待遇项目", "“2023-6x”不是有效月份，请用 2023-06 的格式"]
    assert Payroll.objects.count() == 0


def test_totals_by_town_reconcile_with_the_lines(staff, two_towns):
    generate(client_for(staff["district"]))
    payroll = Payroll.objects.get()
    district = client_for(staff["district"]).get(reverse("benefits:payroll_detail", args=[payroll.pk]))
    towns = [(t["town__name"], t["count"], str(t["total"])) for t in district.context["towns"]]
    assert towns == [("甪直镇", 2, "657.00"), ("木渎镇", 2, "657.00")]
    lines = PayrollLine.objects.filter(payroll=payroll)
    assert (
        sum(t["total_fen"] for t in district.context["towns"])
        == sum(lines.values_list("amount_fen", flat=True))
        == payroll.total_fen
    )
    assert (district.context["visible_count"], str(district.context["visible_total"])) == (4, "1314.00")
    kinds = {v: (n, str(a)) for v, _, n, a in district.context["kinds"]}
    assert kinds == {"regular": (2, "657.00"), "arrears": (2, "657.00"), "reissue": (0, "0.00")}
    # Town staff see only their town's lines, everywhere
    luzhi = client_for(staff["town_luzhi"])
    detail = luzhi.get(reverse("benefits:payroll_detail", args=[payroll.pk]))
    assert [(t["town__name"], t["count"]) for t in detail.context["towns"]] == [("甪直镇", 2)]
    assert str(detail.context["visible_total"]) == "657.00"
    assert "木渎镇" not in detail.content.decode().split('id="town-table"')[1].split("</table>")[0]
    listing = luzhi.get(reverse("benefits:payroll_list"))
    assert listing.context["chart"] == {
        "months": ["2023-06"],
        "series": [{"name": "困难残疾人生活补贴", "data": [657.0]}],
    }
    assert str(listing.context["payrolls"][0].visible_total) == "657.00"
    assert "vendor/echarts/echarts.min.js" in listing.content.decode()
    district_list = client_for(staff["district"]).get(reverse("benefits:payroll_list"))
    assert district_list.context["chart"]["series"][0]["data"] == [1314.0]
    town_lines = luzhi.get(reverse("benefits:payroll_lines", args=[payroll.pk]))
    assert {line.person_id for line in town_lines.context["page"].object_list} == {two_towns["luzhi"].pk}


def test_line_list_filters(staff, two_towns, towns):
    generate(client_for(staff["district"]))
    payroll = Payroll.objects.get()
    client = client_for(staff["district"])
    url = reverse("benefits:payroll_lines", args=[payroll.pk])

    def listed(query):
        response = client.get(url + query)
        assert response.status_code == 200
        return [(line.person.name, line.kind, f"{line.for_month:%Y-%m}") for line in response.context["page"]]

    assert listed("?kind=arrears") == [("王芳", "arrears", "2023-05"), ("李强", "arrears", "2023-05")]
    assert listed(f"?town={towns['木渎镇'].pk}&kind=regular") == [("李强", "regular", "2023-06")]
    assert listed("?status=paid") == []
    assert len(listed("?kind=nonsense&status=nonsense")) == 4
    html = client.get(url).content.decode()
    assert "622*********0001" in html and "6222020000000001" not in html


def test_review_approve_bank_file_and_results(staff, two_towns, monkeypatch):
    district1, district2 = client_for(staff["district"]), client_for(staff["district2"])
    generate(district1)
    payroll = Payroll.objects.get()
    move_url = reverse("benefits:payroll_move", args=[payroll.pk])

    # Review by officer 1; officer 1 may not also approve
    assert district1.post(move_url, {"to_status": "reviewed", "expected_status": "draft"}).status_code == 302
    own = district1.post(move_url, {"to_status": "approved", "expected_status": "reviewed"})
    assert own.status_code == 403
    assert "经办与审核须由不同人员办理：您已办理上一环节，不能再办理“审批通过”" in own.content.decode()
    assert status_of(payroll) == "reviewed"
    # A stale page: officer 2 still sees the draft
    stale = district2.post(move_url, {"to_status": "reviewed", "expected_status": "draft"})
    assert stale.status_code == 409
    assert "当前状态已变为“已复核”，请刷新后重试" in stale.content.decode()
    # Officer 2 approves
    assert (
        district2.post(move_url, {"to_status": "approved", "expected_status": "reviewed"}).status_code == 302
    )
    payroll.refresh_from_db()
    assert (payroll.status, payroll.reviewed_by.username, payroll.approved_by.username) == (
        "approved",
        "district1",
        "district2",
    )

    bank_url = reverse("benefits:payroll_bank_file", args=[payroll.pk])
    # Town staff cannot download the bank file
    town = client_for(staff["town_luzhi"]).post(bank_url)
    assert town.status_code == 403
    assert "只有区残联业务科室可以导出银行发放文件" in town.content.decode()
    # A role without the right to full numbers is not offered them and is refused when it asks anyway
    monkeypatch.setattr(access, "bank_accounts_unmasked_allowed", lambda user: False)
    page = district1.get(reverse("benefits:payroll_detail", args=[payroll.pk])).content.decode()
    assert "您的角色只能导出脱敏文件" in page and 'name="unmasked"' not in page
    refused = district1.post(bank_url, {"unmasked": "1"})
    assert refused.status_code == 403
    assert "您的角色不能导出完整银行账号" in refused.content.decode()
    assert status_of(payroll) == "approved"
    _, masked = export_through_job(district1, bank_url)
    assert masked.status_code == 200
    assert masked["Content-Type"] == XLSX
    assert "-%E8%84%B1%E6%95%8F.xlsx" in masked["Content-Disposition"]  # "-脱敏.xlsx"
    rows = bank_rows(masked)[:-1]  # the last row is the total
    ids = list(
        PayrollLine.objects.filter(payroll=payroll).order_by("town_id", "id").values_list("pk", flat=True)
    )
    luzhi_id = two_towns["luzhi"].masked_id
    assert rows[0] == (
        str(ids[0]),
        "王芳",
        luzhi_id,
        "农商行",
        "622*********0001",
        328.5,
        "2023-05",
        "补发",
        "甪直镇",
    )
    assert [r[4] for r in rows] == ["622*********0001"] * 2 + ["622*********0002"] * 2
    assert status_of(payroll) == "approved"  # the masked copy is for reading: no 出盘
    monkeypatch.undo()
    _, full = export_through_job(district1, bank_url, {"unmasked": "1"})
    assert [r[4] for r in bank_rows(full)[:-1]] == ["6222020000000001"] * 2 + ["6222020000000002"] * 2
    assert status_of(payroll) == "exported"
    exports = AuditLog.objects.filter(action="payroll.export", object_id=str(payroll.pk)).order_by("id")
    assert [e.changes["masked"] for e in exports] == [[None, True], [None, False]]

    # The bank's return file with bad rows: every bad row is listed by number, nothing is written
    results_url = reverse("benefits:payroll_results", args=[payroll.pk])
    bad = district1.post(
        results_url,
        {
            "file": results_file(
                [[ids[0], "成功", ""], ["abc", "成功", ""], [ids[2], "不知道", ""], [ids[3], "成功", ""]]
            )
        },
    )
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "回盘文件“回盘.xlsx”有 2 行有误，未导入任何结果；请修正后重新上传" in html
    assert bad.context["results_errors"] == [
        ("第3行", "流水号“abc”不是数字"),
        ("第4行", "结果“不知道”无法识别，应为“成功”或“失败”"),
    ]
    foreign = district1.post(
        results_url, {"file": results_file([[ids[0], "成功", ""], [999999, "成功", ""]])}
    )
    assert foreign.context["results_errors"] == [("第3行", "流水号 999999 不属于该批次")]
    assert set(PayrollLine.objects.filter(payroll=payroll).values_list("status", flat=True)) == {"pending"}
    assert status_of(payroll) == "exported"
    assert not AuditLog.objects.filter(action="payroll.results").exists()

    # A good file closes the batch
    good = district1.post(
        results_url,
        {
            "file": results_file(
                [
                    [ids[0], "成功", ""],
                    [ids[1], "成功", ""],
                    [ids[2], "成功", ""],
                    [ids[3], "失败", "账户冻结"],
                ]
            )
        },
    )
    assert good.status_code == 302
    assert status_of(payroll) == "closed"
    assert list(
        PayrollLine.objects.filter(payroll=payroll)
        .order_by("town_id", "id")
        .values_list("status", "failure_reason")
    ) == [
        ("paid", ""),
        ("paid", ""),
        ("paid", ""),
        ("failed", "账户冻结"),
    ]
    shown = [str(m) for m in district1.get(good["Location"]).context["messages"]]
    assert shown == ["已导入回盘结果：到账 3 笔，失败 1 笔，未回盘 0 笔"]
    # The person page shows the payments
    person_page = client_for(staff["town_mudu"]).get(
        reverse("benefits:person_benefits", args=[two_towns["mudu"].pk])
    )
    payments = [
        (f"{line.for_month:%Y-%m}", line.get_status_display(), str(line.yuan))
        for line in person_page.context["payments"]
    ]
    assert payments == [("2023-06", "失败", "328.50"), ("2023-05", "已到账", "328.50")]
    assert str(person_page.context["paid_total"]) == "328.50"


def test_results_refused_before_export_and_for_town_staff(staff, two_towns):
    generate(client_for(staff["district"]))
    payroll = Payroll.objects.get()
    line = PayrollLine.objects.filter(payroll=payroll).first()
    url = reverse("benefits:payroll_results", args=[payroll.pk])
    early = client_for(staff["district"]).post(url, {"file": results_file([[line.pk, "成功", ""]])})
    assert early.status_code == 400
    assert "批次尚未出盘，不能导入回盘结果" in early.content.decode()
    town = client_for(staff["town_luzhi"]).post(url, {"file": results_file([[line.pk, "成功", ""]])})
    assert town.status_code == 403
    assert set(PayrollLine.objects.filter(payroll=payroll).values_list("status", flat=True)) == {"pending"}


def test_discard_a_draft(staff, two_towns):
    generate(client_for(staff["district"]))
    payroll = Payroll.objects.get()
    url = reverse("benefits:payroll_discard", args=[payroll.pk])
    assert client_for(staff["town_luzhi"]).post(url).status_code == 403
    assert client_for(staff["district"]).get(url).status_code == 405
    assert Payroll.objects.filter(pk=payroll.pk).exists()
    response = client_for(staff["district2"]).post(url)
    assert response["Location"] == reverse("benefits:payroll_list")
    assert (Payroll.objects.count(), PayrollLine.objects.count()) == (0, 0)
    assert AuditLog.objects.filter(action="payroll.discard").count() == 1
    assert Programme.objects.get(code="living_allowance").payrolls.count() == 0
