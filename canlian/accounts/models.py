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
    COUNSELLOR = "counsellor", "心理咨询师"


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
    must_change_password = models.BooleanField(
        "须修改密码",
        default=False,
        help_text="新建或重置的密码：下次登录后必须先修改密码。",
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


class CliToken(models.Model):
    """A token a user creates in the web to prove who runs a command-line write (``CANLIAN_TOKEN``).

    Only a SHA-256 digest is kept: the token itself is shown once when made."""

    user = models.ForeignKey(User, verbose_name="用户", on_delete=models.CASCADE, related_name="cli_tokens")
    name = models.CharField("用途说明", max_length=100, blank=True)
    prefix = models.CharField("令牌前缀", max_length=12)
    digest = models.CharField("令牌摘要", max_length=64, unique=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    expires_at = models.DateTimeField("到期时间")
    revoked_at = models.DateTimeField("撤销时间", null=True, blank=True)
    last_used_at = models.DateTimeField("最近使用时间", null=True, blank=True)

    class Meta:
        verbose_name = "命令行令牌"
        verbose_name_plural = "命令行令牌"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}…（{self.user}）"


class RecoveryCode(models.Model):
    """One single-use recovery code for the second factor, kept as a password hash."""

    user = models.ForeignKey(
        User, verbose_name="用户", on_delete=models.CASCADE, related_name="recovery_codes"
    )
    code_hash = models.CharField("恢复码摘要", max_length=200)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    used_at = models.DateTimeField("使用时间", null=True, blank=True)

    class Meta:
        verbose_name = "恢复码"
        verbose_name_plural = "恢复码"

    def __str__(self):
        return f"恢复码（{self.user}）"
