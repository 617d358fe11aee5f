"""Parsing of the move forms: each move's required and recorded fields become inputs by their name."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from canlian.common.exceptions import ValidationFailed

DATE_SUFFIXES = ("_on", "_from", "_to")


def field_kind(name: str) -> str:
    if name == "institution":
        return "institution"
    if name.endswith(DATE_SUFFIXES):
        return "date"
    if name.startswith("amount_"):
        return "money"
    return "text"


def move_fields(wf, move) -> list[dict]:
    names = list(dict.fromkeys([*move.requires, *move.records]))
    return [
        {"name": n, "label": wf.field_labels.get(n, n), "kind": field_kind(n), "required": n in move.requires}
        for n in names
    ]


def parse_move_data(wf, move, post, *, institutions) -> dict:
    data, errors = {}, {}
    for f in move_fields(wf, move):
        raw = (post.get(f["name"]) or "").strip()
        if not raw:
            continue
        if f["kind"] == "date":
            try:
                data[f["name"]] = date.fromisoformat(raw)
            except ValueError:
                errors[f["name"]] = f"{f['label']}格式不正确，应为 2023-05-06"
        elif f["kind"] == "institution":
            inst = institutions.filter(pk=raw).first() if raw.isdigit() else None
            if inst is None:
                errors[f["name"]] = "请从列表中选择服务机构"
            else:
                data[f["name"]] = inst
        elif f["kind"] == "money":
            try:
                data[f["name"]] = Decimal(raw)
            except InvalidOperation:
                errors[f["name"]] = f"{f['label']}格式不正确"
        else:
            data[f["name"]] = raw[:200]
    if errors:
        raise ValidationFailed(errors)
    return data
