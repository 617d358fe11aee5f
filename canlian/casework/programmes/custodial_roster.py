"""The custodial-care roster import (KIND ``custodial_care``): a town's or provider's list of people in care.

Headers: 姓名, 身份证号, 托养方式, 服务机构, 开始日期, 结束日期 (optional). A row is one placement, keyed by person
and start date: new → a placed case is opened (return visits scheduled); known → its provider, mode or end
date is corrected; same → unchanged. Rejected with row and column: an ID number that is wrong or names no
registered person (looked up through the blind index), a name that differs from the registry, an unknown
mode or provider, a provider not designated on the start date, dates that do not parse or are out of order,
the same placement twice in the file, a placement still running that starts before the return-visit interval
has a value (its visits could not be scheduled). Kept with a warning: a person outside the target definition (other
funds pay; the indicator does not count them).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.utils import timezone

from canlian.benefits.parameters import NoValueYet

from ..importing import CREATED, UNCHANGED, UPDATED, Column, RosterSpec, Row, roster_register
from ..models import Case, CustodialMode
from ..roster_fields import (
    People,
    choice_cell,
    chunks,
    date_cell,
    institution_cell,
    institutions_prepare,
    people_prepare,
    person_cell,
    person_instances,
    repeat_cell,
)
from .custodial_care import CODE, PROGRAMME, SERVED, _CertFacts, target_reasons
from .employment import employed_in, periods_of

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


PERSON_FIELDS = ("town_id", "birth_date", "employment_status")  # and pk, name: read as plain values


def _served(pids) -> dict:
    """(person id, start) → Case of the placements (served states) of these persons. The state is tested
    here, not in SQL: with ``state IN`` in the query SQLite walked the (programme, state) index, every case
    of the programme, instead of the (programme, person) one; a sliced commit asks once per slice."""
    cases = Case.objects.filter(programme=CODE, person_id__in=pids)
    return {(c.person_id, c.opened_on): c for c in cases if c.state in SERVED}


@dataclass
class _Ctx:
    people: People
    institutions: dict  # name → Institution
    certs: dict  # person id → [_CertFacts]
    existing: dict  # (person id, start) → Case
    params: object = None
    periods: dict = field(default_factory=dict)  # person id → dated employment periods
    seen: dict = field(default_factory=dict)
    schedulable: dict = field(default_factory=dict)  # start → "" or why its visits cannot be scheduled
    schedules: dict = field(default_factory=dict)  # case_open_many's memo, kept across a sliced commit


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
        from canlian.registry.models import Certificate

        from ..programme import parameters

        # what validate, target_reasons and the case services read of a person and a certificate, as plain
        # values (model instances were 40 % of a 100,000-row import)
        people = people_prepare(rows, acting_user=acting_user, plain=PERSON_FIELDS)
        pids = people.pks
        certs, existing = defaultdict(list), {}
        for part in chunks(pids):
            found = Certificate.objects.filter(person_id__in=part).values_list(
                "person_id", "pk", *_CertFacts.FIELDS
            )
            for person_id, *facts in found:
                certs[person_id].append(_CertFacts(*facts))
            existing.update(_served(part))
        return _Ctx(
            people, institutions_prepare(rows), certs, existing, parameters(), periods=periods_of(pids)
        )

    def refresh(self, rows: list[Row], ctx: _Ctx, *, acting_user) -> _Ctx:
        """The commit reads the persons and institutions from ``row.values`` (those validated) and, from the
        context, only which placements exist: read again under the transaction, for the valid rows'
        persons. Persons and certificates are not looked up a second time (half the cost of a prepare)."""
        pids = sorted({r.values["person"].pk for r in rows if r.ok})
        existing = {}
        for part in chunks(pids):
            existing.update(_served(part))
        return _Ctx(
            ctx.people,
            ctx.institutions,
            ctx.certs,
            existing,
            ctx.params,
            periods=ctx.periods,
            schedules=ctx.schedules,
        )

    def validate(self, row: Row, ctx: _Ctx, *, acting_user) -> None:
        v, e = row.values, row.errors
        person = person_cell(row, ctx.people)
        mode = choice_cell(row, "mode", "托养方式", MODE_ALIASES, "寄宿制、日间照料 或 居家托养")
        start = date_cell(row, "start", "开始日期", required=True)
        end = date_cell(row, "end", "结束日期")
        if start and end and end < start:
            e["end"] = "结束日期不能早于开始日期"
        inst = institution_cell(
            row, ctx.institutions, kinds=PROGRAMME.institution_kinds, on=start, wrong_kind="不提供托养服务"
        )
        if person is not None and start is not None:
            repeat_cell(
                row,
                ctx.seen,
                (person.pk, start),
                column="start",
                message="与第{row}行重复（同一人同一开始日期）",
            )
        if start and not e and not (end and end < timezone.localdate()):
            # a placement still running gets its return visits: their interval must be known on its start
            if start not in ctx.schedulable:
                try:
                    for rule in PROGRAMME.due_rules:
                        rule.schedule(start, params=ctx.params)
                    ctx.schedulable[start] = ""
                except NoValueYet as exc:
                    ctx.schedulable[start] = f"无法安排回访：{exc}"
            if ctx.schedulable[start]:
                e["start"] = ctx.schedulable[start]
        if e:
            return
        v.update(person=person, mode=mode, institution=inst, start=start, end=end)
        employed = employed_in(ctx.periods.get(person.pk), person.employment_status, start)
        reasons = target_reasons(person, ctx.certs[person.pk], start, params=ctx.params, employed=employed)
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

    def _opening(self, v: dict, today) -> dict:
        return {
            "person": v["person"],
            "opened_on": v["start"],
            "closed_on": v["end"],
            "institution": v["institution"],
            "state": "ended" if v["end"] and v["end"] < today else "placed",
            "data": {"mode": v["mode"]},
        }

    def _update(self, row: Row, ctx: _Ctx, *, acting_user) -> None:
        from ..services import case_update

        v = row.values
        case_update(
            acting_user=acting_user,
            case=ctx.existing[(v["person"].pk, v["start"])],
            institution=v["institution"],
            closed_on=v["end"],
            close_reason="名单导入更正" if v["end"] else "",
            data={"mode": v["mode"]},
        )

    def commit(self, rows: list[Row], ctx: _Ctx, *, acting_user, progress) -> None:
        from ..services import case_open

        today = timezone.localdate()
        outcomes = [self._outcome(r, ctx) for r in rows]
        created = (r.values["person"] for r, o in zip(rows, outcomes, strict=True) if o == CREATED)
        instances = person_instances(created)
        for i, r in enumerate(rows, start=1):
            v = r.values
            r.outcome = outcomes[i - 1]
            if r.outcome == CREATED:
                opening = {**self._opening(v, today), "person": instances[v["person"].pk]}
                case = case_open(acting_user=acting_user, programme=CODE, source="import", **opening)
                ctx.existing[(v["person"].pk, v["start"])] = case
            elif r.outcome == UPDATED:
                self._update(r, ctx, acting_user=acting_user)
            if i % 200 == 0:
                progress(i, len(rows), "写入中")
        progress(len(rows), len(rows), "导入完成")

    def commit_many(self, rows: list[Row], ctx: _Ctx, *, acting_user, progress) -> None:
        """``commit`` set-based: the new placements through ``case_open_many`` (one bulk write of cases, due
        items and audit rows), the corrected ones (few: a re-import) through ``case_update`` one by one."""
        from ..services import Opening, case_open_many

        today = timezone.localdate()
        created = []
        for r in rows:
            r.outcome = self._outcome(r, ctx)
            if r.outcome == CREATED:
                created.append(r)
            elif r.outcome == UPDATED:
                self._update(r, ctx, acting_user=acting_user)
        openings = [Opening(**self._opening(r.values, today)) for r in created]
        case_open_many(
            acting_user=acting_user,
            programme=CODE,
            openings=openings,
            source="import",
            progress=progress,
            params=ctx.params,
            schedules=ctx.schedules,
        )
        progress(len(rows), len(rows), "导入完成")


roster_register(CustodialRoster())
