"""Assistive devices 辅助器具适配 (SERVICES.md §3): the catalogue, the fitting and device loans.

Imported at the end of ``models.py`` (own module, so programmes built on the engine at the same time do not
edit the same lines). Relational and counted detail, hence models rather than ``Case.data``:

- ``DeviceCatalogVersion`` / ``DeviceItem``: the upper-level list of GB/T 16432 (ISO 9999) items, synced by
  version. A new version never changes an old one: a case keeps the version in force on its application date.
  Each item carries its subsidy cap (dated by the version's ``effective_from``), replacement cycle in years,
  the eligible disability categories and the personalised / smart flags.
- ``DeviceFitting``: one per ``devices`` case (one device per case): the device asked for, the item the
  assessment proposed, then price, subsidy = min(price, cap) and the person's share, exact to the fen.
- ``DeviceLoan``: a device lent from a service point (institution of kind ``device_service_point``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class DeviceCatalogVersion(models.Model):
    version = models.CharField("版本", max_length=40, unique=True)
    effective_from = models.DateField("启用日期", unique=True)
    source = models.CharField("来源文件", max_length=200, blank=True)
    note = models.CharField("说明", max_length=200, blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="导入人", on_delete=models.PROTECT, related_name="+"
    )
    imported_at = models.DateTimeField("导入时间", auto_now_add=True)

    class Meta:
        verbose_name = "辅具目录版本"
        verbose_name_plural = "辅具目录版本"
        ordering = ["-effective_from"]

    def __str__(self):
        return f"辅具目录 {self.version}（{self.effective_from:%Y-%m-%d} 起）"


class DeviceItem(models.Model):
    version = models.ForeignKey(
        DeviceCatalogVersion, verbose_name="目录版本", on_delete=models.PROTECT, related_name="items"
    )
    code = models.CharField("GB/T 16432 编码", max_length=6, help_text="主类/次类/支类各两位，如 122203")
    name = models.CharField("辅具名称", max_length=100)
    cap = models.DecimalField("补贴上限（元）", max_digits=10, decimal_places=2)
    replacement_years = models.PositiveSmallIntegerField("更换周期（年）")
    categories = models.JSONField("适用残疾类别", default=list, help_text="残疾人证类别代码，如 [4]")
    personalised = models.BooleanField("个性化适配", default=False)
    smart = models.BooleanField("智能辅具", default=False)

    class Meta:
        verbose_name = "辅具目录条目"
        verbose_name_plural = "辅具目录条目"
        ordering = ["version", "code"]
        constraints = [
            models.UniqueConstraint(fields=["version", "code"], name="deviceitem_unique_code"),
            models.CheckConstraint(condition=Q(cap__gte=0), name="deviceitem_cap_nonnegative"),
        ]

    def __str__(self):
        return f"{self.code_display} {self.name}"

    @property
    def code_display(self) -> str:
        return f"{self.code[:2]} {self.code[2:4]} {self.code[4:]}"

    @property
    def subclass(self) -> str:
        """Class + subclass (4 digits): the replacement cycle is counted per subclass."""
        return self.code[:4]


class DeviceFitting(models.Model):
    case = models.OneToOneField(
        "casework.Case", verbose_name="个案", on_delete=models.CASCADE, related_name="device_fitting"
    )
    version = models.ForeignKey(
        DeviceCatalogVersion, verbose_name="适用目录版本", on_delete=models.PROTECT, related_name="+"
    )
    requested = models.ForeignKey(
        DeviceItem, verbose_name="申请辅具", on_delete=models.PROTECT, related_name="+"
    )
    village_worker = models.CharField("经办村(社区)专职委员", max_length=40, blank=True)
    item = models.ForeignKey(
        DeviceItem,
        verbose_name="评估建议辅具",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="fittings",
    )
    price = models.DecimalField("价格（元）", max_digits=10, decimal_places=2, null=True, blank=True)
    subsidy = models.DecimalField("补贴金额（元）", max_digits=10, decimal_places=2, null=True, blank=True)
    own_share = models.DecimalField("个人自付（元）", max_digits=10, decimal_places=2, null=True, blank=True)
    fitted_on = models.DateField("适配日期", null=True, blank=True)

    class Meta:
        verbose_name = "辅具适配"
        verbose_name_plural = "辅具适配"
        constraints = [
            models.CheckConstraint(
                condition=Q(price__isnull=True) | Q(subsidy__lte=F("price"), subsidy__gte=0),
                name="devicefitting_subsidy_within_price",
            )
        ]
        indexes = [models.Index(fields=["fitted_on"], name="devicefitting_fitted_on")]

    def __str__(self):
        return f"辅具适配·个案{self.case_id}"


class DeviceLoan(models.Model):
    institution = models.ForeignKey(
        "institutions.Institution", verbose_name="辅具服务点", on_delete=models.PROTECT, related_name="+"
    )
    person = models.ForeignKey(
        "registry.Person", verbose_name="借用人", on_delete=models.PROTECT, related_name="device_loans"
    )
    item = models.ForeignKey(DeviceItem, verbose_name="辅具", on_delete=models.PROTECT, related_name="loans")
    asset_no = models.CharField("器具编号", max_length=40)
    lent_on = models.DateField("借出日期")
    due_on = models.DateField("应还日期")
    returned_on = models.DateField("归还日期", null=True, blank=True)
    lent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="借出经办人", on_delete=models.PROTECT, related_name="+"
    )
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="归还经办人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = "辅具借用"
        verbose_name_plural = "辅具借用"
        ordering = ["due_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(due_on__gte=F("lent_on")), name="deviceloan_due_after_lent"),
            models.CheckConstraint(
                condition=Q(returned_on__isnull=True) | Q(returned_on__gte=F("lent_on")),
                name="deviceloan_returned_after_lent",
            ),
            models.UniqueConstraint(
                fields=["institution", "asset_no"],
                condition=Q(returned_on__isnull=True),
                name="deviceloan_one_open_per_asset",
            ),
        ]

    def __str__(self):
        return f"借用 {self.asset_no}（{self.lent_on:%Y-%m-%d}）"
