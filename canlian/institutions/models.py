"""The places that serve: designated rehab institutions, custodial providers, device service points, 残疾人之家,
schools, community rehab points. An institution's status moves through ``INSTITUTION_WORKFLOW``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from canlian.common.crypto import EncryptedTextField

from .workflow import INSTITUTION_WORKFLOW, InstitutionState


class Institution(models.Model):
    class Kind(models.TextChoices):
        REHAB_INSTITUTION = "rehab_institution", "定点康复机构"
        CUSTODIAL_PROVIDER = "custodial_provider", "托养机构"
        DEVICE_SERVICE_POINT = "device_service_point", "辅具服务点"
        CARE_HOME = "care_home", "残疾人之家"
        SCHOOL = "school", "特殊教育学校"
        REHAB_POINT = "rehab_point", "社区康复点"

    State = InstitutionState
    workflow = INSTITUTION_WORKFLOW

    name = models.CharField("机构名称", max_length=100, unique=True)
    kind = models.CharField("机构类型", max_length=32, choices=Kind.choices)
    town = models.ForeignKey(
        "registry.Region",
        verbose_name="所在镇(街道)",
        on_delete=models.PROTECT,
        related_name="institutions",
        limit_choices_to={"level": "town"},
    )
    address = models.CharField("地址", max_length=200, blank=True)
    contact = models.CharField("联系人", max_length=50, blank=True)
    phone = EncryptedTextField("联系电话", blank=True, default="")
    designated_from = models.DateField("认定起始日期", null=True, blank=True)
    designated_to = models.DateField("认定截止日期", null=True, blank=True)
    state = models.CharField(
        "状态", max_length=16, choices=InstitutionState.choices, default=InstitutionState.DRAFT
    )
    state_reason = models.CharField("状态原因", max_length=200, blank=True)
    version = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "服务机构"
        verbose_name_plural = "服务机构"
        ordering = ["town__code", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(designated_to__isnull=True)
                | Q(designated_from__isnull=True)
                | Q(designated_to__gte=F("designated_from")),
                name="institution_designation_period_ordered",
            )
        ]

    def __str__(self):
        return self.name

    def designated_on(self, day) -> bool:
        """Designated and within its designation period on ``day``."""
        if self.state != InstitutionState.DESIGNATED or self.designated_from is None:
            return False
        return self.designated_from <= day and (self.designated_to is None or day <= self.designated_to)


# ---- the places that serve (their own module; imported so Django sees the models) ----------------------
from .place_models import (  # noqa: E402,F401
    Attendance,
    BuildProject,
    ChecklistMark,
    Milestone,
    PlaceEvidence,
    PlaceMember,
    PlaceService,
    StarRating,
    StarRatingLine,
)
