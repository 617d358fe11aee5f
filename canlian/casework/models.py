"""The case engine's tables: one row per person enrolled in a programme (Case), its repeatable stage
occurrences (DueItem), its attachments (encrypted at rest), and the providers' monthly settlements.

Programme-specific fields live in ``Case.data`` (JSON, declared per programme in ``Programme.data_fields``):
they are few, shown and imported but not counted on, and a new programme then needs no migration. What the
indicators count on (person, programme, town, institution, state, opened/closed dates) are real, indexed
columns; a programme that needs relational detail (custodial care's contracts and inspections) adds small
models of its own here.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from canlian.common.crypto import EncryptedTextField

from .programme import programme_get


def case_repr(programme_name: str, person_name: str, opened_on) -> str:
    """How a case is named (``str(case)``, the audit rows' object): also built without an instance by the
    bulk writes."""
    return f"{programme_name}·{person_name}（{opened_on:%Y-%m-%d}）"


class Case(models.Model):
    person = models.ForeignKey(
        "registry.Person", verbose_name="服务对象", on_delete=models.PROTECT, related_name="cases"
    )
    programme = models.CharField("服务项目", max_length=32)
    town = models.ForeignKey(
        "registry.Region",
        verbose_name="所属镇(街道)",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="开案时服务对象所在镇(街道)的快照：统计与权限按它计算。",
    )
    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name="服务机构",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    state = models.CharField("状态", max_length=32)
    opened_on = models.DateField("开始日期")
    closed_on = models.DateField("结束日期", null=True, blank=True)
    close_reason = models.CharField("结束原因", max_length=200, blank=True)
    data = models.JSONField("项目信息", default=dict, blank=True)
    source = models.CharField("来源", max_length=32, blank=True, help_text="web / import / demo")
    version = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "服务个案"
        verbose_name_plural = "服务个案"
        ordering = ["-opened_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True) | Q(closed_on__gte=F("opened_on")),
                name="case_closed_after_opened",
            ),
        ]
        indexes = [
            models.Index(fields=["programme", "opened_on", "town"], name="case_prog_opened_town"),
            models.Index(fields=["programme", "person", "opened_on"], name="case_prog_person_opened"),
            models.Index(fields=["institution", "programme"], name="case_institution_prog"),
            # 我的待办: the cases waiting in a review state, counted, and listed least recently moved first
            # (with what the counts read: scope, opening date, id, from the index alone)
            models.Index(
                fields=["programme", "state", "updated_at"],
                include=["id", "opened_on", "town", "institution"],
                name="case_prog_state_updated_cover",
            ),
            # a town's (an institution's) cases as (town, id) pairs: joined to their open due items without
            # reading the table
            models.Index(fields=["town", "id"], name="case_town_id_pair"),
            models.Index(fields=["institution", "id"], name="case_institution_id_pair"),
        ]

    def __str__(self):
        return case_repr(self.programme_def.name, self.person.name, self.opened_on)

    @property
    def programme_def(self):
        return programme_get(self.programme)

    @property
    def workflow(self):
        return self.programme_def.workflow

    @property
    def state_label(self) -> str:
        return self.workflow.state_label(self.state)


class DueItem(models.Model):
    """One occurrence of a repeatable stage (a return visit, a session): scheduled, done or overdue."""

    case = models.ForeignKey(Case, verbose_name="个案", on_delete=models.CASCADE, related_name="due_items")
    kind = models.CharField("环节", max_length=32)
    seq = models.PositiveIntegerField("次序")
    due_on = models.DateField("应办日期")
    done_on = models.DateField("完成日期", null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="办理人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    note = models.TextField("记录", blank=True)
    cancelled = models.BooleanField("已取消", default=False)

    class Meta:
        verbose_name = "应办事项"
        verbose_name_plural = "应办事项"
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "kind", "seq"], name="dueitem_unique_seq"),
            models.CheckConstraint(
                condition=Q(done_on__isnull=True) | Q(done_by__isnull=False), name="dueitem_done_has_user"
            ),
        ]
        indexes = [
            # 我的待办: the open items due by a day, their cases and ids read from the index alone (the
            # counts and the first items of the page)
            models.Index(
                fields=["due_on", "case"],
                include=["id"],
                condition=Q(done_on__isnull=True, cancelled=False),
                name="dueitem_open_due_case_id",
            )
        ]

    def __str__(self):
        return f"第{self.seq}次{self.kind}（{self.due_on:%Y-%m-%d}）"

    def status_on(self, today) -> str:
        if self.cancelled:
            return "cancelled"
        if self.done_on:
            return "done"
        return "overdue" if self.due_on < today else "scheduled"

    STATUS_LABELS = {"cancelled": "已取消", "done": "已完成", "overdue": "已逾期", "scheduled": "待办"}


class StoredFile(models.Model):
    """A file kept encrypted in the database (AES-GCM via ``common.crypto``): never on disk in the clear,
    served only through an access-checked, audited view. ``stored(content)`` gives the columns to save,
    ``data()`` the bytes back, checked against the digest."""

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
        abstract = True

    def __str__(self):
        return self.name

    @staticmethod
    def stored(content: bytes) -> dict:
        import base64
        import hashlib

        return {
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "content": base64.b64encode(content).decode("ascii"),
        }

    def data(self) -> bytes:
        import base64
        import hashlib

        from canlian.common.exceptions import DomainError

        data = base64.b64decode(self.content)
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise DomainError("文件内容校验失败，请联系管理员")
        return data


class Attachment(StoredFile):
    """A case's file (encrypted at rest; read only through ``attachment_read``)."""

    case = models.ForeignKey(Case, verbose_name="个案", on_delete=models.PROTECT, related_name="attachments")

    class Meta:
        verbose_name = "附件"
        verbose_name_plural = "附件"
        ordering = ["uploaded_at", "id"]


class Settlement(models.Model):
    """What one institution asks for one programme and one month, and what the district decides:
    asked = approved + over the cap + rejected; ``adjusted`` is a signed correction with its reason;
    payable = approved + adjusted."""

    class State(models.TextChoices):
        DRAFT = "draft", "待提交"
        SUBMITTED = "submitted", "待审核"
        APPROVED = "approved", "已核定"
        REJECTED = "rejected", "已退回"

    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name="服务机构",
        on_delete=models.PROTECT,
        related_name="settlements",
    )
    programme = models.CharField("服务项目", max_length=32)
    month = models.DateField("结算月份", help_text="该月1日")
    cases = models.PositiveIntegerField("结算人数", default=0)
    amount_asked = models.DecimalField("申报金额", max_digits=12, decimal_places=2)
    amount_approved = models.DecimalField("核定金额", max_digits=12, decimal_places=2, default=Decimal("0"))
    amount_over_cap = models.DecimalField("超出上限", max_digits=12, decimal_places=2, default=Decimal("0"))
    amount_rejected = models.DecimalField("核减金额", max_digits=12, decimal_places=2, default=Decimal("0"))
    reject_reason = models.CharField("核减/退回理由", max_length=200, blank=True)
    amount_adjusted = models.DecimalField("调整金额", max_digits=12, decimal_places=2, default=Decimal("0"))
    adjust_reason = models.CharField("调整理由", max_length=200, blank=True)
    state = models.CharField("状态", max_length=16, choices=State.choices, default=State.DRAFT)
    version = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="申报人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("申报时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "机构结算"
        verbose_name_plural = "机构结算"
        ordering = ["-month", "institution_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "programme", "month"], name="settlement_one_per_institution_month"
            ),
            models.CheckConstraint(
                condition=Q(amount_asked__gte=0, amount_over_cap__gte=0, amount_rejected__gte=0),
                name="settlement_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["draft", "submitted"])
                | Q(amount_asked=F("amount_approved") + F("amount_over_cap") + F("amount_rejected")),
                name="settlement_decided_amounts_add_up",
            ),
        ]

    def __str__(self):
        return f"{self.institution}·{self.month:%Y年%m月}结算"

    @property
    def workflow(self):
        from .settlements import SETTLEMENT_WORKFLOW

        return SETTLEMENT_WORKFLOW

    @property
    def payable(self) -> Decimal:
        return self.amount_approved + self.amount_adjusted


# ---- custodial care: contracts and inspections ---------------------------------------------------------


class CustodialMode(models.TextChoices):
    BOARDING = "boarding", "寄宿制"
    DAY_CARE = "day_care", "日间照料"
    HOME = "home", "居家托养"


class CustodialContract(models.Model):
    """A town's purchase of custodial care from a provider for a period: mode, places, price per month."""

    town = models.ForeignKey(
        "registry.Region", verbose_name="购买方(镇)", on_delete=models.PROTECT, related_name="+"
    )
    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name="服务机构",
        on_delete=models.PROTECT,
        related_name="contracts",
    )
    mode = models.CharField("托养方式", max_length=16, choices=CustodialMode.choices)
    valid_from = models.DateField("起始日期")
    valid_to = models.DateField("截止日期")
    places = models.PositiveIntegerField("购买名额")
    monthly_price = models.DecimalField("每人每月价格", max_digits=10, decimal_places=2)
    ended_on = models.DateField(
        "提前终止日期", null=True, blank=True, help_text="合同在截止日期前终止时填写；空表示按期执行。"
    )
    end_reason = models.CharField("终止原因", max_length=200, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="终止登记人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "托养服务购买合同"
        verbose_name_plural = "托养服务购买合同"
        ordering = ["-valid_from", "town_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__gte=F("valid_from")), name="contract_period_ordered"
            ),
            models.CheckConstraint(condition=Q(monthly_price__gte=0), name="contract_price_not_negative"),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True)
                | Q(ended_on__gte=F("valid_from"), ended_on__lte=F("valid_to")),
                name="contract_ended_within_period",
            ),
        ]
        indexes = [models.Index(fields=["town", "valid_from"], name="contract_town_from")]

    def __str__(self):
        return f"{self.town.name}·{self.institution.name}（{self.valid_from}～{self.valid_to}）"

    @property
    def last_day(self):
        """The last day the contract runs: the early end when there is one, else the signed end."""
        return self.ended_on or self.valid_to

    def status_on(self, day) -> str:
        if self.ended_on is not None and self.ended_on < day:
            return "ended"
        if day < self.valid_from:
            return "pending"
        return "expired" if self.valid_to < day else "active"

    STATUS_LABELS = {"pending": "未开始", "active": "执行中", "expired": "已到期", "ended": "已终止"}


class Inspection(models.Model):
    """The district's quality inspection of a provider: date, score, findings, follow-up."""

    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name="服务机构",
        on_delete=models.PROTECT,
        related_name="inspections",
    )
    inspected_on = models.DateField("检查日期")
    score = models.DecimalField("得分", max_digits=5, decimal_places=1)
    passed = models.BooleanField("合格")
    findings = models.TextField("发现问题", blank=True)
    follow_up = models.TextField("整改要求", blank=True)
    follow_up_due = models.DateField("整改期限", null=True, blank=True)
    follow_up_done_on = models.DateField("整改复查日期", null=True, blank=True)
    follow_up_result = models.CharField("复查结果", max_length=200, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="检查人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "质量检查"
        verbose_name_plural = "质量检查"
        ordering = ["-inspected_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=0, score__lte=100), name="inspection_score_0_100"),
            models.CheckConstraint(
                condition=Q(follow_up_done_on__isnull=True) | Q(follow_up_done_on__gte=F("inspected_on")),
                name="inspection_follow_up_after_inspection",
            ),
        ]

    def __str__(self):
        return f"{self.institution}·{self.inspected_on:%Y-%m-%d}检查"

    def follow_up_status(self, today) -> str:
        if not self.follow_up:
            return "none"
        if self.follow_up_done_on:
            return "done"
        return "overdue" if self.follow_up_due and self.follow_up_due < today else "open"

    FOLLOW_UP_LABELS = {"none": "无需整改", "open": "整改中", "overdue": "整改逾期", "done": "已复查"}


# ---- child rehabilitation aid (its own module; imported so Django sees the models) ----------------------

from .child_rehab_models import (  # noqa: E402,F401
    AutismScreening,
    ChildRehabMonth,
    ChildRehabProfile,
    ChildRehabReferral,
    RehabEvaluation,
    RehabEvaluationLine,
)

# ---- community services (its own module; imported so Django sees the models) ---------------------------
from .community_models import (  # noqa: E402,F401
    Activity,
    ActivityPhoto,
    CounsellingSession,
    GroupSession,
    HomeTeachingPlan,
    HomeTeachingSession,
    HotlineCall,
    InterestTeam,
    LegalAidCase,
    ReadingOrgRating,
    ShishiProject,
    SpecialEdScreening,
    Visit,
)

# ---- assistive devices (its own module; imported so Django sees the models) ----------------------------
from .device_models import (  # noqa: E402,F401
    DeviceCatalogVersion,
    DeviceFitting,
    DeviceItem,
    DeviceLoan,
)

# ---- employment (its own module: projects, job fairs, training, practitioners) ----------------------------
from .employment_models import (  # noqa: E402,F401
    AuxProject,
    AuxProjectMember,
    JobFair,
    JobFairKind,
    MassagePractitioner,
    TrainingAttendance,
    TrainingClass,
    TrainingEnrolment,
    TrainingKind,
    TrainingSession,
)

# ---- home accessibility renovation (its own module) ------------------------------------------------------
from .renovation_models import RenovationItem, RenovationPhoto  # noqa: E402,F401
