"""The record kinds of the community services, declared once: the form's fields (parsed by ``forms``), the
list's and the export's columns, the date a month filter reads and the field a "kind" filter reads.

The generic pages (``views``) and the one create service (``services.record_create``) work from these, so a
kind is a declaration plus, where it has one, a small page section of its own (a project's moves, a plan's
sessions, an activity's attendees and photos, a team's members)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps import apps
from django.http import Http404


@dataclass(frozen=True)
class F:
    name: str  # a model field, or id_number (the person, looked up), town, institution, plan
    label: str
    type: str  # date datetime int money text textarea choice bool id_number town institution plan
    required: bool = True
    hint: str = ""


def _d(value) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


def _person(obj) -> str:
    return obj.person.name if obj.person_id else ""


def _town(obj) -> str:
    return obj.town.name if obj.town_id else ""


@dataclass(frozen=True)
class Kind:
    code: str
    label: str
    group: str
    model_name: str
    date_field: str
    fields: tuple[F, ...]
    columns: tuple[tuple[str, Callable], ...]
    kind_field: str | None = None
    sensitive: bool = False  # counselling content: counsellors only, counts for everyone else
    create_here: bool = True  # entered on the list page (sessions are entered on their plan's page)
    related: tuple[str, ...] = field(default=("town",))

    @property
    def model(self):
        return apps.get_model("casework", self.model_name)

    @property
    def is_datetime(self) -> bool:
        return self.date_field in ("called_at", "created_at")

    def kind_choices(self) -> list[tuple[str, str]]:
        if not self.kind_field:
            return []
        if self.kind_field == "state":  # a workflow's states (实事 projects)
            from .services import SHISHI_WORKFLOW

            return list(SHISHI_WORKFLOW.states.items())
        return list(self.model._meta.get_field(self.kind_field).choices)


PERSON = F("id_number", "残疾人身份证号", "id_number")

KINDS: dict[str, Kind] = {
    k.code: k
    for k in (
        Kind(
            "visit",
            "访视",
            "访视与实事",
            "Visit",
            "visited_on",
            (
                F("kind", "访视类型", "choice"),
                F("visited_on", "访视日期", "date"),
                F("id_number", "残疾人身份证号（入户访视）", "id_number", required=False),
                F("institution", "访视机构", "institution", required=False),
                F("town", "镇(街道)（访视机构时填写）", "town", required=False),
                F("visitors", "访视人员", "text"),
                F("found", "发现情况", "textarea"),
                F("need", "发现的需求", "text", required=False, hint="可转为实事项目"),
            ),
            (
                ("日期", lambda o: _d(o.visited_on)),
                ("类型", lambda o: o.get_kind_display()),
                ("镇(街道)", _town),
                ("对象", lambda o: _person(o) or (o.institution.name if o.institution_id else "")),
                ("访视人员", lambda o: o.visitors),
                ("发现情况", lambda o: o.found),
                ("发现的需求", lambda o: o.need),
            ),
            kind_field="kind",
            related=("town", "person", "institution"),
        ),
        Kind(
            "project",
            "实事项目",
            "访视与实事",
            "ShishiProject",
            "created_at",
            (
                F("year", "年度", "int"),
                F("name", "项目名称", "text"),
                F("town", "镇(街道)", "town"),
                F("owner", "责任单位(人)", "text"),
                F("budget", "预算(元)", "money"),
                F("note", "说明", "text", required=False),
            ),
            (
                ("年度", lambda o: o.year),
                ("项目名称", lambda o: o.name),
                ("镇(街道)", _town),
                ("责任单位(人)", lambda o: o.owner),
                ("预算(元)", lambda o: f"{o.budget:.2f}"),
                ("状态", lambda o: o.state_label),
            ),
            kind_field="state",
        ),
        Kind(
            "hotline",
            "心理热线来电",
            "心理服务",
            "HotlineCall",
            "called_at",
            (
                F("called_at", "来电时间", "datetime"),
                F("duration_minutes", "通话时长(分钟)", "int"),
                F("topic", "主题", "choice"),
                F("risk", "风险标记", "bool", required=False),
                F("town", "来电人所在镇(街道)", "town"),
                F("id_number", "来电人身份证号（可不填）", "id_number", required=False),
                F("summary", "来电内容", "textarea", required=False),
                F("follow_up", "后续跟进", "textarea", required=False),
            ),
            (
                ("来电时间", lambda o: o.called_at.strftime("%Y-%m-%d %H:%M")),
                ("时长(分钟)", lambda o: o.duration_minutes),
                ("主题", lambda o: o.get_topic_display()),
                ("风险", lambda o: "是" if o.risk else ""),
                ("镇(街道)", _town),
                ("来电人", _person),
                ("来电内容", lambda o: o.summary),
                ("后续跟进", lambda o: o.follow_up),
            ),
            kind_field="topic",
            sensitive=True,
            related=("town", "person"),
        ),
        Kind(
            "counselling",
            "个体心理咨询",
            "心理服务",
            "CounsellingSession",
            "held_on",
            (
                PERSON,
                F("held_on", "咨询日期", "date"),
                F("duration_minutes", "时长(分钟)", "int"),
                F("mode", "方式", "choice"),
                F("notes", "咨询记录", "textarea", required=False),
            ),
            (
                ("日期", lambda o: _d(o.held_on)),
                ("残疾人", _person),
                ("镇(街道)", _town),
                ("方式", lambda o: o.get_mode_display()),
                ("时长(分钟)", lambda o: o.duration_minutes),
                ("咨询师", lambda o: str(o.counsellor)),
                ("咨询记录", lambda o: o.notes),
            ),
            kind_field="mode",
            sensitive=True,
            related=("town", "person", "counsellor"),
        ),
        Kind(
            "group",
            "团体心理辅导",
            "心理服务",
            "GroupSession",
            "held_on",
            (
                F("held_on", "活动日期", "date"),
                F("town", "镇(街道)", "town"),
                F("place_kind", "场所类型", "choice"),
                F("place", "场所", "text"),
                F("participants", "参加人数", "int"),
                F("topic", "主题", "text", required=False),
                F("notes", "活动记录", "textarea", required=False),
            ),
            (
                ("日期", lambda o: _d(o.held_on)),
                ("镇(街道)", _town),
                ("场所", lambda o: f"{o.get_place_kind_display()}·{o.place}"),
                ("参加人数", lambda o: o.participants),
                ("主题", lambda o: o.topic),
                ("活动记录", lambda o: o.notes),
            ),
            kind_field="place_kind",
            sensitive=True,
        ),
        Kind(
            "screening",
            "特殊教育筛查",
            "特殊教育",
            "SpecialEdScreening",
            "screened_on",
            (
                PERSON,
                F("screened_on", "筛查日期", "date"),
                F("school_year", "学年", "text", hint="如 2023-2024"),
                F("result", "安置意见", "choice"),
                F("school", "学籍学校", "text", required=False),
                F("note", "教育局意见", "text", required=False),
            ),
            (
                ("日期", lambda o: _d(o.screened_on)),
                ("儿童", _person),
                ("镇(街道)", _town),
                ("学年", lambda o: o.school_year),
                ("安置意见", lambda o: o.get_result_display()),
                ("学籍学校", lambda o: o.school),
                ("教育局意见", lambda o: o.note),
            ),
            kind_field="result",
            related=("town", "person"),
        ),
        Kind(
            "plan",
            "送教上门计划",
            "特殊教育",
            "HomeTeachingPlan",
            "start_on",
            (
                PERSON,
                F("school_year", "学年", "text", hint="如 2023-2024"),
                F("school", "学籍学校", "text"),
                F("teacher", "送教教师", "text"),
                F("start_on", "开始日期", "date"),
                F("lessons_planned", "计划课时", "int", hint="每年不少于 216 课时"),
            ),
            (
                ("学年", lambda o: o.school_year),
                ("儿童", _person),
                ("镇(街道)", _town),
                ("学籍学校", lambda o: o.school),
                ("送教教师", lambda o: o.teacher),
                ("开始日期", lambda o: _d(o.start_on)),
                ("计划课时", lambda o: o.lessons_planned),
            ),
            related=("town", "person"),
        ),
        Kind(
            "session",
            "送教上门记录",
            "特殊教育",
            "HomeTeachingSession",
            "held_on",
            (
                F("plan", "送教计划", "plan"),
                F("held_on", "送教日期", "date"),
                F("lessons", "课时", "int"),
                F("teacher", "送教教师", "text"),
                F("content", "教学内容", "text"),
            ),
            (
                ("日期", lambda o: _d(o.held_on)),
                ("儿童", lambda o: o.plan.person.name),
                ("镇(街道)", _town),
                ("课时", lambda o: o.lessons),
                ("送教教师", lambda o: o.teacher),
                ("教学内容", lambda o: o.content),
            ),
            create_here=False,
            related=("town", "plan__person"),
        ),
        Kind(
            "legal",
            "法律援助",
            "法律援助",
            "LegalAidCase",
            "received_on",
            (
                PERSON,
                F("received_on", "受理日期", "date"),
                F("matter", "事项类别", "choice"),
                F("request", "求助内容", "text"),
            ),
            (
                ("受理日期", lambda o: _d(o.received_on)),
                ("残疾人", _person),
                ("镇(街道)", _town),
                ("事项类别", lambda o: o.get_matter_display()),
                ("求助内容", lambda o: o.request),
                ("转介至", lambda o: o.get_referred_to_display()),
                ("办理结果", lambda o: o.outcome),
                ("状态", lambda o: o.state_label),
            ),
            kind_field="matter",
            related=("town", "person"),
        ),
        Kind(
            "activity",
            "文体活动",
            "文体活动",
            "Activity",
            "held_on",
            (
                F("kind", "活动类别", "choice"),
                F("held_on", "活动日期", "date"),
                F("town", "镇(街道)", "town"),
                F("title", "活动名称", "text"),
                F("organiser", "组织单位", "text"),
                F("headcount", "未登记参加人数", "int", required=False, hint="登记的参加人员在活动页添加"),
            ),
            (
                ("日期", lambda o: _d(o.held_on)),
                ("类别", lambda o: o.get_kind_display()),
                ("镇(街道)", _town),
                ("活动名称", lambda o: o.title),
                ("组织单位", lambda o: o.organiser),
                ("未登记参加人数", lambda o: o.headcount),
            ),
            kind_field="kind",
        ),
        Kind(
            "team",
            "兴趣队伍",
            "文体活动",
            "InterestTeam",
            "founded_on",
            (
                F("kind", "类别", "choice"),
                F("town", "镇(街道)", "town"),
                F("name", "队伍名称", "text"),
                F("leader", "负责人", "text"),
                F("founded_on", "成立日期", "date"),
            ),
            (
                ("队伍名称", lambda o: o.name),
                ("类别", lambda o: o.get_kind_display()),
                ("镇(街道)", _town),
                ("负责人", lambda o: o.leader),
                ("成立日期", lambda o: _d(o.founded_on)),
            ),
            kind_field="kind",
        ),
        Kind(
            "rating",
            "星级阅读组织",
            "文体活动",
            "ReadingOrgRating",
            "rated_on",
            (
                F("town", "镇(街道)", "town"),
                F("organisation", "阅读组织", "text"),
                F("year", "年度", "int"),
                F("stars", "星级", "int", hint="1～5"),
                F("rated_on", "评定日期", "date"),
                F("note", "说明", "text", required=False),
            ),
            (
                ("年度", lambda o: o.year),
                ("阅读组织", lambda o: o.organisation),
                ("镇(街道)", _town),
                ("星级", lambda o: "★" * o.stars),
                ("评定日期", lambda o: _d(o.rated_on)),
                ("说明", lambda o: o.note),
            ),
        ),
    )
}

SENSITIVE = tuple(k for k in KINDS.values() if k.sensitive)


def kind_get(code: str) -> Kind:
    try:
        return KINDS[code]
    except KeyError:
        raise Http404("没有这类服务记录") from None
