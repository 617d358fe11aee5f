from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    DISTRICT_ADMIN = "district_admin", "区残联管理员"
    DISTRICT_STAFF = "district_staff", "区残联业务科室"
    TOWN_STAFF = "town_staff", "镇(街道)残联专职委员"
    INSTITUTION_STAFF = "institution_staff", "机构工作人员"
    LEADER = "leader", "领导"
    AUDITOR = "auditor", "审计员"


class User(AbstractUser):
    """A staff account bound to one role and one jurisdiction (a town for town staff)."""

    role = models.CharField("角色", max_length=32, choices=Role.choices)
    jurisdiction = models.ForeignKey(
        "registry.Region",
        verbose_name="管辖范围",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        help_text="镇(街道)工作人员必须绑定所属镇(街道)；区级角色为空表示全区。",
    )
    full_name = models.CharField("姓名", max_length=50, blank=True)
    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name="所属机构",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
        help_text="机构工作人员所属的服务机构：只能看到本机构服务的个案。",
    )

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = "用户"
        constraints = [
            models.CheckConstraint(
                condition=~Q(role="town_staff") | Q(jurisdiction__isnull=False),
                name="user_town_staff_has_jurisdiction",
            ),
        ]

    def __str__(self):
        return self.full_name or self.username

    @property
    def role_label(self) -> str:
        return Role(self.role).label if self.role else ""
