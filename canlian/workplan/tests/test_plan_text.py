"""Reading the targets out of a plan's prose: the seed (2023) exactly, and plans written in other words."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from canlian.workplan.plan_text import cn_number, find_deadlines, join_broken, plan_parse

SEED = (
    Path(__file__).resolve().parent / "data" / "wuzhong_2023.txt"
)  # the seed: Wuzhong's 2023 plan as published
TOWNS = [
    "长桥街道",
    "郭巷街道",
    "横泾街道",
    "越溪街道",
    "城南街道",
    "香山街道",
    "苏苑街道",
    "龙西街道",
    "太湖街道",
    "木渎镇",
    "甪直镇",
    "胥口镇",
    "东山镇",
    "金庭镇",
    "光福镇",
    "临湖镇",
]


def test_the_seed_gives_its_17_tasks_and_exactly_its_4_targets():
    plan = plan_parse(SEED.read_text(encoding="utf-8").split("\n"), 2023, TOWNS)
    assert plan.title == "吴中区残联 2023 年工作要点"
    assert [n for n, _ in plan.sections] == [1, 2, 3, 4, 5]
    assert plan.sections[2][1] == "服务中心大局，抓好民生实事项目高标准推进落实"
    assert [t.number for t in plan.tasks] == list(range(1, 18))
    # half-width "(七)" and full-width "（七）" both start a task; a task's text is kept whole
    assert plan.tasks[6].label == "(七)" and plan.tasks[6].title == "高水平新建甬直镇“残疾人之家”"
    assert plan.tasks[15].text.count("\n") == 1 and "加快信息技术应用" in plan.tasks[15].text
    # a paragraph broken across a page is joined again: "净增\n\n残疾人就业 163 人"
    assert "全年目标净增残疾人就业 163 人" in plan.tasks[8].text
    assert [t.as_json() for t in plan.targets] == [
        {
            "task": 6,
            "text": "确保应届高校残疾人毕业生就业率达到 97%以上",
            "value": 97,
            "unit": "%",
            "comparator": "at_least",
            "deadline": None,
            "town": None,
        },
        {
            "task": 7,
            "text": "10月底前建成一家服务设施完善、服务功能完备、服务项目丰富",
            "value": 1,
            "unit": "家",
            "comparator": "at_least",
            "deadline": "2023-10-31",
            "town": "甪直镇",
        },
        {
            "task": 8,
            "text": "全区新增16-59周岁无业智力、精神和重度肢体、视力残疾人托养服务100人",
            "value": 100,
            "unit": "人",
            "comparator": "at_least",
            "deadline": None,
            "town": None,
        },
        {
            "task": 9,
            "text": "全年目标净增残疾人就业 163 人",
            "value": 163,
            "unit": "人",
            "comparator": "at_least",
            "deadline": "2023-12-31",
            "town": None,
        },
    ]
    # the scan's "甬直镇" is taken as 甪直镇, and the reviewer is told
    assert plan.targets[1].warnings == ["任务7：文中“甬直镇”按相近名称识别为“甪直镇”，请核对"]
    # tasks with no number are qualitative
    assert [t.number for t in plan.tasks if t.qualitative] == [1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 16, 17]


OTHER_WORDS = """\
# 吴中区残联2024年工作要点

一、兜牢民生底线
1、全年完成困难重度残疾人家庭无障碍改造不少于 50 户，6月30日前完成入户评估。
2、木渎镇、胥口镇各新建社区康复示范点 1 个；上半年举办残疾人专场招聘会 2 场。
二、提升服务质量
3、基本康复服务覆盖率不低于98％，辅助器具适配率达到 98%以上。
4、三季度末前完成年度残疾人需求调查。
5、开展残疾人职业技能培训 300 人次，其中盲人按摩培训 2 期，第三期培训班在东山举办。
6、坚持“一人一策”，落实“四个一”服务，0-18岁儿童全覆盖。
7、光福镇年底前新增托养 12 人，托养机构不超过 3 家；2025年3月15日前完成验收。
"""


def test_another_years_plan_in_other_words():
    plan = plan_parse(OTHER_WORDS.split("\n"), 2024, TOWNS)
    assert plan.title == "吴中区残联2024年工作要点" and len(plan.sections) == 2 and len(plan.tasks) == 7
    got = [(t.task, t.value, t.unit, t.comparator, t.deadline, t.town) for t in plan.targets]
    assert got == [
        (1, Decimal(50), "户", "at_least", date(2024, 12, 31), None),  # 不少于 is a minimum
        (1, None, "", "at_least", date(2024, 6, 30), None),  # a deadline with no number
        (2, Decimal(1), "个", "at_least", None, "木渎镇"),  # "各": one target per town named
        (2, Decimal(1), "个", "at_least", None, "胥口镇"),
        (2, Decimal(2), "场", "at_least", date(2024, 6, 30), None),
        (3, Decimal(98), "%", "at_least", None, None),  # full-width ％
        (3, Decimal(98), "%", "at_least", None, None),
        (4, None, "", "at_least", date(2024, 9, 30), None),
        (5, Decimal(300), "人次", "at_least", None, None),  # 人次 is not 人
        (5, Decimal(2), "期", "at_least", None, None),  # 第三期 is an ordinal, not a target
        (7, Decimal(12), "人", "at_least", date(2024, 12, 31), "光福镇"),
        (7, Decimal(3), "家", "at_most", date(2024, 12, 31), "光福镇"),  # 不超过: a maximum
        (7, None, "", "at_least", date(2025, 3, 15), "光福镇"),  # a year written out is kept
    ]
    assert plan.tasks[5].qualitative  # 一人一策, 四个一, 0-18岁: words and ages, not targets


def test_tasks_in_parentheses_restarting_in_each_section_are_numbered_through():
    text = [
        "一、甲",
        "（一）新增托养 10 人。",
        "（二）举办活动 3 场。",
        "二、乙",
        "（一）建成残疾人之家 2 家。",
    ]
    plan = plan_parse(text, 2023, TOWNS)
    assert [(t.number, t.label, t.section) for t in plan.tasks] == [
        (1, "（一）", 1),
        (2, "（二）", 1),
        (3, "（一）", 2),
    ]
    assert [t.task for t in plan.targets] == [1, 2, 3]
    assert any("已按文中顺序编为第3项" in w for w in plan.warnings)


def test_a_plan_with_no_task_says_so():
    plan = plan_parse(["吴中区残联2023年工作要点", "今年要做好各项工作。"], 2023, TOWNS)
    assert plan.tasks == [] and any("未找到任何任务" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("十七", 17),
        ("一百二十", 120),
        ("两", 2),
        ("三千零五", 3005),
        ("一万二千", 12000),
        ("12", 12),
        ("一二", None),
    ],
)
def test_chinese_numbers(text, value):
    assert cn_number(text) == value


@pytest.mark.parametrize(
    ("words", "day"),
    [
        ("10月底前", date(2023, 10, 31)),
        ("二月底", date(2023, 2, 28)),
        ("年底前", date(2023, 12, 31)),
        ("上半年", date(2023, 6, 30)),
        ("第一季度末", date(2023, 3, 31)),
        ("6月15日前", date(2023, 6, 15)),
        ("9月中旬", date(2023, 9, 20)),
        ("2024年1月底前", date(2024, 1, 31)),
    ],
)
def test_deadlines(words, day):
    assert [d for _, d, _ in find_deadlines(f"要求{words}完成", 2023)] == [day]


def test_broken_paragraphs_join_but_headings_and_tasks_do_not():
    assert join_broken(["（一）全年目标净增", "", "残疾人就业 163 人。", "（二）下一项。"]) == [
        "（一）全年目标净增残疾人就业 163 人。",
        "（二）下一项。",
    ]
    assert join_broken(["# 标题", "正文第一段没有句号", "接着。"]) == ["标题", "正文第一段没有句号接着。"]
