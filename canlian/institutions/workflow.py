"""The institution's status: recorded → submitted for designation → designated (checked by a second district
officer) → suspended / revoked. Declared on the common engine."""

from __future__ import annotations

from django.db import models

from canlian.accounts.models import Role
from canlian.common.workflow import Move, Workflow


class InstitutionState(models.TextChoices):
    DRAFT = "draft", "待认定"
    SUBMITTED = "submitted", "认定审核中"
    DESIGNATED = "designated", "已认定"
    SUSPENDED = "suspended", "暂停服务"
    REVOKED = "revoked", "已撤销"


S = InstitutionState
DISTRICT = frozenset({Role.DISTRICT_STAFF})


def _scope(user):
    from .access import institutions_manageable

    return institutions_manageable(user)


INSTITUTION_WORKFLOW = Workflow(
    code="institution",
    name="服务机构认定",
    states=dict(S.choices),
    initial=S.DRAFT,
    scope=_scope,
    field_labels={
        "designated_from": "认定起始日期",
        "designated_to": "认定截止日期",
        "state_reason": "原因",
    },
    moves=(
        Move(
            "submit",
            "提交认定",
            (S.DRAFT,),
            S.SUBMITTED,
            DISTRICT,
            requires=("designated_from",),
            records=("designated_from", "designated_to"),
        ),
        Move(
            "return",
            "退回修改",
            (S.SUBMITTED,),
            S.DRAFT,
            DISTRICT,
            checker_of=("submit",),
            requires=("state_reason",),
            records=("state_reason",),
        ),
        Move("designate", "审核认定", (S.SUBMITTED,), S.DESIGNATED, DISTRICT, checker_of=("submit",)),
        Move(
            "suspend",
            "暂停服务",
            (S.DESIGNATED,),
            S.SUSPENDED,
            DISTRICT,
            requires=("state_reason",),
            records=("state_reason",),
        ),
        Move("resume", "恢复服务", (S.SUSPENDED,), S.DESIGNATED, DISTRICT, checker_of=("suspend",)),
        Move(
            "revoke",
            "撤销认定",
            (S.DESIGNATED, S.SUSPENDED),
            S.REVOKED,
            DISTRICT,
            requires=("state_reason",),
            records=("state_reason",),
        ),
    ),
)
