from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q

from canlian.common.crypto import EncryptedTextField
from canlian.common.masking import mask_id_number

from . import identity


class Region(models.Model):
    """District → town/street → village/community."""

    class Level(models.TextChoices):
        DISTRICT = "district", "区"
        TOWN = "town", "镇(街道)"
        COMMUNITY = "community", "村(社区)"

    class Kind(models.TextChoices):
        DISTRICT = "district", "区"
        STREET = "street", "街道"
        TOWN = "town", "镇"
        TOWNSHIP = "township", "乡"
        ZONE = "zone", "开发区(园区)"
        FARM = "farm", "农(林)场"
        RESORT = "resort", "度假区(风景区)"
        OTHER = "other", "其他乡级单位"
        VILLAGE = "village", "村"
        COMMUNITY = "community", "社区"

    code = models.CharField("代码", max_length=12, unique=True)
    name = models.CharField("名称", max_length=50)
    level = models.CharField("层级", max_length=16, choices=Level.choices)
    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    parent = models.ForeignKey(
        "self", verbose_name="上级", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # From the national statistical division codes (registry/divisions.py); False for a unit an admin added
    official = models.BooleanField("统计用区划代码", default=False)

    class Meta:
        verbose_name = "行政区划"
        verbose_name_plural = "行政区划"
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="region_unique_name_in_parent"),
            models.CheckConstraint(
                condition=Q(level="district", parent__isnull=True) | Q(parent__isnull=False),
                name="region_parent_required_below_district",
            ),
        ]

    def __str__(self):
        return self.name


class Sex(models.TextChoices):
    MALE = "M", "男"
    FEMALE = "F", "女"


class HouseholdType(models.TextChoices):
    URBAN = "urban", "城镇"
    RURAL = "rural", "农村"


class EmploymentStatus(models.TextChoices):
    EMPLOYED = "employed", "就业"
    UNEMPLOYED = "unemployed", "未就业"
    STUDENT = "student", "在校"
    RETIRED = "retired", "离退休"
    UNKNOWN = "", "未填写"


class EmploymentKind(models.TextChoices):
    """The form of an employment (CDPF statistics, SERVICES.md §5)."""

    QUOTA = "quota", "按比例就业"
    CONCENTRATED = "concentrated", "集中就业"
    SELF = "self", "个体就业/自主创业"
    RURAL = "rural", "农村种养加"
    PUBLIC_WELFARE = "public_welfare", "公益性岗位"
    AUXILIARY = "auxiliary", "辅助性就业"
    FLEXIBLE = "flexible", "灵活就业"


class Person(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "在册"
        MOVED_OUT = "moved_out", "迁出"
        DECEASED = "deceased", "死亡"

    name = models.CharField("姓名", max_length=50)
    # Indexes in Meta, with the pattern opclass: a plain one (and Django's extra "_like" one on PostgreSQL)
    # would be written on every insert and never read (the search is LIKE 'x%').
    name_pinyin = models.CharField("姓名拼音", max_length=200, editable=False)
    name_initials = models.CharField("拼音首字母", max_length=50, editable=False)
    id_number = EncryptedTextField("身份证号")
    # unique through Meta.constraints: unique=True would add a useless "_like" index on PostgreSQL
    id_number_index = models.CharField("身份证号索引", max_length=40, editable=False)
    sex = models.CharField("性别", max_length=1, choices=Sex.choices)
    birth_date = models.DateField("出生日期", db_index=True)
    phone = EncryptedTextField("联系电话", blank=True, default="")
    town = models.ForeignKey(
        Region,
        verbose_name="镇(街道)",
        on_delete=models.PROTECT,
        related_name="persons_in_town",
        db_index=False,  # person_town_id (town, -id) and the town + pinyin indexes start with it
    )
    community = models.ForeignKey(
        Region,
        verbose_name="村(社区)",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="persons_in_community",
    )
    address = models.CharField("住址", max_length=200, blank=True)
    household_type = models.CharField("户口性质", max_length=8, choices=HouseholdType.choices)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.ACTIVE)
    death_date = models.DateField("死亡日期", null=True, blank=True)
    employment_status = models.CharField(
        "就业状况", max_length=16, choices=EmploymentStatus.choices, blank=True, default=""
    )
    guardian_name = models.CharField("监护人姓名", max_length=50, blank=True)
    guardian_relation = models.CharField("与监护人关系", max_length=20, blank=True)
    guardian_phone = EncryptedTextField("监护人电话", blank=True, default="")
    created_at = models.DateTimeField("建档时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="建档人",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        # provenance, not structure: no index (never searched by) and no database constraint (an import of
        # 100,000 persons would check the same user row 100,000 times at commit); users are deactivated,
        # not deleted, and Django still applies SET_NULL if one is
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        verbose_name = "残疾人"
        verbose_name_plural = "残疾人"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["town", "-id"], name="person_town_id"),
            models.Index(fields=["status", "-id"], name="person_status_id"),
            models.Index(fields=["name_pinyin"], name="person_pinyin", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["name_initials"], name="person_initials", opclasses=["varchar_pattern_ops"]),
            # LIKE 'x%' on PostgreSQL under a non-C collation needs a pattern opclass (ignored on SQLite);
            # it also answers name = 'x'. (A second, plain index on name was only extra work on every insert.)
            models.Index(fields=["name"], name="person_name_prefix", opclasses=["varchar_pattern_ops"]),
            # Town staff searching by pinyin: one range scan inside the town, instead of AND-ing a bitmap
            # of the whole town (130,000 rows in a big town at province scale) with the pinyin matches.
            models.Index(
                fields=["town", "name_initials"],
                name="person_town_initials",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            models.Index(
                fields=["town", "name_pinyin"],
                name="person_town_pinyin",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["id_number_index"], name="person_unique_id_number"),
            models.CheckConstraint(
                condition=Q(status="deceased", death_date__isnull=False)
                | (~Q(status="deceased") & Q(death_date__isnull=True)),
                name="person_death_date_iff_deceased",
            ),
        ]

    def __str__(self):
        return f"{self.name}（{self.masked_id}）"

    def audit_repr(self) -> str:
        return str(self)

    @property
    def masked_id(self) -> str:
        return mask_id_number(self.id_number)

    def age_on(self, on: date) -> int:
        return identity.age_on(self.birth_date, on)

    @property
    def current_certificate(self) -> Certificate | None:
        cached = getattr(self, "_current_certificates", None)
        if cached is not None:
            return cached[0] if cached else None
        return self.certificates.filter(is_current=True).first()


class Certificate(models.Model):
    class Category(models.IntegerChoices):
        VISION = 1, "视力"
        HEARING = 2, "听力"
        SPEECH = 3, "言语"
        PHYSICAL = 4, "肢体"
        INTELLECTUAL = 5, "智力"
        MENTAL = 6, "精神"
        MULTIPLE = 7, "多重"

    class Grade(models.IntegerChoices):
        ONE = 1, "一级"
        TWO = 2, "二级"
        THREE = 3, "三级"
        FOUR = 4, "四级"

    class Status(models.TextChoices):
        VALID = "valid", "有效"
        EXPIRED = "expired", "过期"
        FROZEN = "frozen", "冻结"
        CANCELLED = "cancelled", "注销"
        REASSESSING = "reassessing", "等级复评中"  # the old grade is paid until the new certificate

    person = models.ForeignKey(
        Person, verbose_name="持证人", on_delete=models.PROTECT, related_name="certificates"
    )
    number = EncryptedTextField("残疾人证号")
    number_index = models.CharField("证号索引", max_length=40, editable=False)  # unique: Meta.constraints
    category = models.PositiveSmallIntegerField("残疾类别", choices=Category.choices)
    grade = models.PositiveSmallIntegerField("残疾等级", choices=Grade.choices)
    components = models.JSONField(
        "多重残疾构成",
        default=list,
        blank=True,
        help_text='多重残疾的各类别及等级，如 [{"category": 4, "grade": 2}]',
    )
    issue_date = models.DateField("发证日期")
    valid_until = models.DateField("有效期至")
    status = models.CharField("证件状态", max_length=16, choices=Status.choices, default=Status.VALID)
    status_changed_on = models.DateField("状态变更日期", null=True, blank=True)
    status_reason = models.CharField("状态变更原因", max_length=200, blank=True)
    reissue_count = models.PositiveSmallIntegerField("补发次数", default=0)
    is_current = models.BooleanField("当前证件", default=True)
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "残疾人证"
        verbose_name_plural = "残疾人证"
        ordering = ["-is_current", "-issue_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["number_index"], name="certificate_unique_number"),
            models.UniqueConstraint(
                fields=["person"], condition=Q(is_current=True), name="certificate_one_current_per_person"
            ),
            models.CheckConstraint(
                condition=Q(category__gte=1, category__lte=7), name="certificate_category_1_7"
            ),
            models.CheckConstraint(condition=Q(grade__gte=1, grade__lte=4), name="certificate_grade_1_4"),
            models.CheckConstraint(
                condition=Q(valid_until__gt=models.F("issue_date")), name="certificate_valid_after_issue"
            ),
        ]
        indexes = [
            # The list filter "category (+ grade)": current certificates in person order, so the planner
            # can merge them with the persons' keyset page instead of hashing every matching certificate.
            models.Index(
                fields=["category", "grade", "person"],
                condition=Q(is_current=True),
                name="certificate_current_cat_grade",
            ),
        ]

    def __str__(self):
        return f"{mask_id_number(self.number)} {self.get_category_display()}{self.get_grade_display()}"

    def audit_repr(self) -> str:
        return str(self)

    @property
    def severe(self) -> bool:
        return self.grade <= 2

    def status_on(self, on: date) -> str:
        """The status on a date: a valid certificate past its term counts as expired."""
        if self.status == self.Status.VALID and self.valid_until < on:
            return self.Status.EXPIRED
        return self.status


class EconomicStatus(models.TextChoices):
    DIBAO = "dibao", "低保"
    NEAR_DIBAO = "near_dibao", "低保边缘"
    TEKUN = "tekun", "特困供养"
    SPENDING_HARDSHIP = "spending_hardship", "支出型困难"
    NONE = "none", "无"


class EconomicStatusPeriod(models.Model):
    """Household economic status over a dated period, so any rule can ask "in May 2023"."""

    person = models.ForeignKey(
        Person,
        verbose_name="残疾人",
        on_delete=models.PROTECT,
        related_name="economic_periods",
        db_index=False,  # economic_period_unique_start (person, valid_from) starts with it
    )
    status = models.CharField("家庭经济状况", max_length=24, choices=EconomicStatus.choices)
    valid_from = models.DateField("起始日期")
    valid_to = models.DateField("截止日期", null=True, blank=True)
    source = models.CharField("来源", max_length=100, blank=True)
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "家庭经济状况"
        verbose_name_plural = "家庭经济状况"
        ordering = ["person", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="economic_period_ends_after_start",
            ),
            models.UniqueConstraint(fields=["person", "valid_from"], name="economic_period_unique_start"),
        ]

    def __str__(self):
        end = self.valid_to.isoformat() if self.valid_to else "至今"
        return f"{self.get_status_display()} {self.valid_from.isoformat()}～{end}"

    def covers(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


class CircumstanceKind(models.TextChoices):
    """The dated facts about a person (and household) that the benefit rules read (DOMAIN.md §5)."""

    NO_FIXED_INCOME = "no_fixed_income", "无固定收入"
    MULTIPLE_IN_HOUSEHOLD = "multiple_in_household", "一户多残或依老养残"
    INJURY_CARE = "injury_care", "领取工伤保险生活护理费"
    ORPHAN_ALLOWANCE = "orphan_allowance", "领取孤儿或事实无人抚养儿童基本生活费"
    ELDERLY_CARE = "elderly_care", "领取老年护理补贴"
    CARE_NEED = "care_need", "经评估有长期护理需求"
    MOVED_OUT = "moved_out", "迁出本区"


class PersonCircumstance(models.Model):
    """One fact about a person over a dated period, like ``EconomicStatusPeriod``: eligibility for a month
    sees the facts that overlap the month. ``moved_out`` starts on the move date (paid for that month,
    stopped from the next); ``elderly_care`` carries the monthly amount (for 择高). Written only through
    ``registry.circumstances``; the database keeps one open period per person and kind."""

    person = models.ForeignKey(
        Person,
        verbose_name="残疾人",
        on_delete=models.PROTECT,
        related_name="circumstances",
        db_index=False,  # circumstance_unique_start (person, kind, valid_from) starts with it
    )
    kind = models.CharField("情况", max_length=24, choices=CircumstanceKind.choices)
    amount = models.DecimalField("金额(元/月)", max_digits=10, decimal_places=2, null=True, blank=True)
    valid_from = models.DateField("起始日期")
    valid_to = models.DateField("截止日期", null=True, blank=True)
    source = models.CharField("来源", max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="录入人",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # provenance, as Person.created_by
        db_constraint=False,
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "家庭与个人情况"
        verbose_name_plural = "家庭与个人情况"
        ordering = ["person", "kind", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="circumstance_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(kind="elderly_care", amount__gt=0)
                | (~Q(kind="elderly_care") & Q(amount__isnull=True)),
                name="circumstance_amount_iff_elderly_care",
            ),
            models.UniqueConstraint(
                fields=["person", "kind", "valid_from"], name="circumstance_unique_start"
            ),
            models.UniqueConstraint(
                fields=["person", "kind"], condition=Q(valid_to__isnull=True), name="circumstance_one_open"
            ),
        ]

    def __str__(self):
        end = self.valid_to.isoformat() if self.valid_to else "至今"
        amount = f" {self.amount} 元/月" if self.amount is not None else ""
        return f"{self.get_kind_display()}{amount} {self.valid_from.isoformat()}～{end}"

    def covers(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


class EmploymentPeriod(models.Model):
    """Employment status over a dated period; ``Person.employment_status`` is the current value, kept in step
    by ``registry.circumstances.employment_status_change``. A person with no period has had the current
    value throughout. The employment module (issue 11) extends this with the type and the employer."""

    person = models.ForeignKey(
        Person,
        verbose_name="残疾人",
        on_delete=models.PROTECT,
        related_name="employment_periods",
        db_index=False,  # employment_period_unique_start (person, valid_from) starts with it
    )
    status = models.CharField(
        "就业状况", max_length=16, choices=[c for c in EmploymentStatus.choices if c[0]]
    )
    valid_from = models.DateField("起始日期")
    valid_to = models.DateField("截止日期", null=True, blank=True)
    source = models.CharField("来源", max_length=100, blank=True)
    # an employed period's form and employer (the employment module, casework/programmes/employment.py)
    kind = models.CharField("就业形式", max_length=16, choices=EmploymentKind.choices, blank=True)
    employer = models.CharField("就业单位", max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="录入人",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "就业状况记录"
        verbose_name_plural = "就业状况记录"
        ordering = ["person", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="employment_period_ends_after_start",
            ),
            models.UniqueConstraint(fields=["person", "valid_from"], name="employment_period_unique_start"),
            models.UniqueConstraint(
                fields=["person"], condition=Q(valid_to__isnull=True), name="employment_period_one_open"
            ),
        ]
        indexes = [
            # the employment list and the year's new employments: employed periods by start date
            models.Index(
                fields=["valid_from", "id"],
                condition=Q(status="employed"),
                name="employment_employed_from",
            ),
        ]

    def __str__(self):
        end = self.valid_to.isoformat() if self.valid_to else "至今"
        return f"{self.get_status_display()} {self.valid_from.isoformat()}～{end}"

    def covers(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)
