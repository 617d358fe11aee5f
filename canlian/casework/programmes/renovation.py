"""Home accessibility renovation 困难重度残疾人家庭无障碍改造 (SERVICES.md §7, issue 9 §5).

A case is one household's renovation, opened for the applicant (a person with a grade 1–2 certificate, in
hardship — 低保 / 低保边缘 / 特困 / 支出型困难 — in the month of the application, in a house that may be
altered). Moves: applied → town reviewed → surveyed (home check: date, notes, at least one survey photo) →
planned (一户一策: the plan's items, summed against the household cap, a dated parameter) → approved by the
district (not the planner) → in works (contractor, contract amount ≤ plan, start) → works done → accepted
(acceptance date and at least one acceptance photo; not by whoever procured or recorded the works).
``renovation_done_by_town`` counts households accepted in the year.

The household: the registry has no household table, so persons of the same town with the same address (all
whitespace removed) are one household; a person without an address is a household alone. One active case
(not rejected, not accepted) per household. Priority (一户多残 / 以老养残) is read by ``household_priority``
from the dated person facts (``registry.PersonCircumstance`` kind ``multiple_in_household``) when that model
exists; it is shown and sorts the list, it does not decide eligibility.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.apps import apps
from django.db import transaction
from django.db.models import Q

from canlian.accounts.models import Role
from canlian.common.audit import audit_record
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.workflow import Move, Workflow

from ..models import Case, RenovationItem, RenovationPhoto
from ..programme import Programme, parameters, programme_register
from ..services import data_effect

CODE = "renovation"
TOWN, DISTRICT = Role.TOWN_STAFF, Role.DISTRICT_STAFF
CENT = Decimal("0.01")
ZERO = Decimal("0")

STATES = {
    "applied": "已申请",
    "town_reviewed": "镇(街道)审核通过",
    "surveyed": "已入户勘查",
    "planned": "改造方案待审定",
    "approved": "方案已审定",
    "in_works": "施工中",
    "works_done": "施工完成待验收",
    "accepted": "已验收",
    "rejected": "未通过",
}
ACTIVE = ("applied", "town_reviewed", "surveyed", "planned", "approved", "in_works", "works_done")
HARDSHIP = {"dibao": "低保", "near_dibao": "低保边缘", "tekun": "特困供养", "spending_hardship": "支出型困难"}


def fmt(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def household_cap(day: date) -> Decimal:
    return Decimal(str(parameters().at("renovation.household_cap", day))).quantize(CENT)


def household_key(person) -> str:
    """Same town and same address (whitespace removed) = one household; no address = the person alone."""
    address = "".join((person.address or "").split())
    return f"{person.town_id}:{address}" if address else f"person:{person.pk}"


def month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, date.fromordinal(nxt.toordinal() - 1)


# ---- eligibility and priority ----------------------------------------------------------------------------


def severe_certificate(person, day: date):
    """The person's certificate valid on ``day`` if it is grade 1 or 2, else None."""
    from canlian.registry.models import Certificate

    from .custodial_care import certificate_on

    cert = certificate_on(list(Certificate.objects.filter(person=person)), day)
    return cert if cert is not None and cert.grade <= 2 else None


def hardship_in_month(person, day: date) -> str:
    """The hardship status (code) of the person's household at any time in ``day``'s month, or ""."""
    from canlian.registry.models import EconomicStatusPeriod

    first, last = month_bounds(day)
    found = (
        EconomicStatusPeriod.objects.filter(person=person, status__in=HARDSHIP, valid_from__lte=last)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=first))
        .order_by("-valid_from")
        .values_list("status", flat=True)
        .first()
    )
    return found or ""


def household_priority(person, day: date) -> list[str]:
    """一户多残 / 以老养残 in ``day``'s month from the dated person facts (``PersonCircumstance``, branch
    ``facts``); [] while that model is absent. The one place to point at the facts."""
    try:
        Circumstance = apps.get_model("registry", "PersonCircumstance")
    except LookupError:
        return []
    first, last = month_bounds(day)
    hit = (
        Circumstance.objects.filter(person=person, kind="multiple_in_household", valid_from__lte=last)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=first))
        .exists()
    )
    return ["一户多残或以老养残"] if hit else []


def eligibility_errors(*, person, applied_on: date, house_alterable: bool) -> dict[str, str]:
    errors = {}
    if severe_certificate(person, applied_on) is None:
        errors["person"] = f"{applied_on:%Y-%m-%d} 无有效的一级或二级残疾人证，不在无障碍改造范围"
    if not hardship_in_month(person, applied_on):
        errors["hardship"] = (
            f"{applied_on:%Y年%m月}家庭经济状况不是低保、低保边缘、特困供养或支出型困难，不在无障碍改造范围"
        )
    if not house_alterable:
        errors["house_alterable"] = "住房须具备改造条件（自有或经产权人同意、不在拆迁范围）"
    return errors


def _active_in_household(key: str, *, exclude=None):
    qs = Case.objects.filter(programme=CODE, state__in=ACTIVE, data__household=key)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return qs.select_related("person").first()


@transaction.atomic
def renovation_apply(*, acting_user, person, applied_on: date, house_alterable: bool, note: str = "") -> Case:
    """Open a household's renovation case after checking eligibility and one active case per household."""
    from canlian.registry.models import Person

    from ..services import case_open

    # lock the household's persons so two applications for one household cannot both pass
    list(Person.objects.select_for_update().filter(pk=person.pk))
    errors = eligibility_errors(person=person, applied_on=applied_on, house_alterable=house_alterable)
    key = household_key(person)
    other = _active_in_household(key)
    if other is not None:
        errors["household"] = (
            f"同一户已有进行中的无障碍改造（{other.person.name}，{other.opened_on:%Y-%m-%d} 申请，"
            f"{other.state_label}），一户一策"
        )
    if errors:
        raise ValidationFailed(errors)
    return case_open(
        acting_user=acting_user,
        programme=CODE,
        person=person,
        opened_on=applied_on,
        data={
            "household": key,
            "hardship": HARDSHIP[hardship_in_month(person, applied_on)],
            "priority": "、".join(household_priority(person, applied_on)) or "无",
            "house_alterable": "是",
            "note": note.strip()[:200],
        },
    )


# ---- the plan and the photos -----------------------------------------------------------------------------


def _lock(acting_user, case: Case, states: tuple[str, ...], what: str) -> Case:
    from ..access import cases_workable

    try:
        locked = cases_workable(acting_user).select_for_update().get(pk=case.pk, programme=CODE)
    except Case.DoesNotExist:
        raise PermissionDenied("未找到该个案，或您无权办理") from None
    if locked.state not in states:
        labels = "、".join(STATES[s] for s in states)
        raise ValidationFailed({"state": f"{what}只能在“{labels}”时办理，当前为“{locked.state_label}”"})
    return locked


def plan_total(case: Case) -> Decimal:
    return sum((i.amount for i in case.renovation_items.all()), ZERO)


def _decimal(value, field: str, label: str) -> Decimal:
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed({field: f"{label}格式不正确"}) from None
    if not d.is_finite():
        raise ValidationFailed({field: f"{label}格式不正确"})
    return d


@transaction.atomic
def renovation_item_add(
    *, acting_user, case: Case, name: str, unit: str, quantity, unit_price
) -> RenovationItem:
    """Add a line to the household's plan (after the home check, before the plan is submitted); the plan's
    total may not exceed the household cap on the survey date."""
    if acting_user.role not in {TOWN, DISTRICT}:
        raise PermissionDenied("改造方案由镇(街道)或区残联编制")
    locked = _lock(acting_user, case, ("surveyed",), "编制改造方案")
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "请填写改造项目"
    qty = _decimal(quantity, "quantity", "数量")
    price = _decimal(unit_price, "unit_price", "单价")
    if qty <= 0 or qty != qty.quantize(CENT):
        errors["quantity"] = "数量应大于 0，最多两位小数"
    if price < 0 or price != price.quantize(CENT):
        errors["unit_price"] = "单价应为不小于 0 且精确到分的金额"
    if errors:
        raise ValidationFailed(errors)
    amount = (qty * price).quantize(CENT, rounding=ROUND_HALF_UP)
    day = date.fromisoformat(locked.data.get("survey_on") or locked.opened_on.isoformat())
    cap = household_cap(day)
    total = plan_total(locked) + amount
    if total > cap:
        raise ValidationFailed(
            {"unit_price": f"加上本项 {fmt(amount)} 元后方案合计 {fmt(total)} 元，超过每户上限 {fmt(cap)} 元"}
        )
    item = RenovationItem.objects.create(
        case=locked,
        name=name[:100],
        unit=(unit or "").strip()[:10],
        quantity=qty,
        unit_price=price,
        amount=amount,
        created_by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action=f"case.{CODE}.item_add",
        obj=locked,
        changes={"item": [None, item.name], "amount": [None, str(amount)], "plan_total": [None, str(total)]},
        detail=f"改造方案增加“{item.name}”{qty}{item.unit}×{fmt(price)}元={fmt(amount)}元，合计{fmt(total)}元",
    )
    return item


@transaction.atomic
def renovation_item_remove(*, acting_user, item: RenovationItem) -> None:
    if acting_user.role not in {TOWN, DISTRICT}:
        raise PermissionDenied("改造方案由镇(街道)或区残联编制")
    locked = _lock(acting_user, item.case, ("surveyed",), "修改改造方案")
    item = RenovationItem.objects.get(pk=item.pk, case=locked)
    audit_record(
        acting_user=acting_user,
        action=f"case.{CODE}.item_remove",
        obj=locked,
        changes={"item": [item.name, None], "amount": [str(item.amount), None]},
        detail=f"改造方案删除“{item.name}”{fmt(item.amount)}元",
    )
    item.delete()


PHOTO_STATES = {"survey": ("town_reviewed", "surveyed"), "acceptance": ("works_done",)}
IMAGE_TYPES = ("image/jpeg", "image/png", "image/heic", "image/webp")


@transaction.atomic
def renovation_photo_add(
    *, acting_user, case: Case, stage: str, name: str, content: bytes, content_type: str
) -> RenovationPhoto:
    """A survey or acceptance photo, kept as an encrypted case attachment."""
    from ..services import attachment_add

    if stage not in PHOTO_STATES:
        raise ValidationFailed({"stage": "照片环节应为 入户勘查 或 竣工验收"})
    label = RenovationPhoto.Stage(stage).label
    locked = _lock(acting_user, case, PHOTO_STATES[stage], f"上传{label}照片")
    if content_type not in IMAGE_TYPES:
        raise ValidationFailed({"file": f"“{name}”不是照片（应为 JPG、PNG、HEIC 或 WEBP 图片）"})
    att = attachment_add(
        acting_user=acting_user, case=locked, name=name, content=content, content_type=content_type
    )
    return RenovationPhoto.objects.create(case=locked, attachment=att, stage=stage)


# ---- the workflow ----------------------------------------------------------------------------------------


def _case_scope(user):
    from ..access import cases_workable

    return cases_workable(user)


def _validate_survey(case, data) -> dict:
    errors = {}
    on = data.get("survey_on")
    if on is not None and on < case.opened_on:
        errors["survey_on"] = f"勘查日期不能早于申请日期 {case.opened_on:%Y-%m-%d}"
    if not case.renovation_photos.filter(stage="survey").exists():
        errors["photo"] = "请先上传入户勘查照片"
    return errors


def _validate_plan(case, data) -> dict:
    total = plan_total(case)
    if total <= 0:
        return {"items": "改造方案还没有项目，请先添加改造项目"}
    cap = household_cap(date.fromisoformat(case.data.get("survey_on") or case.opened_on.isoformat()))
    if total > cap:
        return {"items": f"方案合计 {fmt(total)} 元超过每户上限 {fmt(cap)} 元"}
    return {}


def _plan_effect(case, *, acting_user, data, history):
    old = case.data.get("plan_total")
    case.data["plan_total"] = str(plan_total(case))
    case.save(update_fields=["data"])
    return {"plan_total": [old, case.data["plan_total"]]}


def _validate_procure(case, data) -> dict:
    amount, total = data.get("amount_contract"), Decimal(case.data.get("plan_total") or "0")
    if amount is not None and not (ZERO < amount <= total and amount == amount.quantize(CENT)):
        return {"amount_contract": f"合同金额应大于 0、精确到分，且不超过审定方案合计 {fmt(total)} 元"}
    return {}


def _validate_complete(case, data) -> dict:
    end, start = data.get("works_to"), case.data.get("works_from")
    if end is not None and start and end < date.fromisoformat(start):
        return {"works_to": f"完工日期不能早于开工日期 {start}"}
    return {}


def _validate_accept(case, data) -> dict:
    errors = {}
    on, done = data.get("closed_on"), case.data.get("works_to")
    if on is not None and done and on < date.fromisoformat(done):
        errors["closed_on"] = f"验收日期不能早于完工日期 {done}"
    if not case.renovation_photos.filter(stage="acceptance").exists():
        errors["photo"] = "请先上传竣工验收照片"
    return errors


WORKFLOW = Workflow(
    code=f"case.{CODE}",
    name="无障碍改造",
    states=STATES,
    initial="applied",
    scope=_case_scope,
    field_labels={
        "close_reason": "原因",
        "survey_on": "勘查日期",
        "survey_notes": "勘查记录",
        "return_reason": "退回原因",
        "contractor": "施工单位",
        "amount_contract": "合同金额(元)",
        "works_from": "开工日期",
        "works_to": "完工日期",
        "closed_on": "验收日期",
    },
    moves=(
        Move("town_review", "镇(街道)审核通过", ("applied",), "town_reviewed", {TOWN}),
        Move(
            "survey",
            "入户勘查",
            ("town_reviewed",),
            "surveyed",
            {TOWN, DISTRICT},
            requires=("survey_on", "survey_notes"),
            validate=_validate_survey,
            effect=data_effect("survey_on", "survey_notes"),
        ),
        Move(
            "plan",
            "提交改造方案",
            ("surveyed",),
            "planned",
            {TOWN},
            validate=_validate_plan,
            effect=_plan_effect,
        ),
        Move("approve", "区残联审定方案", ("planned",), "approved", {DISTRICT}, checker_of=("plan",)),
        Move(
            "return_plan",
            "退回修改方案",
            ("planned",),
            "surveyed",
            {DISTRICT},
            requires=("return_reason",),
            effect=data_effect("return_reason"),
        ),
        Move(
            "procure",
            "确定施工单位",
            ("approved",),
            "in_works",
            {TOWN, DISTRICT},
            requires=("contractor", "amount_contract", "works_from"),
            validate=_validate_procure,
            effect=data_effect("contractor", "amount_contract", "works_from"),
        ),
        Move(
            "complete",
            "施工完成",
            ("in_works",),
            "works_done",
            {TOWN, DISTRICT},
            requires=("works_to",),
            validate=_validate_complete,
            effect=data_effect("works_to"),
        ),
        Move(
            "accept",
            "竣工验收",
            ("works_done",),
            "accepted",
            {TOWN, DISTRICT},
            checker_of=("procure", "complete"),
            requires=("closed_on",),
            records=("closed_on",),
            validate=_validate_accept,
        ),
        Move(
            "reject",
            "审核不通过",
            ("applied", "town_reviewed", "surveyed", "planned"),
            "rejected",
            {TOWN, DISTRICT},
            requires=("close_reason",),
            records=("close_reason",),
        ),
    ),
)


def _detail_context(user, case):
    items = list(case.renovation_items.all())
    day = date.fromisoformat(case.data.get("survey_on") or case.opened_on.isoformat())
    return {
        "items": items,
        "total": sum((i.amount for i in items), ZERO),
        "cap": household_cap(day),
        "photos": list(case.renovation_photos.select_related("attachment")),
        "can_edit_plan": case.state == "surveyed" and user.role in {TOWN, DISTRICT},
        "photo_stages": [s for s, states in PHOTO_STATES.items() if case.state in states],
    }


PROGRAMME = programme_register(
    Programme(
        code=CODE,
        name="无障碍改造",
        workflow=WORKFLOW,
        data_fields={
            "hardship": "家庭经济状况",
            "priority": "优先对象",
            "house_alterable": "住房具备改造条件",
            "survey_on": "勘查日期",
            "survey_notes": "勘查记录",
            "plan_total": "方案合计(元)",
            "return_reason": "方案退回原因",
            "contractor": "施工单位",
            "amount_contract": "合同金额(元)",
            "works_from": "开工日期",
            "works_to": "完工日期",
            "note": "备注",
            "household": "户（镇:住址）",
        },
        detail_template="casework/renovation/_detail.html",
        detail_context=_detail_context,
        create_url="casework:renovation_apply",
    )
)


# ---- the indicator ---------------------------------------------------------------------------------------


def renovation_done_by_town(year: int) -> dict[int, int]:
    """Town id → households whose renovation was accepted (验收) in ``year`` (by the acceptance date; a
    household counts once per town however many of its cases were accepted that year; a case without a
    household key is its person's own). ``COUNT(DISTINCT …) GROUP BY town`` in the database."""
    from django.db.models import CharField, Count, Value
    from django.db.models.fields.json import KT
    from django.db.models.functions import Cast, Coalesce, Concat, NullIf

    key = Coalesce(
        NullIf(KT("data__household"), Value("")),
        Concat(Value("person:"), Cast("person_id", CharField())),
        output_field=CharField(),
    )
    rows = (
        Case.objects.filter(
            programme=CODE,
            state="accepted",
            closed_on__gte=date(year, 1, 1),
            closed_on__lte=date(year, 12, 31),
        )
        .values("town_id")
        .annotate(n=Count(key, distinct=True))
        .order_by()
    )
    return {r["town_id"]: r["n"] for r in rows}


from . import renovation_roster  # noqa: E402,F401  (registers the roster import)
