"""The indicator registry: code, Chinese name, unit, how it is counted, and a selector that counts for a
year by town. The work-plan board and ``canlian workplan progress`` read it; targets come later (null now).

An indicator's ``count(year)`` returns ``{town id: count}``; ``progress(year)`` adds the names and totals.
Services register their indicators here (workplan may import casework; casework never imports workplan)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    unit: str
    definition: str  # how it is counted, in Chinese, shown on the board
    count: Callable[[int], dict[int, int]]
    # a rate: ``count`` gives the numerator by town and ``denominator`` the denominator (``None``: a count)
    denominator: Callable[[int], dict[int, int]] | None = None
    # the base a target is split across towns by (persons in the target's group per town, ``{town id: n}``);
    # ``None``: the certified persons living in each town
    base: Callable[[int], dict[int, int]] | None = None


_INDICATORS: dict[str, Indicator] = {}


def indicator_register(ind: Indicator) -> Indicator:
    _INDICATORS[ind.code] = ind
    return ind


def indicators() -> list[Indicator]:
    return list(_INDICATORS.values())


def _custodial_new(year: int) -> dict[int, int]:
    from canlian.casework.programmes.custodial_care import custodial_new_by_town

    return custodial_new_by_town(year)


indicator_register(
    Indicator(
        code="custodial_new",
        name="新增残疾人托养",
        unit="人",
        definition=(
            "当年首次开始托养服务（此前从未托养）的残疾人：开始托养时年满16周岁未满60周岁、未就业，"
            "持有效残疾人证且为智力、精神残疾（不限等级）或一至二级肢体、视力残疾；按首次托养时所在镇(街道)统计"
        ),
        count=_custodial_new,
    )
)


def _child_rehab(name):
    def count(year: int) -> dict[int, int]:
        from canlian.casework.programmes import child_rehab, child_rehab_quality

        module = child_rehab if hasattr(child_rehab, name) else child_rehab_quality
        return getattr(module, name)(year)

    return count


def _rate(name, part):
    def count(year: int) -> dict[int, int]:
        from canlian.casework.programmes import child_rehab_quality

        return getattr(child_rehab_quality, name)(year)[part]

    return count


indicator_register(
    Indicator(
        code="child_rehab_served",
        name="残疾儿童康复救助服务人数",
        unit="人",
        definition="当年至少有一个月接受康复救助服务（本区定点机构服务或经批准的异地转介）的儿童，每人计一次，"
        "按当年首个服务月份所在个案的镇(街道)统计",
        count=_child_rehab("child_rehab_served_by_town"),
    )
)
indicator_register(
    Indicator(
        code="autism_first_screened",
        name="孤独症初筛人数",
        unit="人",
        definition="当年接受孤独症初筛的儿童（每人计一次，按首次初筛时所在镇(街道)）；初筛率的分母（辖区0～6岁儿童数）"
        "来自卫健部门，不在本平台",
        count=_child_rehab("autism_first_screened_by_town"),
    )
)
for _code, _name, _fn, _definition in (
    (
        "autism_rescreen_rate",
        "孤独症复筛率",
        "autism_rescreen_by_town",
        "当年初筛阳性的儿童中，其后完成复筛的比例（复筛人数 ÷ 初筛阳性人数）",
    ),
    (
        "autism_diagnosis_rate",
        "孤独症诊断率",
        "autism_diagnosis_by_town",
        "当年复筛阳性的儿童中，其后完成诊断的比例（诊断人数 ÷ 复筛阳性人数）",
    ),
    (
        "autism_intervention_rate",
        "孤独症干预率",
        "autism_intervention_by_town",
        "当年确诊孤独症的儿童中，其后开始干预的比例（干预人数 ÷ 确诊人数）",
    ),
):
    indicator_register(
        Indicator(
            code=_code,
            name=_name,
            unit="%",
            definition=_definition,
            count=_rate(_fn, 0),
            denominator=_rate(_fn, 1),
        )
    )


def _devices_fitted(year: int) -> dict[int, int]:
    from canlian.casework.programmes.devices import devices_fitted_by_town

    return devices_fitted_by_town(year)


def _renovation_done(year: int) -> dict[int, int]:
    from canlian.casework.programmes.renovation import renovation_done_by_town

    return renovation_done_by_town(year)


indicator_register(
    Indicator(
        code="devices_fitted",
        name="残疾人辅助器具适配人数",
        unit="人",
        definition="当年适配交付辅助器具（含名单导入的已交付适配）的残疾人，每人计一次，"
        "按当年首次适配所在个案的镇(街道)统计；借用服务点器具不计入",
        count=_devices_fitted,
    )
)


indicator_register(
    Indicator(
        code="renovation_done",
        name="困难重度残疾人家庭无障碍改造",
        unit="户",
        definition="当年竣工验收的无障碍改造户数（同镇同住址为一户，一户当年只计一次），按个案所在镇(街道)统计",
        count=_renovation_done,
    )
)


def _employment(name):
    def count(year: int) -> dict[int, int]:
        from canlian.casework.programmes import employment, employment_records

        module = employment if hasattr(employment, name) else employment_records
        return getattr(module, name)(year)

    return count


# ---- the places that serve (institutions/places.py) ------------------------------------------------------


def _places(name):
    def count(year: int) -> dict[int, int]:
        from canlian.institutions import places

        return getattr(places, name)(year)

    return count


def _graduates(part):
    def count(year: int) -> dict[int, int]:
        from canlian.casework.programmes.employment_cases import graduate_employment_by_town

        return graduate_employment_by_town(year)[part]

    return count


indicator_register(
    Indicator(
        code="employment_net",
        name="残疾人净增就业",
        unit="人",
        definition="当年12月31日处于就业状态的劳动年龄（16～59周岁，可按日期调整）持证残疾人数，减去上年12月31日的人数；"
        "按残疾人所在镇(街道)统计，可为负数。就业状态取就业记录（无就业记录的按登记的就业状况）",
        count=_employment("employment_net_by_town"),
    )
)
indicator_register(
    Indicator(
        code="employment_new",
        name="残疾人新增就业",
        unit="人",
        definition="与净增就业并列的新增（流入）：当年开始就业、前一日未就业的劳动年龄持证残疾人，每人计一次（换工作不计）",
        count=_employment("employment_new_by_town"),
    )
)
indicator_register(
    Indicator(
        code="graduate_employment_rate",
        name="残疾人高校毕业生就业率",
        unit="%",
        definition="当年毕业的残疾人高校毕业生中已落实就业的比例（已就业人数 ÷ 当年毕业生人数；升学不计入已就业），"
        "按登记时所在镇(街道)统计",
        count=_graduates(0),
        denominator=_graduates(1),
    )
)
indicator_register(
    Indicator(
        code="trainees",
        name="残疾人职业培训人数",
        unit="人",
        definition="当年开班的培训班（职业技能、盲人按摩、非遗技艺、创业等）的学员，同一人在同一镇(街道)只计一次，"
        "按培训班所在镇(街道)统计",
        count=_employment("trainees_by_town"),
    )
)
indicator_register(
    Indicator(
        code="job_fairs",
        name="残疾人专场招聘活动",
        unit="场",
        definition="当年举办的招聘会和招聘活动（就业援助月、全国助残日、国际残疾人日等），按举办地镇(街道)统计",
        count=_employment("job_fairs_by_town"),
    )
)

for _code, _name, _unit, _fn, _definition in (
    (
        "facilities_built",
        "残疾人之家等服务设施建成数",
        "个",
        "facilities_built_by_town",
        "当年建成（建设项目全部节点完成、强基和赋能清单全部达标并登记建成日期）的残疾人之家、社区康复点，"
        "按项目所在镇(街道)统计；按期与否见“按期建成”“逾期未建成”两项",
    ),
    (
        "facilities_built_on_time",
        "服务设施按期建成数",
        "个",
        "facilities_built_on_time_by_town",
        "当年建成的设施中，建成日期不晚于建成期限的",
    ),
    (
        "facilities_deadline_missed",
        "服务设施逾期未建成数",
        "个",
        "facilities_deadline_missed_by_town",
        "建成期限在当年、且未在期限内建成的建设项目（期限后建成，或期限已过仍未建成）",
    ),
    (
        "rehab_points",
        "社区康复点数",
        "个",
        "rehab_points_by_town",
        "当年末（12月31日）处于认定有效期内的社区康复点（已认定或暂停服务），按康复点所在镇(街道)统计",
    ),
    (
        "day_care_attendance",
        "日间照料服务人次",
        "人次",
        "day_care_attendance_by_town",
        "当年残疾人之家、社区康复点日间照料的出勤人次（每人每天计一次），按机构所在镇(街道)统计",
    ),
):
    indicator_register(
        Indicator(code=_code, name=_name, unit=_unit, definition=_definition, count=_places(_fn))
    )


# ---- community services (casework/community, issue 11 §3) ------------------------------------------------


def _community(name):
    def count(year: int) -> dict[int, int]:
        from canlian.casework.community import selectors

        return getattr(selectors, name)(year)

    return count


for _code, _name, _unit, _definition in (
    (
        "visits",
        "走访调研(访视)",
        "次",
        "当年入户访视和机构访视的次数（送法上门计入法律援助），按访视所在镇(街道)统计",
    ),
    (
        "shishi_projects",
        "为残疾人办实事项目",
        "个",
        "当年度已立项（含实施中、已完成）的实事项目数，按项目所在镇(街道)统计",
    ),
    (
        "hotline_calls",
        "心理热线来电",
        "次",
        "当年心理援助热线来电次数（1月1日0时至12月31日24时），按来电人所在镇(街道)统计",
    ),
    (
        "home_teaching_sessions",
        "送教上门次数",
        "次",
        "当年送教上门的次数（每名儿童每天至多一次），按儿童送教计划所在镇(街道)统计",
    ),
    ("legal_aid_cases", "法律援助案件", "件", "当年受理的残疾人法律援助求助件数，按受理时所在镇(街道)统计"),
    (
        "activities",
        "文化体育及宣传活动",
        "场",
        "当年举办的文化、体育、阅读、残疾预防宣传和普法活动场次，按举办镇(街道)统计",
    ),
    (
        "activity_participants",
        "活动参与人次",
        "人次",
        "当年各场活动登记的参加人员数加未登记参加人数之和，按举办镇(街道)统计",
    ),
):
    indicator_register(
        Indicator(
            code=_code, name=_name, unit=_unit, definition=_definition, count=_community(f"{_code}_by_town")
        )
    )
