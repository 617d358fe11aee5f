"""The year's work plan (工作要点): versions of the document as imported, its tasks, and the targets found in
its prose, which staff review (edit, split, merge, drop, add) before the district publishes the plan.

A plan is imported as a **draft** version; publishing it supersedes the previously published version of the
year. Re-importing a revised document makes a new draft whose ``changes`` say what differs from the version
before it; what staff set on a target that did not change (indicator, department, town split) is carried over.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Plan(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "待审核"
        PUBLISHED = "published", "已发布"
        SUPERSEDED = "superseded", "已被替代"

    year = models.PositiveSmallIntegerField("年度")
    version = models.PositiveSmallIntegerField("版本")
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.DRAFT)
    title = models.CharField("标题", max_length=200, blank=True)
    source_name = models.CharField("文件名", max_length=200)
    source_kind = models.CharField("文件类型", max_length=8)
    source_sha256 = models.CharField("文件摘要", max_length=64)
    sections = models.JSONField("章节", default=list)  # [[number, title], …]
    warnings = models.JSONField("识别提示", default=list)
    changes = models.JSONField("与上一版本的差异", default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="导入人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("导入时间", auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="发布人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    published_at = models.DateTimeField("发布时间", null=True, blank=True)

    class Meta:
        verbose_name = "工作要点"
        verbose_name_plural = "工作要点"
        ordering = ["-year", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["year", "version"], name="workplan_plan_year_version"),
            models.UniqueConstraint(
                fields=["year"], condition=Q(status="published"), name="workplan_one_published_per_year"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year} 年工作要点（第 {self.version} 版，{self.get_status_display()}）"


class PlanTask(models.Model):
    plan = models.ForeignKey(Plan, verbose_name="工作要点", on_delete=models.CASCADE, related_name="tasks")
    number = models.PositiveSmallIntegerField("任务序号")
    label = models.CharField("编号", max_length=16)
    section = models.PositiveSmallIntegerField("章节", default=0)
    section_title = models.CharField("章节标题", max_length=200, blank=True)
    title = models.CharField("任务", max_length=500)
    text = models.TextField("任务全文")

    class Meta:
        verbose_name = "工作任务"
        verbose_name_plural = "工作任务"
        ordering = ["plan", "number"]
        constraints = [models.UniqueConstraint(fields=["plan", "number"], name="workplan_task_number")]

    def __str__(self) -> str:
        return f"{self.label}{self.title[:40]}"


class Target(models.Model):
    class Comparator(models.TextChoices):
        AT_LEAST = "at_least", "不少于"
        AT_MOST = "at_most", "不超过"

    class Link(models.TextChoices):
        UNLINKED = "", "待关联"
        INDICATOR = "indicator", "关联指标"
        MILESTONE = "milestone", "人工里程碑"
        QUALITATIVE = "qualitative", "定性任务"

    class Origin(models.TextChoices):
        IMPORTED = "imported", "从文件识别"
        EDITED = "edited", "人工修改"
        ADDED = "added", "人工添加"

    plan = models.ForeignKey(Plan, verbose_name="工作要点", on_delete=models.CASCADE, related_name="targets")
    task = models.ForeignKey(PlanTask, verbose_name="任务", on_delete=models.CASCADE, related_name="targets")
    order = models.PositiveSmallIntegerField("顺序", default=0)
    text = models.CharField("目标原文", max_length=500)
    value = models.DecimalField("目标值", max_digits=12, decimal_places=2, null=True, blank=True)
    unit = models.CharField("单位", max_length=8, blank=True)
    comparator = models.CharField(
        "比较", max_length=10, choices=Comparator.choices, default=Comparator.AT_LEAST
    )
    deadline = models.DateField("完成期限", null=True, blank=True)
    town = models.ForeignKey(
        "registry.Region",
        verbose_name="镇(街道)",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    link = models.CharField("关联", max_length=16, choices=Link.choices, default=Link.UNLINKED, blank=True)
    indicator = models.CharField("指标", max_length=64, blank=True)
    department = models.CharField("责任科室", max_length=64, blank=True)
    origin = models.CharField("来源", max_length=10, choices=Origin.choices, default=Origin.IMPORTED)
    warnings = models.JSONField("识别提示", default=list, blank=True)
    # the expected pace: [] = linear from 1 January to the deadline; else 12 cumulative fractions (0..1), the
    # share expected done by the end of each month (a curve: custodial placements come late in the year)
    pace = models.JSONField("进度曲线", default=list, blank=True)
    milestone_done_on = models.DateField("里程碑完成日期", null=True, blank=True)

    class Meta:
        verbose_name = "工作目标"
        verbose_name_plural = "工作目标"
        ordering = ["plan", "task__number", "order", "pk"]

    def __str__(self) -> str:
        value = "" if self.value is None else f"{self.value.normalize():f}{self.unit}"
        return f"任务{self.task.number}：{value or self.text[:30]}"

    @property
    def value_text(self) -> str:
        if self.value is None:
            return ""
        sign = "≥" if self.comparator == self.Comparator.AT_LEAST else "≤"
        return f"{sign}{self.value.normalize():f}{self.unit}"


class TownQuota(models.Model):
    """A target's share for one town (分解任务至各镇): the quotas of a target add up to its value."""

    target = models.ForeignKey(Target, verbose_name="目标", on_delete=models.CASCADE, related_name="quotas")
    town = models.ForeignKey(
        "registry.Region", verbose_name="镇(街道)", on_delete=models.PROTECT, related_name="+"
    )
    value = models.DecimalField("分解目标值", max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = "分镇目标"
        verbose_name_plural = "分镇目标"
        ordering = ["target", "town__code"]
        constraints = [models.UniqueConstraint(fields=["target", "town"], name="workplan_quota_town")]

    def __str__(self) -> str:
        return f"{self.town}：{self.value.normalize():f}"


class IndicatorSnapshot(models.Model):
    """An indicator's count for a year by town as it stood at the end of a month, frozen when the month
    closed: last month's figures never change after the fact. ``town`` null: the district total."""

    indicator = models.CharField("指标", max_length=64)
    year = models.PositiveSmallIntegerField("年度")
    month = models.PositiveSmallIntegerField("月份")
    town = models.ForeignKey(
        "registry.Region",
        verbose_name="镇(街道)",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actual = models.IntegerField("完成数")
    denominator = models.IntegerField("分母", null=True, blank=True)
    taken_at = models.DateTimeField("冻结时间", auto_now_add=True)

    class Meta:
        verbose_name = "指标月度快照"
        verbose_name_plural = "指标月度快照"
        ordering = ["indicator", "year", "month"]
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "year", "month", "town"], name="workplan_snapshot_town"
            ),
            models.UniqueConstraint(
                fields=["indicator", "year", "month"],
                condition=models.Q(town__isnull=True),
                name="workplan_snapshot_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.indicator} {self.year}-{self.month:02d}：{self.actual}"
