"""The renovation roster import (KIND ``renovation``): households whose renovation was done and accepted.

Headers: 姓名, 身份证号, 验收日期, 改造金额, 申请日期 (optional, default the acceptance date), 施工单位
(optional), 改造内容 (optional). A row is one accepted renovation, keyed by person and acceptance date: new →
an accepted case is opened (counted by ``renovation_done``); known → its amount, contractor or content is
corrected; same → unchanged. Rejected with row and column: an ID number that is wrong or names no registered
person, a person outside the user's area, a name that differs from the registry, dates that do not parse or
are out of order, an acceptance date in the future, an amount that is not money or is over the household cap
on the application date, the same household twice in the file for the same year, or a household with a
renovation still in progress. Kept with a warning: no grade 1–2 certificate or no hardship status in the
month of application (the row records what was done).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from canlian.common.masking import mask_id_number
from canlian.registry import identity
from canlian.registry.validation import FieldError, parse_date

from ..importing import CREATED, UNCHANGED, UPDATED, Column, RosterSpec, Row, roster_register
from ..models import Case
from .renovation import (
    ACTIVE,
    CENT,
    CODE,
    fmt,
    hardship_in_month,
    household_cap,
    household_key,
    severe_certificate,
)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


@dataclass
class _Ctx:
    persons: dict
    visible: set
    existing: dict  # (person id, accepted on) → Case
    active: dict  # household key → Case in progress
    seen: dict = field(default_factory=dict)


class RenovationRoster(RosterSpec):
    kind = CODE
    name = "无障碍改造名单"
    columns = (
        Column("name", "姓名", ("服务对象姓名", "残疾人姓名")),
        Column("id_number", "身份证号", ("身份证号码", "公民身份号码", "证件号码")),
        Column("accepted_on", "验收日期", ("竣工验收日期", "完成日期")),
        Column("amount", "改造金额", ("补助金额", "改造费用", "金额")),
        Column("applied_on", "申请日期", ("申请时间",), required=False),
        Column("contractor", "施工单位", ("施工方",), required=False),
        Column("content", "改造内容", ("改造项目",), required=False),
    )

    def prepare(self, rows: list[Row], *, acting_user) -> _Ctx:
        from canlian.accounts import access as core
        from canlian.registry.models import Person
        from canlian.registry.services import id_index

        indexes = {}
        for r in rows:
            try:
                r.values["id_number"] = identity.validate_id(r.raw.get("id_number"))
                indexes[r.row] = r.values["index"] = id_index(r.values["id_number"])
            except identity.IdentityError as exc:
                r.errors["id_number"] = str(exc)
        found = {
            p.id_number_index: p for p in Person.objects.filter(id_number_index__in=set(indexes.values()))
        }
        pids = [p.pk for p in found.values()]
        visible = set(core.persons_visible(acting_user).filter(pk__in=pids).values_list("pk", flat=True))
        existing = {
            (c.person_id, c.closed_on): c
            for c in Case.objects.filter(programme=CODE, person_id__in=pids, state="accepted")
        }
        keys = {household_key(p) for p in found.values()}
        active = {
            c.data.get("household"): c
            for c in Case.objects.filter(programme=CODE, state__in=ACTIVE, data__household__in=keys)
        }
        return _Ctx(found, visible, existing, active)

    def validate(self, row: Row, ctx: _Ctx, *, acting_user) -> None:
        v, e = row.values, row.errors
        name = "".join(_text(row.raw.get("name")).split())
        if not name:
            e["name"] = "姓名不能为空"
        person = None
        if "id_number" not in e:
            person = ctx.persons.get(v["index"])
            if person is None:
                e["id_number"] = f"未找到身份证号为 {mask_id_number(v['id_number'])} 的持证残疾人，请先登记"
            elif person.pk not in ctx.visible:
                e["id_number"] = "该残疾人不在您的管辖范围内"
            elif name and person.name != name:
                e["name"] = f"姓名与登记不符（登记为“{person.name}”）"
        days = {}
        for key in ("accepted_on", "applied_on"):
            try:
                days[key] = parse_date(row.raw.get(key))
            except FieldError as exc:
                e[key] = str(exc)
                days[key] = None
        accepted, applied = days["accepted_on"], days["applied_on"]
        if accepted is None and "accepted_on" not in e:
            e["accepted_on"] = "验收日期不能为空"
        elif accepted is not None and accepted > timezone.localdate():
            e["accepted_on"] = "验收日期不能晚于今天"
        applied = applied or accepted
        if accepted and applied and applied > accepted:
            e["applied_on"] = "申请日期不能晚于验收日期"
        raw_amount = _text(row.raw.get("amount")).replace(",", "").replace("，", "")
        amount = None
        try:
            amount = Decimal(raw_amount) if raw_amount else None
            if amount is not None and (
                not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT)
            ):
                raise InvalidOperation
            amount = amount.quantize(CENT) if amount is not None else None
        except InvalidOperation:
            e["amount"] = f"改造金额“{raw_amount}”应为大于 0 且精确到分的金额"
            amount = None
        if amount is None and "amount" not in e:
            e["amount"] = "改造金额不能为空"
        if amount is not None and applied is not None and "applied_on" not in e:
            cap = household_cap(applied)
            if amount > cap:
                e["amount"] = f"改造金额 {fmt(amount)} 元超过每户上限 {fmt(cap)} 元"
        if person is not None and accepted is not None:
            key = household_key(person)
            dup = ctx.seen.get((key, accepted.year))
            if dup and not e:
                e["id_number"] = f"与第{dup}行是同一户同一年的改造（同住址），一户一策"
            ctx.seen.setdefault((key, accepted.year), row.row)
            other = ctx.active.get(key)
            if other is not None and "id_number" not in e:
                e["id_number"] = (
                    f"该户有进行中的无障碍改造（{other.person.name}，{other.state_label}），请在个案中验收"
                )
        if e:
            return
        v.update(
            person=person,
            accepted_on=accepted,
            applied_on=applied,
            amount=amount,
            contractor=_text(row.raw.get("contractor"))[:100],
            content=_text(row.raw.get("content"))[:200],
        )
        reasons = []
        if severe_certificate(person, applied) is None:
            reasons.append(f"{applied:%Y-%m-%d} 无有效的一级或二级残疾人证")
        if not hardship_in_month(person, applied):
            reasons.append(f"{applied:%Y年%m月}非低保、低保边缘、特困或支出型困难家庭")
        if reasons:
            row.warnings["id_number"] = "不符合改造条件，按名单保留：" + "；".join(reasons)

    def _data(self, v) -> dict:
        return {
            "household": household_key(v["person"]),
            "plan_total": str(v["amount"]),
            "amount_contract": str(v["amount"]),
            "contractor": v["contractor"],
            "note": v["content"],
            "house_alterable": "是",
        }

    def _outcome(self, row: Row, ctx: _Ctx) -> str:
        v = row.values
        case = ctx.existing.get((v["person"].pk, v["accepted_on"]))
        if case is None:
            return CREATED
        new = self._data(v)
        return UNCHANGED if all(case.data.get(k) == new[k] for k in new) else UPDATED

    def plan(self, rows: list[Row], ctx: _Ctx) -> None:
        for r in rows:
            r.outcome = self._outcome(r, ctx)

    def commit(self, rows: list[Row], ctx: _Ctx, *, acting_user, progress) -> None:
        from ..services import case_open, case_update

        for i, r in enumerate(rows, start=1):
            v = r.values
            r.outcome = self._outcome(r, ctx)
            if r.outcome == CREATED:
                ctx.existing[(v["person"].pk, v["accepted_on"])] = case_open(
                    acting_user=acting_user,
                    programme=CODE,
                    person=v["person"],
                    opened_on=v["applied_on"],
                    closed_on=v["accepted_on"],
                    state="accepted",
                    data=self._data(v),
                    source="import",
                )
            elif r.outcome == UPDATED:
                case_update(
                    acting_user=acting_user,
                    case=ctx.existing[(v["person"].pk, v["accepted_on"])],
                    closed_on=v["accepted_on"],
                    data=self._data(v),
                )
            if i % 200 == 0:
                progress(i, len(rows), "写入中")
        progress(len(rows), len(rows), "导入完成")


roster_register(RenovationRoster())
