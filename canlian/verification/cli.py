"""``canlian verify import KIND FILE [--json]`` and ``canlian verify run [--month YYYY-MM] [--all] [--json]``.

Progress bars go to stderr (tqdm); results to stdout. ``verify import`` runs through
``common.staged_import.cli_run``: its JSON is the contract of every import (rows, created = rows kept,
updated, unchanged, rejected, errors) plus the list's matches, ``warnings`` (kept rows with an invalid ID)
and ``fuzzy_matches``. Exit codes: 0 done, 1 some rows rejected, refused or nothing to do, 2 bad input
(file, kind, month, columns).
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

from canlian.common import staged_import
from canlian.common.exceptions import DomainError, ValidationFailed
from canlian.common.jobs import cli_progress
from canlian.common.spreadsheet import SpreadsheetError

from .models import ListKind, Match

KINDS = tuple(ListKind.values)


def _cli_bar(desc: str):
    return cli_progress(desc, leave=False)


def _parse_mapping(items: list[str] | dict | None) -> dict[str, str]:
    """``["event_date=去世时间", …]`` (CLI ``--map``) → {field: header}."""
    if isinstance(items, dict):
        return items
    out = {}
    for item in items or []:
        key, sep, header = item.partition("=")
        if not sep or not key.strip() or not header.strip():
            raise ValueError(f"列对应应写成 字段=表头，例如 event_date=去世时间：{item}")
        out[key.strip()] = header.strip()
    return out


def verify_import_cli(
    kind: str,
    path: str,
    as_json: bool,
    acting_user,
    mapping=None,
    *,
    source: str = "",
    received_on: str | None = None,
    complete: bool = False,
    dry_run: bool = False,
    report: str | None = None,
) -> int:
    from .importers import MappingRequired, field_label
    from .selectors import list_fuzzy_matches
    from .services import outside_list_check, outside_list_import

    if kind not in KINDS:
        print(f"未知的名单类型 {kind}，可用：{'、'.join(KINDS)}", file=sys.stderr)
        return 2
    file = Path(path)
    if not file.is_file():
        print(f"找不到文件：{path}", file=sys.stderr)
        return 2
    try:
        received = date.fromisoformat(received_on) if received_on else date.today()
        given = _parse_mapping(mapping)
    except ValueError as exc:
        print(f"参数有误：{exc}", file=sys.stderr)
        return 2
    result = None

    def step(progress):
        nonlocal result
        if dry_run:  # every row checked, nothing kept
            return outside_list_check(
                acting_user=acting_user,
                source=file.read_bytes(),
                kind=kind,
                filename=file.name,
                source_name=source,
                received_on=received,
                mapping=given,
                progress=progress,
            )
        result = outside_list_import(
            acting_user=acting_user,
            source=file.read_bytes(),
            kind=kind,
            filename=file.name,
            source_name=source,
            received_on=received,
            complete=complete,
            mapping=given,
            progress=progress,
        )
        return result.staged

    def on_error(exc: DomainError) -> int | None:
        if isinstance(exc, MappingRequired):
            print(exc.message, file=sys.stderr)
            print(f"文件中的列：{'、'.join(exc.headers)}", file=sys.stderr)
            missing = " ".join(f"--map {k}=<表头>" for k in exc.missing)
            labels = "、".join(f"{k}（{field_label(kind, k)}）" for k in exc.missing)
            print(f"请用 {missing} 指定 {labels}；指定后会按来源记住。", file=sys.stderr)
            return 2
        if isinstance(exc, ValidationFailed):
            for message in exc.errors.values():
                print(message, file=sys.stderr)
            return 2
        if not isinstance(exc, SpreadsheetError):  # refused (permission, nothing to import)
            print(exc.message, file=sys.stderr)
            if as_json:
                print(json.dumps({"error": exc.message}, ensure_ascii=False))
            return 1
        return None  # the file cannot be used: the framework's message, exit 2

    def extra(staged) -> dict:
        if result is None:  # dry run: no matches yet
            return {"warnings": list(staged.warnings())}
        counts = {k: v for k, v in result.counts.items() if k != "rows"}  # rows: every row of the file
        warnings = list(staged.warnings())
        return {
            **counts,
            "warnings": warnings,
            "fuzzy_matches": list_fuzzy_matches(acting_user, result.outside_list),
        }

    def describe(staged) -> list[str]:
        if result is None:
            c = staged.counts
            return [
                f"校验（未写入）完成：共 {c['rows']} 行，可导入 {c['created']} 行，有错误 {c['rejected']} 行；"
                f"身份证号无效（保留，按姓名和出生日期模糊比对）{staged.invalid_ids} 行"
            ]
        c = result.counts
        lines = [
            f"已导入{ListKind(kind).label}（#{result.outside_list.pk}）：{c['rows']} 行；身份证号精确匹配 {c['matched_exact']} 行，"
            f"待确认候选 {c['candidates']} 行，未匹配 {c['unmatched']} 行；身份证号无效 {c['invalid_ids']} 行"
            + (f"；模糊匹配自动生效 {c['matched_fuzzy']} 行" if c.get("matched_fuzzy") else "")
            + (f"；{result.rejected} 行有误未导入" if result.rejected else "")
        ]
        for m in list_fuzzy_matches(acting_user, result.outside_list)[:50]:
            lines.append(
                f"  第{m['row']}行 → 残疾人#{m['person_id']}（{Match.Status(m['status']).label}，得分 {m['score']:.2f}）："
                f"{m['rule']}；相同：{'、'.join(m['agree']) or '无'}；不同：{'、'.join(m['differ']) or '无'}"
            )
        return lines

    return staged_import.cli_run(
        step,
        dry_run=dry_run,
        as_json=as_json,
        report=report,
        extra=extra,
        describe=describe,
        on_error=on_error,
    )


def verify_run_cli(as_json: bool, acting_user, *, month: str | None = None, all_lists: bool = False) -> int:
    from canlian.benefits.cli import parse_month

    from .models import FindingKind
    from .services import verification_run

    try:
        day = parse_month(month) if month else None
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    bar, progress = _cli_bar("数据比对")
    try:
        run = verification_run(acting_user=acting_user, month=day, all_lists=all_lists, progress=progress)
    except DomainError as exc:
        bar.close()
        print(exc.message, file=sys.stderr)
        return 1
    bar.close()
    stats = run.stats
    if as_json:
        print(
            json.dumps({"findings": stats["findings"], "candidates": stats["candidates"]}, ensure_ascii=False)
        )
        return 0
    total = sum(stats["findings"].values())
    print(
        f"数据比对（{run.month:%Y-%m}，#{run.pk}）：处理名单 {stats['lists']} 份，新发现疑点 {total} 条，"
        f"待确认候选匹配 {stats['candidates']} 条"
    )
    for kind, n in stats["findings"].items():
        print(f"  {FindingKind(kind).label}\t{n}")
    fen = stats["money_at_stake_fen"]
    over = stats["overpayment_fen"]
    print(f"每月涉及金额 {fen // 100}.{fen % 100:02d} 元，已多发 {over // 100}.{over % 100:02d} 元")
    return 0
