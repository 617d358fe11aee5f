"""The assistive-devices roster import (KIND ``devices``): fittings already delivered.

Headers: 姓名, 身份证号, 辅具名称 or 辅具编码 (either; the code wins when both are given), 适配日期, 价格. A row
is one fitting keyed by person, item code and date: new → a fitted case (subsidy = min(price, cap), return
visit scheduled); the same fitting again → unchanged. Rejected with row and column: an ID number that is
wrong or names no registered person in the user's area, a name that differs from the registry, a device not in
the catalogue version in force on the fitting date, a date or price that does not parse, a fitting inside the
replacement cycle of an earlier one of the same ISO subclass (with the date it becomes allowed), the same
subclass twice for one person inside the cycle in the file. Kept with a warning: a person whose disability
category is not among the item's eligible categories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ..importing import CREATED, UNCHANGED, Column, RosterSpec, Row, roster_register
from ..roster_fields import People, chunks, date_cell, people_prepare, person_cell, text
from . import devices as dv


@dataclass
class _Ctx:
    people: People
    existing: set  # (person id, item code, fitted_on)
    seen: dict = field(default_factory=dict)


class DevicesRoster(RosterSpec):
    kind = dv.CODE
    name = "辅具适配名单"
    columns = (
        Column("name", "姓名", ("服务对象姓名", "残疾人姓名")),
        Column("id_number", "身份证号", ("身份证号码", "公民身份号码", "证件号码")),
        Column("device", "辅具名称", ("辅具", "器具名称", "产品名称"), required=False),
        Column("code", "辅具编码", ("编码", "分类编码", "ISO编码", "GB/T 16432编码"), required=False),
        Column("fitted_on", "适配日期", ("发放日期", "交付日期", "配发日期")),
        Column("price", "价格", ("价格（元）", "金额", "产品价格", "单价")),
    )

    def prepare(self, rows: list[Row], *, acting_user) -> _Ctx:
        people = people_prepare(rows, acting_user=acting_user)
        existing = set()
        for part in chunks(people.pks):
            fittings = dv.DeviceFitting.objects.filter(case__person_id__in=part, fitted_on__isnull=False)
            existing.update(fittings.values_list("case__person_id", "item__code", "fitted_on"))
        return _Ctx(people, existing)

    def validate(self, row: Row, ctx: _Ctx, *, acting_user) -> None:
        v, e = row.values, row.errors
        person = person_cell(row, ctx.people)
        day = date_cell(row, "fitted_on", "适配日期", required=True, not_future=True)
        raw_price = row.raw.get("price")
        price = None
        try:
            price = Decimal(str(raw_price).strip().replace(",", "").removesuffix("元"))
            if not price.is_finite() or price <= 0 or price != price.quantize(dv.CENT):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            price = None
            e["price"] = f"价格“{raw_price if raw_price is not None else ''}”应为大于 0、精确到分的金额"
        code_text, device_text = row.raw.get("code"), text(row.raw.get("device"))
        key = "code" if text(code_text) else "device"
        item = None
        if not text(code_text) and not device_text:
            e["device"] = "辅具名称和辅具编码至少填写一项"
        elif day is not None and "fitted_on" not in e:
            version = dv.version_in_force(day)
            if version is None:
                e["fitted_on"] = f"{day:%Y-%m-%d} 尚无生效的辅具目录"
            else:
                item = dv.item_find(version, dv.normalise_code(code_text) or device_text)
                if item is None:
                    shown = text(code_text) or device_text
                    e[key] = f"辅具目录 {version.version}（{day:%Y-%m-%d} 生效）中没有“{shown}”"
        if e:
            return
        if (person.pk, item.code, day) not in ctx.existing:
            problem = dv.replacement_error(person, item, day)
            if problem:
                e["fitted_on"] = problem
                return
            earlier = ctx.seen.get((person.pk, item.subclass))
            if earlier and dv.add_years(earlier[1], item.replacement_years) > day >= earlier[1]:
                e["fitted_on"] = f"与第{earlier[0]}行同一次类辅具，在更换周期 {item.replacement_years} 年内"
                return
            ctx.seen[(person.pk, item.subclass)] = (row.row, day)
        problem = dv.eligibility_error(person, item, day)
        if problem:
            row.warnings[key] = f"适用类别不符，予以保留：{problem}"
        v.update(person=person, item=item, fitted_on=day, price=price)

    def _outcome(self, row: Row, ctx: _Ctx) -> str:
        v = row.values
        return UNCHANGED if (v["person"].pk, v["item"].code, v["fitted_on"]) in ctx.existing else CREATED

    def plan(self, rows: list[Row], ctx: _Ctx) -> None:
        for r in rows:
            r.outcome = self._outcome(r, ctx)

    def commit(self, rows: list[Row], ctx: _Ctx, *, acting_user, progress) -> None:
        for i, r in enumerate(rows, start=1):
            v = r.values
            r.outcome = self._outcome(r, ctx)
            if r.outcome == CREATED:
                dv.fitting_import(
                    acting_user=acting_user,
                    person=v["person"],
                    item=v["item"],
                    fitted_on=v["fitted_on"],
                    price=v["price"],
                )
                ctx.existing.add((v["person"].pk, v["item"].code, v["fitted_on"]))
            if i % 200 == 0:
                progress(i, len(rows), "写入中")
        progress(len(rows), len(rows), "导入完成")


roster_register(DevicesRoster())
