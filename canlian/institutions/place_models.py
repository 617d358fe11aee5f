"""The places that serve (SERVICES.md §6): 残疾人之家 and community rehab points as institutions, with the
services each offers (``PlaceService``), who comes (``PlaceMember``: the registered attendees of a service)
and day attendance (``Attendance``: one row per person, service and day, entered in the roll-call page or
imported). A new build is a ``BuildProject`` with dated ``Milestone``s, the 强基 and 赋能 checklists
(``ChecklistMark``: each item met or not, from the versioned checklists in ``casework/checklists``) and
encrypted evidence (``PlaceEvidence``); the district's yearly star rating is a ``StarRating`` with its
scored ``StarRatingLine``s, moved through ``STAR_WORKFLOW`` (maker ≠ checker).

Imported at the end of ``models.py``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from canlian.common.crypto import EncryptedTextField


class PlaceServiceKind(models.TextChoices):
    DAY_CARE = "day_care", "日间照料"
    AUX_EMPLOYMENT = "aux_employment", "辅助性就业"
    REHAB = "rehab", "康复训练"
    TRAINING = "training", "技能培训"
    CULTURE_SPORT = "culture_sport", "文体活动"


# the services whose day attendance is recorded
ATTENDED = (PlaceServiceKind.DAY_CARE, PlaceServiceKind.AUX_EMPLOYMENT)
PLACE_KINDS = ("care_home", "rehab_point")


class PlaceService(models.Model):
    institution = models.ForeignKey(
        "institutions.Institution", verbose_name="机构", on_delete=models.CASCADE, related_name="services"
    )
    service = models.CharField("服务项目", max_length=20, choices=PlaceServiceKind.choices)
    since = models.DateField("开展起始日期")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = "机构服务项目"
        verbose_name_plural = "机构服务项目"
        ordering = ["institution", "service"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "service"], name="place_service_once"),
        ]

    def __str__(self):
        return f"{self.institution}·{self.get_service_display()}"


class PlaceMember(models.Model):
    """A registered attendee of one service of one place, from ``joined_on`` (to ``left_on``)."""

    institution = models.ForeignKey(
        "institutions.Institution", verbose_name="机构", on_delete=models.PROTECT, related_name="members"
    )
    person = models.ForeignKey(
        "registry.Person", verbose_name="残疾人", on_delete=models.PROTECT, related_name="place_memberships"
    )
    service = models.CharField("服务项目", max_length=20, choices=PlaceServiceKind.choices)
    joined_on = models.DateField("加入日期")
    left_on = models.DateField("离开日期", null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "服务对象"
        verbose_name_plural = "服务对象"
        ordering = ["institution", "service", "joined_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "person", "service", "joined_on"], name="place_member_once"
            ),
            models.CheckConstraint(
                condition=Q(left_on__isnull=True) | Q(left_on__gte=F("joined_on")),
                name="place_member_period_ordered",
            ),
        ]
        indexes = [models.Index(fields=["institution", "service"], name="place_member_inst_service")]

    def __str__(self):
        return f"{self.person.name}·{self.institution}·{self.get_service_display()}"


class Attendance(models.Model):
    """One person present at one service of one place on one day. ``town`` is the place's town (counted by
    ``day_care_attendance``)."""

    class Source(models.TextChoices):
        PAGE = "page", "点名录入"
        IMPORT = "import", "名单导入"

    institution = models.ForeignKey(
        "institutions.Institution", verbose_name="机构", on_delete=models.PROTECT, related_name="attendance"
    )
    town = models.ForeignKey(
        "registry.Region", verbose_name="所在镇(街道)", on_delete=models.PROTECT, related_name="+"
    )
    person = models.ForeignKey(
        "registry.Person", verbose_name="残疾人", on_delete=models.PROTECT, related_name="place_attendance"
    )
    service = models.CharField("服务项目", max_length=20, choices=PlaceServiceKind.choices)
    on = models.DateField("出勤日期")
    source = models.CharField("来源", max_length=8, choices=Source.choices, default=Source.PAGE)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "出勤记录"
        verbose_name_plural = "出勤记录"
        ordering = ["-on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "service", "on", "person"], name="attendance_once_a_day"
            ),
        ]
        indexes = [
            models.Index(fields=["service", "on", "town"], name="attendance_service_on_town"),
            models.Index(fields=["on", "id"], name="attendance_on_id"),
            models.Index(fields=["person", "on"], name="attendance_person_on"),
        ]

    def __str__(self):
        return f"{self.person.name}·{self.on:%Y-%m-%d}·{self.get_service_display()}"


class BuildProject(models.Model):
    """Building a new place: its deadline, milestones, the two checklists and evidence. Built when
    ``completed_on`` is set (all milestones done)."""

    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name="建设机构",
        on_delete=models.PROTECT,
        related_name="build_projects",
    )
    town = models.ForeignKey(
        "registry.Region", verbose_name="所在镇(街道)", on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField("项目名称", max_length=100)
    started_on = models.DateField("开工日期")
    deadline = models.DateField("建成期限")
    completed_on = models.DateField("建成日期", null=True, blank=True)
    note = models.CharField("说明", max_length=200, blank=True)
    version = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "建设项目"
        verbose_name_plural = "建设项目"
        ordering = ["deadline", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(deadline__gte=F("started_on")), name="build_deadline_ordered"),
            models.CheckConstraint(
                condition=Q(completed_on__isnull=True) | Q(completed_on__gte=F("started_on")),
                name="build_completed_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["completed_on", "town"], name="build_completed_town"),
            models.Index(fields=["deadline", "town"], name="build_deadline_town"),
        ]

    def __str__(self):
        return self.name


class Milestone(models.Model):
    project = models.ForeignKey(
        BuildProject, verbose_name="建设项目", on_delete=models.CASCADE, related_name="milestones"
    )
    seq = models.PositiveSmallIntegerField("序号")
    name = models.CharField("节点", max_length=100)
    due_on = models.DateField("计划完成日期")
    done_on = models.DateField("实际完成日期", null=True, blank=True)
    note = models.CharField("说明", max_length=200, blank=True)

    class Meta:
        verbose_name = "建设节点"
        verbose_name_plural = "建设节点"
        ordering = ["project", "seq"]
        constraints = [models.UniqueConstraint(fields=["project", "seq"], name="milestone_seq_once")]

    def __str__(self):
        return f"{self.project}·{self.name}"


class ChecklistMark(models.Model):
    """One item of the 强基 or 赋能 checklist of a build project: met or not, when and why (the item's text and
    points copied from its checklist version)."""

    class List(models.TextChoices):
        QIANGJI = "qiangji", "强基"
        FUNENG = "funeng", "赋能"

    project = models.ForeignKey(
        BuildProject, verbose_name="建设项目", on_delete=models.CASCADE, related_name="marks"
    )
    checklist = models.CharField("清单", max_length=8, choices=List.choices)
    checklist_version = models.CharField("清单版本", max_length=32)
    code = models.CharField("编号", max_length=16)
    text = models.CharField("内容", max_length=200)
    points = models.DecimalField("分值", max_digits=5, decimal_places=1)
    met = models.BooleanField("已达标", default=False)
    met_on = models.DateField("达标日期", null=True, blank=True)
    note = models.CharField("说明", max_length=200, blank=True)

    class Meta:
        verbose_name = "建设清单项目"
        verbose_name_plural = "建设清单项目"
        ordering = ["project", "checklist", "code"]
        constraints = [
            models.UniqueConstraint(fields=["project", "checklist", "code"], name="checklist_mark_once"),
            models.CheckConstraint(
                condition=Q(met=False, met_on__isnull=True) | Q(met=True, met_on__isnull=False),
                name="checklist_mark_met_dated",
            ),
        ]

    def __str__(self):
        return f"{self.get_checklist_display()}{self.code} {self.text}"


class StarState(models.TextChoices):
    DRAFT = "draft", "待提交"
    SUBMITTED = "submitted", "待审定"
    RATED = "rated", "已评定"


class StarRating(models.Model):
    """The district's star rating of a place for a year against the version of the star checklist in force on
    1 January of that year: item scores, the total and the rating it gives."""

    institution = models.ForeignKey(
        "institutions.Institution", verbose_name="机构", on_delete=models.PROTECT, related_name="star_ratings"
    )
    year = models.PositiveSmallIntegerField("评定年度")
    checklist_version = models.CharField("评定标准版本", max_length=32)
    score = models.DecimalField("得分", max_digits=5, decimal_places=1)
    stars = models.PositiveSmallIntegerField("星级", default=0, help_text="0：未达到最低星级")
    state = models.CharField("状态", max_length=16, choices=StarState.choices, default=StarState.DRAFT)
    state_reason = models.CharField("退回原因", max_length=200, blank=True)
    rated_on = models.DateField("评定日期", null=True, blank=True)
    note = models.CharField("评定意见", max_length=200, blank=True)
    version = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "星级评定"
        verbose_name_plural = "星级评定"
        ordering = ["-year", "institution"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "year"], name="star_rating_once_a_year"),
            models.CheckConstraint(condition=Q(stars__lte=5), name="star_rating_stars_range"),
        ]

    def __str__(self):
        return f"{self.institution}·{self.year}年度星级评定"

    @property
    def workflow(self):
        from .places import STAR_WORKFLOW

        return STAR_WORKFLOW

    @property
    def stars_label(self) -> str:
        return f"{'一二三四五'[self.stars - 1]}星级" if self.stars else "未评星"


class StarRatingLine(models.Model):
    rating = models.ForeignKey(
        StarRating, verbose_name="星级评定", on_delete=models.CASCADE, related_name="lines"
    )
    code = models.CharField("编号", max_length=16)
    section = models.CharField("类别", max_length=8, blank=True)
    text = models.CharField("内容", max_length=200)
    max_points = models.DecimalField("分值", max_digits=5, decimal_places=1)
    points = models.DecimalField("得分", max_digits=5, decimal_places=1)

    class Meta:
        verbose_name = "星级评定明细"
        verbose_name_plural = "星级评定明细"
        ordering = ["rating", "code"]
        constraints = [
            models.UniqueConstraint(fields=["rating", "code"], name="star_line_once"),
            models.CheckConstraint(
                condition=Q(points__gte=0, points__lte=F("max_points")), name="star_line_in_range"
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.text}：{self.points}"


class PlaceEvidence(models.Model):
    """A file of evidence for a build project (a milestone or checklist item) or a star rating, kept
    encrypted in the database (AES-GCM, like case attachments); read only through the audited download."""

    project = models.ForeignKey(
        BuildProject,
        verbose_name="建设项目",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="evidence",
    )
    rating = models.ForeignKey(
        StarRating,
        verbose_name="星级评定",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="evidence",
    )
    about = models.CharField("佐证事项", max_length=100, blank=True)
    name = models.CharField("文件名", max_length=200)
    content_type = models.CharField("类型", max_length=100, blank=True)
    size = models.PositiveIntegerField("大小")
    sha256 = models.CharField("摘要", max_length=64)
    content = EncryptedTextField("内容（加密）")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="上传人", on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField("上传时间", auto_now_add=True)

    class Meta:
        verbose_name = "佐证材料"
        verbose_name_plural = "佐证材料"
        ordering = ["uploaded_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(project__isnull=False, rating__isnull=True)
                | Q(project__isnull=True, rating__isnull=False),
                name="place_evidence_one_owner",
            ),
        ]

    def __str__(self):
        return self.name
