"""Data comparison (数据比对): outside lists, their rows, matches to the registry, runs and findings.

Money is stored in fen (``*_fen``, BigInteger) and shown as Decimal yuan (``benefits.models.yuan``)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce

from canlian.benefits.models import yuan
from canlian.common.crypto import EncryptedTextField
from canlian.common.masking import mask_id_number


class ListKind(models.TextChoices):
    DEATHS = "deaths", "死亡/火化名单"
    DIBAO = "dibao", "低保名单"
    TEKUN = "tekun", "特困供养名单"
    INJURY_CARE = "injury_care", "工伤保险生活护理费名单"
    ELDERLY_CARE = "elderly_care", "老年护理补贴名单"
    MOVED_OUT = "moved_out", "户籍迁出名单"
    CERT_CANCELLED = "cert_cancelled", "残疾人证注销名单（上级系统）"


class OutsideSource(models.Model):
    """Where a kind of list comes from (区民政局, 殡仪馆 …); remembers how its columns map to our fields."""

    kind = models.CharField("名单类型", max_length=24, choices=ListKind.choices)
    name = models.CharField("来源单位", max_length=100)
    mapping = models.JSONField("列对应关系", default=dict, blank=True)  # field key → header text in the file
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "外部名单来源"
        verbose_name_plural = "外部名单来源"
        ordering = ["kind", "name"]
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="outside_source_unique")]

    def __str__(self):
        return f"{self.name}（{self.get_kind_display()}）"


class OutsideList(models.Model):
    source = models.ForeignKey(
        OutsideSource, verbose_name="来源", on_delete=models.PROTECT, related_name="lists"
    )
    kind = models.CharField("名单类型", max_length=24, choices=ListKind.choices, db_index=True)
    received_on = models.DateField("收到日期")
    complete = models.BooleanField(
        "全量名单",
        default=False,
        help_text="低保名单为全量时，在享受生活补贴但不在名单中的低保对象视为已退出低保",
    )
    file_name = models.CharField("文件名", max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="上传人", on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField("上传时间", auto_now_add=True)
    row_count = models.PositiveIntegerField("行数", default=0)
    invalid_id_count = models.PositiveIntegerField("身份证号无效", default=0)
    rejected_count = models.PositiveIntegerField("未导入行数", default=0)
    errors = models.JSONField("导入问题", default=list, blank=True)  # [{row, column, message}], first 500
    processed_at = models.DateTimeField("比对时间", null=True, blank=True)

    class Meta:
        verbose_name = "外部名单"
        verbose_name_plural = "外部名单"
        ordering = ["-uploaded_at", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.received_on:%Y-%m-%d}（{self.file_name}）"


class OutsideRow(models.Model):
    outside_list = models.ForeignKey(OutsideList, on_delete=models.CASCADE, related_name="rows")
    row_number = models.PositiveIntegerField("Excel 行号")
    name = models.CharField("姓名", max_length=50, blank=True)
    name_pinyin = models.CharField("姓名拼音", max_length=200, blank=True)
    name_initials = models.CharField("拼音首字母", max_length=50, blank=True)
    id_raw = EncryptedTextField("身份证号（原样规范化）", blank=True, default="")
    id_number = EncryptedTextField("身份证号", blank=True, default="")  # valid 18-digit, else empty
    id_index = models.CharField("身份证号索引", max_length=40, blank=True, db_index=True)
    id_error = models.CharField("身份证号问题", max_length=200, blank=True)
    birth_date = models.DateField("出生日期", null=True, blank=True)
    event_date = models.DateField("事件日期", null=True, blank=True)  # death / period start / cancellation
    end_date = models.DateField("终止日期", null=True, blank=True)
    amount_fen = models.BigIntegerField("月金额（分）", null=True, blank=True)
    extra = models.JSONField("其他列", default=dict, blank=True)

    class Meta:
        verbose_name = "外部名单行"
        verbose_name_plural = "外部名单行"
        ordering = ["outside_list", "row_number"]
        constraints = [
            models.UniqueConstraint(fields=["outside_list", "row_number"], name="outside_row_unique_number")
        ]

    def __str__(self):
        return f"第{self.row_number}行 {self.name}"

    @property
    def masked_id(self) -> str:
        return mask_id_number(self.id_number or self.id_raw)

    @property
    def amount(self) -> Decimal | None:
        return None if self.amount_fen is None else yuan(self.amount_fen)


class VerificationRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "进行中"
        DONE = "done", "已完成"
        FAILED = "failed", "失败"

    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="发起人", on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField("开始时间", auto_now_add=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    month = models.DateField("比对月份")  # first day: ages, validity and amounts are judged for this month
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.RUNNING)
    stats = models.JSONField("统计", default=dict, blank=True)

    class Meta:
        verbose_name = "比对批次"
        verbose_name_plural = "比对批次"
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"比对 {self.month:%Y-%m} #{self.pk}"


class Match(models.Model):
    class Status(models.TextChoices):
        AUTO = "auto", "自动匹配"
        PENDING = "pending", "待确认"
        CONFIRMED = "confirmed", "已确认"
        REJECTED = "rejected", "已否定"

    EXACT = "exact"

    row = models.ForeignKey(OutsideRow, on_delete=models.CASCADE, related_name="matches")
    person = models.ForeignKey("registry.Person", on_delete=models.PROTECT, related_name="+")
    run = models.ForeignKey(
        VerificationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    match_type = models.CharField("匹配方式", max_length=32)
    score = models.FloatField("得分")
    evidence = models.JSONField("依据", default=dict, blank=True)
    status = models.CharField("状态", max_length=16, choices=Status.choices, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField("确认时间", null=True, blank=True)
    applied = models.BooleanField("已用于生成疑点", default=False)  # a run has turned it into findings
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "匹配结果"
        verbose_name_plural = "匹配结果"
        ordering = ["-score", "id"]
        constraints = [models.UniqueConstraint(fields=["row", "person"], name="match_unique_row_person")]

    def __str__(self):
        return f"{self.row} → 残疾人#{self.person_id}（{self.get_status_display()}，得分 {self.score:.2f}）"

    @property
    def workflow(self):
        from .workflow import MATCH_WORKFLOW

        return MATCH_WORKFLOW

    @property
    def is_exact(self) -> bool:
        return self.match_type == self.EXACT

    @property
    def acts(self) -> bool:
        return self.status in (self.Status.AUTO, self.Status.CONFIRMED)


class FindingKind(models.TextChoices):
    DECEASED = "deceased", "已死亡仍在享受或发放"
    LEFT_DIBAO = "left_dibao", "已退出低保"
    ENTERED_TEKUN = "entered_tekun", "已纳入特困供养"
    INJURY_CARE = "injury_care", "已领取工伤保险生活护理费"
    ELDERLY_CARE_OVERLAP = "elderly_care_overlap", "与老年护理补贴重复（择高）"
    CERT_EXPIRED = "cert_expired", "残疾人证已过期"
    CERT_CANCELLED = "cert_cancelled", "残疾人证已注销"
    CHILD_REHAB_AGE = "child_rehab_age", "康复救助已满18周岁"
    CUSTODIAL_AGE = "custodial_age", "托养对象不在16-59周岁"
    DUPLICATE_PERSON = "duplicate_person", "档案疑似重复"
    MOVED_OUT = "moved_out", "户籍已迁出本区"


class Finding(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "待处理"
        CONFIRMED = "confirmed", "已确认"
        DISMISSED = "dismissed", "已排除"

    class Action(models.TextChoices):
        SUSPEND = "suspend", "暂停"
        STOP = "stop", "终止"

    run = models.ForeignKey(VerificationRun, on_delete=models.PROTECT, related_name="findings")
    kind = models.CharField("疑点类型", max_length=32, choices=FindingKind.choices, db_index=True)
    person = models.ForeignKey(
        "registry.Person", verbose_name="残疾人", on_delete=models.PROTECT, related_name="+"
    )
    town = models.ForeignKey(
        "registry.Region", verbose_name="镇(街道)", on_delete=models.PROTECT, related_name="+"
    )
    enrolment = models.ForeignKey(
        "benefits.Enrolment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    row = models.ForeignKey(OutsideRow, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    match = models.ForeignKey(Match, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    evidence = models.JSONField("依据", default=dict, blank=True)
    money_at_stake_fen = models.BigIntegerField("每月涉及金额（分）", default=0)
    overpayment_fen = models.BigIntegerField("多发金额（分）", default=0)
    effective_month = models.DateField("应停发月份", null=True, blank=True)  # first month not due
    status = models.CharField(
        "状态", max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    action = models.CharField("处理方式", max_length=16, choices=Action.choices, blank=True)
    note = models.TextField("处理意见", blank=True)
    dismiss_reason = models.TextField("排除理由", blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    handled_at = models.DateTimeField("处理时间", null=True, blank=True)
    created_at = models.DateTimeField("发现时间", auto_now_add=True)

    class Meta:
        verbose_name = "疑点"
        verbose_name_plural = "疑点"
        ordering = ["-id"]
        indexes = [models.Index(fields=["town", "status", "kind"], name="finding_town_status_kind")]
        constraints = [
            models.UniqueConstraint(
                "kind",
                "person",
                Coalesce("enrolment", 0),
                condition=Q(status="open"),
                name="finding_one_open_per_kind_person_enrolment",
            ),
            models.CheckConstraint(
                condition=~Q(status="dismissed") | ~Q(dismiss_reason=""), name="finding_dismiss_has_reason"
            ),
            models.CheckConstraint(condition=Q(money_at_stake_fen__gte=0), name="finding_money_not_negative"),
            models.CheckConstraint(
                condition=Q(overpayment_fen__gte=0), name="finding_overpayment_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.person_id}"

    @property
    def workflow(self):
        from .workflow import FINDING_WORKFLOW

        return FINDING_WORKFLOW

    @property
    def money_at_stake(self) -> Decimal:
        return yuan(self.money_at_stake_fen)

    @property
    def overpayment(self) -> Decimal:
        return yuan(self.overpayment_fen)

    @property
    def is_exact(self) -> bool:
        """Bulk confirmation is for findings an exact ID match (or the registry itself) produced."""
        return self.match_id is None or (self.evidence or {}).get("match_type") == Match.EXACT
