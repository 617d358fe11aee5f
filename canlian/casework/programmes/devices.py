"""Assistive devices 辅助器具适配 (SERVICES.md §3, 苏残发〔2018〕57号) on the case engine.

A case is one device for one person: the application (entered by town staff for the village worker who took
it, naming the device asked for and the catalogue version in force on the application date) → village first
review → town review → assessment by the district (proposes an item of *that* catalogue version and the
service point that fits it) → district approval by another officer (maker ≠ checker) → fitting and delivery
(price; subsidy = min(price, cap), the person pays the rest, exact to the fen; a return visit falls due) or
rejection with the reason at any review.

Replacement cycle: a person may not be fitted again with a device of the same ISO 9999 **subclass**
(class + subclass, the first 4 digits: 12 22 = manual wheelchairs) until the item's replacement cycle after
the last fitting has passed. Subclass, not the exact 6-digit code, because the divisions inside a subclass are
variants of one function (a folding and a rigid manual wheelchair), so a person fitted with one would
otherwise get the other at once, and because a catalogue version may renumber divisions. The application,
the assessment and the roster import are each refused with the first date the device is allowed again.

Catalogue versions are imported from the upper-level xlsx (``catalogue_import``); ``catalogue_diff`` says
what changed between two versions. Devices are also lent from service points (``loan_lend`` /
``loan_return``; ``loans_visible`` with what is out and overdue). ``devices_fitted_by_town`` is the indicator.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction
from django.db.models import QuerySet

from canlian.accounts.models import Role
from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.workflow import Move, Workflow

from ..device_models import DeviceCatalogVersion, DeviceFitting, DeviceItem, DeviceLoan
from ..models import Case
from ..programme import DueRule, Programme, parameters, programme_register
from ..services import _schedule, case_open

CODE = "devices"
TOWN, DISTRICT, INST = Role.TOWN_STAFF, Role.DISTRICT_STAFF, Role.INSTITUTION_STAFF
CENT = Decimal("0.01")
SERVICE_POINT = "device_service_point"

STATES = {
    "applied": "已申请",
    "village_reviewed": "村(社区)初审通过",
    "town_reviewed": "镇(街道)审核通过",
    "assessed": "已评估",
    "approved": "区残联审批通过",
    "fitted": "已适配交付",
    "rejected": "未通过",
}
OPEN_STATES = ("applied", "village_reviewed", "town_reviewed", "assessed", "approved")
CATEGORY_LABELS = {1: "视力", 2: "听力", 3: "言语", 4: "肢体", 5: "智力", 6: "精神", 7: "多重"}
CATEGORY_CODES = {v: k for k, v in CATEGORY_LABELS.items()}


def fen(amount: Decimal) -> Decimal:
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def fmt(amount) -> str:
    return f"{amount:,.2f}"


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later; 29 February becomes 28 February in a common year."""
    year = day.year + years
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


def normalise_code(text) -> str:
    """``12 22 03`` / ``12.22.03`` / ``122203`` → ``122203``; a float cell 122203.0 too; else ''."""
    if text is None:
        return ""
    if isinstance(text, float) and text.is_integer():
        text = int(text)
    digits = "".join(ch for ch in str(text) if not ch.isspace() and ch not in ".-")
    return digits if len(digits) == 6 and digits.isdigit() else ""


# ---- the catalogue --------------------------------------------------------------------------------------


def version_in_force(day: date) -> DeviceCatalogVersion | None:
    return DeviceCatalogVersion.objects.filter(effective_from__lte=day).order_by("-effective_from").first()


def item_find(version: DeviceCatalogVersion, text: str) -> DeviceItem | None:
    """An item of ``version`` by its code (any spacing) or exact name."""
    text = (text or "").strip()
    code = normalise_code(text)
    qs = DeviceItem.objects.filter(version=version)
    return (qs.filter(code=code) if code else qs.filter(name=text)).first()


CATALOGUE_COLUMNS = {
    "code": ("编码", "辅具编码", "分类编码", "GB/T 16432编码", "ISO编码", "代码"),
    "name": ("名称", "辅具名称", "产品名称"),
    "cap": ("补贴上限", "最高补贴", "补贴标准", "补贴上限（元）", "补贴限额"),
    "years": ("更换周期", "更换年限", "使用年限", "更换周期（年）"),
    "categories": ("适用类别", "适用对象", "适用残疾类别", "残疾类别"),
    "personalised": ("个性化", "个性化适配", "是否个性化"),
    "smart": ("智能", "智能辅具", "是否智能"),
}
CATALOGUE_REQUIRED = {
    "code": "编码",
    "name": "名称",
    "cap": "补贴上限",
    "years": "更换周期",
    "categories": "适用类别",
}
YES = {"是", "Y", "y", "yes", "1", "√", "TRUE", "True", "true"}


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _parse_catalogue(source, filename: str) -> tuple[list[dict], list[dict]]:
    from canlian.common.spreadsheet import SpreadsheetError, column_letter, read_table

    try:
        table = read_table(source, aliases=CATALOGUE_COLUMNS, required=CATALOGUE_REQUIRED, filename=filename)
    except SpreadsheetError as exc:
        raise ValidationFailed({"file": str(exc)}) from None
    items, errors, seen = [], [], {}

    def cell(cells, key):
        i = table.columns.get(key)
        return cells[i] if i is not None and i < len(cells) else None

    for number, cells in table.rows:

        def err(key, message, number=number):
            col = column_letter(table.columns[key]) if key in table.columns else ""
            errors.append(
                {
                    "row": number,
                    "column": table.header_of(key, CATALOGUE_REQUIRED.get(key, key)),
                    "message": f"第{number}行{col}列（{table.header_of(key, key)}）：{message}",
                }
            )

        raw_code = cell(cells, "code")
        code = normalise_code(raw_code)
        if not code:
            err("code", f"编码“{_cell_text(raw_code)}”应为 6 位数字（主类、次类、支类各两位，如 12 22 03）")
        name = str(cell(cells, "name") or "").strip()
        if not name:
            err("name", "名称不能为空")
        try:
            cap = Decimal(str(cell(cells, "cap")).strip().replace(",", ""))
            if not cap.is_finite() or cap < 0 or cap != cap.quantize(CENT):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            cap = None
            err("cap", f"补贴上限“{_cell_text(cell(cells, 'cap'))}”应为不小于 0、精确到分的金额")
        raw_years = cell(cells, "years")
        try:
            years = int(Decimal(str(raw_years).strip().rstrip("年")))
            if years < 1 or Decimal(str(raw_years).strip().rstrip("年")) != years:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            years = None
            err("years", f"更换周期“{_cell_text(raw_years)}”应为不小于 1 的整数年")
        cats_text = str(cell(cells, "categories") or "").strip()
        parts = [
            p for p in cats_text.replace("，", "、").replace(",", "、").replace(" ", "、").split("、") if p
        ]
        parts = [p.removesuffix("残疾") for p in parts]
        unknown = [p for p in parts if p not in CATEGORY_CODES]
        if not parts or unknown:
            err(
                "categories",
                f"适用类别“{cats_text}”无法识别，应为 视力、听力、言语、肢体、智力、精神、多重 中的一项或多项",
            )
        if code and code in seen:
            err("code", f"编码 {code} 与第{seen[code]}行重复")
        seen.setdefault(code, number)
        items.append(
            {
                "code": code,
                "name": name,
                "cap": cap,
                "replacement_years": years,
                "categories": sorted({CATEGORY_CODES[p] for p in parts if p in CATEGORY_CODES}),
                "personalised": str(cell(cells, "personalised") or "").strip() in YES,
                "smart": str(cell(cells, "smart") or "").strip() in YES,
            }
        )
    return items, errors


def _can_manage_catalogue(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role == DISTRICT)


@transaction.atomic
def catalogue_import(
    *, acting_user, source, version: str, effective_from: date, filename: str = "", note: str = ""
) -> DeviceCatalogVersion:
    """A new catalogue version from the upper-level xlsx. All or nothing: any wrong cell refuses the file
    with every error by row and column. Earlier versions are kept unchanged for the cases opened under them."""
    if not _can_manage_catalogue(acting_user):
        raise PermissionDenied("辅具目录由区残联业务科室导入")
    version = (version or "").strip()
    if not version:
        raise ValidationFailed({"version": "请填写目录版本号"})
    if DeviceCatalogVersion.objects.filter(version=version).exists():
        raise ValidationFailed({"version": f"版本“{version}”已导入，请使用新的版本号"})
    if DeviceCatalogVersion.objects.filter(effective_from=effective_from).exists():
        raise ValidationFailed({"effective_from": f"已有 {effective_from:%Y-%m-%d} 启用的目录版本"})
    items, errors = _parse_catalogue(source, filename)
    if errors:
        exc = ValidationFailed({f"{e['row']}:{e['column']}": e["message"] for e in errors})
        exc.rows = errors
        raise exc
    previous = version_in_force(effective_from)
    v = DeviceCatalogVersion.objects.create(
        version=version,
        effective_from=effective_from,
        source=filename[:200],
        note=note[:200],
        imported_by=acting_user,
    )
    DeviceItem.objects.bulk_create([DeviceItem(version=v, **i) for i in items])
    diff = catalogue_diff(previous, v) if previous else None
    audit_record(
        acting_user=acting_user,
        action="devices.catalogue_import",
        obj=v,
        changes={
            "version": [previous.version if previous else None, version],
            "effective_from": [None, effective_from.isoformat()],
            "items": [None, len(items)],
            "added": [None, len(diff["added"]) if diff else len(items)],
            "removed": [None, len(diff["removed"]) if diff else 0],
            "changed": [None, len(diff["changed"]) if diff else 0],
        },
        detail=f"导入辅具目录 {version}（{effective_from:%Y-%m-%d} 起，{len(items)} 项）",
    )
    return v


DIFF_FIELDS = {
    "name": "名称",
    "cap": "补贴上限",
    "replacement_years": "更换周期",
    "categories": "适用类别",
    "personalised": "个性化",
    "smart": "智能",
}


def _show(field: str, value):
    if field == "categories":
        return "、".join(CATEGORY_LABELS[c] for c in value)
    if field == "cap":
        return fmt(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def catalogue_diff(old: DeviceCatalogVersion, new: DeviceCatalogVersion) -> dict:
    """What changed from ``old`` to ``new``: items added, removed, and changed field by field (by code)."""
    a = {i.code: i for i in old.items.all()}
    b = {i.code: i for i in new.items.all()}
    changed = []
    for code in sorted(a.keys() & b.keys()):
        fields = [
            (label, _show(f, getattr(a[code], f)), _show(f, getattr(b[code], f)))
            for f, label in DIFF_FIELDS.items()
            if getattr(a[code], f) != getattr(b[code], f)
        ]
        if fields:
            changed.append({"item": b[code], "fields": fields})
    return {
        "added": [b[c] for c in sorted(b.keys() - a.keys())],
        "removed": [a[c] for c in sorted(a.keys() - b.keys())],
        "changed": changed,
    }


# ---- the rules (pure or read-only) ---------------------------------------------------------------------


def subsidy_for(price: Decimal, cap: Decimal) -> tuple[Decimal, Decimal]:
    """(subsidy, the person's share): subsidy = min(price, cap), the person pays the rest; to the fen."""
    price, cap = fen(price), fen(cap)
    subsidy = min(price, cap)
    return subsidy, price - subsidy


def replacement_allowed_from(
    person, item: DeviceItem, *, exclude_case=None
) -> tuple[date, DeviceFitting] | None:
    """The first day ``person`` may be fitted again with a device of ``item``'s subsidy subclass, and the
    fitting that blocks it; None when no earlier fitting of the subclass blocks. The cycle is the earlier
    fitting's item's (the cycle it was subsidised under)."""
    qs = DeviceFitting.objects.filter(
        case__person=person,
        case__programme=CODE,
        fitted_on__isnull=False,
        item__code__startswith=item.subclass,
    ).select_related("item")
    if exclude_case is not None:
        qs = qs.exclude(case=exclude_case)
    best = None
    for f in qs:
        until = add_years(f.fitted_on, f.item.replacement_years)
        if best is None or until > best[0]:
            best = (until, f)
    return best


def replacement_error(person, item: DeviceItem, day: date, *, exclude_case=None) -> str:
    blocked = replacement_allowed_from(person, item, exclude_case=exclude_case)
    if blocked is None or day >= blocked[0]:
        return ""
    until, f = blocked
    return (
        f"{f.fitted_on:%Y-%m-%d} 已适配同类辅具“{f.item.name}”（{f.item.code_display[:5]} 次类），"
        f"更换周期 {f.item.replacement_years} 年，{until:%Y-%m-%d} 起方可再次申请"
    )


def eligibility_error(person, item: DeviceItem, day: date) -> str:
    from canlian.registry.models import Certificate

    from .custodial_care import certificate_on

    cert = certificate_on(list(Certificate.objects.filter(person=person)), day)
    if cert is None:
        return f"{day:%Y-%m-%d} 无有效残疾人证"
    cats = {cert.category}
    if cert.category == 7:
        cats |= {int(p["category"]) for p in (cert.components or [])}
    if not cats & set(item.categories):
        allowed = "、".join(CATEGORY_LABELS[c] for c in item.categories)
        return f"“{item.name}”适用于{allowed}残疾，该残疾人为{cert.get_category_display()}残疾"
    return ""


# ---- the workflow ----------------------------------------------------------------------------------------


def _case_scope(user):
    from ..access import cases_workable

    return cases_workable(user)


def _validate_assess(case, data) -> dict:
    errors = {}
    fitting = case.device_fitting
    item = item_find(fitting.version, data.get("item_code", ""))
    if item is None:
        errors["item_code"] = f"辅具目录 {fitting.version.version} 中没有“{data.get('item_code', '')}”"
    else:
        problem = eligibility_error(case.person, item, case.opened_on) or replacement_error(
            case.person, item, case.opened_on, exclude_case=case
        )
        if problem:
            errors["item_code"] = problem
    inst = data.get("institution")
    if inst is not None and inst.kind != SERVICE_POINT:
        errors["institution"] = f"“{inst.name}”不是辅具服务点"
    elif inst is not None and not inst.designated_on(case.opened_on):
        errors["institution"] = f"“{inst.name}”在 {case.opened_on:%Y-%m-%d} 不在认定有效期内"
    return errors


def _effect_assess(case, *, acting_user, data, history):
    fitting = DeviceFitting.objects.select_for_update().get(case=case)
    old = fitting.item
    fitting.item = item_find(fitting.version, data["item_code"])
    fitting.save(update_fields=["item"])
    return {
        "item": [old.code if old else None, fitting.item.code],
        "cap": [None, str(fitting.item.cap)],
    }


def _validate_deliver(case, data) -> dict:
    errors = {}
    price, day = data.get("amount_price"), data.get("fitted_on")
    if price is not None:
        try:
            price = Decimal(str(price))
            if not price.is_finite() or price <= 0 or price != price.quantize(CENT):
                errors["amount_price"] = "价格应为大于 0、精确到分的金额"
        except InvalidOperation:
            errors["amount_price"] = "价格格式不正确"
    if day is not None:
        if day < case.opened_on:
            errors["fitted_on"] = f"适配日期不能早于申请日期 {case.opened_on:%Y-%m-%d}"
        from django.utils import timezone

        if day > timezone.localdate():
            errors["fitted_on"] = "适配日期不能晚于今天"
        else:
            problem = replacement_error(case.person, case.device_fitting.item, day, exclude_case=case)
            if problem:
                errors["fitted_on"] = problem
    return errors


def _effect_deliver(case, *, acting_user, data, history):
    fitting = DeviceFitting.objects.select_for_update(of=("self",)).select_related("item").get(case=case)
    price = fen(Decimal(str(data["amount_price"])))
    fitting.subsidy, fitting.own_share = subsidy_for(price, fitting.item.cap)
    fitting.price, fitting.fitted_on = price, data["fitted_on"]
    fitting.save(update_fields=["price", "subsidy", "own_share", "fitted_on"])
    rule = next(r for r in PROGRAMME.due_rules if r.kind == "return_visit")
    return {
        "item": [None, fitting.item.code],
        "price": [None, str(fitting.price)],
        "cap": [None, str(fitting.item.cap)],
        "subsidy": [None, str(fitting.subsidy)],
        "own_share": [None, str(fitting.own_share)],
        "fitted_on": [None, fitting.fitted_on.isoformat()],
        "due_items": [None, _schedule(case, rule, anchor=fitting.fitted_on)],
    }


WORKFLOW = Workflow(
    code=f"case.{CODE}",
    name="辅助器具适配",
    states=STATES,
    initial="applied",
    scope=_case_scope,
    field_labels={
        "close_reason": "不通过原因",
        "item_code": "建议适配辅具（编码或名称）",
        "institution": "辅具服务点",
        "amount_price": "价格（元）",
        "fitted_on": "适配日期",
    },
    moves=(
        Move("village_review", "村(社区)初审通过", ("applied",), "village_reviewed", {TOWN}),
        Move("town_review", "镇(街道)审核通过", ("village_reviewed",), "town_reviewed", {TOWN}),
        Move(
            "assess",
            "评估并提出适配方案",
            ("town_reviewed",),
            "assessed",
            {DISTRICT},
            requires=("item_code", "institution"),
            records=("institution",),
            validate=_validate_assess,
            effect=_effect_assess,
        ),
        Move("approve", "区残联审批", ("assessed",), "approved", {DISTRICT}, checker_of=("assess",)),
        Move(
            "deliver",
            "适配交付",
            ("approved",),
            "fitted",
            {DISTRICT, INST},
            requires=("amount_price", "fitted_on"),
            validate=_validate_deliver,
            effect=_effect_deliver,
        ),
        Move(
            "reject",
            "审核不通过",
            ("applied", "village_reviewed", "town_reviewed", "assessed"),
            "rejected",
            {TOWN, DISTRICT},
            requires=("close_reason",),
            records=("close_reason",),
        ),
    ),
)


def _detail_context(user, case) -> dict:
    fitting = DeviceFitting.objects.select_related("version", "requested", "item").filter(case=case).first()
    blocked = None
    if fitting and fitting.item and fitting.fitted_on:
        blocked = add_years(fitting.fitted_on, fitting.item.replacement_years)
    return {"fitting": fitting, "next_allowed": blocked}


PROGRAMME = programme_register(
    Programme(
        code=CODE,
        name="辅助器具适配",
        workflow=WORKFLOW,
        due_rules=(
            DueRule(
                "return_visit",
                "回访",
                every=365,
                first_after="devices.return_visit_days",
                horizon_days=365,
                start_move="deliver",
            ),
        ),
        institution_kinds=(SERVICE_POINT,),
        detail_template="casework/devices/_case.html",
        detail_context=_detail_context,
        create_url="casework:devices_apply",
    )
)


# ---- the application ----------------------------------------------------------------------------------


@transaction.atomic
def device_apply(
    *, acting_user, person, applied_on: date, device: str, village_worker: str = "", source: str = "web"
) -> Case:
    """Town (or district) staff enter the application the village worker took: the device asked for is an
    item of the catalogue version in force on ``applied_on``; refused inside the replacement cycle (with the
    date it becomes allowed) or when the person's category is not eligible for it."""
    from django.utils import timezone

    errors = {}
    if applied_on > timezone.localdate():
        errors["applied_on"] = "申请日期不能晚于今天"
    version = version_in_force(applied_on)
    if version is None:
        raise ValidationFailed({"applied_on": f"{applied_on:%Y-%m-%d} 尚无生效的辅具目录，请先导入目录"})
    item = item_find(version, device)
    if item is None:
        errors["device"] = f"辅具目录 {version.version} 中没有“{device}”"
    else:
        problem = eligibility_error(person, item, applied_on) or replacement_error(person, item, applied_on)
        if problem:
            errors["device"] = problem
        elif Case.objects.filter(
            programme=CODE,
            person=person,
            state__in=OPEN_STATES,
            device_fitting__requested__code__startswith=item.subclass,
        ).exists():
            errors["device"] = f"该残疾人已有一件“{item.code_display[:5]}”次类辅具的申请在办理中"
    if errors:
        raise ValidationFailed(errors)
    case = case_open(
        acting_user=acting_user, programme=CODE, person=person, opened_on=applied_on, source=source
    )
    DeviceFitting.objects.create(
        case=case, version=version, requested=item, village_worker=village_worker.strip()[:40]
    )
    audit_record(
        acting_user=acting_user,
        action=f"case.{CODE}.apply",
        obj=case,
        changes={
            "requested": [None, item.code],
            "version": [None, version.version],
            "village_worker": [None, village_worker.strip()[:40]],
        },
        detail=f"申请辅具“{item.name}”（{item.code_display}，目录 {version.version}）",
    )
    return case


@transaction.atomic
def fitting_import(*, acting_user, person, item: DeviceItem, fitted_on: date, price: Decimal) -> Case:
    """A fitting already delivered (roster import): a case opened directly as fitted, subsidy worked out."""
    problem = replacement_error(person, item, fitted_on)
    if problem:
        raise ValidationFailed({"fitted_on": problem})
    case = case_open(
        acting_user=acting_user,
        programme=CODE,
        person=person,
        opened_on=fitted_on,
        state="fitted",
        source="import",
    )
    subsidy, share = subsidy_for(price, item.cap)
    DeviceFitting.objects.create(
        case=case,
        version=item.version,
        requested=item,
        item=item,
        price=fen(price),
        subsidy=subsidy,
        own_share=share,
        fitted_on=fitted_on,
    )
    audit_record(
        acting_user=acting_user,
        action=f"case.{CODE}.fitting_import",
        obj=case,
        changes={
            "item": [None, item.code],
            "price": [None, str(fen(price))],
            "subsidy": [None, str(subsidy)],
            "own_share": [None, str(share)],
            "fitted_on": [None, fitted_on.isoformat()],
        },
    )
    return case


# ---- the indicator -------------------------------------------------------------------------------------


def devices_fitted_by_town(year: int) -> dict[int, int]:
    """Town id → persons fitted (a device delivered) in ``year``, each once, in the town of the case of
    their first fitting that year (counted in the database)."""
    from django.db.models import F

    from ..selectors import firsts_by_town

    return firsts_by_town(
        DeviceFitting.objects.filter(
            case__programme=CODE,
            case__state="fitted",
            fitted_on__gte=date(year, 1, 1),
            fitted_on__lte=date(year, 12, 31),
        ),
        person="case__person_id",
        town="case__town_id",
        order_by=[F("fitted_on").asc(), F("id").asc()],
    )


# ---- loans from service points -------------------------------------------------------------------------


def loans_visible(user) -> QuerySet:
    """District: all; town staff: loans to persons of their town; institution staff: their service point's."""
    from canlian.accounts import access as core

    from ..access import can_read_cases

    qs = DeviceLoan.objects.select_related("institution", "person", "item")
    if not (core._active(user) and can_read_cases(user)):
        return qs.none()
    if user.role in {DISTRICT, Role.LEADER}:
        return qs
    if user.role == TOWN:
        return qs.filter(person__town_id=user.jurisdiction_id)
    if user.role == INST:
        inst = getattr(user, "institution_id", None)
        return qs.filter(institution_id=inst) if inst else qs.none()
    return qs.none()


def loan_persons(user, institution) -> QuerySet:
    """Whom ``user`` may lend to at the service point ``institution``: district staff anyone; the point's own
    staff the persons of the point's town (a point serves its town; the demo and the rosters place them so);
    nobody else. The loan form's ID lookup is scoped by it, so it cannot tell whether a number is
    registered in another town."""
    from canlian.registry.models import Person

    if not _can_lend(user, institution):
        return Person.objects.none()
    if user.role == DISTRICT:
        return Person.objects.all()
    return Person.objects.filter(town_id=institution.town_id)


def _can_lend(user, institution) -> bool:
    from canlian.accounts import access as core

    if not core._active(user):
        return False
    if user.role == DISTRICT:
        return True
    return user.role == INST and getattr(user, "institution_id", None) == institution.pk


def loan_status(loan: DeviceLoan, today: date) -> str:
    if loan.returned_on:
        return "已归还"
    return "已逾期" if loan.due_on < today else "借用中"


@transaction.atomic
def loan_lend(
    *,
    acting_user,
    institution,
    person,
    item: DeviceItem,
    asset_no: str,
    lent_on: date,
    due_on: date | None = None,
) -> DeviceLoan:

    if not _can_lend(acting_user, institution):
        raise PermissionDenied("只有该辅具服务点的工作人员或区残联可以登记借出")
    errors = {}
    if institution.kind != SERVICE_POINT:
        errors["institution"] = f"“{institution.name}”不是辅具服务点"
    elif not institution.designated_on(lent_on):
        errors["institution"] = f"“{institution.name}”在 {lent_on:%Y-%m-%d} 不在认定有效期内"
    if not loan_persons(acting_user, institution).filter(pk=person.pk).exists():
        raise PermissionDenied("未找到该残疾人，或您无权为其登记")
    asset_no = (asset_no or "").strip()
    if not asset_no:
        errors["asset_no"] = "请填写器具编号"
    if due_on is None:
        from datetime import timedelta

        due_on = lent_on + timedelta(days=int(parameters().at("devices.loan_days", lent_on)))
    if due_on < lent_on:
        errors["due_on"] = "应还日期不能早于借出日期"
    if (
        asset_no
        and DeviceLoan.objects.filter(
            institution=institution, asset_no=asset_no, returned_on__isnull=True
        ).exists()
    ):
        errors["asset_no"] = f"器具 {asset_no} 尚未归还，不能再次借出"
    if errors:
        raise ValidationFailed(errors)
    loan = DeviceLoan.objects.create(
        institution=institution,
        person=person,
        item=item,
        asset_no=asset_no,
        lent_on=lent_on,
        due_on=due_on,
        lent_by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action="devices.loan_lend",
        obj=loan,
        changes={
            "institution": [None, institution.name],
            "person": [None, person.pk],
            "item": [None, item.code],
            "asset_no": [None, asset_no],
            "lent_on": [None, lent_on.isoformat()],
            "due_on": [None, due_on.isoformat()],
        },
        detail=f"借出“{item.name}”（编号 {asset_no}），应于 {due_on:%Y-%m-%d} 归还",
    )
    return loan


@transaction.atomic
def loan_return(*, acting_user, loan: DeviceLoan, returned_on: date) -> DeviceLoan:
    locked = DeviceLoan.objects.select_for_update().select_related("institution", "item").get(pk=loan.pk)
    if not _can_lend(acting_user, locked.institution):
        raise PermissionDenied("只有该辅具服务点的工作人员或区残联可以登记归还")
    if locked.returned_on:
        raise DomainError(f"该器具已于 {locked.returned_on:%Y-%m-%d} 归还")
    if returned_on < locked.lent_on:
        raise ValidationFailed({"returned_on": f"归还日期不能早于借出日期 {locked.lent_on:%Y-%m-%d}"})
    locked.returned_on, locked.returned_by = returned_on, acting_user
    locked.save(update_fields=["returned_on", "returned_by"])
    late = (returned_on - locked.due_on).days
    audit_record(
        acting_user=acting_user,
        action="devices.loan_return",
        obj=locked,
        changes={"returned_on": [None, returned_on.isoformat()], "days_late": [None, max(late, 0)]},
        detail=f"归还“{locked.item.name}”（编号 {locked.asset_no}）"
        + (f"，逾期 {late} 天" if late > 0 else ""),
    )
    return locked


from . import devices_roster  # noqa: E402,F401  (registers the roster import)
