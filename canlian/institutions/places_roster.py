"""The attendance import (KIND ``attendance``): day attendance at a 残疾人之家 or community rehab point.

Headers: 姓名, 身份证号, 机构, 日期, 服务项目 (日间照料 or 辅助性就业). A row is one person present at one
service of one place on one day. New → recorded (a person not yet registered as an attendee of that service
is registered from their first day in the file, with a warning); already recorded → unchanged. Rejected with
row and column: an ID number that is wrong or names no registered person or one outside the user's area, a
name that differs from the registry, a place that is not registered, not a 残疾人之家 or rehab point, outside
the user's scope or not offering the service, a service that is not attended daily, a date that does not
parse or is in the future, the same person, place, service and day twice in the file."""

from __future__ import annotations

from dataclasses import dataclass, field

from canlian.casework.importing import CREATED, UNCHANGED, Column, RosterSpec, Row, roster_register
from canlian.casework.roster_fields import (
    People,
    choice_cell,
    chunks,
    date_cell,
    institutions_prepare,
    people_prepare,
    person_cell,
    repeat_cell,
    text,
)

from . import places
from .place_models import PLACE_KINDS, Attendance, PlaceMember, PlaceService

SERVICES = {"日间照料": "day_care", "辅助性就业": "aux_employment", "辅助就业": "aux_employment"}


@dataclass
class _Ctx:
    people: People
    institutions: dict
    workable: set
    offered: set  # (institution id, service)
    existing: set = field(default_factory=set)  # (institution id, service, on, person id)
    members: set = field(default_factory=set)  # (institution id, person id, service) open memberships
    seen: dict = field(default_factory=dict)


class AttendanceRoster(RosterSpec):
    kind = "attendance"
    name = "出勤名单"
    columns = (
        Column("name", "姓名", ("服务对象姓名", "残疾人姓名")),
        Column("id_number", "身份证号", ("身份证号码", "公民身份号码", "证件号码")),
        Column("institution", "机构", ("机构名称", "残疾人之家", "服务机构")),
        Column("on", "日期", ("出勤日期", "服务日期")),
        Column("service", "服务项目", ("服务类型", "项目")),
    )

    def prepare(self, rows: list[Row], *, acting_user) -> _Ctx:
        people = people_prepare(rows, acting_user=acting_user, only=("town_id",))
        insts = institutions_prepare(rows)
        ids = [i.pk for i in insts.values()]
        workable = set(places.places_workable(acting_user).filter(pk__in=ids).values_list("pk", flat=True))
        offered = set(
            PlaceService.objects.filter(institution_id__in=ids).values_list("institution_id", "service")
        )
        ctx = _Ctx(people, insts, workable, offered)
        for part in chunks(people.pks):
            ctx.existing.update(
                Attendance.objects.filter(institution_id__in=ids, person_id__in=part).values_list(
                    "institution_id", "service", "on", "person_id"
                )
            )
            ctx.members.update(
                PlaceMember.objects.filter(
                    institution_id__in=ids, person_id__in=part, left_on__isnull=True
                ).values_list("institution_id", "person_id", "service")
            )
        return ctx

    def validate(self, row: Row, ctx: _Ctx, *, acting_user) -> None:
        e = row.errors
        person = person_cell(row, ctx.people)
        on = date_cell(row, "on", "日期", required=True, not_future=True)
        service = choice_cell(row, "service", "服务项目", SERVICES, "日间照料 或 辅助性就业")
        name = text(row.raw.get("institution"))
        inst = ctx.institutions.get(name)
        if not name:
            e["institution"] = "机构不能为空"
        elif inst is None:
            e["institution"] = f"未登记的机构“{name}”，请先在“服务机构”中登记"
        elif inst.kind not in PLACE_KINDS:
            e["institution"] = f"“{name}”是{inst.get_kind_display()}，不是残疾人之家或社区康复点"
        elif inst.pk not in ctx.workable:
            e["institution"] = f"“{name}”不在您的管辖范围内"
        elif service and (inst.pk, service) not in ctx.offered:
            e["service"] = f"“{name}”未开展{text(row.raw.get('service'))}服务，请先在机构页面添加服务项目"
        if person is not None and inst is not None and on is not None and service:
            repeat_cell(
                row,
                ctx.seen,
                (inst.pk, service, on, person.pk),
                column="id_number",
                message="与第{row}行是同一人同一天同一服务的出勤",
            )
        if e:
            return
        row.values.update(institution=inst, person=person, service=service, on=on)
        if (inst.pk, person.pk, service) not in ctx.members:
            row.warnings["id_number"] = (
                f"尚未登记为{name}的服务对象，导入时自动登记（加入日期为首次出勤日期）"
            )

    def _outcome(self, row: Row, ctx: _Ctx) -> str:
        v = row.values
        key = (v["institution"].pk, v["service"], v["on"], v["person"].pk)
        return UNCHANGED if key in ctx.existing else CREATED

    def plan(self, rows: list[Row], ctx: _Ctx) -> None:
        for r in rows:
            r.outcome = self._outcome(r, ctx)

    def commit(self, rows: list[Row], ctx: _Ctx, *, acting_user, progress) -> None:
        new = []
        for r in rows:
            r.outcome = self._outcome(r, ctx)
            if r.outcome == CREATED:
                new.append(r.values)
        if new:
            places.attendance_import_rows(acting_user=acting_user, rows=new)
        progress(len(rows), len(rows), "导入完成")


roster_register(AttendanceRoster())
