"""Enrolments: suspend, resume and stop from a month, with a reason, along the enrolment workflow."""

from __future__ import annotations

from datetime import date

from canlian.common.workflow import transition

from ..models import Enrolment, EnrolmentChange

E = Enrolment.Status
K = EnrolmentChange.Kind


def enrolment_change(
    *,
    acting_user,
    enrolment: Enrolment,
    kind: str,
    effective_month: date,
    reason: str,
    expected_status: str | None = None,
) -> Enrolment:
    """Suspend, resume or stop (``kind`` is the move of the enrolment workflow, ``benefits.workflows``).
    ``effective_month``: the first month not paid (suspend, stop) or paid again (resume). ``expected_status``
    is the status the caller saw (else that of the ``enrolment`` it holds)."""
    return transition(
        enrolment,
        kind,
        acting_user=acting_user,
        expected_state=expected_status or enrolment.status,
        effective_month=effective_month.replace(day=1) if effective_month else None,
        reason=reason,
    )


def enrolment_paid_months(enrolment: Enrolment, month: date) -> bool:
    """Whether the enrolment is payable for ``month`` as far as its own dates go (rules decide the rest)."""
    if month < enrolment.start_month:
        return False
    if enrolment.end_month and month > enrolment.end_month:
        return False
    if enrolment.status == E.SUSPENDED and enrolment.suspended_from and month >= enrolment.suspended_from:
        return False
    return True
