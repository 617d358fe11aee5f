"""The child-rehabilitation roster import (KIND ``child_rehab``): an institution's or the district's list of
children served.

Headers: 姓名, 身份证号, 监护人, 康复类别, 服务机构, 开始日期, 结束日期 (optional), with aliases. A row is one
child's service at a designated rehab institution, keyed by person and start date: new → a case is opened
in service (or ended, when the end date is past) with its profile (the guardian as named, 户籍 in the
district: the registry holds the district's children); known → its institution, end date or category is
corrected; same → unchanged. Rejected with row and column: an ID number that is wrong or names no registered
person, a name that differs from the registry, a child aged 18 or more on the start date, an unknown category,
an institution that is not a designated rehab institution on the start date, dates that do not parse or are
out of order, the same child and start date twice in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from canlian.common.masking import mask_id_number
from canlian.registry import identity
from canlian.registry.validation import FieldError, parse_date

from ..child_rehab_models import ChildRehabProfile, RehabCategory, Residence
from ..importing import CREATED, UNCHANGED, UPDATED, Column, RosterSpec, Row, roster_register

CATEGORY_ALIASES = {
    **{label: code for code, label in RehabCategory.choices},
    **{f"{label}残疾": code for code, label in RehabCategory.choices},
    "自闭症": RehabCategory.AUTISM,
    "孤独症谱系障碍": RehabCategory.AUTISM,
    "听力残疾（人工耳蜗）": RehabCategory.HEARING,
    "脑瘫": RehabCategory.PHYSICAL,
    "多重残疾": RehabCategory.MULTIPLE,
}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "".join(str(value).split())


@dataclass
class _Ctx:
    persons: dict
    visible: set
    institutions: dict
    existing: dict  # (person id, start) → Case
    open_elsewhere: dict  # person id → start of an open case not in the file's key
    seen: dict = field(default_factory=dict)


class ChildRehabRoster(RosterSpec):
    kind = "child_rehab"
    name = "残疾儿童康复救助名单"
    columns = (
        Column("name", "姓名", ("儿童姓名", "服务对象姓名", "残疾儿童姓名")),
        Column("id_number", "身份证号", ("身份证号码", "公民身份号码", "证件号码")),
        Column("guardian", "监护人", ("监护人姓名", "家长姓名")),
        Column("category", "康复类别", ("残疾类别", "康复类型", "救助类别")),
        Column("institution", "服务机构", ("定点康复机构", "康复机构", "机构名称")),
        Column("start", "开始日期", ("服务开始日期", "康复开始日期", "入训日期")),
        Column("end", "结束日期", ("服务结束日期", "康复结束日期", "离训日期"), required=False),
    )

    def prepare(self, rows: list[Row], *, acting_user) -> _Ctx:
        from canlian.accounts import access as core
        from canlian.institutions.models import Institution
        from canlian.registry.models import Person
        from canlian.registry.services import id_index

        from ..models import Case
        from .child_rehab import CODE, OPEN_STATES

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
        existing, open_elsewhere = {}, {}
        for c in Case.objects.filter(programme=CODE, person_id__in=pids).select_related(
            "institution", "child_rehab"
        ):
            existing[(c.person_id, c.opened_on)] = c
            if c.state in OPEN_STATES:
                open_elsewhere[c.person_id] = c.opened_on
        names = {_text(r.raw.get("institution")) for r in rows}
        institutions = {i.name: i for i in Institution.objects.filter(name__in=names)}
        return _Ctx(found, visible, institutions, existing, open_elsewhere)

    def validate(self, row: Row, ctx: _Ctx, *, acting_user) -> None:
        from .child_rehab import age_limit

        v, e = row.values, row.errors
        name = _text(row.raw.get("name"))
        if not name:
            e["name"] = "姓名不能为空"
        person = None
        if "id_number" not in e:
            person = ctx.persons.get(v["index"])
            if person is None:
                e["id_number"] = f"未找到身份证号为 {mask_id_number(v['id_number'])} 的儿童，请先登记"
            elif person.pk not in ctx.visible:
                e["id_number"] = "该儿童不在您的管辖范围内"
            elif name and person.name != name:
                e["name"] = f"姓名与登记不符（登记为“{person.name}”）"
        guardian = _text(row.raw.get("guardian"))
        if not guardian:
            e["guardian"] = "监护人不能为空"
        cat_text = _text(row.raw.get("category"))
        category = CATEGORY_ALIASES.get(cat_text)
        if not cat_text:
            e["category"] = "康复类别不能为空"
        elif category is None:
            allowed = "、".join(label for _, label in RehabCategory.choices)
            e["category"] = f"未知的康复类别“{cat_text}”，应为 {allowed}"
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
                elif day > timezone.localdate():
                    e[key] = "开始日期不能晚于今天"
            else:
                end = day
        if start and end and end < start:
            e["end"] = "结束日期不能早于开始日期"
        if person is not None and start is not None and "start" not in e:
            limit = age_limit(start)
            age = identity.age_on(person.birth_date, start)
            if start < person.birth_date or age >= limit:
                e["start"] = f"开始日期儿童 {age} 周岁，不在康复救助范围（0 至未满 {limit} 周岁）"
        inst_name = _text(row.raw.get("institution"))
        inst = ctx.institutions.get(inst_name)
        if not inst_name:
            e["institution"] = "服务机构不能为空"
        elif inst is None:
            e["institution"] = f"未登记的服务机构“{inst_name}”，请先在“服务机构”中登记并认定"
        elif inst.kind != "rehab_institution":
            e["institution"] = f"“{inst_name}”是{inst.get_kind_display()}，不是定点康复机构"
        elif start and not inst.designated_on(start):
            e["institution"] = f"“{inst_name}”在 {start:%Y-%m-%d} 不在定点认定有效期内"
        if person is not None and start is not None:
            key = (person.pk, start)
            if key in ctx.seen and not e:
                e["start"] = f"与第{ctx.seen[key]}行重复（同一儿童同一开始日期）"
            ctx.seen.setdefault(key, row.row)
            other = ctx.open_elsewhere.get(person.pk)
            if not e and other is not None and other != start and key not in ctx.existing:
                e["start"] = (
                    f"该儿童已有办理中的康复救助（开始于 {other:%Y-%m-%d}），请先结束后再导入新的服务"
                )
        if e:
            return
        v.update(person=person, guardian=guardian, category=category, institution=inst, start=start, end=end)

    def _outcome(self, row: Row, ctx: _Ctx) -> str:
        v = row.values
        case = ctx.existing.get((v["person"].pk, v["start"]))
        if case is None:
            return CREATED
        profile = getattr(case, "child_rehab", None)
        same = (
            case.institution_id == v["institution"].pk
            and case.closed_on == v["end"]
            and profile is not None
            and profile.category == v["category"]
            and profile.guardian_name == v["guardian"]
        )
        return UNCHANGED if same else UPDATED

    def plan(self, rows: list[Row], ctx: _Ctx) -> None:
        for r in rows:
            r.outcome = self._outcome(r, ctx)

    def commit(self, rows: list[Row], ctx: _Ctx, *, acting_user, progress) -> None:
        from canlian.common.audit import audit_record

        from ..services import case_open, case_update
        from .child_rehab import CODE

        for i, r in enumerate(rows, start=1):
            v = r.values
            r.outcome = self._outcome(r, ctx)
            if r.outcome == CREATED:
                ended = v["end"] is not None and v["end"] < timezone.localdate()
                case = case_open(
                    acting_user=acting_user,
                    programme=CODE,
                    person=v["person"],
                    opened_on=v["start"],
                    closed_on=v["end"],
                    institution=v["institution"],
                    state="ended" if ended else "in_service",
                    source="import",
                )
                ChildRehabProfile.objects.create(
                    case=case,
                    applied_on=v["start"],
                    category=v["category"],
                    residence=Residence.HUKOU,
                    guardian_name=v["guardian"][:50],
                )
                audit_record(
                    acting_user=acting_user,
                    action=f"case.{CODE}.apply",
                    obj=case,
                    changes={
                        "category": [None, v["category"]],
                        "guardian_name": [None, v["guardian"]],
                        "source": [None, "import"],
                    },
                    detail="名单导入",
                )
                ctx.existing[(v["person"].pk, v["start"])] = case
            elif r.outcome == UPDATED:
                case = ctx.existing[(v["person"].pk, v["start"])]
                case_update(
                    acting_user=acting_user,
                    case=case,
                    institution=v["institution"],
                    closed_on=v["end"],
                    close_reason="名单导入更正" if v["end"] else "",
                )
                profile = ChildRehabProfile.objects.select_for_update().get(pk=case.pk)
                changes = {}
                for key, attr in (("category", "category"), ("guardian", "guardian_name")):
                    if getattr(profile, attr) != v[key]:
                        changes[attr] = [getattr(profile, attr), v[key]]
                        setattr(profile, attr, v[key])
                if changes:
                    profile.save(update_fields=list(changes))
                    audit_record(
                        acting_user=acting_user,
                        action=f"case.{CODE}.update",
                        obj=case,
                        changes=changes,
                        detail="名单导入更正",
                    )
            if i % 200 == 0:
                progress(i, len(rows), "写入中")
        progress(len(rows), len(rows), "导入完成")


roster_register(ChildRehabRoster())
