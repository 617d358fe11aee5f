"""The bank file of an approved payroll (.xlsx). Full account and ID numbers only for the role allowed."""

from __future__ import annotations

from django.db import transaction

from canlian.accounts import access
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied
from canlian.common.masking import mask_id_number
from canlian.common.spreadsheet import XlsxBook

from .models import Payroll, PayrollLine

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
        count = 0
        with XlsxBook(out, constant_memory=p.line_count > 5000) as book:
            sheet = book.add_sheet(f"{p.programme.name}{p.month:%Y%m}", BANK_HEADERS, text_columns=[0, 2, 4])
            for line in lines.iterator(chunk_size=2000):
                id_number = line.person.id_number if unmasked else mask_id_number(line.person.id_number)
                account = line.bank_account if unmasked else mask_id_number(line.bank_account)
                sheet.append(
                    [
                        str(line.pk),
                        line.person.name,
                        id_number,
                        line.bank_name,
                        account,
                        line.amount,
                        f"{line.for_month:%Y-%m}",
                        line.get_kind_display(),
                        line.town.name,
                    ]
                )
                count += 1
        old = p.status
        if p.status == Payroll.Status.APPROVED:
            p.status = Payroll.Status.EXPORTED
            p.save(update_fields=["status"])
        audit_record(
            acting_user=acting_user,
            action="payroll.export",
            obj=p,
            changes={"status": [old, p.status], "rows": [None, count], "masked": [None, not unmasked]},
        )
    return count
