"""``canlian eligibility ID_NUMBER YYYY-MM [--json]``."""

from __future__ import annotations

import json
import re
import sys
from datetime import date

from canlian.accounts import access
from canlian.common.jobs import cli_progress
from canlian.registry import identity
from canlian.registry.services import id_index

from .parameters import ParameterError
from .selectors import person_eligibility


def parse_month(text: str) -> date:
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"月份格式应为 YYYY-MM，例如 2023-05：{text}")
    return date(int(m.group(1)), int(m.group(2)), 1)


def eligibility_cli(*, id_number: str, month: str, as_json: bool, acting_user) -> int:
    """Exit 0: every programme judged; 3: some programme has no known standard for the month (shown as
    not determined, the others are judged); 1: no such person; 2: bad input."""
    try:
        number = identity.validate_id(id_number)
        day = parse_month(month)
    except identity.IdentityError as exc:
        print(f"身份证号无效：{exc.message}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    person = access.persons_visible(acting_user).filter(id_number_index=id_index(number)).first()
    if person is None:
        print("未找到该身份证号对应的残疾人（或无权查看） / no such person", file=sys.stderr)
        return 1
    try:
        result = person_eligibility(acting_user, person, day)
    except ParameterError as exc:
        print(f"参数缺失：{exc}", file=sys.stderr)
        return 2
    undetermined = [r["label"] for r in result.values() if not r["determined"]]
    status = 3 if undetermined else 0
    if undetermined:
        print(
            f"{day:%Y-%m} 没有已知的标准，未测算：{'、'.join(undetermined)}（请先在参数页面录入有依据的标准）",
            file=sys.stderr,
        )
    if as_json:
        out = {
            "person": person.masked_id,
            "month": f"{day:%Y-%m}",
            "programmes": {
                name: {
                    "eligible": r["eligible"],
                    "determined": r["determined"],
                    "amount": None if r["amount"] is None else str(r["amount"]),
                    "reasons": r["reasons"],
                }
                for name, r in result.items()
            },
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return status
    print(f"{person.name}（{person.masked_id}） {day:%Y年%m月}")
    for r in result.values():
        if not r["determined"]:
            verdict = "无法测算（本月没有已知标准）"
        elif r["eligible"] and r["cash"]:
            verdict = f"符合，{r['amount']} 元"
        else:
            verdict = "符合" if r["eligible"] else "不符合"
        print(f"\n{r['label']}：{verdict}")
        for reason in r["reasons"]:
            print(f"  {reason}")
    return status


# ---- canlian payroll … -------------------------------------------------------------------------------------


def _payroll_args(programme: str, month: str):
    from .models import Payroll, Programme

    try:
        prog = Programme.objects.get(code=programme)
    except Programme.DoesNotExist:
        codes = "、".join(Programme.objects.values_list("code", flat=True))
        raise SystemExit(f"未知的待遇项目 {programme}，可用：{codes}") from None
    try:
        day = parse_month(month)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return prog, day, Payroll


def payroll_cli(
    *, action: str, programme: str, month: str, acting_user, path: str | None = None, unmasked: bool = False
) -> int:
    from canlian.common.exceptions import DomainError, ValidationFailed

    from .services.payroll import payroll_generate, payroll_transition, results_apply, town_totals

    prog, day, Payroll = _payroll_args(programme, month)
    try:
        if action == "generate":
            bar, progress = cli_progress(f"生成 {prog.name} {day:%Y-%m}")
            payroll = payroll_generate(acting_user=acting_user, programme=prog, month=day, progress=progress)
            bar.close()
        else:
            payroll = Payroll.objects.filter(programme=prog, month=day).first()
            if payroll is None:
                print(f"{prog.name} {day:%Y-%m} 尚未生成发放批次", file=sys.stderr)
                return 1
            if action == "review":
                payroll = payroll_transition(acting_user=acting_user, payroll=payroll, to_status="reviewed")
            elif action == "approve":
                payroll = payroll_transition(acting_user=acting_user, payroll=payroll, to_status="approved")
            elif action == "export":
                from canlian.common.exports import export_cli

                from .exporters import BANK_FILE, bank_file_params

                count = export_cli(
                    name=BANK_FILE.name,
                    acting_user=acting_user,
                    params=bank_file_params(payroll, unmasked=unmasked),
                    out=path,
                )
                print(f"已导出 {count} 笔到 {path}")
                payroll.refresh_from_db()
            elif action == "results":
                from canlian.common.exceptions import PermissionDenied

                from .importers import parse_bank_results

                if not access.can_run_payroll(acting_user):  # before the file is read
                    raise PermissionDenied("只有区残联业务科室可以导入回盘结果")
                outcome = results_apply(
                    acting_user=acting_user, payroll=payroll, results=parse_bank_results(path)
                )
                print(
                    f"到账 {outcome['paid']} 笔，失败 {outcome['failed']} 笔，未回盘 {outcome['pending']} 笔"
                )
                payroll.refresh_from_db()
    except ValidationFailed as exc:
        for where, message in exc.errors.items():
            print(f"{where}：{message}", file=sys.stderr)
        return 1
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(
        f"{prog.name} {day:%Y-%m}：{payroll.get_status_display()}，{payroll.line_count} 笔，合计 {payroll.total} 元"
    )
    for t in town_totals(payroll.lines.all()):
        amount = f"{t['total_fen'] // 100}.{t['total_fen'] % 100:02d}"
        print(f"  {t['town__name']}\t{t['count']} 笔\t{amount} 元")
    return 0
