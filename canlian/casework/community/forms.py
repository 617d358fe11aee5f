"""Parsing a kind's posted form into typed values, with a Chinese message at each field that is wrong.

Parsing only: which towns, persons, plans and institutions a user may name is decided again by the service."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from canlian.casework.views_common import parse_date

from .kinds import Kind


def _int(raw: str, label: str, errors: dict, key: str, required: bool):
    if not raw:
        if required:
            errors[key] = f"请填写{label}"
        return None
    if not raw.isdigit() or len(raw) > 6:
        errors[key] = f"{label}应为不小于 0 的整数"
        return None
    return int(raw)


def _money(raw: str, label: str, errors: dict, key: str, required: bool):
    if not raw:
        if required:
            errors[key] = f"请填写{label}"
        return None
    try:
        value = Decimal(raw.replace(",", "").replace("，", ""))
    except InvalidOperation:
        errors[key] = f"{label}应为金额，如 12000.00"
        return None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")) or value >= 10**10:
        errors[key] = f"{label}应为不小于 0 的金额，最多两位小数"
        return None
    return value.quantize(Decimal("0.01"))


def _datetime(raw: str, label: str, errors: dict, key: str, required: bool):
    if not raw:
        if required:
            errors[key] = f"请填写{label}"
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        errors[key] = f"{label}格式不正确，应为 2023-05-06 14:30"
        return None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _pk(raw: str, label: str, errors: dict, key: str, required: bool):
    if not raw:
        if required:
            errors[key] = f"请选择{label}"
        return None
    if not raw.isdigit():
        errors[key] = f"请从列表中选择{label}"
        return None
    return int(raw)


def parse(kind: Kind, post) -> tuple[dict, dict]:
    """(values, errors) of ``post`` for ``kind``'s fields. ``id_number`` stays text (looked up later);
    town / institution / plan are primary keys."""
    values: dict = {}
    errors: dict = {}
    model = kind.model
    for f in kind.fields:
        raw = (post.get(f.name) or "").strip()
        t = f.type
        if t == "date":
            values[f.name] = parse_date(raw, f.label, errors, f.name, required=f.required)
        elif t == "datetime":
            values[f.name] = _datetime(raw, f.label, errors, f.name, f.required)
        elif t == "int":
            values[f.name] = _int(raw, f.label, errors, f.name, f.required)
        elif t == "money":
            values[f.name] = _money(raw, f.label, errors, f.name, f.required)
        elif t == "bool":
            values[f.name] = raw in ("on", "1", "yes", "true")
        elif t in ("town", "institution", "plan"):
            values[f.name] = _pk(raw, f.label, errors, f.name, f.required)
        elif t == "choice":
            choices = dict(model._meta.get_field(f.name).choices)
            if raw not in choices:
                errors[f.name] = f"请选择{f.label}"
            values[f.name] = raw
        else:  # text, textarea, id_number
            if not raw and f.required:
                errors[f.name] = f"请填写{f.label}"
            if t == "text":
                limit = model._meta.get_field(f.name).max_length
                if limit and len(raw) > limit:
                    errors[f.name] = f"{f.label}不能超过 {limit} 个字"
            elif t == "textarea" and len(raw) > 5000:
                errors[f.name] = f"{f.label}不能超过 5000 个字"
            values[f.name] = raw
        if values.get(f.name) is None and t == "int" and not f.required and f.name not in errors:
            values[f.name] = 0
    return {k: v for k, v in values.items() if v is not None}, errors
