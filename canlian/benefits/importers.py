"""The bank's return file: each line paid or failed. Checked whole before anything is written."""

from __future__ import annotations

from canlian.common.exceptions import ValidationFailed
from canlian.common.spreadsheet import read_table

ALIASES = {
    "line_id": ["流水号", "序号", "明细号"],
    "result": ["结果", "发放结果", "处理结果", "状态"],
    "reason": ["失败原因", "备注", "原因"],
    "amount": ["金额（元）", "金额", "发放金额"],
}
# the bank file's last row (``exporters.TOTAL_LABEL``): the bank checks it; it is no line of the batch
TOTAL_ROW_LABELS = ("合计", "总计")
PAID = {"成功", "已到账", "到账", "paid", "success", "ok"}
FAILED = {"失败", "退回", "failed", "fail"}


def parse_bank_results(source, *, filename: str = "") -> list[dict]:
    table = read_table(
        source, aliases=ALIASES, required={"line_id": "流水号", "result": "结果"}, filename=filename
    )
    errors: dict[str, str] = {}
    out = []
    seen: dict[int, int] = {}
    for row_no, cells in table.rows:
        raw_id = cells[table.columns["line_id"]]
        raw_result = str(cells[table.columns["result"]] or "").strip()
        if str(raw_id or "").strip().replace(" ", "").startswith(TOTAL_ROW_LABELS):
            continue
        try:
            line_id = int(float(str(raw_id).strip()))
        except ValueError:
            errors[f"第{row_no}行"] = f"流水号“{raw_id}”不是数字"
            continue
        if line_id in seen:
            errors[f"第{row_no}行"] = f"流水号 {line_id} 与第{seen[line_id]}行重复"
            continue
        seen[line_id] = row_no
        if raw_result.lower() in PAID:
            paid = True
        elif raw_result.lower() in FAILED:
            paid = False
        else:
            errors[f"第{row_no}行"] = f"结果“{raw_result}”无法识别，应为“成功”或“失败”"
            continue
        reason = str(cells[table.columns["reason"]] or "").strip() if "reason" in table.columns else ""
        out.append({"row": row_no, "line_id": line_id, "paid": paid, "reason": reason})
    if errors:
        raise ValidationFailed(errors)
    if not out:
        raise ValidationFailed({"文件": f"回盘文件“{filename}”除合计行外没有任何明细行"})
    return out
