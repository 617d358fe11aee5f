"""Settlement with providers: the institution asks for a month, the district decides (over the cap and
rejected amounts with a reason), a second district officer approves (maker ≠ checker)."""

from __future__ import annotations

from calendar import monthrange
from datetime import date
from decimal import Decimal

from django.db import transaction

from canlian.accounts.models import Role
from canlian.common.audit import audit_record
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.workflow import Move, Workflow, transition

from . import access
from .models import Case, Settlement
from .programme import parameters, programme_get

S = Settlement.State
CENT = Decimal("0.01")


def _scope(user):
    return access.settlements_workable(user)


SETTLEMENT_WORKFLOW = Workflow(
    code="settlement",
    name="机构结算",
    states=dict(S.choices),
    initial=S.DRAFT,
    scope=_scope,
    field_labels={"reject_reason": "退回理由"},
    moves=(
        Move(
            "submit",
            "提交结算",
            (S.DRAFT, S.REJECTED),
            S.SUBMITTED,
            {Role.INSTITUTION_STAFF, Role.DISTRICT_STAFF},
        ),
        Move(
            "approve",
            "核定",
            (S.SUBMITTED,),
            S.APPROVED,
            {Role.DISTRICT_STAFF},
            checker_of=("submit",),
            requires=("amount_approved",),
            records=(
                "amount_approved",
                "amount_rejected",
                "reject_reason",
                "amount_adjusted",
                "adjust_reason",
            ),
        ),
        Move(
            "reject",
            "退回",
            (S.SUBMITTED,),
            S.REJECTED,
            {Role.DISTRICT_STAFF},
            checker_of=("submit",),
            requires=("reject_reason",),
            records=("reject_reason",),
        ),
    ),
)


def month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    return first, first.replace(day=monthrange(first.year, first.month)[1])


def _money(value, field: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except Exception:
        raise ValidationFailed({field: "金额格式不正确"}) from None
    if d != d.quantize(CENT):
        raise ValidationFailed({field: "金额须精确到分"})
    return d


def cases_served_in_month(institution, programme: str, month: date):
    first, last = month_bounds(month)
    from django.db.models import Q

    return Case.objects.filter(institution=institution, programme=programme, opened_on__lte=last).filter(
        Q(closed_on__isnull=True) | Q(closed_on__gte=first)
    )


@transaction.atomic
def settlement_create(*, acting_user, institution, programme: str, month: date, amount_asked) -> Settlement:
    """The institution (or the district for it) records what it asks for a month; the over-the-cap part is
    worked out now from the month's cases and the programme's dated cap."""
    if not (
        access._active(acting_user)
        and (
            acting_user.role == Role.DISTRICT_STAFF
            or (acting_user.role == Role.INSTITUTION_STAFF and acting_user.institution_id == institution.pk)
        )
    ):
        raise PermissionDenied("您无权为该机构申报结算")
    p = programme_get(programme)
    month = month.replace(day=1)
    asked = _money(amount_asked, "amount_asked")
    if asked < 0:
        raise ValidationFailed({"amount_asked": "申报金额不能为负数"})
    if Settlement.objects.filter(institution=institution, programme=programme, month=month).exists():
        raise ValidationFailed({"month": f"{institution.name} {month:%Y年%m月}的{p.name}结算已申报"})
    n = cases_served_in_month(institution, programme, month).count()
    over = Decimal("0")
    if p.monthly_cap:
        cap = parameters().at(p.monthly_cap, month) * n
        over = max(Decimal("0"), asked - cap).quantize(CENT)
    s = Settlement.objects.create(
        institution=institution,
        programme=programme,
        month=month,
        cases=n,
        amount_asked=asked,
        amount_over_cap=over,
        created_by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action="settlement.create",
        obj=s,
        changes={
            "amount_asked": [None, str(asked)],
            "cases": [None, n],
            "amount_over_cap": [None, str(over)],
        },
    )
    return s


@transaction.atomic
def settlement_decide(
    *,
    acting_user,
    settlement: Settlement,
    expected_state: str,
    rejected="0",
    reject_reason: str = "",
    adjusted="0",
    adjust_reason: str = "",
    note: str = "",
) -> Settlement:
    """The checker approves: approved = asked − over the cap − rejected; a rejected part or an adjustment
    needs its reason."""
    rejected, adjusted = _money(rejected, "amount_rejected"), _money(adjusted, "amount_adjusted")
    errors = {}
    if rejected < 0:
        errors["amount_rejected"] = "核减金额不能为负数"
    if rejected and not reject_reason.strip():
        errors["reject_reason"] = "请填写核减理由"
    if adjusted and not adjust_reason.strip():
        errors["adjust_reason"] = "请填写调整理由"
    settlement = Settlement.objects.get(
        pk=settlement.pk
    )  # amounts as stored (transition re-locks and re-checks)
    if settlement.amount_over_cap + rejected > settlement.amount_asked:
        errors["amount_rejected"] = (
            f"核减金额不能超过申报金额减去超出上限部分（{settlement.amount_asked - settlement.amount_over_cap}）"
        )
    if errors:
        raise ValidationFailed(errors)
    return transition(
        settlement,
        "approve",
        acting_user=acting_user,
        expected_state=expected_state,
        note=note,
        amount_approved=settlement.amount_asked - settlement.amount_over_cap - rejected,
        amount_rejected=rejected,
        reject_reason=reject_reason.strip(),
        amount_adjusted=adjusted,
        adjust_reason=adjust_reason.strip(),
    )
