"""Home accessibility renovation 无障碍改造 (SERVICES.md §7): the plan's items and the stage photos.

Imported at the end of ``models.py`` (own module, so the programmes built on the engine at the same time do
not edit the same lines). The plan (一户一策) is relational and summed against the household cap, so it is a
table, not ``Case.data``; a photo is an engine ``Attachment`` (encrypted at rest) tagged with its stage.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RenovationItem(models.Model):
    """One line of a household's plan: what is altered, how many, at what unit price."""

    case = models.ForeignKey(
        "casework.Case", verbose_name="个案", on_delete=models.CASCADE, related_name="renovation_items"
    )
    name = models.CharField("改造项目", max_length=100)
    unit = models.CharField("单位", max_length=10, blank=True)
    quantity = models.DecimalField("数量", max_digits=8, decimal_places=2)
    unit_price = models.DecimalField("单价(元)", max_digits=10, decimal_places=2)
    amount = models.DecimalField("金额(元)", max_digits=12, decimal_places=2)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = "无障碍改造项目"
        verbose_name_plural = "无障碍改造项目"
        ordering = ["case_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0, unit_price__gte=0, amount__gte=0), name="renovation_item_positive"
            )
        ]

    def __str__(self):
        return f"{self.name} {self.quantity}{self.unit}×{self.unit_price}"


class RenovationPhoto(models.Model):
    """An attachment of a renovation case taken at the home check (survey) or at acceptance."""

    class Stage(models.TextChoices):
        SURVEY = "survey", "入户勘查"
        ACCEPTANCE = "acceptance", "竣工验收"

    case = models.ForeignKey(
        "casework.Case", verbose_name="个案", on_delete=models.CASCADE, related_name="renovation_photos"
    )
    attachment = models.OneToOneField(
        "casework.Attachment", verbose_name="附件", on_delete=models.CASCADE, related_name="renovation_photo"
    )
    stage = models.CharField("环节", max_length=16, choices=Stage.choices)

    class Meta:
        verbose_name = "无障碍改造照片"
        verbose_name_plural = "无障碍改造照片"
        ordering = ["case_id", "id"]

    def __str__(self):
        return f"{self.get_stage_display()}照片·{self.attachment_id}"
