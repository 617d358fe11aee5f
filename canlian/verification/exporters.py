"""The run report as .xlsx: counts and money by kind × town, then every finding (ID numbers masked)."""

from __future__ import annotations

from datetime import date

from canlian.accounts import access
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied
from canlian.common.exports import Export, export_register
from canlian.common.jobs import Progress, noop_progress
from canlian.common.masking import mask_id_number
from canlian.common.spreadsheet import XlsxBook

from .selectors import ReportScope, findings_filtered, report, runs_visible

DETAIL_HEADERS = [
    "疑点编号",
    "疑点类型",
    "镇(街道)",
    "姓名",
    "身份证号",
    "待遇项目",
    "应停发月份",
    "每月涉及金额（元）",
    "多发金额（元）",
    "状态",
    "依据",
    "名单行号",
    "匹配方式",
]


def report_xlsx(
    *, acting_user, out, scope: ReportScope | None = None, run=None, progress: Progress = noop_progress
) -> int:
    """Write the report of ``scope`` (or of one ``run``; all findings when neither) for what the user may
    see; returns the rows."""
    if not access.can_read_verification(acting_user):
        raise PermissionDenied("您无权导出比对报告")
    scope = scope or ReportScope(run=run)
    run = scope.run
    rep = report(acting_user, scope)
    count = 0
    with XlsxBook(out) as book:
        sheet = book.add_sheet(
            "汇总",
            ["疑点类型", *[name for _, name in rep.towns], "合计", "每月涉及金额（元）", "多发金额（元）"],
        )
        for k in rep.by_kind:
            sheet.append(
                [
                    k["label"],
                    *[rep.cells.get((k["kind"], tid), 0) for tid, _ in rep.towns],
                    k["count"],
                    k["money"],
                    k["overpayment"],
                ]
            )
        sheet.append(
            [
                "合计",
                *[t["count"] for t in rep.by_town],
                rep.total["count"],
                rep.total["money"],
                rep.total["overpayment"],
            ]
        )
        detail = book.add_sheet("疑点明细", DETAIL_HEADERS, text_columns=[4])
        qs = findings_filtered(acting_user, scope.filters()).order_by("town_id", "kind", "id")
        total = rep.total["count"]
        progress(0, total, "正在导出疑点明细")
        for f in qs.iterator(chunk_size=2000):
            detail.append(
                [
                    f.pk,
                    f.get_kind_display(),
                    f.town.name,
                    f.person.name,
                    mask_id_number(f.person.id_number),
                    f.enrolment.programme.name if f.enrolment_id else "",
                    f"{f.effective_month:%Y-%m}" if f.effective_month else "",
                    f.money_at_stake,
                    f.overpayment,
                    f.get_status_display(),
                    (f.evidence or {}).get("reason", ""),
                    (f.evidence or {}).get("row_number") or "",
                    (f.evidence or {}).get("match_type", "") or "档案自查",
                ]
            )
            count += 1
            progress(count, total, "正在导出疑点明细")
    audit_record(
        acting_user=acting_user,
        action="verification.report_export",
        object_type="verification.verificationrun",
        object_id=run.pk if run else "",
        changes={"rows": [None, count], "masked": [None, True]}
        if run is not None
        else {"rows": [None, count], "masked": [None, True], "scope": [None, scope.label]},
    )
    return count


# ---- the export job --------------------------------------------------------------------------------------


def report_export_params(scope: ReportScope) -> dict:
    """The job parameters of a report export (JSON): the scope, and the file name it gives."""
    return {
        "run": scope.run.pk if scope.run else None,
        "month": scope.month.isoformat() if scope.month else None,
        "from": scope.date_from.isoformat() if scope.date_from else None,
        "to": scope.date_to.isoformat() if scope.date_to else None,
        "file": scope.file_name.removesuffix(".xlsx"),
    }


def _scope(acting_user, params: dict) -> ReportScope:
    run = None
    if params.get("run"):
        run = runs_visible(acting_user).filter(pk=params["run"]).first()
        if run is None:
            raise DomainError("该比对批次不存在或您无权查看")
    day = lambda key: date.fromisoformat(params[key]) if params.get(key) else None  # noqa: E731
    return ReportScope(run=run, month=day("month"), date_from=day("from"), date_to=day("to"))


def _build(*, acting_user, params: dict, out, progress: Progress) -> int:
    return report_xlsx(acting_user=acting_user, scope=_scope(acting_user, params), out=out, progress=progress)


def _check(*, acting_user, params: dict) -> None:
    if not access.can_read_verification(acting_user):
        raise PermissionDenied("您无权导出比对报告")


REPORT = export_register(
    Export(
        name="verification_report",
        title="数据比对报告",
        build=_build,
        check=_check,
        filename=lambda params: params.get("file") or "数据比对报告",
        stamped=False,
    )
)
