"""Community services 社区服务 (SERVICES.md §7, issue 11 §3): visits and the "实事" projects they open, the
psychological hotline and counselling, special education (送教上门), legal aid, activities and interest teams.

Imported at the end of ``models.py`` (own module, so the parts of issue 11 built at the same time do not edit
the same lines). Each record carries a ``town`` (a snapshot of where it happened or of the person's town when
it was entered): scoping and counting use it. Counselling content (the call summary, follow-up and session
notes) is encrypted at rest and read only through ``community.hotline`` (counsellors, audited).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from canlian.common.crypto import EncryptedTextField

from .models import StoredFile


def _town(related_name: str, *, null: bool = False):
    return models.ForeignKey(
        "registry.Region",
        verbose_name="镇(街道)",
        on_delete=models.PROTECT,
        related_name=related_name,
        null=null,
        blank=null,
    )


def _person(related_name: str, *, null: bool = False):
    return models.ForeignKey(
        "registry.Person",
        verbose_name="残疾人",
        on_delete=models.PROTECT,
        related_name=related_name,
        null=null,
        blank=null,
    )


def _by():
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )


class ActivityKind(models.TextChoices):
    CULTURE = "culture", "文化"
    SPORTS = "sports", "体育"
    READING = "reading", "阅读"
    PREVENTION = "prevention", "残疾预防宣传"
    LAW = "law", "普法"


# ---- visits and 实事 projects --------------------------------------------------------------------------


class Visit(models.Model):
    class Kind(models.TextChoices):
        HOME = "home", "入户访视"
        INSTITUTION = "institution", "机构访视"
        LAW = "law", "送法上门"

    kind = models.CharField("访视类型", max_length=16, choices=Kind.choices)
    visited_on = models.DateField("访视日期")
    town = _town("+")
    person = _person("visits", null=True)
    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name="访视机构",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    visitors = models.CharField("访视人员", max_length=200)
    found = models.TextField("发现情况")
    need = models.CharField("发现的需求", max_length=200, blank=True)
    created_by = _by()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "访视"
        verbose_name_plural = "访视"
        ordering = ["-visited_on", "-id"]
        indexes = [
            models.Index(fields=["town", "visited_on"], name="visit_town_day"),
            models.Index(fields=["visited_on"], name="visit_day"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(person__isnull=False) | Q(institution__isnull=False),
                name="visit_has_whom",
                violation_error_message="请填写访视对象（残疾人身份证号或机构）",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.visited_on:%Y-%m-%d}"


class ShishiProject(models.Model):
    """A "实事" project: a need found (often on a visit) that the federation takes on for the year."""

    year = models.PositiveSmallIntegerField("年度")
    name = models.CharField("项目名称", max_length=200)
    town = _town("+")
    visit = models.ForeignKey(
        Visit,
        verbose_name="来源访视",
        on_delete=models.PROTECT,
        related_name="projects",
        null=True,
        blank=True,
    )
    owner = models.CharField("责任单位(人)", max_length=100)
    budget = models.DecimalField("预算(元)", max_digits=12, decimal_places=2)
    state = models.CharField("状态", max_length=16, default="proposed")
    version = models.PositiveIntegerField(default=1)
    note = models.CharField("说明", max_length=500, blank=True)
    created_by = _by()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "实事项目"
        verbose_name_plural = "实事项目"
        ordering = ["-year", "-id"]
        indexes = [models.Index(fields=["year", "town"], name="shishi_year_town")]
        constraints = [
            models.CheckConstraint(
                condition=Q(budget__gte=0),
                name="shishi_budget_nonnegative",
                violation_error_message="预算不能为负数",
            )
        ]

    def __str__(self):
        return self.name

    @property
    def workflow(self):
        from .community.services import SHISHI_WORKFLOW

        return SHISHI_WORKFLOW

    @property
    def state_label(self) -> str:
        return self.workflow.state_label(self.state)


# ---- the psychological hotline and counselling (content: counsellors only) ------------------------------


class HotlineCall(models.Model):
    class Topic(models.TextChoices):
        EMOTION = "emotion", "情绪困扰"
        FAMILY = "family", "家庭关系"
        REHAB = "rehab", "康复与健康"
        EMPLOYMENT = "employment", "就业与生活"
        POLICY = "policy", "政策咨询"
        CRISIS = "crisis", "危机干预"
        OTHER = "other", "其他"

    called_at = models.DateTimeField("来电时间")
    duration_minutes = models.PositiveSmallIntegerField("通话时长(分钟)")
    topic = models.CharField("主题", max_length=16, choices=Topic.choices)
    risk = models.BooleanField("风险标记", default=False)
    town = _town("+")
    person = _person("hotline_calls", null=True)
    summary = EncryptedTextField("来电内容（加密）", blank=True)
    follow_up = EncryptedTextField("后续跟进（加密）", blank=True)
    counsellor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="接线咨询师", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "心理热线来电"
        verbose_name_plural = "心理热线来电"
        ordering = ["-called_at", "-id"]
        indexes = [
            models.Index(fields=["town", "called_at"], name="hotline_town_time"),
            models.Index(fields=["called_at"], name="hotline_time"),
        ]

    def __str__(self):
        return f"心理热线来电 #{self.pk}"


class CounsellingSession(models.Model):
    """An individual session; its counsellor is the person's own counsellor (who alone sees the notes)."""

    class Mode(models.TextChoices):
        FACE = "face", "面询"
        PHONE = "phone", "电话"
        HOME = "home", "上门"

    person = _person("counselling_sessions")
    town = _town("+")
    held_on = models.DateField("咨询日期")
    duration_minutes = models.PositiveSmallIntegerField("时长(分钟)")
    mode = models.CharField("方式", max_length=8, choices=Mode.choices)
    notes = EncryptedTextField("咨询记录（加密）", blank=True)
    counsellor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="咨询师", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "个体心理咨询"
        verbose_name_plural = "个体心理咨询"
        ordering = ["-held_on", "-id"]
        indexes = [models.Index(fields=["town", "held_on"], name="counsel_town_day")]

    def __str__(self):
        return f"个体心理咨询 #{self.pk}"


class GroupSession(models.Model):
    class Place(models.TextChoices):
        SCHOOL = "school", "学校"
        INSTITUTION = "institution", "服务机构"
        HOME = "home", "残疾人之家"

    held_on = models.DateField("活动日期")
    town = _town("+")
    place_kind = models.CharField("场所类型", max_length=16, choices=Place.choices)
    place = models.CharField("场所", max_length=100)
    participants = models.PositiveIntegerField("参加人数")
    topic = EncryptedTextField("主题（加密）", blank=True)
    notes = EncryptedTextField("活动记录（加密）", blank=True)
    counsellor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="咨询师", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "团体心理辅导"
        verbose_name_plural = "团体心理辅导"
        ordering = ["-held_on", "-id"]
        indexes = [models.Index(fields=["town", "held_on"], name="groupsession_town_day")]

    def __str__(self):
        return f"团体心理辅导 #{self.pk}"


# ---- special education ----------------------------------------------------------------------------------


class SpecialEdScreening(models.Model):
    class Result(models.TextChoices):
        MAINSTREAM = "mainstream", "随班就读"
        SPECIAL_SCHOOL = "special_school", "特殊教育学校"
        HOME_TEACHING = "home_teaching", "送教上门"
        DEFERRED = "deferred", "暂缓入学"

    person = _person("special_ed_screenings")
    town = _town("+")
    screened_on = models.DateField("筛查日期")
    school_year = models.CharField("学年", max_length=9, help_text="如 2023-2024")
    result = models.CharField("安置意见", max_length=16, choices=Result.choices)
    school = models.CharField("学籍学校", max_length=100, blank=True)
    note = models.CharField("教育局意见", max_length=300, blank=True)
    created_by = _by()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "特殊教育筛查"
        verbose_name_plural = "特殊教育筛查"
        ordering = ["-screened_on", "-id"]
        indexes = [models.Index(fields=["town", "screened_on"], name="sped_screen_town_day")]

    def __str__(self):
        return f"特殊教育筛查 {self.school_year}"


class HomeTeachingPlan(models.Model):
    """送教上门 for one child and one school year (the child stays on the school's register)."""

    person = _person("home_teaching_plans")
    town = _town("+")
    school_year = models.CharField("学年", max_length=9)
    school = models.CharField("学籍学校", max_length=100)
    teacher = models.CharField("送教教师", max_length=100)
    start_on = models.DateField("开始日期")
    lessons_planned = models.PositiveSmallIntegerField("计划课时", default=216)
    created_by = _by()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "送教上门计划"
        verbose_name_plural = "送教上门计划"
        ordering = ["-start_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "school_year"],
                name="home_teaching_one_plan_a_year",
                violation_error_message="该儿童本学年已有送教上门计划",
            )
        ]

    def __str__(self):
        return f"送教上门计划 {self.school_year}"


class HomeTeachingSession(models.Model):
    plan = models.ForeignKey(
        HomeTeachingPlan, verbose_name="送教计划", on_delete=models.CASCADE, related_name="sessions"
    )
    town = _town("+")
    held_on = models.DateField("送教日期")
    lessons = models.PositiveSmallIntegerField("课时", default=3)
    teacher = models.CharField("送教教师", max_length=100)
    content = models.CharField("教学内容", max_length=300)
    created_by = _by()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "送教上门记录"
        verbose_name_plural = "送教上门记录"
        ordering = ["-held_on", "-id"]
        indexes = [
            models.Index(fields=["town", "held_on"], name="home_teach_town_day"),
            models.Index(fields=["held_on"], name="home_teach_day"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "held_on"],
                name="home_teaching_one_session_a_day",
                violation_error_message="该计划当天已有送教记录",
            ),
            models.CheckConstraint(
                condition=Q(lessons__gte=1, lessons__lte=8),
                name="home_teaching_lessons",
                violation_error_message="每次送教课时应为 1～8",
            ),
        ]

    def __str__(self):
        return f"送教上门 {self.held_on:%Y-%m-%d}"


# ---- legal aid --------------------------------------------------------------------------------------------


class LegalAidCase(models.Model):
    class Matter(models.TextChoices):
        LABOUR = "labour", "劳动争议"
        FAMILY = "family", "婚姻家庭"
        PROPERTY = "property", "财产权益"
        INJURY = "injury", "人身损害"
        BENEFITS = "benefits", "社会保障"
        OTHER = "other", "其他"

    class ReferredTo(models.TextChoices):
        CENTRE = "centre", "法律援助中心"
        STATION = "station", "残联法律援助工作站"

    person = _person("legal_aid_cases")
    town = _town("+")
    received_on = models.DateField("受理日期")
    matter = models.CharField("事项类别", max_length=16, choices=Matter.choices)
    request = models.CharField("求助内容", max_length=500)
    referred_to = models.CharField("转介至", max_length=16, choices=ReferredTo.choices, blank=True)
    referred_on = models.DateField("转介日期", null=True, blank=True)
    outcome = models.CharField("办理结果", max_length=500, blank=True)
    closed_on = models.DateField("结案日期", null=True, blank=True)
    state = models.CharField("状态", max_length=16, default="received")
    version = models.PositiveIntegerField(default=1)
    created_by = _by()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "法律援助"
        verbose_name_plural = "法律援助"
        ordering = ["-received_on", "-id"]
        indexes = [models.Index(fields=["town", "received_on"], name="legalaid_town_day")]

    def __str__(self):
        return f"法律援助 #{self.pk}"

    @property
    def workflow(self):
        from .community.services import LEGAL_AID_WORKFLOW

        return LEGAL_AID_WORKFLOW

    @property
    def state_label(self) -> str:
        return self.workflow.state_label(self.state)


# ---- activities, interest teams, reading organisations ---------------------------------------------------


class Activity(models.Model):
    kind = models.CharField("活动类别", max_length=16, choices=ActivityKind.choices)
    held_on = models.DateField("活动日期")
    town = _town("+")
    title = models.CharField("活动名称", max_length=200)
    organiser = models.CharField("组织单位", max_length=100)
    headcount = models.PositiveIntegerField("未登记参加人数", default=0)
    attendees = models.ManyToManyField(
        "registry.Person", verbose_name="登记参加人员", related_name="activities", blank=True
    )
    created_by = _by()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "文体活动"
        verbose_name_plural = "文体活动"
        ordering = ["-held_on", "-id"]
        indexes = [
            models.Index(fields=["town", "held_on"], name="activity_town_day"),
            models.Index(fields=["held_on"], name="activity_day"),
        ]

    def __str__(self):
        return self.title


class ActivityPhoto(StoredFile):
    """A photo of an activity, encrypted at rest, served only through the scoped, audited view."""

    activity = models.ForeignKey(
        Activity, verbose_name="活动", on_delete=models.CASCADE, related_name="photos"
    )

    class Meta:
        verbose_name = "活动照片"
        verbose_name_plural = "活动照片"
        ordering = ["id"]


class InterestTeam(models.Model):
    kind = models.CharField("类别", max_length=16, choices=ActivityKind.choices)
    town = _town("+")
    name = models.CharField("队伍名称", max_length=100)
    leader = models.CharField("负责人", max_length=50)
    founded_on = models.DateField("成立日期")
    members = models.ManyToManyField(
        "registry.Person", verbose_name="队员", related_name="interest_teams", blank=True
    )
    created_by = _by()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "兴趣队伍"
        verbose_name_plural = "兴趣队伍"
        ordering = ["town", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["town", "name"],
                name="interest_team_unique_name",
                violation_error_message="本镇已有同名兴趣队伍",
            )
        ]

    def __str__(self):
        return self.name


class ReadingOrgRating(models.Model):
    """星级阅读组织: a reading organisation's star rating for a year."""

    town = _town("+")
    organisation = models.CharField("阅读组织", max_length=100)
    year = models.PositiveSmallIntegerField("年度")
    stars = models.PositiveSmallIntegerField("星级")
    rated_on = models.DateField("评定日期")
    note = models.CharField("说明", max_length=300, blank=True)
    created_by = _by()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "星级阅读组织评定"
        verbose_name_plural = "星级阅读组织评定"
        ordering = ["-year", "town", "organisation"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "year"],
                name="reading_org_one_rating_a_year",
                violation_error_message="该阅读组织本年度已评定",
            ),
            models.CheckConstraint(
                condition=Q(stars__gte=1, stars__lte=5),
                name="reading_org_stars_1_5",
                violation_error_message="星级应为 1～5",
            ),
        ]

    def __str__(self):
        return f"{self.organisation}（{self.year}年 {self.stars}星）"
