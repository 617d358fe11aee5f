"""Helpers shared by the benefits pages: who may read, month parameters, money for display."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import PermissionDenied as Forbidden
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from canlian.accounts import access

from ..cli import parse_month
from ..models import yuan

__all__ = ["Decimal", "yuan"]


def can_read_benefits(user) -> bool:
    return bool(user.is_active and user.role in access.BENEFIT_READERS)


def require_reader(user) -> None:
    if not can_read_benefits(user):
        raise Forbidden("您无权查看待遇业务")


def this_month() -> date:
    return timezone.localdate().replace(day=1)


def month_param(text: str | None, default: date) -> tuple[date, str]:
    """``YYYY-MM`` from a query string → (first day, error message or "")."""
    text = (text or "").strip()
    if not text:
        return default, ""
    try:
        return parse_month(text), ""
    except ValueError:
        return default, f"“{text[:20]}”不是有效月份，请用 2023-06 的格式；已显示 {default:%Y-%m}"


def int_param(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def query_without(request, *keys: str) -> str:
    params = request.GET.copy()
    for key in keys:
        params.pop(key, None)
    return params.urlencode()


def section_nav(user) -> dict:
    """Which entries the benefits section's own tab bar offers (every flag asks ``access``)."""
    from canlian.accounts.models import Role

    reader = can_read_benefits(user)
    return {
        "programmes": reader,
        "applications": reader,
        "queue": user.role in (Role.TOWN_STAFF, Role.DISTRICT_STAFF),
        "payroll": reader,
        "screening": reader,
        "parameters": access.can_manage_parameters(user),
    }


def show(request, template: str, context: dict, status: int = 200):
    from django.shortcuts import render

    return render(request, template, {"bnav": section_nav(request.user), **context}, status=status)
