"""Child rehabilitation aid 残疾儿童康复救助 (SERVICES.md §2): the tables the programme counts and pays on.

Imported at the end of ``models.py`` (kept in its own module so the programmes built on the engine at the same
time do not edit the same lines). A case of the ``child_rehab`` programme has one ``ChildRehabProfile`` (the
application: category, need, residence, priority groups, the guardian with an encrypted phone), one
``ChildRehabMonth`` per service month (days attended, amount asked, what the yearly cap allowed and why, the
meal subsidy), ``ChildRehabReferral`` records for service outside the district (异地转介), and the child's
autism pathway events (``AutismScreening``). Institutions are evaluated against a versioned checklist
(``RehabEvaluation`` with its item scores and negative-behaviour deductions).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from canlian.common.crypto import EncryptedTextField

ZERO = Decimal("0")


class RehabCategory(models.TextChoices):
    VISION = "vision", "视力"
    HEARING = "hearing", "听力"
    SPEECH = "speech", "言语"
    PHYSICAL = "physical", "肢体"
    INTELLECTUAL = "intellectual", "智力"
    AUTISM = "autism", "孤独症"
    MULTIPLE = "multiple", "多重"


class RehabServiceType(models.TextChoices):
    TRAINING = "training", "康复训练"
    SURGERY = "surgery", "手术"
    DEVICE = "device", "辅具配置"


class Residence(models.TextChoices):
    HUKOU = "hukou", "本区户籍"
    PERMIT = "residence_permit", "本区居住证"
    NONE = "none", "无本区户籍或居住证"


class PriorityGroup(models.TextChoices):
    DIBAO = "dibao", "低保家庭"
    TEKUN = "tekun", "特困供养"
    ORPHAN = "orphan", "孤儿"
    WELFARE = "welfare_institution", "福利机构收留抚养"
    HARDSHIP = "other_hardship", "其他困难家庭"


class ChildRehabProfile(models.Model):
    """The guardian's application on a ``child_rehab`` case."""

    case = models.OneToOneField(
        "casework.Case",
        verbose_name="个案",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="child_rehab",
    )
    applied_on = models.DateField("申请日期")
    category = models.CharField("康复类别", max_length=16, choices=RehabCategory.choices)
    service_type = models.CharField(
        "服务类型", max_length=16, choices=RehabServiceType.choices, default=RehabServiceType.TRAINING
    )
    need = models.CharField("康复需求", max_length=200, blank=True)
    residence = models.CharField("户籍/居住证", max_length=20, choices=Residence.choices)
    residence_permit_until = models.DateField("居住证有效期至", null=True, blank=True)
    priority = models.JSONField("优先救助对象", default=list, blank=True, help_text="PriorityGroup 代码列表")
    guardian_name = models.CharField("监护人姓名", max_length=50)
    guardian_relation = models.CharField("与儿童关系", max_length=20, blank=True)
    guardian_phone = EncryptedTextField("监护人电话", blank=True, default="")

    class Meta:
        verbose_name = "康复救助申请"
        verbose_name_plural = "康复救助申请"

    def __str__(self):
        return f"{self.get_category_display()}·监护人{self.guardian_name}"

    @property
    def priority_labels(self) -> list[str]:
        labels = dict(PriorityGroup.choices)
        return [labels.get(p, p) for p in self.priority]


class ChildRehabMonth(models.Model):
    """One service month of one child: days attended and the amount asked (by the institution, or paid by
    the guardian to an institution outside the district on an approved referral), what the yearly cap left
    for it (``allowed`` + ``cut`` = ``asked``, the cut with its reason), and the meal subsidy."""

    case = models.ForeignKey(
        "casework.Case", verbose_name="个案", on_delete=models.PROTECT, related_name="rehab_months"
    )
    month = models.DateField("服务月份", help_text="该月1日")
    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name="服务机构",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rehab_months",
    )
    referral = models.ForeignKey(
        "casework.ChildRehabReferral",
        verbose_name="异地转介",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="months",
    )
    days_attended = models.PositiveSmallIntegerField("出勤天数")
    age = models.PositiveSmallIntegerField("月初年龄")
    year_cap = models.DecimalField("年度救助上限", max_digits=10, decimal_places=2)
    used_before = models.DecimalField("本年度此前已核", max_digits=10, decimal_places=2)
    amount_asked = models.DecimalField("申报康复费用", max_digits=10, decimal_places=2)
    amount_allowed = models.DecimalField("核定康复费用", max_digits=10, decimal_places=2)
    amount_cut = models.DecimalField("超出年度上限", max_digits=10, decimal_places=2, default=ZERO)
    cut_reason = models.CharField("核减原因", max_length=200, blank=True)
    meal_days = models.PositiveSmallIntegerField("伙食补助天数", default=0)
    meal_amount = models.DecimalField("伙食补助", max_digits=8, decimal_places=2, default=ZERO)
    meal_reason = models.CharField("伙食补助说明", max_length=200, blank=True)
    settlement = models.ForeignKey(
        "casework.Settlement",
        verbose_name="机构结算",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rehab_months",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "康复服务月度记录"
        verbose_name_plural = "康复服务月度记录"
        ordering = ["month", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "month"], name="rehab_month_one_per_case_month"),
            models.CheckConstraint(
                condition=Q(amount_asked=F("amount_allowed") + F("amount_cut")),
                name="rehab_month_asked_allowed_cut",
            ),
            models.CheckConstraint(
                condition=Q(amount_allowed__gte=0, amount_cut__gte=0, meal_amount__gte=0),
                name="rehab_month_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(institution__isnull=False) | Q(referral__isnull=False),
                name="rehab_month_served_somewhere",
            ),
        ]
        indexes = [models.Index(fields=["month", "case"], name="rehab_month_month_case")]

    def __str__(self):
        return f"{self.case}·{self.month:%Y年%m月}"

    @property
    def payable(self) -> Decimal:
        return self.amount_allowed + self.meal_amount


class ReferralState(models.TextChoices):
    DRAFT = "draft", "待提交"
    REQUESTED = "requested", "待审批"
    APPROVED = "approved", "已同意"
    REJECTED = "rejected", "未同意"
    DONE = "done", "已完成"


class ChildRehabReferral(models.Model):
    """异地转介: the guardian asks for a rehab institution outside the district; the DPF approves (another
    officer than the one who recorded the request) or rejects with the reason; the guardian pays there and
    is reimbursed at the home standard (``ChildRehabMonth`` rows on this referral); done when closed."""

    case = models.ForeignKey(
        "casework.Case", verbose_name="个案", on_delete=models.PROTECT, related_name="rehab_referrals"
    )
    destination = models.CharField("转介机构", max_length=100)
    destination_place = models.CharField("机构所在地", max_length=50)
    reason = models.CharField("转介原因", max_length=200)
    consent = models.BooleanField("监护人已书面同意", default=False)
    requested_on = models.DateField("申请日期")
    state = models.CharField(
        "状态", max_length=16, choices=ReferralState.choices, default=ReferralState.DRAFT
    )
    decision_reason = models.CharField("审批意见", max_length=200, blank=True)
    done_on = models.DateField("完成日期", null=True, blank=True)
    reimbursed_total = models.DecimalField("报销合计", max_digits=10, decimal_places=2, default=ZERO)
    version = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="登记人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "异地转介"
        verbose_name_plural = "异地转介"
        ordering = ["-requested_on", "-id"]

    def __str__(self):
        return f"{self.case.person.name}·转介至{self.destination_place}{self.destination}"

    @property
    def workflow(self):
        from .programmes.child_rehab import REFERRAL_WORKFLOW

        return REFERRAL_WORKFLOW


class AutismStage(models.TextChoices):
    FIRST = "first", "初筛"
    RESCREEN = "rescreen", "复筛"
    DIAGNOSIS = "diagnosis", "诊断"
    INTERVENTION = "intervention", "干预"


class AutismResult(models.TextChoices):
    POSITIVE = "positive", "阳性"
    NEGATIVE = "negative", "阴性"
    CONFIRMED = "confirmed", "确诊"
    EXCLUDED = "excluded", "排除"
    STARTED = "started", "已开始干预"


class AutismScreening(models.Model):
    """One dated event of the autism pathway (初筛 → 复筛 → 诊断 → 干预) for one child, with its result."""

    person = models.ForeignKey(
        "registry.Person", verbose_name="儿童", on_delete=models.PROTECT, related_name="autism_events"
    )
    town = models.ForeignKey(
        "registry.Region", verbose_name="所属镇(街道)", on_delete=models.PROTECT, related_name="+"
    )
    stage = models.CharField("环节", max_length=16, choices=AutismStage.choices)
    on = models.DateField("日期")
    result = models.CharField("结果", max_length=16, choices=AutismResult.choices)
    place = models.CharField("机构", max_length=100)
    note = models.CharField("备注", max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "孤独症筛查干预"
        verbose_name_plural = "孤独症筛查干预"
        ordering = ["person", "on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["person", "stage", "on"], name="autism_event_once_a_day"),
            models.CheckConstraint(
                condition=(
                    Q(stage__in=["first", "rescreen"], result__in=["positive", "negative"])
                    | Q(stage="diagnosis", result__in=["confirmed", "excluded"])
                    | Q(stage="intervention", result="started")
                ),
                name="autism_result_fits_stage",
            ),
        ]
        indexes = [models.Index(fields=["stage", "on", "town"], name="autism_stage_on_town")]

    def __str__(self):
        return f"{self.person.name}·{self.get_stage_display()}{self.get_result_display()}（{self.on}）"


class RehabEvaluation(models.Model):
    """考评 of a rehab institution against one version of the checklist: item scores, negative-behaviour
    deductions, the final score and whether it passed or gave grounds for removal."""

    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name="机构",
        on_delete=models.PROTECT,
        related_name="rehab_evaluations",
    )
    checklist_version = models.CharField("考评细则版本", max_length=32)
    evaluated_on = models.DateField("考评日期")
    score = models.DecimalField("细则得分", max_digits=5, decimal_places=1)
    deductions = models.DecimalField("负面行为扣分", max_digits=5, decimal_places=1)
    final_score = models.DecimalField("考评得分", max_digits=5, decimal_places=1)
    pass_mark = models.PositiveSmallIntegerField("合格分数线")
    passed = models.BooleanField("合格")
    removal_grounds = models.BooleanField("有取消定点资格情形", default=False)
    note = models.TextField("考评意见", blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="考评人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "定点康复机构考评"
        verbose_name_plural = "定点康复机构考评"
        ordering = ["-evaluated_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "evaluated_on"], name="rehab_evaluation_once_a_day"
            ),
        ]

    def __str__(self):
        return f"{self.institution}·{self.evaluated_on:%Y-%m-%d}考评"


class RehabEvaluationLine(models.Model):
    """One line of an evaluation: a checklist item with its score, or a negative-behaviour item found with
    its deduction (the item's text and points are copied: the checklist version may change later)."""

    class Kind(models.TextChoices):
        ITEM = "item", "考评项目"
        NEGATIVE = "negative", "负面行为"

    evaluation = models.ForeignKey(
        RehabEvaluation, verbose_name="考评", on_delete=models.CASCADE, related_name="lines"
    )
    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    code = models.CharField("编号", max_length=16)
    text = models.CharField("内容", max_length=200)
    max_points = models.DecimalField("分值", max_digits=5, decimal_places=1)
    points = models.DecimalField("得分/扣分", max_digits=5, decimal_places=1)
    removal = models.BooleanField("取消定点资格情形", default=False)
    note = models.CharField("说明", max_length=200, blank=True)

    class Meta:
        verbose_name = "考评明细"
        verbose_name_plural = "考评明细"
        ordering = ["evaluation", "kind", "code"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "kind", "code"], name="rehab_eval_line_once"),
            models.CheckConstraint(
                condition=Q(points__gte=0, points__lte=F("max_points")), name="rehab_eval_line_in_range"
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.text}：{self.points}"
