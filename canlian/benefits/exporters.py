"""The bank file of an approved payroll (.xlsx). Full account and ID numbers only for the role allowed.

Only the bank's copy (unmasked) is 出盘: it moves an approved batch to 已出盘. The masked copy is for reading
and changes no state. Amounts are numbers shown with two decimals (``0.00``), and the last row is the total
the bank checks (``合计``: the number of lines and their sum), which the return-file import skips."""

from __future__ import annotations

from datetime import date

from django.db import transaction

from canlian.accounts import access
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied
from canlian.common.exports import Export, export_register
from canlian.common.jobs import Progress, noop_progress
from canlian.common.masking import mask_bank_account, mask_id_number
from canlian.common.spreadsheet import XlsxBook
from canlian.common.workflow import transition

from .models import Enrolment, Payroll, PayrollLine, Programme, yuan
from .parameters import ParameterError

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


def can_read_benefits(user) -> bool:
    return bool(user.is_active and user.role in access.BENEFIT_READERS)


EXPORTABLE = (Payroll.Status.APPROVED, Payroll.Status.EXPORTED, Payroll.Status.CLOSED)


def payroll_bank_file(
    *, acting_user, payroll: Payroll, out, unmasked: bool = False, progress: Progress = noop_progress
) -> int:
    """Write the bank file; returns the lines. The file is written outside any transaction (a long write
    lock on SQLite would stall every other request, and the progress must be visible); then, in one short
    transaction, the batch is locked, checked again and, for the bank's copy, moved to 已出盘, and audited."""
    if not access.can_run_payroll(acting_user):
        raise PermissionDenied("只有区残联业务科室可以导出银行发放文件")
    if unmasked and not access.bank_accounts_unmasked_allowed(acting_user):
        raise PermissionDenied("您的角色不能导出完整银行账号")
    p = Payroll.objects.select_related("programme").get(pk=payroll.pk)
    if p.status not in EXPORTABLE:
        raise DomainError("批次审批通过后才能导出银行发放文件")
    lines = PayrollLine.objects.filter(payroll=p).select_related("person", "town").order_by("town_id", "id")
    total = p.line_count
    progress(0, total, "正在写入银行发放文件")
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
            progress(count, total, "正在写入银行发放文件")
        row = sheet.append([TOTAL_LABEL, f"共 {count} 笔"])
        ws.write_number(row, AMOUNT_COLUMN, total_fen / 100, money)
    with transaction.atomic():
        p = Payroll.objects.select_for_update().get(pk=payroll.pk)
        if p.status not in EXPORTABLE:  # moved while the file was written: the file is thrown away
            raise DomainError("写入文件期间批次状态已变化，请刷新后重新导出")
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


# ---- export jobs -----------------------------------------------------------------------------------------


def _bank_payroll(acting_user, params: dict) -> Payroll:
    payroll = (
        access.payrolls_visible(acting_user)
        .select_related("programme")
        .filter(pk=params.get("payroll"))
        .first()
    )
    if payroll is None:
        raise DomainError("该发放批次不存在或您无权查看")
    return payroll


def _bank_check(*, acting_user, params: dict) -> None:
    payroll = _bank_payroll(acting_user, params)
    if not access.can_run_payroll(acting_user):
        raise PermissionDenied("只有区残联业务科室可以导出银行发放文件")
    if params.get("unmasked") and not access.bank_accounts_unmasked_allowed(acting_user):
        raise PermissionDenied("您的角色不能导出完整银行账号")
    if payroll.status not in EXPORTABLE:
        raise DomainError("批次审批通过后才能导出银行发放文件")


def _bank_build(*, acting_user, params: dict, out, progress: Progress) -> int:
    return payroll_bank_file(
        acting_user=acting_user,
        payroll=_bank_payroll(acting_user, params),
        out=out,
        unmasked=bool(params.get("unmasked")),
        progress=progress,
    )


def bank_file_params(payroll: Payroll, *, unmasked: bool) -> dict:
    suffix = "" if unmasked else "-脱敏"
    return {
        "payroll": payroll.pk,
        "unmasked": unmasked,
        "file": f"银行发放-{payroll.programme.name}-{payroll.month:%Y%m}{suffix}",
    }


BANK_FILE = export_register(
    Export(
        name="payroll_bank_file",
        title="银行发放文件",
        build=_bank_build,
        check=_bank_check,
        unmasked=lambda params: bool(params.get("unmasked")),
        filename=lambda params: params.get("file") or "银行发放",
        stamped=False,
    )
)


# ---- screening lists (应保尽保 / 应退则退) ----------------------------------------------------------------


def screening_export(*, acting_user, programme, month: date, town, out, progress: Progress = noop_progress):
    """Both screening lists of ``programme``, ``month`` and ``town`` (None: every town the user sees) in one
    workbook, ID numbers masked; audited as ``screening.export``. Returns the rows written."""
    from . import selectors

    if not (can_read_benefits(acting_user) and access.can_export(acting_user)):
        raise PermissionDenied("您无权导出名单")
    progress(0, 0, "正在测算名单")
    try:
        result = selectors.screening(
            acting_user, programme=programme.code, month=month, town_id=town.pk if town else None
        )
    except ParameterError as exc:
        raise DomainError(f"无法测算 {month:%Y年%m月}：{exc}") from exc
    missing, stale = result.eligible_not_enrolled, result.enrolled_not_eligible
    ids = missing["person_id"].to_list() + stale["person_id"].to_list()
    people = {
        p.pk: p
        for p in access.persons_visible(acting_user).filter(pk__in=ids).select_related("town", "community")
    }
    enrolments = Enrolment.objects.in_bulk(stale["enrolment_id"].to_list())
    total, done = missing.height + stale.height, 0
    with XlsxBook(out) as book:
        sheet = book.add_sheet(
            "应保尽保", ["姓名", "身份证号", "镇(街道)", "村(社区)", "测算月额（元）"], text_columns=[1]
        )
        for r in missing.iter_rows(named=True):
            done += 1
            p = people.get(r["person_id"])
            if p is None:
                continue
            sheet.append(
                [
                    p.name,
                    mask_id_number(p.id_number),
                    p.town.name,
                    p.community.name if p.community else "",
                    yuan(r["amount_fen"]),
                ]
            )
            progress(done, total, "正在写入")
        sheet = book.add_sheet(
            "应退则退",
            ["姓名", "身份证号", "镇(街道)", "村(社区)", "待遇状态", "起始月份"],
            text_columns=[1],
        )
        for r in stale.iter_rows(named=True):
            done += 1
            p = people.get(r["person_id"])
            e = enrolments.get(r["enrolment_id"])
            if p is None or e is None:
                continue
            sheet.append(
                [
                    p.name,
                    mask_id_number(p.id_number),
                    p.town.name,
                    p.community.name if p.community else "",
                    e.get_status_display(),
                    f"{e.start_month:%Y-%m}",
                ]
            )
            progress(done, total, "正在写入")
    audit_record(
        acting_user=acting_user,
        action="screening.export",
        object_type="benefits.programme",
        object_id=programme.code,
        object_repr=f"{programme.name} {month:%Y-%m} 应保尽保/应退则退名单",
        changes={
            "eligible_not_enrolled": [None, missing.height],
            "enrolled_not_eligible": [None, stale.height],
        },
        detail=f"月份 {month:%Y-%m}；镇(街道) {town.name if town else '全部'}；身份证号已脱敏",
    )
    return total


def _screening_args(acting_user, params: dict):
    programme = Programme.objects.filter(active=True, code=params.get("programme")).first()
    if programme is None:
        raise DomainError(f"未知的待遇项目“{str(params.get('programme'))[:30]}”")
    town = access.town_scope(acting_user)
    if town is None and params.get("town"):
        town = access.towns_visible(acting_user).filter(pk=params["town"]).first()
        if town is None:
            raise DomainError("未知的镇(街道)")
    return programme, date.fromisoformat(params["month"]), town


def _screening_build(*, acting_user, params: dict, out, progress: Progress) -> int:
    programme, month, town = _screening_args(acting_user, params)
    return screening_export(
        acting_user=acting_user, programme=programme, month=month, town=town, out=out, progress=progress
    )


def _screening_check(*, acting_user, params: dict) -> None:
    if not (can_read_benefits(acting_user) and access.can_export(acting_user)):
        raise PermissionDenied("您无权导出名单")
    _screening_args(acting_user, params)


def screening_params(programme, month: date, town) -> dict:
    return {
        "programme": programme.code,
        "month": month.isoformat(),
        "town": town.pk if town else None,
        "file": f"待遇筛查-{programme.name}-{month:%Y%m}-{town.name if town else '全区'}",
    }


SCREENING = export_register(
    Export(
        name="benefits_screening",
        title="应保尽保/应退则退名单",
        build=_screening_build,
        check=_screening_check,
        filename=lambda params: params.get("file") or "待遇筛查",
    )
)
