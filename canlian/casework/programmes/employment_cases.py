"""Employment's two workflows on the case engine (issue 11 §1): records that move through stages, made by
different roles, with dates to show and history to keep.

``job_support`` 就业困难残疾人专项服务对象 (专项服务对象清单和档案): a poor, working-age, unemployed person is put
on the list; the file then records the "四个一" services with their dates — one information check, and for those
who want work one vocational assessment, one demand registration, one service — until the person is employed
or leaves the list. The case list of the programme is the 清单; each case page is the 档案.

``graduate`` 残疾人高校毕业生一人一策: each year's disabled university graduates (the case opens on the
graduation date), one plan each with its steps (each step a dated move, kept in the history) and the outcome
(employed, further study, not employed). ``graduate_employment_by_town`` gives the year's rate.
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from canlian.accounts.models import Role
from canlian.common.exceptions import ValidationFailed
from canlian.common.workflow import Move, Workflow

from ..models import Case
from ..programme import Programme, programme_register
from ..services import data_effect
from .employment import employed_on

TOWN, DISTRICT = Role.TOWN_STAFF, Role.DISTRICT_STAFF
STAFF = {TOWN, DISTRICT}


def _scope(user):
    from ..access import cases_workable

    return cases_workable(user)


def _not_before_opened(*keys):
    def validate(case, data) -> dict:
        today = timezone.localdate()
        errors = {}
        for k in keys:
            day = data.get(k)
            if isinstance(day, date) and day < case.opened_on:
                errors[k] = f"日期不能早于{case.opened_on:%Y-%m-%d}"
            elif isinstance(day, date) and day > today:
                errors[k] = "日期不能晚于今天"
        return errors

    return validate


# ---- 专项服务对象 ------------------------------------------------------------------------------------------

SUPPORT = "job_support"
SUPPORT_STATES = {
    "listed": "已列入清单",
    "checked": "已信息核查",
    "assessed": "已职业评估",
    "registered": "已需求登记",
    "served": "已提供就业服务",
    "employed": "已实现就业",
    "closed": "已退出清单",
}
SUPPORT_OPEN = ("listed", "checked", "assessed", "registered", "served")

SUPPORT_WORKFLOW = Workflow(
    code=f"case.{SUPPORT}",
    name="就业专项服务",
    states=SUPPORT_STATES,
    initial="listed",
    scope=_scope,
    field_labels={
        "check_on": "核查日期",
        "check_note": "核查情况",
        "assess_on": "评估日期",
        "assessment": "评估结论",
        "demand_on": "登记日期",
        "demand": "就业需求（意向岗位）",
        "service_on": "服务日期",
        "service": "服务内容",
        "closed_on": "结束日期",
        "close_reason": "原因",
    },
    moves=(
        Move(
            "check",
            "信息核查",
            ("listed",),
            "checked",
            STAFF,
            requires=("check_on", "check_note"),
            validate=_not_before_opened("check_on"),
            effect=data_effect("check_on", "check_note"),
        ),
        Move(
            "assess",
            "职业评估",
            ("checked",),
            "assessed",
            STAFF,
            requires=("assess_on", "assessment"),
            validate=_not_before_opened("assess_on"),
            effect=data_effect("assess_on", "assessment"),
        ),
        Move(
            "register",
            "需求登记",
            ("assessed",),
            "registered",
            STAFF,
            requires=("demand_on", "demand"),
            validate=_not_before_opened("demand_on"),
            effect=data_effect("demand_on", "demand"),
        ),
        Move(
            "serve",
            "提供就业服务",
            ("registered", "served"),
            "served",
            STAFF,
            requires=("service_on", "service"),
            validate=_not_before_opened("service_on"),
            effect=data_effect("service_on", "service"),
        ),
        Move(
            "employ",
            "实现就业",
            ("served",),
            "employed",
            STAFF,
            requires=("closed_on",),
            records=("closed_on",),
            validate=_not_before_opened("closed_on"),
        ),
        Move(
            "close",
            "退出清单",
            SUPPORT_OPEN,
            "closed",
            STAFF,
            requires=("closed_on", "close_reason"),
            records=("closed_on", "close_reason"),
            validate=_not_before_opened("closed_on"),
        ),
    ),
)

SUPPORT_PROGRAMME = programme_register(
    Programme(
        code=SUPPORT,
        name="就业专项服务对象",
        workflow=SUPPORT_WORKFLOW,
        data_fields={
            "check_on": "信息核查日期",
            "check_note": "核查情况",
            "assess_on": "职业评估日期",
            "assessment": "评估结论",
            "demand_on": "需求登记日期",
            "demand": "就业需求",
            "service_on": "最近服务日期",
            "service": "服务内容",
        },
        create_url="casework:job_support_list",
    )
)


@transaction.atomic
def job_support_list(*, acting_user, person, applied_on: date) -> Case:
    """Put a person on the special-service list from ``applied_on``: refused (by field, nothing written) when
    the person is employed that day (the dated employment periods), not of working age, or already on the
    list."""
    from canlian.registry.identity import age_on
    from canlian.registry.models import Person

    from ..programme import parameters
    from ..services import case_open

    list(Person.objects.select_for_update().filter(pk=person.pk))
    errors = {}
    if applied_on is not None and applied_on > timezone.localdate():
        errors["applied_on"] = "列入日期不能晚于今天"
    if applied_on is not None and not errors:
        params = parameters()
        lo = int(params.at("employment.working_age_min", applied_on))
        hi = int(params.at("employment.working_age_max", applied_on))
        age = age_on(person.birth_date, applied_on)
        if not lo <= age <= hi:
            errors["id_number"] = (
                f"{person.name}在 {applied_on:%Y-%m-%d} 为 {age} 周岁，不在劳动年龄 {lo}～{hi} 周岁内"
            )
        elif employed_on(person, applied_on):
            errors["id_number"] = (
                f"{person.name}在 {applied_on:%Y-%m-%d} 处于就业状态，不列入专项服务对象清单"
            )
    current = Case.objects.filter(programme=SUPPORT, person=person, state__in=SUPPORT_OPEN).first()
    if current is not None:
        errors["id_number"] = f"{person.name}已在专项服务对象清单中（{current.opened_on:%Y-%m-%d} 列入）"
    if errors:
        raise ValidationFailed(errors)
    return case_open(acting_user=acting_user, programme=SUPPORT, person=person, opened_on=applied_on)


# ---- 高校毕业生一人一策 ------------------------------------------------------------------------------------

GRADUATE = "graduate"
GRADUATE_STATES = {
    "listed": "已登记",
    "planned": "已制定帮扶计划",
    "employed": "已就业",
    "further_study": "升学",
    "unemployed": "暂未就业",
}

GRADUATE_WORKFLOW = Workflow(
    code=f"case.{GRADUATE}",
    name="高校毕业生一人一策",
    states=GRADUATE_STATES,
    initial="listed",
    scope=_scope,
    field_labels={
        "plan_on": "制定日期",
        "plan": "帮扶计划（一人一策）",
        "step_on": "帮扶日期",
        "step": "帮扶措施",
        "closed_on": "去向落实日期",
        "employer": "就业单位",
        "close_reason": "说明",
    },
    moves=(
        Move(
            "plan",
            "制定一人一策",
            ("listed",),
            "planned",
            STAFF,
            requires=("plan_on", "plan"),
            effect=data_effect("plan_on", "plan"),
        ),
        Move(
            "step",
            "记录帮扶措施",
            ("planned", "unemployed"),
            "planned",
            STAFF,
            requires=("step_on", "step"),
            validate=_not_before_opened("step_on"),
        ),
        Move(
            "employ",
            "落实就业",
            ("planned", "unemployed"),
            "employed",
            STAFF,
            requires=("closed_on", "employer"),
            records=("closed_on",),
            effect=data_effect("employer"),
        ),
        Move(
            "study",
            "升学",
            ("listed", "planned", "unemployed"),
            "further_study",
            STAFF,
            requires=("closed_on",),
            records=("closed_on",),
        ),
        Move(
            "not_employed",
            "登记暂未就业",
            ("planned",),
            "unemployed",
            STAFF,
            requires=("close_reason",),
        ),
    ),
)

GRADUATE_PROGRAMME = programme_register(
    Programme(
        code=GRADUATE,
        name="高校毕业生就业帮扶",
        workflow=GRADUATE_WORKFLOW,
        data_fields={
            "year": "毕业年份",
            "school": "毕业院校",
            "major": "专业",
            "plan_on": "计划制定日期",
            "plan": "一人一策",
            "employer": "就业单位",
        },
        create_url="casework:graduate_register",
    )
)


def graduate_employment_by_town(year: int) -> tuple[dict[int, int], dict[int, int]]:
    """(employed, graduates) by town for the graduates of ``year`` (the case opens on the graduation date):
    the rate's numerator and denominator. Further study is not counted as employed."""
    graduates = Case.objects.filter(
        programme=GRADUATE, opened_on__gte=date(year, 1, 1), opened_on__lte=date(year, 12, 31)
    )
    rows = graduates.values("town_id", "state").annotate(n=Count("id")).order_by()
    employed, total = {}, {}
    for r in rows:
        total[r["town_id"]] = total.get(r["town_id"], 0) + r["n"]
        if r["state"] == "employed":
            employed[r["town_id"]] = employed.get(r["town_id"], 0) + r["n"]
    return employed, total


@transaction.atomic
def graduate_register(*, acting_user, person, applied_on: date, school: str = "", major: str = "") -> Case:
    """A graduate of the year of ``applied_on`` (the graduation date): one case per person and year."""
    from ..services import case_open

    school, major = " ".join((school or "").split())[:100], " ".join((major or "").split())[:100]
    errors = {}
    if applied_on is not None and applied_on > timezone.localdate():
        errors["applied_on"] = "毕业日期不能晚于今天"
    if not school:
        errors["school"] = "请填写毕业院校"
    if (
        applied_on is not None
        and Case.objects.filter(programme=GRADUATE, person=person, opened_on__year=applied_on.year).exists()
    ):
        errors["id_number"] = f"{person.name}已登记为 {applied_on.year} 年毕业生"
    if errors:
        raise ValidationFailed(errors)
    return case_open(
        acting_user=acting_user,
        programme=GRADUATE,
        person=person,
        opened_on=applied_on,
        data={"year": str(applied_on.year), "school": school, "major": major},
    )
