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

from ..importing import CREATED, UNCHANGED, UPDATED, Column, RosterSpec, Row, roster_register
from ..models import Case
from ..roster_fields import People, chunks, date_cell, people_prepare, person_cell, repeat_cell, text
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


@dataclass
class _Ctx:
    people: People
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
        people = people_prepare(rows, acting_user=acting_user)
        existing, active = {}, {}
        for part in chunks(people.pks):
            accepted = Case.objects.filter(programme=CODE, person_id__in=part, state="accepted")
            existing.update(((c.person_id, c.closed_on), c) for c in accepted)
        keys = sorted({household_key(p) for p in people.by_index.values()})
        for part in chunks(keys):
            in_progress = Case.objects.filter(programme=CODE, state__in=ACTIVE, data__household__in=part)
            active.update((c.data.get("household"), c) for c in in_progress)
        return _Ctx(people, existing, active)

    def validate(self, row: Row, ctx: _Ctx, *, acting_user) -> None:
        v, e = row.values, row.errors
        person = person_cell(row, ctx.people)
        accepted = date_cell(row, "accepted_on", "验收日期", required=True, not_future=True)
        applied = date_cell(row, "applied_on", "申请日期")
        applied = applied or accepted
        if accepted and applied and applied > accepted:
            e["applied_on"] = "申请日期不能晚于验收日期"
        raw_amount = text(row.raw.get("amount"), spaces=True).replace(",", "").replace("，", "")
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
            repeat_cell(
                row,
                ctx.seen,
                (key, accepted.year),
                column="id_number",
                message="与第{row}行是同一户同一年的改造（同住址），一户一策",
            )
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
            contractor=text(row.raw.get("contractor"), spaces=True)[:100],
            content=text(row.raw.get("content"), spaces=True)[:200],
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
