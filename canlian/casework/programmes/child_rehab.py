"""Child rehabilitation aid 残疾儿童康复救助 (SERVICES.md §2, DOMAIN.md §5) on the case engine.

A case is one child's aid: the guardian applies (``child_rehab_apply``: eligibility at the application date:
0 to under ``child_rehab.age_limit``, 户籍 in the district or a valid 居住证, a stated need; priority groups
flagged) → the town or district assesses the need → a second district officer approves (maker ≠ checker) →
the guardian chooses a designated rehab institution (designated on the service start date) → the institution
records each service month (days attended, amount asked); the amount is held to the child's **yearly cap**
for the category and the age at the start of the month (dated parameters, Nanjing 2021's table as the
example), the part over what is left of the year's cap is cut with the reason, and the meal subsidy is worked
out per day → the month's records of an institution become its monthly ``Settlement`` (the engine's maker ≠
checker settlement). A child served outside the district goes through a referral (``ChildRehabReferral``):
requested → approved / rejected with the reason → done; the guardian pays there and is reimbursed at the home
standard (the same cap, never the other institution's price).

The money rules are pure functions (``year_cap``, ``month_amounts``); the writes are services (keyword-only
``acting_user``, atomic, scoped, audited). The autism pathway and the institution evaluation are in
``child_rehab_quality``; the roster import in ``child_rehab_roster``.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from canlian.accounts.models import Role
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.masking import mask_phone
from canlian.common.workflow import Move, Workflow, transition

from ..child_rehab_models import (
    ChildRehabMonth,
    ChildRehabProfile,
    ChildRehabReferral,
    PriorityGroup,
    ReferralState,
    RehabCategory,
    RehabServiceType,
    Residence,
)
from ..models import Case, Settlement
from ..programme import Programme, parameters, programme_register
from ..services import case_open, close_effect

CODE = "child_rehab"
TOWN, DISTRICT, INST = Role.TOWN_STAFF, Role.DISTRICT_STAFF, Role.INSTITUTION_STAFF
CENT = Decimal("0.01")
ZERO = Decimal("0")

STATES = {
    "applied": "已申请",
    "assessed": "已评估康复需求",
    "approved": "区残联审核通过",
    "in_service": "康复服务中",
    "referred": "异地转介康复",
    "ended": "已结束",
    "rejected": "未通过",
}
OPEN_STATES = ("applied", "assessed", "approved", "in_service", "referred")
NEED_ASSESSED = (
    "approved",
    "in_service",
    "referred",
    "ended",
)  # states after a need was assessed and approved
SERVED = ("in_service", "referred", "ended")

CAP_PARAMETER = {
    RehabCategory.VISION: "child_rehab.cap_vision",
    RehabCategory.HEARING: "child_rehab.cap_hearing_speech",
    RehabCategory.SPEECH: "child_rehab.cap_hearing_speech",
    RehabCategory.INTELLECTUAL: "child_rehab.cap_intellectual",
    RehabCategory.PHYSICAL: "child_rehab.cap_physical",
    RehabCategory.AUTISM: "child_rehab.cap_autism",
    RehabCategory.MULTIPLE: "child_rehab.cap_multiple",
}
CATEGORY_LABELS = dict(RehabCategory.choices)


def _param(name: str, day: date, params=None):
    """A dated value on ``day``; before its first dated value, the first one (the benefits age limit is dated
    from 2023 but the rule it states held before)."""
    p = (params or parameters())[name]
    return p.at(day) if p.has_value_on(day) else p.values[0].value


def age_limit(day: date, params=None) -> int:
    return int(_param("child_rehab.age_limit", day, params))


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return day.replace(day=monthrange(day.year, day.month)[1])


def fmt(amount: Decimal) -> str:
    return f"{amount:,.2f}"


# ---- the money rules (pure) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cap:
    amount: Decimal
    text: str  # why this cap, in Chinese (category, age band, parameter)


def year_cap(category: str, age: int, day: date, params=None) -> Cap:
    """The yearly cap for a child of ``category`` aged ``age`` (at the start of the service month ``day``).
    0–6: the category's amount; from ``older_from_age`` (7): ``older_rate`` of it, less ``older_step`` for
    every year after; from the age limit (18): nothing."""
    params = params or parameters()
    label = CATEGORY_LABELS.get(category, category)
    limit = age_limit(day, params)
    if age >= limit:
        return Cap(ZERO, f"月初已满 {limit} 周岁，不再享受康复救助")
    base = Decimal(_param(CAP_PARAMETER[category], day, params))
    older = int(_param("child_rehab.older_from_age", day, params))
    if age < older:
        return Cap(base, f"{label}类 0～{older - 1} 周岁年度上限 {fmt(base)} 元")
    rate = Decimal(_param("child_rehab.older_rate", day, params))
    step = Decimal(_param("child_rehab.older_step", day, params))
    amount = max(ZERO, (base * rate - step * (age - older)).quantize(CENT))
    return Cap(
        amount,
        f"{label}类 {age} 周岁年度上限 {fmt(amount)} 元（{fmt(base)}×{rate}－{fmt(step)}×{age - older}）",
    )


@dataclass(frozen=True)
class MonthAmounts:
    allowed: Decimal
    cut: Decimal
    cut_reason: str
    meal_days: int
    meal_amount: Decimal
    meal_reason: str


def month_amounts(
    *,
    asked: Decimal,
    cap: Cap,
    used_before: Decimal,
    days: int,
    meal_months_before: int,
    day: date,
    params=None,
    asked_label: str = "申报",
) -> MonthAmounts:
    """What one service month may be paid: the rehab part up to what is left of the year's cap (the rest
    cut, with the reason), and the meal subsidy (per day, at most so many days a month and months a year)."""
    params = params or parameters()
    remaining = max(ZERO, cap.amount - used_before)
    allowed = min(asked, remaining)
    cut = asked - allowed
    reason = ""
    if cut:
        reason = (
            f"超出年度救助上限：{cap.text}，本年度此前已核定 {fmt(used_before)} 元，剩余 {fmt(remaining)} 元；"
            f"{asked_label} {fmt(asked)} 元，核减 {fmt(cut)} 元"
        )
    per_day = Decimal(_param("child_rehab.meal_per_day", day, params))
    max_days = int(_param("child_rehab.meal_days_per_month", day, params))
    max_months = int(_param("child_rehab.meal_months_per_year", day, params))
    if cap.amount == ZERO:
        meal_days, meal_reason = 0, cap.text
    elif meal_months_before >= max_months:
        meal_days, meal_reason = 0, f"本年度已补助 {max_months} 个月伙食费，达到上限"
    else:
        meal_days = min(days, max_days)
        meal_reason = f"出勤 {days} 天，每月最多按 {max_days} 天计算" if days > max_days else ""
    return MonthAmounts(allowed, cut, reason, meal_days, (per_day * meal_days).quantize(CENT), meal_reason)


# ---- the declaration ------------------------------------------------------------------------------------


def _case_scope(user):
    from ..access import cases_workable

    return cases_workable(user)


def _validate_choose(case, data) -> dict:
    errors = {}
    inst, start = data.get("institution"), data.get("opened_on")
    profile = ChildRehabProfile.objects.filter(pk=case.pk).first()
    if inst is not None and inst.kind not in PROGRAMME.institution_kinds:
        errors["institution"] = f"“{inst.name}”不是定点康复机构"
    elif inst is not None and start is not None and not inst.designated_on(start):
        errors["institution"] = f"“{inst.name}”在 {start:%Y-%m-%d} 不在定点认定有效期内"
    if start is not None and profile is not None and start < profile.applied_on:
        errors["opened_on"] = f"服务开始日期不能早于申请日期 {profile.applied_on:%Y-%m-%d}"
    if start is not None:
        from canlian.registry.identity import age_on

        limit = age_limit(start)
        if age_on(case.person.birth_date, start) >= limit:
            errors["opened_on"] = f"服务开始日期儿童已满 {limit} 周岁"
    return errors


def _validate_end(case, data) -> dict:
    end = data.get("closed_on")
    if end is None:
        return {}
    if end < case.opened_on:
        return {"closed_on": f"结束日期不能早于服务开始日期 {case.opened_on:%Y-%m-%d}"}
    last = case.rehab_months.order_by("-month").values_list("month", flat=True).first()
    if last and end < last:
        return {"closed_on": f"{last:%Y年%m月}已有服务记录，结束日期不能早于 {last:%Y-%m-%d}"}
    return {}


def _record_need(case, *, acting_user, data, history):
    profile = ChildRehabProfile.objects.select_for_update().get(pk=case.pk)
    old, profile.need = profile.need, data["need"].strip()[:200]
    profile.save(update_fields=["need"])
    return {"need": [old, profile.need]}


WORKFLOW = Workflow(
    code=f"case.{CODE}",
    name="残疾儿童康复救助",
    states=STATES,
    initial="applied",
    scope=_case_scope,
    field_labels={
        "need": "康复需求评估意见",
        "close_reason": "原因",
        "institution": "定点康复机构",
        "opened_on": "服务开始日期",
        "closed_on": "服务结束日期",
    },
    moves=(
        Move(
            "assess",
            "评估康复需求",
            ("applied",),
            "assessed",
            {TOWN, DISTRICT},
            requires=("need",),
            effect=_record_need,
        ),
        Move("approve", "区残联审核通过", ("assessed",), "approved", {DISTRICT}, checker_of=("assess",)),
        Move(
            "reject",
            "审核不通过",
            ("applied", "assessed"),
            "rejected",
            {TOWN, DISTRICT},
            requires=("close_reason",),
            records=("close_reason",),
        ),
        Move(
            "choose",
            "选定定点康复机构",
            ("approved",),
            "in_service",
            {TOWN, DISTRICT},
            requires=("institution", "opened_on"),
            records=("institution", "opened_on"),
            validate=_validate_choose,
        ),
        # made by the referral's approval (``referral_approve``), not from the case page
        Move(
            "refer",
            "异地转介康复",
            ("approved",),
            "referred",
            {DISTRICT},
            check=lambda user, case: case.rehab_referrals.filter(state="approved").exists(),
        ),
        Move(
            "end",
            "结束康复服务",
            ("in_service", "referred"),
            "ended",
            {TOWN, DISTRICT, INST},
            requires=("closed_on", "close_reason"),
            records=("closed_on", "close_reason"),
            validate=_validate_end,
            effect=close_effect,
        ),
    ),
)

PROGRAMME = programme_register(
    Programme(
        code=CODE,
        name="残疾儿童康复救助",
        workflow=WORKFLOW,
        institution_kinds=("rehab_institution",),
        detail_template="casework/child_rehab/_case.html",
        detail_context=lambda user, case: _detail_context(user, case),
        create_url="casework:child_rehab_apply",
    )
)


def _detail_context(user, case):
    from ..child_rehab_views import case_context

    return case_context(user, case)


# ---- application ----------------------------------------------------------------------------------------


def _phone(text: str) -> str:
    from canlian.registry.validation import _PHONE_RE  # the registry's one phone rule

    text = "".join((text or "").split())
    if text and not _PHONE_RE.match(text):
        raise ValidationFailed({"guardian_phone": "监护人电话应为11位手机号或带区号的固定电话"})
    return text


def eligibility_errors(
    *, person, applied_on: date, residence: str, residence_permit_until: date | None, need: str
) -> dict[str, str]:
    """Why a child may not apply on ``applied_on`` ({} = eligible), keyed by field."""
    from canlian.registry.identity import age_on

    errors = {}
    limit = age_limit(applied_on)
    age = age_on(person.birth_date, applied_on)
    if applied_on < person.birth_date:
        errors["applied_on"] = "申请日期不能早于出生日期"
    elif age >= limit:
        errors["applied_on"] = (
            f"申请日 {applied_on:%Y-%m-%d} 儿童已满 {limit} 周岁（{age} 周岁），不在康复救助范围（0 至未满 {limit} 周岁）"
        )
    if residence not in (Residence.HUKOU, Residence.PERMIT):
        errors["residence"] = "须为本区户籍或持有本区居住证"
    elif residence == Residence.PERMIT and (
        residence_permit_until is None or residence_permit_until < applied_on
    ):
        errors["residence_permit_until"] = "居住证须在申请日有效，请填写居住证有效期"
    if not (need or "").strip():
        errors["need"] = "请填写康复需求"
    return errors


def priority_from_registry(person, on: date) -> list[str]:
    """低保 / 特困 from the person's household economic status on ``on``."""
    from canlian.registry.models import EconomicStatusPeriod

    statuses = set(
        EconomicStatusPeriod.objects.filter(person=person, valid_from__lte=on)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on))
        .values_list("status", flat=True)
    )
    return [p for p in (PriorityGroup.DIBAO, PriorityGroup.TEKUN) if p in statuses]


@transaction.atomic
def child_rehab_apply(
    *,
    acting_user,
    person,
    applied_on: date,
    category: str,
    need: str,
    residence: str,
    guardian_name: str,
    guardian_relation: str = "",
    guardian_phone: str = "",
    service_type: str = RehabServiceType.TRAINING,
    residence_permit_until: date | None = None,
    priority=(),
    source: str = "web",
) -> Case:
    """The guardian's application, recorded by town or district staff: a ``child_rehab`` case in ``applied``
    with its profile. Refused (by field, nothing written) when the child is not eligible on ``applied_on``
    or already has an open case."""
    errors = eligibility_errors(
        person=person,
        applied_on=applied_on,
        residence=residence,
        residence_permit_until=residence_permit_until,
        need=need,
    )
    if applied_on > timezone.localdate():
        errors["applied_on"] = "申请日期不能晚于今天"
    if category not in RehabCategory.values:
        errors["category"] = f"未知的康复类别“{category}”"
    if service_type not in RehabServiceType.values:
        errors["service_type"] = f"未知的服务类型“{service_type}”"
    if not (guardian_name or "").strip():
        errors["guardian_name"] = "请填写监护人姓名"
    unknown = [p for p in priority if p not in PriorityGroup.values]
    if unknown:
        errors["priority"] = f"未知的优先救助类别：{'、'.join(unknown)}"
    try:
        phone = _phone(guardian_phone)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    if Case.objects.filter(programme=CODE, person=person, state__in=OPEN_STATES).exists():
        raise ValidationFailed({"person": f"{person.name}已有办理中的康复救助，不能重复申请"})
    case = case_open(
        acting_user=acting_user, programme=CODE, person=person, opened_on=applied_on, source=source
    )
    flags = list(dict.fromkeys([*priority_from_registry(person, applied_on), *priority]))
    profile = ChildRehabProfile.objects.create(
        case=case,
        applied_on=applied_on,
        category=category,
        service_type=service_type,
        need=need.strip()[:200],
        residence=residence,
        residence_permit_until=residence_permit_until if residence == Residence.PERMIT else None,
        priority=flags,
        guardian_name=guardian_name.strip()[:50],
        guardian_relation=(guardian_relation or "").strip()[:20],
        guardian_phone=phone,
    )
    audit_record(
        acting_user=acting_user,
        action=f"case.{CODE}.apply",
        obj=case,
        changes={
            "applied_on": [None, applied_on.isoformat()],
            "category": [None, category],
            "service_type": [None, service_type],
            "residence": [None, residence],
            "priority": [None, flags],
            "guardian_name": [None, profile.guardian_name],
            "guardian_relation": [None, profile.guardian_relation],
            "guardian_phone": [None, mask_phone(phone)],
        },
        detail=f"监护人{profile.guardian_name}申请{CATEGORY_LABELS[category]}类康复救助",
    )
    return case


# ---- service months -------------------------------------------------------------------------------------


def _money(value, field: str) -> Decimal:
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed({field: "金额格式不正确"}) from None
    if not d.is_finite() or d < 0:
        raise ValidationFailed({field: "金额不能为负数"})
    if d != d.quantize(CENT):
        raise ValidationFailed({field: "金额须精确到分"})
    return d


def _year_so_far(person_id: int, month: date) -> tuple[Decimal, int]:
    """What the child's months of the same year before or after ``month`` already took (the cap is the
    child's, across cases and institutions): allowed rehab amount, and months with a meal subsidy."""
    rows = ChildRehabMonth.objects.filter(
        case__person_id=person_id,
        case__programme=CODE,
        month__gte=date(month.year, 1, 1),
        month__lte=date(month.year, 12, 31),
    ).exclude(month=month)
    used = (rows.aggregate(s=Sum("amount_allowed"))["s"] or ZERO).quantize(CENT)  # SQLite sums loosely
    return used, rows.filter(meal_amount__gt=0).count()


def service_days(case: Case, month: date) -> int:
    first, last = month_start(month), month_end(month)
    start = max(first, case.opened_on)
    end = min(last, case.closed_on) if case.closed_on else last
    return max(0, (end - start).days + 1)


def _lock_child(acting_user, case: Case) -> Case:
    """Lock the child's child_rehab cases (primary-key order) so two months recorded at once cannot both
    take the last of the year's cap; the case itself must be one the user may work on."""
    from ..access import cases_workable

    try:
        locked = cases_workable(acting_user).select_related("person").get(pk=case.pk, programme=CODE)
    except Case.DoesNotExist:
        raise PermissionDenied("未找到该康复救助个案，或您无权办理") from None
    list(
        Case.objects.select_for_update()
        .filter(programme=CODE, person_id=locked.person_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return Case.objects.select_related("person", "institution").get(pk=locked.pk)


def _create_month(
    *, acting_user, case, month, days, asked, institution=None, referral=None, asked_label="申报"
) -> ChildRehabMonth:
    from canlian.registry.identity import age_on

    params = parameters()
    category = case.child_rehab.category
    age = age_on(case.person.birth_date, month)
    cap = year_cap(category, age, month, params)
    used, meal_months = _year_so_far(case.person_id, month)
    amounts = month_amounts(
        asked=asked,
        cap=cap,
        used_before=used,
        days=days,
        meal_months_before=meal_months,
        day=month,
        params=params,
        asked_label=asked_label,
    )
    row = ChildRehabMonth.objects.create(
        case=case,
        month=month,
        institution=institution,
        referral=referral,
        days_attended=days,
        age=age,
        year_cap=cap.amount,
        used_before=used,
        amount_asked=asked,
        amount_allowed=amounts.allowed,
        amount_cut=amounts.cut,
        cut_reason=amounts.cut_reason[:200],
        meal_days=amounts.meal_days,
        meal_amount=amounts.meal_amount,
        meal_reason=amounts.meal_reason[:200],
        recorded_by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action=f"case.{CODE}.{'reimburse' if referral else 'month'}",
        obj=case,
        changes={
            "month": [None, f"{month:%Y-%m}"],
            "institution": [None, institution.name if institution else None],
            "referral": [None, referral.pk if referral else None],
            "days_attended": [None, days],
            "age": [None, age],
            "year_cap": [None, str(cap.amount)],
            "used_before": [None, str(used)],
            "amount_asked": [None, str(asked)],
            "amount_allowed": [None, str(amounts.allowed)],
            "amount_cut": [None, str(amounts.cut)],
            "meal_days": [None, amounts.meal_days],
            "meal_amount": [None, str(amounts.meal_amount)],
        },
        detail="；".join(
            x
            for x in (
                f"{month:%Y年%m月}出勤 {days} 天，{asked_label} {fmt(asked)} 元，核定 {fmt(amounts.allowed)} 元，"
                f"伙食补助 {fmt(amounts.meal_amount)} 元",
                amounts.cut_reason,
                amounts.meal_reason,
            )
            if x
        ),
    )
    return row


def _check_month(case: Case, month: date, days, *, states) -> tuple[date, int]:
    errors = {}
    month = month_start(month)
    if case.state not in states:
        raise DomainError(f"个案状态为“{case.state_label}”，不能录入服务月度记录")
    if month > month_start(timezone.localdate()):
        errors["month"] = "不能录入以后月份的服务"
    elif month < month_start(case.opened_on):
        errors["month"] = f"服务开始于 {case.opened_on:%Y-%m-%d}，不能录入之前月份"
    elif case.closed_on and month > month_start(case.closed_on):
        errors["month"] = f"服务已于 {case.closed_on:%Y-%m-%d} 结束，不能录入之后月份"
    try:
        days = int(days)
    except (TypeError, ValueError):
        errors["days_attended"] = "出勤天数应为整数"
        days = 0
    if "month" not in errors and "days_attended" not in errors:
        possible = service_days(case, month)
        if not 1 <= days <= possible:
            errors["days_attended"] = f"出勤天数应在 1～{possible} 天之间（{month:%Y年%m月}的服务天数）"
    if ChildRehabMonth.objects.filter(case=case, month=month).exists():
        errors["month"] = f"{month:%Y年%m月}的服务已录入"
    if errors:
        raise ValidationFailed(errors)
    return month, days


@transaction.atomic
def rehab_month_record(
    *, acting_user, case: Case, month: date, days_attended, amount_asked
) -> ChildRehabMonth:
    """The institution (or the district for it) records one service month of a child it serves: days
    attended and the amount asked. The rehab part is held to what is left of the child's yearly cap (the
    rest cut with the reason); the meal subsidy is computed."""
    if acting_user.role not in (DISTRICT, INST):
        raise PermissionDenied("服务月度记录由定点康复机构或区残联录入")
    case = _lock_child(acting_user, case)
    asked = _money(amount_asked, "amount_asked")
    month, days = _check_month(case, month, days_attended, states=("in_service", "ended"))
    inst = case.institution
    if inst is None:
        raise DomainError("该个案尚未选定定点康复机构")
    first_day = max(month, case.opened_on)
    if not inst.designated_on(first_day):
        raise ValidationFailed({"month": f"“{inst.name}”在 {first_day:%Y-%m-%d} 不在定点认定有效期内"})
    return _create_month(
        acting_user=acting_user, case=case, month=month, days=days, asked=asked, institution=inst
    )


@transaction.atomic
def rehab_settlement_create(*, acting_user, institution, month: date) -> Settlement:
    """An institution's monthly settlement from its children's service months not yet settled: asked = the
    months' asked amounts and meal subsidies; over the cap = the months' cuts. The engine's settlement
    workflow then takes it (submit, approve by another officer)."""
    from ..access import _active

    if not (
        _active(acting_user)
        and (
            acting_user.role == DISTRICT
            or (acting_user.role == INST and acting_user.institution_id == institution.pk)
        )
    ):
        raise PermissionDenied("您无权为该机构申报结算")
    month = month_start(month)
    if Settlement.objects.filter(institution=institution, programme=CODE, month=month).exists():
        raise ValidationFailed({"month": f"{institution.name} {month:%Y年%m月}的康复救助结算已申报"})
    rows = list(
        ChildRehabMonth.objects.select_for_update()
        .filter(institution=institution, month=month, case__programme=CODE, settlement__isnull=True)
        .order_by("pk")
    )
    if not rows:
        raise ValidationFailed({"month": f"{institution.name} {month:%Y年%m月}没有待结算的服务记录"})
    asked = sum((r.amount_asked + r.meal_amount for r in rows), ZERO)
    over = sum((r.amount_cut for r in rows), ZERO)
    s = Settlement.objects.create(
        institution=institution,
        programme=CODE,
        month=month,
        cases=len(rows),
        amount_asked=asked,
        amount_over_cap=over,
        created_by=acting_user,
    )
    ChildRehabMonth.objects.filter(pk__in=[r.pk for r in rows]).update(settlement=s)
    audit_record(
        acting_user=acting_user,
        action="settlement.create",
        obj=s,
        changes={
            "programme": [None, CODE],
            "cases": [None, len(rows)],
            "amount_asked": [None, str(asked)],
            "amount_over_cap": [None, str(over)],
            "meal_amount": [None, str(sum((r.meal_amount for r in rows), ZERO))],
        },
        detail=f"{month:%Y年%m月}康复救助结算：{len(rows)} 名儿童",
    )
    return s


# ---- referral outside the district (异地转介) ------------------------------------------------------------

R = ReferralState


def _referral_scope(user):
    from ..access import cases_workable

    return ChildRehabReferral.objects.filter(case__in=cases_workable(user))


def _approve_effect(referral, *, acting_user, data, history):
    case = referral.case
    transition(
        case,
        "refer",
        acting_user=acting_user,
        expected_state="approved",
        note=f"转介至{referral.destination}",
    )
    return {"case_state": ["approved", "referred"]}


def _complete_effect(referral, *, acting_user, data, history):
    total = referral.months.aggregate(a=Sum("amount_allowed"), m=Sum("meal_amount"))
    amount = ((total["a"] or ZERO) + (total["m"] or ZERO)).quantize(CENT)
    referral.reimbursed_total = amount
    referral.save(update_fields=["reimbursed_total"])
    return {"reimbursed_total": [None, str(amount)]}


def _validate_done(referral, data) -> dict:
    done = data.get("done_on")
    if done is not None and done < referral.requested_on:
        return {"done_on": f"完成日期不能早于申请日期 {referral.requested_on:%Y-%m-%d}"}
    return {}


REFERRAL_WORKFLOW = Workflow(
    code="child_rehab_referral",
    name="异地转介",
    states=dict(R.choices),
    initial=R.DRAFT,
    scope=_referral_scope,
    field_labels={"decision_reason": "审批意见", "done_on": "完成日期"},
    moves=(
        Move("request", "提交转介申请", (R.DRAFT,), R.REQUESTED, {TOWN, DISTRICT}),
        Move(
            "approve",
            "同意转介",
            (R.REQUESTED,),
            R.APPROVED,
            {DISTRICT},
            checker_of=("request",),
            records=("decision_reason",),
            effect=_approve_effect,
        ),
        Move(
            "reject",
            "不同意转介",
            (R.REQUESTED,),
            R.REJECTED,
            {DISTRICT},
            checker_of=("request",),
            requires=("decision_reason",),
            records=("decision_reason",),
        ),
        Move(
            "complete",
            "转介完成",
            (R.APPROVED,),
            R.DONE,
            {DISTRICT},
            requires=("done_on",),
            records=("done_on",),
            validate=_validate_done,
            effect=_complete_effect,
        ),
    ),
)


@transaction.atomic
def referral_request(
    *,
    acting_user,
    case: Case,
    destination: str,
    destination_place: str,
    reason: str,
    requested_on: date,
    consent: bool,
) -> ChildRehabReferral:
    """The guardian asks to be served by an institution outside the district (recorded by town or district
    staff, with the guardian's written consent); the DPF then approves or rejects it."""
    from ..access import cases_workable

    if (
        acting_user.role not in (TOWN, DISTRICT)
        or not cases_workable(acting_user).filter(pk=case.pk).exists()
    ):
        raise PermissionDenied("未找到该康复救助个案，或您无权办理转介")
    case = Case.objects.select_for_update().get(pk=case.pk)
    errors = {}
    if case.programme != CODE:
        errors["case"] = "只有康复救助个案可以办理异地转介"
    elif case.state != "approved":
        errors["case"] = f"个案状态为“{case.state_label}”，审核通过且尚未选定本区机构的个案才能办理异地转介"
    given = {"destination": destination, "destination_place": destination_place, "reason": reason}
    labels = {"destination": "转介机构", "destination_place": "机构所在地", "reason": "转介原因"}
    for field, value in given.items():
        if not (value or "").strip():
            errors[field] = f"请填写{labels[field]}"
    if not consent:
        errors["consent"] = "须有监护人书面同意"
    if requested_on > timezone.localdate():
        errors["requested_on"] = "申请日期不能晚于今天"
    if ChildRehabReferral.objects.filter(case=case, state__in=(R.DRAFT, R.REQUESTED, R.APPROVED)).exists():
        errors["case"] = "该个案已有办理中的转介"
    if errors:
        raise ValidationFailed(errors)
    referral = ChildRehabReferral.objects.create(
        case=case,
        destination=destination.strip()[:100],
        destination_place=destination_place.strip()[:50],
        reason=reason.strip()[:200],
        consent=True,
        requested_on=requested_on,
        created_by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action="child_rehab_referral.create",
        obj=referral,
        changes={
            "case": [None, case.pk],
            "destination": [None, f"{referral.destination_place}·{referral.destination}"],
            "reason": [None, referral.reason],
            "requested_on": [None, requested_on.isoformat()],
            "consent": [None, True],
        },
        detail=f"登记异地转介申请：{referral.destination_place}·{referral.destination}（{referral.reason}）",
    )
    return transition(referral, "request", acting_user=acting_user, expected_state=R.DRAFT)


@transaction.atomic
def referral_reimburse(
    *, acting_user, referral: ChildRehabReferral, month: date, days_attended, amount_paid
) -> ChildRehabMonth:
    """The guardian paid an institution outside the district for a month of an approved referral; the
    district reimburses at the home standard: what is left of the child's yearly cap (never the other
    institution's price), plus the meal subsidy."""
    if acting_user.role != DISTRICT:
        raise PermissionDenied("异地转介报销由区残联办理")
    try:
        referral = _referral_scope(acting_user).select_for_update().get(pk=referral.pk)
    except ChildRehabReferral.DoesNotExist:
        raise PermissionDenied("未找到该转介，或您无权办理") from None
    if referral.state != R.APPROVED:
        raise DomainError(f"转介状态为“{referral.get_state_display()}”，同意转介后才能报销")
    case = _lock_child(acting_user, referral.case)
    paid = _money(amount_paid, "amount_paid")
    errors = {}
    if month_start(month) < month_start(referral.requested_on):
        errors["month"] = f"转介申请于 {referral.requested_on:%Y-%m-%d}，不能报销之前月份"
    if errors:
        raise ValidationFailed(errors)
    month, days = _check_month(case, month, days_attended, states=("referred",))
    return _create_month(
        acting_user=acting_user,
        case=case,
        month=month,
        days=days,
        asked=paid,
        referral=referral,
        asked_label=f"外地机构（{referral.destination}）收费",
    )


# ---- reads: the indicator and the facts the benefits rule reads ----------------------------------------


def child_rehab_served_by_town(year: int) -> dict[int, int]:
    """Town id → children with at least one service month (local or on a referral) in ``year``; a child
    counts once, in the town of the case of their first service month that year (counted in the database)."""
    from django.db.models import F

    from ..selectors import firsts_by_town

    return firsts_by_town(
        ChildRehabMonth.objects.filter(
            case__programme=CODE, month__gte=date(year, 1, 1), month__lte=date(year, 12, 31)
        ),
        person="case__person_id",
        town="case__town_id",
        order_by=[F("month").asc(), F("id").asc()],
    )


def rehab_need_facts(*, month: date, person_ids):
    """The benefits facts provider (``rehab_need``): True for a child whose need was assessed and approved
    and whose case runs in ``month`` (approved on or before its last day, not closed before its first)."""
    import polars as pl

    first, last = month_start(month), month_end(month)
    ids = [int(x) for x in (person_ids.to_list() if hasattr(person_ids, "to_list") else person_ids)]
    qs = (
        Case.objects.filter(
            programme=CODE, state__in=NEED_ASSESSED, person_id__in=ids, child_rehab__applied_on__lte=last
        )
        .filter(Q(closed_on__isnull=True) | Q(closed_on__gte=first))
        .values_list("person_id", flat=True)
        .distinct()
    )
    found = sorted(set(qs))
    if not found:
        return None
    return pl.DataFrame(
        {"person_id": found, "rehab_need": [True] * len(found)},
        schema={"person_id": pl.Int64, "rehab_need": pl.Boolean},
    )


from . import child_rehab_roster  # noqa: E402,F401  (registers the roster import)
