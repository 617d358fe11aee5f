"""The custodial-care roster import (KIND ``custodial_care``): a town's or provider's list of people in care.

Headers: 姓名, 身份证号, 托养方式, 服务机构, 开始日期, 结束日期 (optional). A row is one placement, keyed by person
and start date: new → a placed case is opened (return visits scheduled); known → its provider, mode or end
date is corrected; same → unchanged. Rejected with row and column: an ID number that is wrong or names no
registered person (looked up through the blind index), a name that differs from the registry, an unknown
mode or provider, a provider not designated on the start date, dates that do not parse or are out of order,
the same placement twice in the file. Kept with a warning: a person outside the target definition (other
funds pay; the indicator does not count them).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.utils import timezone

from canlian.common.masking import mask_id_number
from canlian.registry import identity
from canlian.registry.validation import FieldError, parse_date

from ..importing import CREATED, UNCHANGED, UPDATED, Column, RosterSpec, Row, roster_register
from ..models import Case, CustodialMode
from .custodial_care import CODE, SERVED, target_reasons

MODE_ALIASES = {
    "寄宿制": CustodialMode.BOARDING,
    "寄宿": CustodialMode.BOARDING,
    "全日制": CustodialMode.BOARDING,
    "全托": CustodialMode.BOARDING,
    "日间照料": CustodialMode.DAY_CARE,
    "日托": CustodialMode.DAY_CARE,
    "日间托养": CustodialMode.DAY_CARE,
    "居家托养": CustodialMode.HOME,
    "居家": CustodialMode.HOME,
}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "".join(str(value).split())


@dataclass
class _Ctx:
    persons: dict  # id index → Person
    visible: set  # person ids the user may register cases for
    institutions: dict  # name → Institution
    certs: dict  # person id → [Certificate]
    existing: dict  # (person id, start) → Case
    params: object = None


class CustodialRoster(RosterSpec):
    kind = CODE
    name = "托养服务名单"
    columns = (
        Column("name", "姓名", ("服务对象姓名", "残疾人姓名")),
        Column("id_number", "身份证号", ("身份证号码", "公民身份号码", "证件号码")),
        Column("mode", "托养方式", ("托养类型", "服务方式")),
        Column("institution", "服务机构", ("托养机构", "机构名称")),
        Column("start", "开始日期", ("托养开始日期", "入托日期")),
        Column("end", "结束日期", ("托养结束日期", "离托日期"), required=False),
    )

    def prepare(self, rows: list[Row], *, acting_user) -> _Ctx:
        from canlian.accounts import access as core
        from canlian.institutions.models import Institution
        from canlian.registry.models import Certificate, Person
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
        certs = defaultdict(list)
        for c in Certificate.objects.filter(person_id__in=pids):
            certs[c.person_id].append(c)
        existing = {
            (c.person_id, c.opened_on): c
            for c in Case.objects.filter(programme=CODE, person_id__in=pids, state__in=SERVED).select_related(
                "institution"
            )
        }
        names = {_text(r.raw.get("institution")) for r in rows}
        institutions = {i.name: i for i in Institution.objects.filter(name__in=names)}
        from ..programme import parameters

        return _Ctx(found, visible, institutions, certs, existing, parameters())

    def validate(self, row: Row, ctx: _Ctx, *, acting_user) -> None:
        v, e = row.values, row.errors
        name = _text(row.raw.get("name"))
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
        mode_text = _text(row.raw.get("mode"))
        mode = MODE_ALIASES.get(mode_text)
        if not mode_text:
            e["mode"] = "托养方式不能为空"
        elif mode is None:
            e["mode"] = f"未知的托养方式“{mode_text}”，应为 寄宿制、日间照料 或 居家托养"
        start = end = None
        for key, label in (("start", "开始日期"), ("end", "结束日期")):
            try:
                day = parse_date(row.raw.get(key))
            except FieldError as exc:
                e[key] = str(exc)
                continue
            if key == "start":
                start = day
                if day is None:
                    e[key] = f"{label}不能为空"
            else:
                end = day
        if start and end and end < start:
            e["end"] = "结束日期不能早于开始日期"
        inst_name = _text(row.raw.get("institution"))
        inst = ctx.institutions.get(inst_name)
        if not inst_name:
            e["institution"] = "服务机构不能为空"
        elif inst is None:
            e["institution"] = f"未登记的服务机构“{inst_name}”，请先在“服务机构”中登记并认定"
        elif inst.kind not in ("custodial_provider", "care_home"):
            e["institution"] = f"“{inst_name}”是{inst.get_kind_display()}，不提供托养服务"
        elif start and not inst.designated_on(start):
            e["institution"] = f"“{inst_name}”在 {start:%Y-%m-%d} 不在认定有效期内"
        if person is not None and start is not None:
            key = (person.pk, start)
            seen = ctx.__dict__.setdefault("_seen", {})
            if key in seen and not e:
                e["start"] = f"与第{seen[key]}行重复（同一人同一开始日期）"
            seen.setdefault(key, row.row)
        if e:
            return
        v.update(person=person, mode=mode, institution=inst, start=start, end=end)
        reasons = target_reasons(person, ctx.certs[person.pk], start, params=ctx.params)
        if reasons:
            row.warnings["id_number"] = "不计入托养新增任务（由其他资金保障，予以保留）：" + "；".join(
                reasons
            )

    def _outcome(self, row: Row, ctx: _Ctx) -> str:
        v = row.values
        case = ctx.existing.get((v["person"].pk, v["start"]))
        if case is None:
            return CREATED
        same = (
            case.institution_id == v["institution"].pk
            and case.data.get("mode") == v["mode"]
            and case.closed_on == v["end"]
        )
        return UNCHANGED if same else UPDATED

    def plan(self, rows: list[Row], ctx: _Ctx) -> None:
        for r in rows:
            r.outcome = self._outcome(r, ctx)

    def commit(self, rows: list[Row], ctx: _Ctx, *, acting_user, progress) -> None:
        from ..services import case_open, case_update

        for i, r in enumerate(rows, start=1):
            v = r.values
            r.outcome = self._outcome(r, ctx)
            if r.outcome == CREATED:
                case = case_open(
                    acting_user=acting_user,
                    programme=CODE,
                    person=v["person"],
                    opened_on=v["start"],
                    closed_on=v["end"],
                    institution=v["institution"],
                    state="ended" if v["end"] and v["end"] < timezone.localdate() else "placed",
                    data={"mode": v["mode"]},
                    source="import",
                )
                ctx.existing[(v["person"].pk, v["start"])] = case
            elif r.outcome == UPDATED:
                case_update(
                    acting_user=acting_user,
                    case=ctx.existing[(v["person"].pk, v["start"])],
                    institution=v["institution"],
                    closed_on=v["end"],
                    close_reason="名单导入更正" if v["end"] else "",
                    data={"mode": v["mode"]},
                )
            if i % 200 == 0:
                progress(i, len(rows), "写入中")
        progress(len(rows), len(rows), "导入完成")


roster_register(CustodialRoster())
