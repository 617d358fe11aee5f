"""Employment's own tables (issue 11 §1), beside the case engine: plain dated records with services, no
workflow. The employment periods themselves are the registry's ``EmploymentPeriod`` (with form and employer);
the special-service file (专项服务对象) and the graduates' plans (一人一策) are cases on the engine.

- auxiliary-employment projects with a company, run through a 残疾人之家, and the persons in each;
- job fairs and recruitment events (a count of employers, attendees and offers per event);
- training classes of every kind (skills, blind massage, intangible heritage …): enrolment, sessions with
  attendance per session, certificates;
- blind-massage practitioners (a person's qualification and workplace).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


def _creator():
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )


class AuxProject(models.Model):
    """辅助性就业项目: work a company gives, done at a 残疾人之家 (an institution of kind ``care_home``)."""

    name = models.CharField("项目名称", max_length=100)
    company = models.CharField("合作企业", max_length=100)
    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name="残疾人之家",
        on_delete=models.PROTECT,
        related_name="aux_projects",
    )
    town = models.ForeignKey(
        "registry.Region", verbose_name="镇(街道)", on_delete=models.PROTECT, related_name="+"
    )
    started_on = models.DateField("开始日期")
    ended_on = models.DateField("结束日期", null=True, blank=True)
    content = models.CharField("工作内容", max_length=200, blank=True)
    created_by = _creator()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "辅助性就业项目"
        verbose_name_plural = "辅助性就业项目"
        ordering = ["-started_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="aux_project_ends_after_start",
            )
        ]
        indexes = [models.Index(fields=["town", "started_on"], name="aux_project_town_start")]

    def __str__(self):
        return f"{self.name}（{self.company}）"


class AuxProjectMember(models.Model):
    project = models.ForeignKey(
        AuxProject, verbose_name="项目", on_delete=models.CASCADE, related_name="members"
    )
    person = models.ForeignKey(
        "registry.Person", verbose_name="残疾人", on_delete=models.PROTECT, related_name="aux_projects"
    )
    joined_on = models.DateField("参加日期")
    left_on = models.DateField("退出日期", null=True, blank=True)
    created_by = _creator()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "辅助性就业项目人员"
        verbose_name_plural = "辅助性就业项目人员"
        ordering = ["joined_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "person", "joined_on"], name="aux_member_unique"),
            models.CheckConstraint(
                condition=Q(left_on__isnull=True) | Q(left_on__gte=F("joined_on")),
                name="aux_member_left_after",
            ),
        ]

    def __str__(self):
        return f"{self.project.name}·{self.person.name}"


class JobFairKind(models.TextChoices):
    AID_MONTH = "aid_month", "就业援助月"
    HELP_DAY = "help_day", "全国助残日"
    DISABILITY_DAY = "disability_day", "国际残疾人日"
    SPECIAL = "special", "残疾人专场招聘会"
    OTHER = "other", "其他招聘活动"


class JobFair(models.Model):
    kind = models.CharField("活动类型", max_length=16, choices=JobFairKind.choices)
    title = models.CharField("活动名称", max_length=100)
    held_on = models.DateField("举办日期")
    town = models.ForeignKey(
        "registry.Region", verbose_name="举办地镇(街道)", on_delete=models.PROTECT, related_name="+"
    )
    place = models.CharField("举办地点", max_length=100)
    employers = models.PositiveIntegerField("参会企业数")
    positions = models.PositiveIntegerField("提供岗位数", default=0)
    attendees = models.PositiveIntegerField("参会残疾人数")
    offers = models.PositiveIntegerField("达成就业意向人数")
    note = models.CharField("备注", max_length=200, blank=True)
    created_by = _creator()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "招聘活动"
        verbose_name_plural = "招聘活动"
        ordering = ["-held_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(offers__lte=F("attendees")), name="job_fair_offers_le_attendees"
            )
        ]
        indexes = [models.Index(fields=["held_on", "town"], name="job_fair_held_town")]

    def __str__(self):
        return f"{self.title}（{self.held_on:%Y-%m-%d}）"


class TrainingKind(models.TextChoices):
    SKILL = "skill", "职业技能培训"
    MASSAGE = "massage", "盲人按摩培训"
    HERITAGE = "heritage", "非遗技艺培训"
    BUSINESS = "business", "创业培训"
    OTHER = "other", "其他培训"


class TrainingClass(models.Model):
    kind = models.CharField("培训类型", max_length=16, choices=TrainingKind.choices)
    name = models.CharField("培训班名称", max_length=100, unique=True)
    subject = models.CharField(
        "培训内容", max_length=100, blank=True, help_text="如 木雕、泥塑、漆器、保健按摩"
    )
    town = models.ForeignKey(
        "registry.Region", verbose_name="镇(街道)", on_delete=models.PROTECT, related_name="+"
    )
    organiser = models.CharField("承办单位", max_length=100, blank=True)
    starts_on = models.DateField("开班日期")
    ends_on = models.DateField("结业日期")
    created_by = _creator()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "培训班"
        verbose_name_plural = "培训班"
        ordering = ["-starts_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=F("starts_on")), name="training_ends_after_start")
        ]
        indexes = [models.Index(fields=["starts_on", "town"], name="training_start_town")]

    def __str__(self):
        return self.name


class TrainingSession(models.Model):
    training_class = models.ForeignKey(
        TrainingClass, verbose_name="培训班", on_delete=models.CASCADE, related_name="sessions"
    )
    seq = models.PositiveIntegerField("课次")
    held_on = models.DateField("上课日期")
    topic = models.CharField("课程内容", max_length=100, blank=True)

    class Meta:
        verbose_name = "培训课次"
        verbose_name_plural = "培训课次"
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["training_class", "seq"], name="training_session_seq")]

    def __str__(self):
        return f"第{self.seq}次课（{self.held_on:%Y-%m-%d}）"


class TrainingEnrolment(models.Model):
    training_class = models.ForeignKey(
        TrainingClass, verbose_name="培训班", on_delete=models.CASCADE, related_name="enrolments"
    )
    person = models.ForeignKey(
        "registry.Person", verbose_name="学员", on_delete=models.PROTECT, related_name="trainings"
    )
    enrolled_on = models.DateField("报名日期")
    certificate = models.CharField("结业/职业资格证书", max_length=100, blank=True)
    certified_on = models.DateField("发证日期", null=True, blank=True)
    source = models.CharField("来源", max_length=16, blank=True)
    created_by = _creator()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "培训学员"
        verbose_name_plural = "培训学员"
        ordering = ["enrolled_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["training_class", "person"], name="training_enrolment_once"),
            models.CheckConstraint(
                condition=Q(certified_on__isnull=True) | ~Q(certificate=""),
                name="training_certified_has_name",
            ),
        ]

    def __str__(self):
        return f"{self.training_class.name}·{self.person.name}"


class TrainingAttendance(models.Model):
    session = models.ForeignKey(
        TrainingSession, verbose_name="课次", on_delete=models.CASCADE, related_name="attendance"
    )
    enrolment = models.ForeignKey(
        TrainingEnrolment, verbose_name="学员", on_delete=models.CASCADE, related_name="attendance"
    )

    class Meta:
        verbose_name = "培训出勤"
        verbose_name_plural = "培训出勤"
        constraints = [
            models.UniqueConstraint(fields=["session", "enrolment"], name="training_attendance_once")
        ]

    def __str__(self):
        return f"{self.session}·{self.enrolment.person.name}"


class MassagePractitioner(models.Model):
    """A blind-massage practitioner 盲人按摩从业人员: qualification and workplace; their training is the
    training classes of kind ``massage``."""

    person = models.OneToOneField(
        "registry.Person", verbose_name="残疾人", on_delete=models.PROTECT, related_name="massage_practice"
    )
    qualification = models.CharField(
        "资格等级", max_length=50, help_text="如 保健按摩师（中级）、医疗按摩人员"
    )
    workplace = models.CharField("执业机构", max_length=100, blank=True)
    since = models.DateField("从业起始日期")
    created_by = _creator()
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "盲人按摩从业人员"
        verbose_name_plural = "盲人按摩从业人员"
        ordering = ["-since", "-id"]

    def __str__(self):
        return f"{self.person.name}·{self.qualification}"
