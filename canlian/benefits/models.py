"""Benefits: programmes, parameter values added by admins, applications, enrolments and payroll.

Money is stored in fen (integer) columns named ``*_fen`` and shown as Decimal yuan: exact to the fen and
set-based arithmetic stays integer."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from canlian.common.crypto import EncryptedTextField
from canlian.common.masking import mask_bank_account


def yuan(fen: int | None) -> Decimal:
    return (Decimal(fen or 0) / 100).quantize(Decimal("0.01"))


class Programme(models.Model):
    """A benefit or service programme; its rules live in ``benefits/rules/programmes.py`` under ``code``."""

    code = models.CharField("代码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=50)
    cash = models.BooleanField("现金发放", default=True)
    description = models.TextField("说明", blank=True)
    active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = "待遇项目"
        verbose_name_plural = "待遇项目"
        ordering = ["id"]

    def __str__(self):
        return self.name


class ParameterValue(models.Model):
    """A dated value added by an administrator; the shipped values are in ``parameters/*.yaml``."""

    name = models.CharField("参数", max_length=100)
    valid_from = models.DateField("生效日期")
    value = models.CharField("取值", max_length=50)
    reference = models.CharField("依据", max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "参数取值"
        verbose_name_plural = "参数取值"
        ordering = ["name", "valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["name", "valid_from"], name="parameter_value_unique_date")
        ]

    def __str__(self):
        return f"{self.name} {self.valid_from}: {self.value}"


class Application(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "草稿"
        SUBMITTED = "submitted", "已提交"
        TOWN_REVIEWED = "town_reviewed", "镇(街道)已初审"
        POSTED = "posted", "公示中"
        DISTRICT_REVIEWED = "district_reviewed", "区残联已审核"
        APPROVED = "approved", "已审定通过"
        REJECTED = "rejected", "未通过"
        ENROLLED = "enrolled", "已纳入发放"
        WITHDRAWN = "withdrawn", "已撤回"

    person = models.ForeignKey(
        "registry.Person", verbose_name="申请人", on_delete=models.PROTECT, related_name="applications"
    )
    programme = models.ForeignKey(
        Programme, verbose_name="待遇项目", on_delete=models.PROTECT, related_name="applications"
    )
    status = models.CharField(
        "状态", max_length=24, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    applied_on = models.DateField("申请日期")
    note = models.TextField("申请说明", blank=True)
    posting_start = models.DateField("公示开始", null=True, blank=True)
    posting_end = models.DateField("公示结束", null=True, blank=True)
    objections = models.TextField("公示异议", blank=True)
    decision_date = models.DateField("民政审定日期", null=True, blank=True)
    approval_posting_start = models.DateField("审定结果公示开始", null=True, blank=True)
    approval_posting_end = models.DateField("审定结果公示期满", null=True, blank=True)
    decision_doc_no = models.CharField("审定文号", max_length=100, blank=True)
    reject_reason = models.TextField("不予通过理由", blank=True)
    bank_name = models.CharField("开户银行", max_length=50, blank=True)
    bank_account = EncryptedTextField("银行账号", blank=True, default="")
    version = models.PositiveIntegerField("版本", default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="经办人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "待遇申请"
        verbose_name_plural = "待遇申请"
        ordering = ["-id"]
        indexes = [models.Index(fields=["programme", "status"], name="application_prog_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "programme"],
                condition=~Q(status__in=["rejected", "enrolled", "withdrawn"]),
                name="application_one_open_per_person_programme",
            )
        ]

    def __str__(self):
        return f"{self.programme} · {self.person.name}"

    @property
    def workflow(self):
        from .workflows import APPLICATION_WORKFLOW

        return APPLICATION_WORKFLOW


class ApplicationAttachment(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField("附件", upload_to="attachments/%Y/%m/")
    name = models.CharField("文件名", max_length=200)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "申请附件"
        verbose_name_plural = "申请附件"

    def __str__(self):
        return self.name


class Enrolment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "发放中"
        SUSPENDED = "suspended", "暂停"
        STOPPED = "stopped", "终止"

    person = models.ForeignKey(
        "registry.Person", verbose_name="残疾人", on_delete=models.PROTECT, related_name="enrolments"
    )
    programme = models.ForeignKey(
        Programme, verbose_name="待遇项目", on_delete=models.PROTECT, related_name="enrolments"
    )
    application = models.OneToOneField(
        Application, null=True, blank=True, on_delete=models.PROTECT, related_name="enrolment"
    )
    status = models.CharField(
        "状态", max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    start_month = models.DateField("起始月份")  # first day of the month
    end_month = models.DateField("终止月份", null=True, blank=True)  # last month paid (first day)
    suspended_from = models.DateField("暂停起始月份", null=True, blank=True)
    bank_name = models.CharField("开户银行", max_length=50, blank=True)
    bank_account = EncryptedTextField("银行账号", blank=True, default="")
    created_at = models.DateTimeField("纳入时间", auto_now_add=True)

    class Meta:
        verbose_name = "待遇享受"
        verbose_name_plural = "待遇享受"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "programme"],
                condition=Q(status__in=["active", "suspended"]),
                name="enrolment_one_open_per_person_programme",
            ),
            models.CheckConstraint(condition=Q(start_month__day=1), name="enrolment_start_first_of_month"),
        ]

    def __str__(self):
        return f"{self.programme} · {self.person.name}"

    @property
    def workflow(self):
        from .workflows import ENROLMENT_WORKFLOW

        return ENROLMENT_WORKFLOW


class EnrolmentChange(models.Model):
    class Kind(models.TextChoices):
        SUSPEND = "suspend", "暂停"
        RESUME = "resume", "恢复"
        STOP = "stop", "终止"

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField("变更", max_length=16, choices=Kind.choices)
    effective_month = models.DateField("生效月份")
    reason = models.TextField("原因")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "待遇变更"
        verbose_name_plural = "待遇变更"
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.effective_month:%Y-%m}"


class Payroll(models.Model):
    class Status(models.TextChoices):
        GENERATING = "generating", "生成中"
        DRAFT = "draft", "草稿"
        REVIEWED = "reviewed", "已复核"
        APPROVED = "approved", "已审批"
        EXPORTED = "exported", "已出盘"
        CLOSED = "closed", "已回盘"

    programme = models.ForeignKey(
        Programme, verbose_name="待遇项目", on_delete=models.PROTECT, related_name="payrolls"
    )
    month = models.DateField("发放月份")  # first day of the month
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.GENERATING)
    line_count = models.PositiveIntegerField("笔数", default=0)
    total_fen = models.BigIntegerField("合计（分）", default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="生成人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("生成时间", auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField("版本", default=0)

    class Meta:
        verbose_name = "发放批次"
        verbose_name_plural = "发放批次"
        ordering = ["-month", "programme_id"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "month"], name="payroll_unique_programme_month"),
            models.CheckConstraint(condition=Q(month__day=1), name="payroll_month_first_day"),
        ]

    def __str__(self):
        return f"{self.programme} {self.month:%Y-%m}"

    @property
    def workflow(self):
        from .workflows import PAYROLL_WORKFLOW

        return PAYROLL_WORKFLOW

    @property
    def total(self) -> Decimal:
        return yuan(self.total_fen)


class PayrollLine(models.Model):
    class Kind(models.TextChoices):
        REGULAR = "regular", "正常发放"
        ARREARS = "arrears", "补发"
        REISSUE = "reissue", "失败重发"

    class Status(models.TextChoices):
        PENDING = "pending", "待发放"
        PAID = "paid", "已到账"
        FAILED = "failed", "失败"

    # A payroll writes a million lines at once and PostgreSQL checks every database foreign key row by row,
    # so only the links that carry meaning are database constraints: the payroll and the enrolment.
    # ``person`` (always ``enrolment.person``) and ``town`` (the person's town when the line was made, for
    # reporting) are snapshots: foreign keys for the ORM (joins, PROTECT on delete), without a database
    # constraint. Lookups by payroll and by town use ``payroll_line_town`` (payroll, town, id), so neither
    # has an index of its own; ``person`` keeps its index (the person page lists a person's payments).
    payroll = models.ForeignKey(Payroll, on_delete=models.CASCADE, related_name="lines", db_index=False)
    person = models.ForeignKey(
        "registry.Person", on_delete=models.PROTECT, related_name="payroll_lines", db_constraint=False
    )
    enrolment = models.ForeignKey(Enrolment, on_delete=models.PROTECT, related_name="payroll_lines")
    town = models.ForeignKey(
        "registry.Region", on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    kind = models.CharField("类型", max_length=16, choices=Kind.choices, default=Kind.REGULAR)
    for_month = models.DateField("所属月份")
    amount_fen = models.BigIntegerField("金额（分）")
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField("失败原因", max_length=200, blank=True)
    bank_name = models.CharField("开户银行", max_length=50, blank=True)
    bank_account = EncryptedTextField("银行账号", blank=True, default="")
    # null on all but the few re-issue lines: looked up through ``payroll_line_one_reissue`` (reissue_of, …),
    # a partial index holding only those lines, instead of an index over every line's null
    reissue_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reissues", db_index=False
    )

    class Meta:
        verbose_name = "发放明细"
        verbose_name_plural = "发放明细"
        ordering = ["payroll", "town_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["payroll", "enrolment", "for_month", "kind"],
                condition=~Q(kind="reissue"),
                name="payroll_line_unique",
            ),
            models.UniqueConstraint(
                fields=["reissue_of", "payroll"],
                condition=Q(reissue_of__isnull=False),
                name="payroll_line_one_reissue",
            ),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="payroll_line_amount_not_negative"),
        ]
        indexes = [
            # a payroll's lines by town, in id order (the line list, the bank file; a town clerk's own town)
            models.Index(fields=["payroll", "town", "id"], name="payroll_line_town"),
            # the few failed lines, which the next payroll re-issues: found without reading every line
            models.Index(fields=["payroll"], condition=Q(status="failed"), name="payroll_line_failed"),
        ]

    def __str__(self):
        return f"{self.person_id} {self.for_month:%Y-%m} {self.amount}"

    @property
    def amount(self) -> Decimal:
        return yuan(self.amount_fen)

    @property
    def masked_account(self) -> str:
        return mask_bank_account(self.bank_account)
