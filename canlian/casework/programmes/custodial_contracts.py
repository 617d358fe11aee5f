"""Custodial care's contracts and inspections (SERVICES.md §4): a town buys care from a provider under a
contract (mode, period, places, monthly price per person), may end it early with a reason; the district
inspects providers (date, score against the dated pass mark, findings, what must be put right by when) and
records the follow-up check. Every write is atomic, scoped (``casework.access``) and audited; reads are the
selectors at the bottom."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from canlian.accounts.models import Role
from canlian.common.audit import audit_record
from canlian.common.exceptions import PermissionDenied, ValidationFailed

from .. import access
from ..models import Case, CustodialContract, CustodialMode, Inspection
from ..programme import parameters
from .custodial_care import CODE, PROGRAMME

CENT = Decimal("0.01")


def _money(value, errors: dict, key: str, label: str) -> Decimal | None:
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        errors[key] = f"{label}格式不正确，应为金额，如 1200.00"
        return None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
        errors[key] = f"{label}应为不小于 0 且精确到分的金额"
        return None
    return amount


def _whole(value, errors: dict, key: str, label: str) -> int | None:
    text = str(value).strip()
    if not text.isdigit() or int(text) <= 0:
        errors[key] = f"{label}应为大于 0 的整数"
        return None
    return int(text)


@transaction.atomic
def contract_create(
    *,
    acting_user,
    town,
    institution,
    mode: str,
    valid_from: date,
    valid_to: date,
    places,
    monthly_price,
) -> CustodialContract:
    """A town's purchase of custodial care from a provider. Town staff record their own town's, district
    staff any town's. Refused (by field, nothing written) when the period overlaps a running contract of the
    same town, provider and mode."""
    if not access.can_manage_contracts(acting_user):
        raise PermissionDenied("您无权登记托养服务购买合同")
    if acting_user.role == Role.TOWN_STAFF and town.pk != acting_user.jurisdiction_id:
        raise PermissionDenied("镇(街道)只能登记本镇(街道)的托养服务购买合同")
    errors: dict[str, str] = {}
    if mode not in CustodialMode.values:
        errors["mode"] = "托养方式应为 寄宿制、日间照料 或 居家托养"
    if valid_to < valid_from:
        errors["valid_to"] = "截止日期不能早于起始日期"
    places = _whole(places, errors, "places", "购买名额")
    price = _money(monthly_price, errors, "monthly_price", "每人每月价格")
    if institution.kind not in PROGRAMME.institution_kinds:
        errors["institution"] = f"“{institution.name}”不是托养服务机构"
    elif not (institution.designated_on(valid_from) or institution.designated_on(valid_to)):
        errors["institution"] = f"“{institution.name}”在合同期内不在认定有效期内"
    if not errors:
        clash = (
            CustodialContract.objects.select_for_update()
            .filter(town=town, institution=institution, mode=mode, valid_from__lte=valid_to)
            .filter(Q(ended_on__isnull=True, valid_to__gte=valid_from) | Q(ended_on__gte=valid_from))
            .order_by("valid_from")
            .first()
        )
        if clash is not None:
            errors["valid_from"] = (
                f"{town.name}与“{institution.name}”已有 {clash.valid_from}～{clash.last_day} 的"
                f"{clash.get_mode_display()}合同，期间重叠"
            )
    if errors:
        raise ValidationFailed(errors)
    c = CustodialContract.objects.create(
        town=town,
        institution=institution,
        mode=mode,
        valid_from=valid_from,
        valid_to=valid_to,
        places=places,
        monthly_price=price,
        created_by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action="custodial.contract_create",
        obj=c,
        changes={
            "town": [None, town.name],
            "institution": [None, institution.name],
            "mode": [None, mode],
            "period": [None, f"{valid_from}～{valid_to}"],
            "places": [None, places],
            "monthly_price": [None, str(price)],
        },
    )
    return c


@transaction.atomic
def contract_end(
    *, acting_user, contract: CustodialContract, ended_on: date, reason: str
) -> CustodialContract:
    """End a contract before its signed end (the last day it runs is ``ended_on``), with the reason."""
    try:
        locked = access.contracts_workable(acting_user).select_for_update().get(pk=contract.pk)
    except CustodialContract.DoesNotExist:
        raise PermissionDenied("未找到该合同，或您无权办理") from None
    errors = {}
    reason = (reason or "").strip()
    if locked.ended_on is not None:
        raise ValidationFailed({"ended_on": f"该合同已于 {locked.ended_on} 终止"})
    if not reason:
        errors["end_reason"] = "请填写终止原因"
    if not locked.valid_from <= ended_on <= locked.valid_to:
        errors["ended_on"] = f"终止日期应在合同期 {locked.valid_from}～{locked.valid_to} 之内"
    if errors:
        raise ValidationFailed(errors)
    locked.ended_on, locked.end_reason, locked.ended_by = ended_on, reason[:200], acting_user
    locked.save(update_fields=["ended_on", "end_reason", "ended_by"])
    audit_record(
        acting_user=acting_user,
        action="custodial.contract_end",
        obj=locked,
        changes={"ended_on": [None, ended_on.isoformat()], "end_reason": [None, locked.end_reason]},
        detail=f"{locked.town.name}·{locked.institution.name}",
    )
    return locked


@transaction.atomic
def inspection_record(
    *,
    acting_user,
    institution,
    inspected_on: date,
    score,
    findings: str = "",
    follow_up: str = "",
    follow_up_due: date | None = None,
) -> Inspection:
    """The district's quality inspection of a provider; below the pass mark (a dated parameter) fails, and a
    failed inspection must say what is to be put right."""
    if not access.can_inspect(acting_user):
        raise PermissionDenied("质量检查由区残联录入")
    errors: dict[str, str] = {}
    try:
        score = Decimal(str(score).strip())
        if not score.is_finite() or not Decimal("0") <= score <= Decimal("100"):
            errors["score"] = "得分应在 0 到 100 之间"
        elif score != score.quantize(Decimal("0.1")):
            errors["score"] = "得分最多保留一位小数"
    except InvalidOperation:
        errors["score"] = "得分格式不正确，应为 0 到 100 的数"
    if inspected_on > timezone.localdate():
        errors["inspected_on"] = "检查日期不能晚于今天"
    if institution.kind not in PROGRAMME.institution_kinds:
        errors["institution"] = f"“{institution.name}”不是托养服务机构"
    findings, follow_up = (findings or "").strip(), (follow_up or "").strip()
    if follow_up_due is not None and follow_up_due < inspected_on:
        errors["follow_up_due"] = "整改期限不能早于检查日期"
    if follow_up_due is not None and not follow_up:
        errors["follow_up"] = "填写了整改期限，请同时填写整改要求"
    if errors:
        raise ValidationFailed(errors)
    pass_mark = Decimal(str(parameters().at("custodial_care.inspection_pass_mark", inspected_on)))
    passed = score >= pass_mark
    if not passed and not follow_up:
        raise ValidationFailed({"follow_up": f"得分低于合格线 {pass_mark} 分，请填写整改要求"})
    i = Inspection.objects.create(
        institution=institution,
        inspected_on=inspected_on,
        score=score,
        passed=passed,
        findings=findings,
        follow_up=follow_up,
        follow_up_due=follow_up_due,
        by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action="custodial.inspection",
        obj=institution,
        changes={
            "inspected_on": [None, inspected_on.isoformat()],
            "score": [None, str(score)],
            "passed": [None, i.passed],
            **({"follow_up_due": [None, follow_up_due.isoformat()]} if follow_up_due else {}),
        },
        detail="；".join(t for t in (findings, follow_up and f"整改要求：{follow_up}") if t),
    )
    return i


@transaction.atomic
def inspection_follow_up_done(
    *, acting_user, inspection: Inspection, done_on: date, result: str
) -> Inspection:
    """The district's check that what an inspection asked to be put right was done."""
    if not access.can_inspect(acting_user):
        raise PermissionDenied("整改复查由区残联录入")
    locked = Inspection.objects.select_for_update().select_related("institution").get(pk=inspection.pk)
    if not locked.follow_up:
        raise ValidationFailed({"follow_up": "该次检查没有整改要求"})
    if locked.follow_up_done_on is not None:
        raise ValidationFailed({"follow_up_done_on": f"已于 {locked.follow_up_done_on} 复查"})
    errors = {}
    result = (result or "").strip()
    if not result:
        errors["follow_up_result"] = "请填写复查结果"
    if done_on < locked.inspected_on:
        errors["follow_up_done_on"] = f"复查日期不能早于检查日期 {locked.inspected_on}"
    elif done_on > timezone.localdate():
        errors["follow_up_done_on"] = "复查日期不能晚于今天"
    if errors:
        raise ValidationFailed(errors)
    locked.follow_up_done_on, locked.follow_up_result = done_on, result[:200]
    locked.save(update_fields=["follow_up_done_on", "follow_up_result"])
    audit_record(
        acting_user=acting_user,
        action="custodial.inspection_follow_up",
        obj=locked.institution,
        changes={
            "follow_up_done_on": [None, done_on.isoformat()],
            "follow_up_result": [None, locked.follow_up_result],
        },
        detail=f"{locked.inspected_on} 检查的整改复查",
    )
    return locked


# ---- selectors -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractRow:
    contract: CustodialContract
    status: str
    status_label: str
    in_care: int  # the town's persons placed with the provider today, in the contract's mode


def contract_rows(qs: QuerySet, *, today: date, limit: int = 500) -> list[ContractRow]:
    """Contracts with their status and how many of the town's persons the provider cares for today (one
    grouped query for the page, not one per row)."""
    contracts = list(
        qs.select_related("town", "institution").order_by("-valid_from", "town__code", "id")[:limit]
    )
    in_care = {
        (r["town_id"], r["institution_id"], r["data__mode"]): r["n"]
        for r in Case.objects.filter(
            programme=CODE,
            state="placed",
            opened_on__lte=today,
            institution_id__in={c.institution_id for c in contracts},
        )
        .values("town_id", "institution_id", "data__mode")
        .annotate(n=Count("id"))
    }
    rows = []
    for c in contracts:
        status = c.status_on(today)
        n = in_care.get((c.town_id, c.institution_id, c.mode), 0) if status == "active" else 0
        rows.append(ContractRow(c, status, CustodialContract.STATUS_LABELS[status], n))
    return rows


def contracts_filtered(user, *, today: date, town_id=None, institution_id=None, status="") -> QuerySet:
    qs = access.contracts_visible(user)
    if town_id:
        qs = qs.filter(town_id=town_id)
    if institution_id:
        qs = qs.filter(institution_id=institution_id)
    if status == "active":
        qs = qs.filter(valid_from__lte=today, valid_to__gte=today).filter(
            Q(ended_on__isnull=True) | Q(ended_on__gte=today)
        )
    elif status == "ended":
        qs = qs.filter(ended_on__lt=today)
    elif status == "expired":
        qs = qs.filter(valid_to__lt=today).filter(Q(ended_on__isnull=True) | Q(ended_on__gte=today))
    elif status == "pending":
        qs = qs.filter(valid_from__gt=today)
    return qs


def inspections_filtered(
    user, *, today: date, institution_id=None, year=None, result="", follow_up=""
) -> QuerySet:
    qs = access.inspections_visible(user).select_related("institution", "by")
    if institution_id:
        qs = qs.filter(institution_id=institution_id)
    if year:
        qs = qs.filter(inspected_on__year=year)
    if result == "passed":
        qs = qs.filter(passed=True)
    elif result == "failed":
        qs = qs.filter(passed=False)
    if follow_up == "open":
        qs = qs.exclude(follow_up="").filter(follow_up_done_on__isnull=True)
    elif follow_up == "overdue":
        qs = qs.exclude(follow_up="").filter(follow_up_done_on__isnull=True, follow_up_due__lt=today)
    elif follow_up == "done":
        qs = qs.filter(follow_up_done_on__isnull=False)
    return qs.order_by("-inspected_on", "-id")
