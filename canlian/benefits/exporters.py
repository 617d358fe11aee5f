"""The bank file of an approved payroll (.xlsx). Full account and ID numbers only for the role allowed.

Only the bank's copy (unmasked) is 出盘: it moves an approved batch to 已出盘. The masked copy is for reading
and changes no state. Amounts are numbers shown with two decimals (``0.00``), and the last row is the total
the bank checks (``合计``: the number of lines and their sum), which the return-file import skips."""

from __future__ import annotations

from django.db import transaction

from canlian.accounts import access
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied
from canlian.common.masking import mask_bank_account, mask_id_number
from canlian.common.spreadsheet import XlsxBook
from canlian.common.workflow import transition

from .models import Payroll, PayrollLine, yuan

BANK_HEADERS = [
    "流水号",
    "姓名",
    "身份证号",
    "开户银行",
    "银行账号",
    "金额（元）",
    "所属月份",
    "类型",
    "镇(街道)",
]
AMOUNT_COLUMN = BANK_HEADERS.index("金额（元）")
TOTAL_LABEL = "合计"


def payroll_bank_file(*, acting_user, payroll: Payroll, out, unmasked: bool = False) -> int:
    if not access.can_run_payroll(acting_user):
        raise PermissionDenied("只有区残联业务科室可以导出银行发放文件")
    if unmasked and not access.bank_accounts_unmasked_allowed(acting_user):
        raise PermissionDenied("您的角色不能导出完整银行账号")
    with transaction.atomic():
        p = Payroll.objects.select_for_update().get(pk=payroll.pk)
        if p.status not in (Payroll.Status.APPROVED, Payroll.Status.EXPORTED, Payroll.Status.CLOSED):
            raise DomainError("批次审批通过后才能导出银行发放文件")
        lines = (
            PayrollLine.objects.filter(payroll=p).select_related("person", "town").order_by("town_id", "id")
        )
        count, total_fen = 0, 0
        with XlsxBook(out, constant_memory=p.line_count > 5000) as book:
            sheet = book.add_sheet(f"{p.programme.name}{p.month:%Y%m}", BANK_HEADERS, text_columns=[0, 2, 4])
            money = book.workbook.add_format({"num_format": "0.00"})
            ws = sheet.worksheet
            for line in lines.iterator(chunk_size=2000):
                id_number = line.person.id_number if unmasked else mask_id_number(line.person.id_number)
                account = line.bank_account if unmasked else mask_bank_account(line.bank_account)
                row = sheet.append(
                    [
                        str(line.pk),
                        line.person.name,
                        id_number,
                        line.bank_name,
                        account,
                        None,
                        f"{line.for_month:%Y-%m}",
                        line.get_kind_display(),
                        line.town.name,
                    ]
                )
                # fen → yuan as a number: a double holds every amount below 10^13 yuan to the fen exactly
                ws.write_number(row, AMOUNT_COLUMN, line.amount_fen / 100, money)
                count += 1
                total_fen += line.amount_fen
            row = sheet.append([TOTAL_LABEL, f"共 {count} 笔"])
            ws.write_number(row, AMOUNT_COLUMN, total_fen / 100, money)
        old = p.status
        if unmasked and p.status == Payroll.Status.APPROVED:
            # the file the bank pays from: the batch moves to 已出盘 through its workflow
            p = transition(p, "send_to_bank", acting_user=acting_user, expected_state=Payroll.Status.APPROVED)
        audit_record(
            acting_user=acting_user,
            action="payroll.export",
            obj=p,
            changes={
                "status": [old, p.status],
                "rows": [None, count],
                "total": [None, str(yuan(total_fen))],
                "masked": [None, not unmasked],
            },
        )
    return count
