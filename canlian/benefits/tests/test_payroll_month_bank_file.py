"""Payroll as the clerks found it: which months may be generated (no month after next; this month's batch
is not emptied by a batch generated ahead), no review or approval of an empty batch, the bank file (only the
unmasked copy is 出盘; amounts are ``0.00`` numbers; a total row the bank checks and the return import skips)
and every count a town clerk sees on the payroll pages being their own town's.

王芳 (甪直镇) and 李强 (木渎镇) are both on the living allowance from May 2023 (328.50 a month)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from canlian.benefits.exporters import payroll_bank_file
from canlian.benefits.hooks import PayrollWarning, payroll_check_register, payroll_check_unregister
from canlian.benefits.importers import parse_bank_results
from canlian.benefits.models import Payroll, PayrollLine, Programme
from canlian.benefits.services import payroll as payroll_module
from canlian.benefits.services.payroll import (
    payroll_discard,
    payroll_generate,
    payroll_month_check,
    payroll_transition,
)
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.common.models import AuditLog, Job
from canlian.common.tests.export_client import export_through_job

from . import test_views_pages as shared
from . import test_views_payroll as views_shared
from .test_views_pages import URLS, client_for

staff_fixture = shared.staff_fixture
living_fixture = shared.living_fixture
dibao_person_fixture = shared.dibao_person_fixture
two_towns = views_shared.two_towns

pytestmark = [
    pytest.mark.urls(URLS),
    pytest.mark.usefixtures("example_standards_2023"),
    pytest.mark.usefixtures("cli_password"),
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def today(monkeypatch):
    """Fix the payroll service's "today" (``timezone.localdate``) to a given date."""

    def _set(day: date) -> None:
        monkeypatch.setattr(payroll_module, "timezone", SimpleNamespace(localdate=lambda: day))

    return _set


def audits(action: str) -> list:
    return list(AuditLog.objects.filter(action=action).order_by("id"))


def lines_of(payroll) -> list[tuple]:
    return list(
        PayrollLine.objects.filter(payroll=payroll)
        .order_by("town_id", "id")
        .values_list("person__name", "kind", "for_month", "amount_fen")
    )


# ---- which months ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", [date(2023, 6, 1), date(2023, 6, 30)])
def test_a_month_after_next_is_refused_and_this_months_batch_is_whole(staff, two_towns, living, today, day):
    today(day)  # the first and the last day of June 2023
    district = staff["district"]
    # A batch for August (the month after next) is refused, with nothing written
    with pytest.raises(DomainError) as refused:
        payroll_generate(acting_user=district, programme=living, month=date(2023, 8, 1))
    assert refused.value.message == "不能生成 2023年8月 的发放批次：最多只能提前生成下月（2023年7月）的批次"
    # and so is March of next year (the clerks' 2027-03)
    with pytest.raises(DomainError, match="不能生成 2024年3月 的发放批次"):
        payroll_generate(acting_user=district, programme=living, month=date(2024, 3, 15))
    # July (next month) only once June has its batch: July would pay June as arrears and empty June's batch
    with pytest.raises(DomainError) as early:
        payroll_generate(acting_user=district, programme=living, month=date(2023, 7, 1))
    assert early.value.message == (
        "请先生成本月（2023年6月）的困难残疾人生活补贴批次，再生成下月（2023年7月）的批次"
    )
    assert (Payroll.objects.count(), PayrollLine.objects.count(), audits("payroll.generate")) == (0, 0, [])

    # This month's batch has every line: May as arrears and June as regular, for both persons
    june = payroll_generate(acting_user=district, programme=living, month=date(2023, 6, 1))
    assert (june.status, june.line_count, june.total_fen) == ("draft", 4, 131400)
    assert lines_of(june) == [
        ("王芳", "arrears", date(2023, 5, 1), 32850),
        ("王芳", "regular", date(2023, 6, 1), 32850),
        ("李强", "arrears", date(2023, 5, 1), 32850),
        ("李强", "regular", date(2023, 6, 1), 32850),
    ]
    # Then next month may be generated, and it pays July only (at July's standard: 352.50)
    july = payroll_generate(acting_user=district, programme=living, month=date(2023, 7, 1))
    assert lines_of(july) == [
        ("王芳", "regular", date(2023, 7, 1), 35250),
        ("李强", "regular", date(2023, 7, 1), 35250),
    ]
    assert [a.changes["lines"] for a in audits("payroll.generate")] == [[None, 4], [None, 2]]


def test_a_month_before_an_existing_batch_is_refused(staff, two_towns, living, today):
    """The clerks' path: a batch generated ahead held June as arrears, so June's own batch came out empty.
    Now a month earlier than an existing batch is refused with what to do instead."""
    today(date(2023, 6, 15))
    district = staff["district"]
    june = payroll_generate(acting_user=district, programme=living, month=date(2023, 6, 1))
    july = payroll_generate(acting_user=district, programme=living, month=date(2023, 7, 1))
    payroll_discard(acting_user=district, payroll=june)
    with pytest.raises(DomainError) as refused:
        payroll_generate(acting_user=district, programme=living, month=date(2023, 6, 1))
    assert refused.value.message == (
        "已有 2023年7月 的困难残疾人生活补贴批次（草稿），其中已按补发计入 2023年6月："
        "不能再生成 2023年6月 的批次，请先作废该草稿"
    )
    assert list(Payroll.objects.values_list("month", flat=True)) == [date(2023, 7, 1)]
    # Once July is in hand (reviewed), the message says it can no longer be done that way
    payroll_transition(acting_user=district, payroll=july, to_status="reviewed")
    with pytest.raises(DomainError, match="该批次已在办理，不能再补生成更早的月份"):
        payroll_month_check(programme=living, month=date(2023, 6, 1))
    # Discarding July lets June be generated again, whole
    payroll_transition(
        acting_user=staff["district2"], payroll=july, to_status="draft", expected_status="reviewed"
    )
    payroll_discard(acting_user=district, payroll=july)
    june = payroll_generate(acting_user=district, programme=living, month=date(2023, 6, 1))
    assert (june.line_count, june.total_fen) == (4, 131400)


def test_a_batch_already_generated_is_returned_whatever_the_month(staff, two_towns, living, today):
    today(date(2023, 6, 15))
    june = payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 6, 1))
    today(date(2023, 3, 1))  # a clock set back does not hide an existing batch
    assert payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 6, 1)) == june


def test_the_page_refuses_a_month_after_next_without_queueing_a_job(staff, two_towns):
    far = date.today().replace(day=1)
    far = date(far.year + 1, far.month, 1)
    district = client_for(staff["district"])
    response = district.post(
        reverse("benefits:payroll_generate"), {"programme": "living_allowance", "month": f"{far:%Y-%m}"}
    )
    assert response["Location"] == reverse("benefits:payroll_list")
    shown = [str(m) for m in district.get(response["Location"]).context["messages"]]
    assert len(shown) == 1 and shown[0].startswith(f"不能生成 {far.year}年{far.month}月 的发放批次")
    assert (Payroll.objects.count(), Job.objects.count()) == (0, 0)


def test_the_cli_refuses_a_month_after_next(staff, two_towns, capsys):
    from canlian.cli import main

    far = date.today().replace(day=1)
    far = date(far.year + 1, far.month, 1)
    code = main(["payroll", "generate", "living_allowance", f"{far:%Y-%m}", "--user", "district1"])
    assert code == 1
    assert f"不能生成 {far.year}年{far.month}月 的发放批次" in capsys.readouterr().err
    assert Payroll.objects.count() == 0


# ---- an empty batch ----------------------------------------------------------------------------------------


def test_an_empty_batch_cannot_be_reviewed_or_approved(staff, two_towns):
    care = Programme.objects.get(code="care_allowance")  # nobody is enrolled in it
    empty = payroll_generate(acting_user=staff["district"], programme=care, month=date(2023, 6, 1))
    assert (empty.status, empty.line_count, empty.total_fen) == ("draft", 0, 0)
    with pytest.raises(DomainError) as refused:
        payroll_transition(acting_user=staff["district"], payroll=empty, to_status="reviewed")
    assert refused.value.message == (
        "重度残疾人护理补贴 2023年6月的批次没有任何发放明细（0 笔），不能复核通过："
        "请核对享受名单和发放月份，作废该草稿后重新生成"
    )
    # A reviewed empty batch (left from before the check) cannot be approved either
    Payroll.objects.filter(pk=empty.pk).update(status="reviewed", reviewed_by=staff["district"])
    empty.refresh_from_db()
    with pytest.raises(DomainError, match="没有任何发放明细（0 笔），不能审批通过"):
        payroll_transition(acting_user=staff["district2"], payroll=empty, to_status="approved")
    empty.refresh_from_db()
    assert (empty.status, empty.approved_by_id, empty.version) == ("reviewed", None, 0)
    assert audits("payroll.review") == audits("payroll.approve") == []
    # Through the page: 409 with the reason, and the batch unchanged
    Payroll.objects.filter(pk=empty.pk).update(status="draft", reviewed_by=None)
    response = client_for(staff["district"]).post(
        reverse("benefits:payroll_move", args=[empty.pk]),
        {"to_status": "reviewed", "expected_status": "draft"},
    )
    assert response.status_code == 409
    assert "没有任何发放明细（0 笔），不能复核通过" in response.content.decode()
    assert Payroll.objects.get(pk=empty.pk).status == "draft"
    # It can still be discarded (by a caller that holds it as it is now)
    empty.refresh_from_db()
    payroll_discard(acting_user=staff["district"], payroll=empty)
    assert not Payroll.objects.filter(pk=empty.pk).exists()


# ---- the bank file -----------------------------------------------------------------------------------------


def approved_june(staff, living) -> Payroll:
    payroll = payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 6, 1))
    payroll = payroll_transition(acting_user=staff["district"], payroll=payroll, to_status="reviewed")
    return payroll_transition(acting_user=staff["district2"], payroll=payroll, to_status="approved")


def sheet_of(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).active


def test_only_the_bank_copy_moves_the_batch_to_exported(staff, two_towns, living):
    payroll = approved_june(staff, living)
    # The masked copy, twice: for reading, the batch stays approved
    for _ in range(2):
        assert payroll_bank_file(acting_user=staff["district"], payroll=payroll, out=io.BytesIO()) == 4
    assert Payroll.objects.get(pk=payroll.pk).status == "approved"
    # The bank's copy moves it to 已出盘; exporting it again leaves it there
    assert (
        payroll_bank_file(acting_user=staff["district"], payroll=payroll, out=io.BytesIO(), unmasked=True)
        == 4
    )
    assert Payroll.objects.get(pk=payroll.pk).status == "exported"
    payroll_bank_file(acting_user=staff["district"], payroll=payroll, out=io.BytesIO(), unmasked=True)
    payroll_bank_file(acting_user=staff["district"], payroll=payroll, out=io.BytesIO())
    assert Payroll.objects.get(pk=payroll.pk).status == "exported"
    rows = [
        (a.user.username, a.changes["status"], a.changes["masked"], a.changes["rows"], a.changes["total"])
        for a in audits("payroll.export")
    ]
    assert rows == [
        ("district1", ["approved", "approved"], [None, True], [None, 4], [None, "1314.00"]),
        ("district1", ["approved", "approved"], [None, True], [None, 4], [None, "1314.00"]),
        ("district1", ["approved", "exported"], [None, False], [None, 4], [None, "1314.00"]),
        ("district1", ["exported", "exported"], [None, False], [None, 4], [None, "1314.00"]),
        ("district1", ["exported", "exported"], [None, True], [None, 4], [None, "1314.00"]),
    ]


def test_the_masked_download_on_the_page_changes_no_state(staff, two_towns, living):
    payroll = approved_june(staff, living)
    url = reverse("benefits:payroll_bank_file", args=[payroll.pk])
    district = client_for(staff["district"])
    page = district.get(reverse("benefits:payroll_detail", args=[payroll.pk])).content.decode()
    assert "脱敏文件仅供查阅，不改变批次状态" in page
    _, masked = export_through_job(district, url)
    assert masked.status_code == 200 and masked["Content-Type"] == XLSX
    b"".join(masked.streaming_content)
    assert Payroll.objects.get(pk=payroll.pk).status == "approved"
    _, full = export_through_job(district, url, {"unmasked": "1"})
    b"".join(full.streaming_content)
    assert Payroll.objects.get(pk=payroll.pk).status == "exported"


def test_amounts_are_numbers_with_two_decimals_and_a_total_row_ends_the_file(staff, two_towns, living):
    payroll = approved_june(staff, living)
    # Given odd amounts (a fen, and more than ten million yuan) on two of the lines
    first, second = PayrollLine.objects.filter(payroll=payroll).order_by("town_id", "id")[:2]
    PayrollLine.objects.filter(pk=first.pk).update(amount_fen=1)
    PayrollLine.objects.filter(pk=second.pk).update(amount_fen=1234567891)
    out = io.BytesIO()
    payroll_bank_file(acting_user=staff["district"], payroll=payroll, out=out, unmasked=True)
    sheet = sheet_of(out.getvalue())
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == 5  # 4 lines and the total
    amounts = [row[5] for row in rows]
    assert {c.number_format for c in amounts} == {"0.00"}
    assert {c.data_type for c in amounts} == {"n"}
    assert [Decimal(str(c.value)).quantize(Decimal("0.01")) for c in amounts] == [
        Decimal("0.01"),
        Decimal("12345678.91"),
        Decimal("328.50"),
        Decimal("328.50"),
        Decimal("12346335.92"),
    ]
    assert [c.value for c in amounts] == [0.01, 12345678.91, 328.5, 328.5, 12346335.92]
    total = [c.value for c in rows[-1]]
    assert total[:2] == ["合计", "共 4 笔"] and total[2:5] == [None, None, None] and total[6:] == [None] * 3
    assert AuditLog.objects.get(action="payroll.export").changes["total"] == [None, "12346335.92"]
    # A large batch is written in constant memory (row by row): the same cells
    Payroll.objects.filter(pk=payroll.pk).update(line_count=5001)
    large = io.BytesIO()
    payroll_bank_file(acting_user=staff["district"], payroll=payroll, out=large, unmasked=True)
    again = list(sheet_of(large.getvalue()).iter_rows(min_row=2))
    assert [(c[5].value, c[5].number_format) for c in again] == [(c.value, "0.00") for c in amounts]


def returned_file(bank_file: bytes, results: list[str]) -> bytes:
    """The bank's return: the file it was sent, with a 结果 column added (the total row left as it came)."""
    sheet = sheet_of(bank_file)
    width = sheet.max_column
    sheet.cell(row=1, column=width + 1, value="结果")
    for i, result in enumerate(results, start=2):
        sheet.cell(row=i, column=width + 1, value=result)
    out = io.BytesIO()
    sheet.parent.save(out)
    return out.getvalue()


def test_the_bank_return_of_the_file_with_its_total_row_imports(staff, two_towns, living):
    payroll = approved_june(staff, living)
    district = client_for(staff["district"])
    _, full = export_through_job(
        district, reverse("benefits:payroll_bank_file", args=[payroll.pk]), {"unmasked": "1"}
    )
    sent = b"".join(full.streaming_content)
    assert [c.value for c in list(sheet_of(sent).iter_rows())[-1]][:2] == ["合计", "共 4 笔"]
    data = returned_file(sent, ["成功", "成功", "成功", "失败"])
    parsed = parse_bank_results(data, filename="回盘.xlsx")
    assert [(r["row"], r["paid"]) for r in parsed] == [(2, True), (3, True), (4, True), (5, False)]
    response = district.post(
        reverse("benefits:payroll_results", args=[payroll.pk]),
        {"file": SimpleUploadedFile("回盘.xlsx", data, content_type=XLSX)},
    )
    assert response.status_code == 302
    assert Payroll.objects.get(pk=payroll.pk).status == "closed"
    assert list(
        PayrollLine.objects.filter(payroll=payroll).order_by("town_id", "id").values_list("status", flat=True)
    ) == ["paid", "paid", "paid", "failed"]
    assert AuditLog.objects.get(action="payroll.results").changes == {
        "paid": [None, 3],
        "failed": [None, 1],
        "status": ["exported", "closed"],
    }


def test_a_return_file_with_only_the_total_row_is_refused(staff, two_towns, living):
    out = io.BytesIO()
    from canlian.common.spreadsheet import write_xlsx

    write_xlsx(out, ["流水号", "结果"], [["合计", ""]])
    with pytest.raises(ValidationFailed) as refused:
        parse_bank_results(out.getvalue(), filename="回盘.xlsx")
    assert refused.value.errors == {"文件": "回盘文件“回盘.xlsx”除合计行外没有任何明细行"}


# ---- a town clerk's counts on the payroll pages ----------------------------------------------------------


@pytest.fixture
def warnings_by_town(towns):
    """A payroll check that reports one warning per town, 3 for 甪直镇 and 5 for 木渎镇, scoped as a user sees."""
    from canlian.accounts import access

    def check(*, user, programme, month):
        town = access.town_scope(user)
        count = {"甪直镇": 3, "木渎镇": 5}.get(town.name, 0) if town else 8
        return PayrollWarning(
            source="test.towns", count=count, message=f"疑点 {count} 条", url="/", link_text="看"
        )

    payroll_check_register("test.towns", check)
    yield
    payroll_check_unregister("test.towns")


def test_a_town_clerk_sees_only_their_towns_counts_on_every_payroll_page(staff, two_towns, living):
    """甪直镇's clerk, with 李强's lines in 木渎镇: every count and sum on the pages is 甪直镇's alone."""
    payroll = approved_june(staff, living)
    PayrollLine.objects.filter(payroll=payroll, town__name="木渎镇", kind="arrears").update(
        status="failed", failure_reason="账户冻结"
    )
    luzhi = client_for(staff["town_luzhi"])
    listing = luzhi.get(reverse("benefits:payroll_list"))
    row = listing.context["payrolls"][0]
    assert (row.visible_count, str(row.visible_total)) == (2, "657.00")
    html = listing.content.decode()
    assert "1314.00" not in html and "131400" not in html

    detail = luzhi.get(reverse("benefits:payroll_detail", args=[payroll.pk]))
    ctx = detail.context
    assert (ctx["visible_count"], str(ctx["visible_total"])) == (2, "657.00")
    assert [(t["town__name"], t["count"], str(t["total"])) for t in ctx["towns"]] == [("甪直镇", 2, "657.00")]
    assert [(v, n, str(a)) for v, _, n, a, _ in ctx["statuses"]] == [
        ("pending", 2, "657.00"),
        ("paid", 0, "0.00"),
        ("failed", 0, "0.00"),
    ]
    assert [(v, n, str(a)) for v, _, n, a in ctx["kinds"]] == [
        ("regular", 1, "328.50"),
        ("arrears", 1, "328.50"),
        ("reissue", 0, "0.00"),
    ]
    page = detail.content.decode()
    assert "1314.00" not in page and "批次合计" not in page

    lines = luzhi.get(reverse("benefits:payroll_lines", args=[payroll.pk]))
    assert (lines.context["filtered_count"], str(lines.context["filtered_total"])) == (2, "657.00")
    programme = luzhi.get(reverse("benefits:programme_detail", args=["living_allowance"])).context
    assert [(p.visible_count, str(p.visible_total)) for p in programme["payrolls"]] == [(2, "657.00")]
    failed = luzhi.get(reverse("benefits:payroll_lines", args=[payroll.pk]) + "?status=failed")
    assert (failed.context["filtered_count"], failed.context["filtered_total"]) == (0, Decimal("0.00"))
    # The district sees both towns (the failed line is 木渎镇's)
    district = (
        client_for(staff["district"]).get(reverse("benefits:payroll_detail", args=[payroll.pk])).context
    )
    assert (district["visible_count"], str(district["visible_total"])) == (4, "1314.00")
    assert [(v, n) for v, _, n, _, _ in district["statuses"]] == [("pending", 3), ("paid", 0), ("failed", 1)]


def test_the_findings_warning_on_payroll_pages_counts_the_clerks_town(
    staff, two_towns, living, warnings_by_town
):
    draft = payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 6, 1))
    for user, count in ((staff["town_luzhi"], 3), (staff["town_mudu"], 5), (staff["district"], 8)):
        client = client_for(user)
        detail = client.get(reverse("benefits:payroll_detail", args=[draft.pk])).context
        assert [w.count for w in detail["payroll_warnings"]] == [count]
        assert detail["payroll_warning_count"] == count
        listing = client.get(reverse("benefits:payroll_list") + "?month=2023-06").context
        assert [w.count for w in listing["payroll_warnings"] if w.source == "test.towns"] == [count] * len(
            listing["programmes"]
        )


def test_the_cli_masked_export_leaves_the_batch_approved(staff, two_towns, living, tmp_path, capsys):
    from canlian.cli import main

    payroll = approved_june(staff, living)
    masked = tmp_path / "masked.xlsx"
    assert main(["payroll", "export", "living_allowance", "2023-06", str(masked), "--user", "district1"]) == 0
    assert "困难残疾人生活补贴 2023-06：已审批，4 笔，合计 1314.00 元" in capsys.readouterr().out
    assert Payroll.objects.get(pk=payroll.pk).status == "approved"
    full = tmp_path / "bank.xlsx"
    args = [
        "payroll",
        "export",
        "living_allowance",
        "2023-06",
        str(full),
        "--unmasked",
        "--user",
        "district1",
    ]
    assert main(args) == 0
    assert "困难残疾人生活补贴 2023-06：已出盘，4 笔，合计 1314.00 元" in capsys.readouterr().out
    assert [c.value for c in list(sheet_of(full.read_bytes()).iter_rows())[-1]][:2] == ["合计", "共 4 笔"]
