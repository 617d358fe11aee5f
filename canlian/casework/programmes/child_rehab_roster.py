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

from canlian.registry import identity

from ..child_rehab_models import ChildRehabProfile, RehabCategory, Residence
from ..importing import CREATED, UNCHANGED, UPDATED, Column, RosterSpec, Row, roster_register
from ..roster_fields import (
    People,
    choice_cell,
    chunks,
    date_cell,
    institution_cell,
    institutions_prepare,
    people_prepare,
    person_cell,
    repeat_cell,
    text,
)

CATEGORY_ALIASES = {
    **{label: code for code, label in RehabCategory.choices},
    **{f"{label}残疾": code for code, label in RehabCategory.choices},
    "自闭症": RehabCategory.AUTISM,
    "孤独症谱系障碍": RehabCategory.AUTISM,
    "听力残疾（人工耳蜗）": RehabCategory.HEARING,
    "脑瘫": RehabCategory.PHYSICAL,
    "多重残疾": RehabCategory.MULTIPLE,
}


@dataclass
class _Ctx:
    people: People
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
        from ..models import Case
        from .child_rehab import CODE, OPEN_STATES

        people = people_prepare(rows, acting_user=acting_user)
        existing, open_elsewhere = {}, {}
        for part in chunks(people.pks):
            cases = Case.objects.filter(programme=CODE, person_id__in=part)
            for c in cases.select_related("institution", "child_rehab"):
                existing[(c.person_id, c.opened_on)] = c
                if c.state in OPEN_STATES:
                    open_elsewhere[c.person_id] = c.opened_on
        return _Ctx(people, institutions_prepare(rows), existing, open_elsewhere)

    def validate(self, row: Row, ctx: _Ctx, *, acting_user) -> None:
        from .child_rehab import age_limit

        v, e = row.values, row.errors
        person = person_cell(row, ctx.people, who="儿童", scope="该儿童")
        guardian = text(row.raw.get("guardian"))
        if not guardian:
            e["guardian"] = "监护人不能为空"
        allowed = "、".join(label for _, label in RehabCategory.choices)
        category = choice_cell(row, "category", "康复类别", CATEGORY_ALIASES, allowed)
        start = date_cell(row, "start", "开始日期", required=True, not_future=True)
        end = date_cell(row, "end", "结束日期")
        if start and end and end < start:
            e["end"] = "结束日期不能早于开始日期"
        if person is not None and start is not None and "start" not in e:
            limit = age_limit(start)
            age = identity.age_on(person.birth_date, start)
            if start < person.birth_date or age >= limit:
                e["start"] = f"开始日期儿童 {age} 周岁，不在康复救助范围（0 至未满 {limit} 周岁）"
        inst = institution_cell(
            row,
            ctx.institutions,
            kinds=("rehab_institution",),
            on=start,
            wrong_kind="不是定点康复机构",
            designation="定点认定",
        )
        if person is not None and start is not None:
            key = (person.pk, start)
            repeat_cell(row, ctx.seen, key, column="start", message="与第{row}行重复（同一儿童同一开始日期）")
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
