"""Employment's roster imports, on the shared staged import (``canlian services import KIND FILE``):

``employment`` — headers 姓名, 身份证号, 就业形式, 就业单位, 开始日期, 结束日期 (就业单位 and 结束日期 may be
empty). A row is one employment, keyed by person and start date: new → the period is spliced into the person's
dated periods (``employment.employment_splice``; the registry's 就业状况 follows the current period); the same
start again with another end, form or employer → corrected; same → unchanged. Rows are applied in file order,
so a person's later rows see the earlier ones. Rejected with row and column: an ID number that is wrong or
names no registered person, a person outside the user's area, a name that is not the registry's, an unknown
form, dates that do not parse, a start after today, an end before the start, the same person and start twice,
an overlap with another employment of the person (stored or earlier in the file) that is not an open one
started before it.

``graduates`` — 姓名, 身份证号, 毕业院校, 专业, 毕业日期, 就业情况 (已就业 / 升学 / 未就业, optional), 就业单位,
落实日期 (optional): one 一人一策 case per person and graduation year (the case opens on the graduation date).

``trainees`` — 姓名, 身份证号, 培训班, 报名日期, 证书名称, 发证日期 (the last three optional): one enrolment per
person and class (the class must be registered and in the user's area); a known enrolment gets its
certificate corrected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from ..importing import CREATED, UNCHANGED, UPDATED, Column, RosterSpec, Row, roster_register
from ..models import Case, TrainingClass, TrainingEnrolment
from ..roster_fields import (
    People,
    choice_cell,
    chunks,
    date_cell,
    people_prepare,
    person_cell,
    repeat_cell,
    text,
)
from .employment import (
    KIND_LABELS,
    Employment,
    SpliceConflict,
    chain_after,
    employment_record,
    employment_record_many,
    employment_splice,
    periods_of,
)
from .employment_cases import GRADUATE, graduate_register

ID_ALIASES = ("身份证号码", "公民身份号码", "证件号码")
NAME_ALIASES = ("残疾人姓名", "学员姓名", "毕业生姓名")

KIND_ALIASES = {label: code for code, label in KIND_LABELS.items()} | {
    "按比例": "quota",
    "按比例安排就业": "quota",
    "集中": "concentrated",
    "个体": "self",
    "个体就业": "self",
    "自主创业": "self",
    "个体/自主创业": "self",
    "个体户": "self",
    "种养加": "rural",
    "农村种养加就业": "rural",
    "公益岗": "public_welfare",
    "公益性岗位就业": "public_welfare",
    "辅助就业": "auxiliary",
    "灵活": "flexible",
}
KIND_EXPECTED = "按比例、集中、个体/自主创业、农村种养加、公益性岗位、辅助性就业 或 灵活就业"
PERSON_FIELDS = ("town_id", "birth_date", "employment_status")
SOURCE = "名单导入"


@dataclass
class _EmploymentCtx:
    people: People
    chains: dict  # person id → periods (stored, then as the file's earlier rows leave them)
    status: dict = field(default_factory=dict)  # person id → current status as the rows leave it
    seen: dict = field(default_factory=dict)
    today: object = None


class EmploymentRoster(RosterSpec):
    kind = "employment"
    name = "就业名单"
    columns = (
        Column("name", "姓名", NAME_ALIASES),
        Column("id_number", "身份证号", ID_ALIASES),
        Column("kind", "就业形式", ("就业类型", "就业方式")),
        Column("employer", "就业单位", ("工作单位", "用人单位"), required=False),
        Column("start", "开始日期", ("就业日期", "就业开始日期", "入职日期")),
        Column("end", "结束日期", ("就业结束日期", "离职日期"), required=False),
    )

    def prepare(self, rows: list[Row], *, acting_user) -> _EmploymentCtx:
        people = people_prepare(rows, acting_user=acting_user, only=PERSON_FIELDS)
        return _EmploymentCtx(people, periods_of(people.pks), today=timezone.localdate())

    def refresh(self, rows: list[Row], ctx, *, acting_user):
        return ctx  # the commit reads and locks the periods again itself (employment_record_many)

    def validate(self, row: Row, ctx: _EmploymentCtx, *, acting_user) -> None:
        v, e = row.values, row.errors
        person = person_cell(row, ctx.people)
        kind = choice_cell(row, "kind", "就业形式", KIND_ALIASES, KIND_EXPECTED)
        start = date_cell(row, "start", "开始日期", required=True, not_future=True)
        end = date_cell(row, "end", "结束日期")
        if start and end and end < start:
            e["end"] = "结束日期不能早于开始日期"
        employer = text(row.raw.get("employer"), spaces=True)
        if len(employer) > 100:
            e["employer"] = "就业单位不能超过100个字"
        if person is not None and start is not None:
            repeat_cell(
                row,
                ctx.seen,
                (person.pk, start),
                column="start",
                message="与第{row}行重复（同一人同一开始日期）",
            )
        if e:
            return
        pid = person.pk
        status = ctx.status.get(pid, person.employment_status)
        try:
            s = employment_splice(
                ctx.chains.get(pid, []),
                start=start,
                end=end,
                kind=kind,
                employer=employer,
                source=SOURCE,
                prior_status=status,
                birth_date=person.birth_date,
                today=ctx.today,
            )
        except SpliceConflict as exc:
            e["start"] = exc.message
            return
        if s.outcome != UNCHANGED:
            ctx.chains[pid] = chain_after(ctx.chains.get(pid, []), s)
            for n, p in enumerate(s.create, start=1):  # temporary keys for the next row of the same person
                if p.pk is None:
                    p.pk = -(len(ctx.seen) * 4 + n)
            if s.status_now is not None:
                ctx.status[pid] = s.status_now
        v.update(person=person, kind=kind, employer=employer, start=start, end=end, outcome=s.outcome)

    def plan(self, rows: list[Row], ctx) -> None:
        for r in rows:
            r.outcome = r.values["outcome"]

    def commit(self, rows: list[Row], ctx, *, acting_user, progress) -> None:
        for i, r in enumerate(rows, start=1):
            v = r.values
            r.outcome = employment_record(
                acting_user=acting_user,
                person=v["person"],
                kind=v["kind"],
                employer=v["employer"],
                valid_from=v["start"],
                valid_to=v["end"],
                source=SOURCE,
            ).outcome
            if i % 200 == 0:
                progress(i, len(rows), "写入中")
        progress(len(rows), len(rows), "导入完成")

    def commit_many(self, rows: list[Row], ctx, *, acting_user, progress) -> None:
        """``commit`` set-based (``employment_record_many``: one bulk write of periods and audit rows)."""
        items = [
            Employment(
                r.values["person"], r.values["kind"], r.values["employer"], r.values["start"], r.values["end"]
            )
            for r in rows
        ]
        outcomes = employment_record_many(
            acting_user=acting_user, items=items, source=SOURCE, progress=progress
        )
        for r, outcome in zip(rows, outcomes, strict=True):
            r.outcome = outcome
        progress(len(rows), len(rows), "导入完成")


# ---- graduates ------------------------------------------------------------------------------------------------

OUTCOME_ALIASES = {
    "已就业": "employed",
    "就业": "employed",
    "升学": "further_study",
    "考研": "further_study",
    "未就业": "unemployed",
    "暂未就业": "unemployed",
    "待就业": "unemployed",
}


@dataclass
class _GraduateCtx:
    people: People
    existing: dict  # (person id, year) → Case
    seen: dict = field(default_factory=dict)


class GraduatesRoster(RosterSpec):
    kind = "graduates"
    name = "高校毕业生名单"
    columns = (
        Column("name", "姓名", NAME_ALIASES),
        Column("id_number", "身份证号", ID_ALIASES),
        Column("school", "毕业院校", ("学校", "院校")),
        Column("major", "专业", ("所学专业",), required=False),
        Column("graduated_on", "毕业日期", ("毕业时间",)),
        Column("outcome", "就业情况", ("去向", "毕业去向"), required=False),
        Column("employer", "就业单位", ("工作单位",), required=False),
        Column("placed_on", "落实日期", ("就业日期", "去向落实日期"), required=False),
    )

    def prepare(self, rows: list[Row], *, acting_user) -> _GraduateCtx:
        people = people_prepare(rows, acting_user=acting_user)
        existing = {}
        for part in chunks(people.pks):
            for c in Case.objects.filter(programme=GRADUATE, person_id__in=part):
                existing[(c.person_id, c.opened_on.year)] = c
        return _GraduateCtx(people, existing)

    def validate(self, row: Row, ctx: _GraduateCtx, *, acting_user) -> None:
        v, e = row.values, row.errors
        person = person_cell(row, ctx.people, who="毕业生", scope="该毕业生")
        school = text(row.raw.get("school"), spaces=True)[:100]
        if not school:
            e["school"] = "毕业院校不能为空"
        graduated = date_cell(row, "graduated_on", "毕业日期", required=True, not_future=True)
        written = text(row.raw.get("outcome"))
        outcome = OUTCOME_ALIASES.get(written) if written else ""
        if outcome is None:
            e["outcome"] = f"未知的就业情况“{written}”，应为 已就业、升学 或 未就业"
        employer = text(row.raw.get("employer"), spaces=True)[:100]
        placed = date_cell(row, "placed_on", "落实日期", not_future=True)
        if outcome == "employed" and not employer:
            e["employer"] = "已就业的毕业生请填写就业单位"
        if placed and graduated and placed < _year_start(graduated):
            e["placed_on"] = "落实日期不能早于毕业当年"
        if person is not None and graduated is not None:
            repeat_cell(
                row,
                ctx.seen,
                (person.pk, graduated.year),
                column="graduated_on",
                message="与第{row}行是同一毕业生同一年",
            )
        if e:
            return
        v.update(
            person=person,
            school=school,
            major=text(row.raw.get("major"), spaces=True)[:100],
            graduated_on=graduated,
            outcome=outcome,
            employer=employer,
            placed_on=placed or graduated,
        )

    def _outcome(self, row: Row, ctx: _GraduateCtx) -> str:
        v = row.values
        case = ctx.existing.get((v["person"].pk, v["graduated_on"].year))
        if case is None:
            return CREATED
        same = case.data.get("school") == v["school"] and case.data.get("major", "") == v["major"]
        return UNCHANGED if same else UPDATED

    def plan(self, rows: list[Row], ctx) -> None:
        for r in rows:
            r.outcome = self._outcome(r, ctx)

    def commit(self, rows: list[Row], ctx: _GraduateCtx, *, acting_user, progress) -> None:
        from ..services import case_move, case_update

        for r in rows:
            v = r.values
            r.outcome = self._outcome(r, ctx)
            if r.outcome == UPDATED:
                case_update(
                    acting_user=acting_user,
                    case=ctx.existing[(v["person"].pk, v["graduated_on"].year)],
                    data={"school": v["school"], "major": v["major"]},
                )
            if r.outcome != CREATED:
                continue
            case = graduate_register(
                acting_user=acting_user,
                person=v["person"],
                applied_on=v["graduated_on"],
                school=v["school"],
                major=v["major"],
            )
            for move, data in _outcome_moves(v):
                case = case_move(
                    acting_user=acting_user, case=case, move=move, expected_state=case.state, **data
                )
            ctx.existing[(v["person"].pk, v["graduated_on"].year)] = case
        progress(len(rows), len(rows), "导入完成")


def _outcome_moves(v: dict) -> list[tuple[str, dict]]:
    """The moves that bring a just-registered graduate to the outcome the row gives."""
    plan = {"plan_on": v["graduated_on"]}
    if v["outcome"] == "employed":
        return [
            ("plan", {**plan, "plan": "名单导入：毕业时已落实就业"}),
            ("employ", {"closed_on": v["placed_on"], "employer": v["employer"]}),
        ]
    if v["outcome"] == "further_study":
        return [("study", {"closed_on": v["placed_on"]})]
    if v["outcome"] == "unemployed":
        return [
            ("plan", {**plan, "plan": "名单导入：待制定"}),
            ("not_employed", {"close_reason": "名单导入：暂未就业"}),
        ]
    return []


def _year_start(day):
    return day.replace(month=1, day=1)


# ---- trainees -------------------------------------------------------------------------------------------------


@dataclass
class _TraineeCtx:
    people: People
    classes: dict  # name → TrainingClass (visible to the user as writer)
    existing: dict  # (class id, person id) → TrainingEnrolment
    seen: dict = field(default_factory=dict)


class TraineesRoster(RosterSpec):
    kind = "trainees"
    name = "培训学员名单"
    columns = (
        Column("name", "姓名", NAME_ALIASES),
        Column("id_number", "身份证号", ID_ALIASES),
        Column("training_class", "培训班", ("培训班名称", "班级")),
        Column("enrolled_on", "报名日期", ("报名时间",), required=False),
        Column("certificate", "证书名称", ("证书", "结业证书", "职业资格证书"), required=False),
        Column("certified_on", "发证日期", ("取证日期",), required=False),
    )

    def prepare(self, rows: list[Row], *, acting_user) -> _TraineeCtx:
        from .. import employment_access as ea

        people = people_prepare(rows, acting_user=acting_user)
        names = sorted({text(r.raw.get("training_class"), spaces=True) for r in rows} - {""})
        classes = {c.name: c for c in ea.training_workable(acting_user).filter(name__in=names)}
        existing = {}
        for part in chunks(people.pks):
            for en in TrainingEnrolment.objects.filter(
                person_id__in=part, training_class__in=list(classes.values())
            ):
                existing[(en.training_class_id, en.person_id)] = en
        return _TraineeCtx(people, classes, existing)

    def validate(self, row: Row, ctx: _TraineeCtx, *, acting_user) -> None:
        v, e = row.values, row.errors
        person = person_cell(row, ctx.people, who="学员", scope="该学员")
        name = text(row.raw.get("training_class"), spaces=True)
        tc = ctx.classes.get(name)
        if not name:
            e["training_class"] = "培训班不能为空"
        elif tc is None:
            exists = TrainingClass.objects.filter(name=name).exists()
            e["training_class"] = (
                f"培训班“{name}”不在您的管辖范围内"
                if exists
                else f"未登记的培训班“{name}”，请先在“培训班”中登记"
            )
        enrolled = date_cell(row, "enrolled_on", "报名日期", not_future=True)
        certified = date_cell(row, "certified_on", "发证日期", not_future=True)
        certificate = text(row.raw.get("certificate"), spaces=True)[:100]
        if certified and not certificate:
            e["certificate"] = "填写发证日期时请填写证书名称"
        if tc is not None:
            enrolled = enrolled or tc.starts_on
            if enrolled > tc.ends_on and "enrolled_on" not in e:
                e["enrolled_on"] = f"报名日期不能晚于结业日期 {tc.ends_on:%Y-%m-%d}"
            if certified and certified < tc.starts_on:
                e["certified_on"] = f"发证日期不能早于开班日期 {tc.starts_on:%Y-%m-%d}"
        if person is not None and tc is not None:
            repeat_cell(
                row,
                ctx.seen,
                (tc.pk, person.pk),
                column="id_number",
                message="与第{row}行是同一培训班的同一学员",
            )
        if e:
            return
        v.update(
            person=person,
            training_class=tc,
            enrolled_on=enrolled,
            certificate=certificate,
            certified_on=certified,
        )

    def _outcome(self, row: Row, ctx: _TraineeCtx) -> str:
        v = row.values
        en = ctx.existing.get((v["training_class"].pk, v["person"].pk))
        if en is None:
            return CREATED
        return (
            UNCHANGED
            if (en.certificate, en.certified_on) == (v["certificate"], v["certified_on"])
            else UPDATED
        )

    def plan(self, rows: list[Row], ctx) -> None:
        for r in rows:
            r.outcome = self._outcome(r, ctx)

    def commit(self, rows: list[Row], ctx, *, acting_user, progress) -> None:
        from .employment_records import training_enrol

        for r in rows:
            v = r.values
            _, r.outcome = training_enrol(
                acting_user=acting_user,
                training_class=v["training_class"],
                person=v["person"],
                enrolled_on=v["enrolled_on"],
                certificate=v["certificate"],
                certified_on=v["certified_on"],
                source="import",
            )
        progress(len(rows), len(rows), "导入完成")


roster_register(EmploymentRoster())
roster_register(GraduatesRoster())
roster_register(TraineesRoster())
