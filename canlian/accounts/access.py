"""The only place that scopes what a user may see and change.

Every list, detail, export, API and report gets its queryset from here. Out-of-scope records are simply
not in the queryset, so views answer 404 for them.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from .models import Role, User

PERSON_READERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF, Role.LEADER}
PERSON_WRITERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF}
DISTRICT_WIDE = {Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF, Role.LEADER, Role.AUDITOR}


def _active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role)


def town_scope(user: User):
    """The town a user is confined to, or None for district-wide roles."""
    return user.jurisdiction if user.role == Role.TOWN_STAFF else None


# ---- persons -------------------------------------------------------------------------------------------


def persons_visible(user: User) -> QuerySet:
    from canlian.registry.models import Person

    if not _active(user) or user.role not in PERSON_READERS:
        return Person.objects.none()
    qs = Person.objects.all()
    if user.role == Role.TOWN_STAFF:
        qs = qs.filter(town_id=user.jurisdiction_id)
    return qs


def persons_editable(user: User) -> QuerySet:
    from canlian.registry.models import Person

    if not _active(user) or user.role not in PERSON_WRITERS:
        return Person.objects.none()
    return persons_visible(user)


def person_get(user: User, pk, *, for_edit: bool = False):
    qs = persons_editable(user) if for_edit else persons_visible(user)
    try:
        return qs.select_related("town", "community").get(pk=pk)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise Http404("未找到该残疾人，或您无权查看。") from None


def can_create_person(user: User, town) -> bool:
    if not _active(user) or user.role not in PERSON_WRITERS:
        return False
    return user.role != Role.TOWN_STAFF or (town is not None and town.pk == user.jurisdiction_id)


def can_edit_person(user: User, person) -> bool:
    return persons_editable(user).filter(pk=person.pk).exists()


def can_reveal(user: User, person) -> bool:
    """Showing a full ID number: business staff within their scope, never leaders or auditors."""
    return (
        _active(user) and user.role in PERSON_WRITERS and persons_visible(user).filter(pk=person.pk).exists()
    )


def can_import(user: User) -> bool:
    return _active(user) and user.role in PERSON_WRITERS


def can_export(user: User) -> bool:
    return _active(user) and user.role in PERSON_READERS


def export_unmasked_allowed(user: User) -> bool:
    return _active(user) and user.role == Role.DISTRICT_STAFF


# ---- regions -------------------------------------------------------------------------------------------


def towns_visible(user: User) -> QuerySet:
    from canlian.registry.models import Region

    qs = Region.objects.filter(level=Region.Level.TOWN)
    if not _active(user):
        return qs.none()
    if user.role == Role.TOWN_STAFF:
        return qs.filter(pk=user.jurisdiction_id)
    return qs


def communities_visible(user: User) -> QuerySet:
    from canlian.registry.models import Region

    return Region.objects.filter(level=Region.Level.COMMUNITY, parent__in=towns_visible(user))


def can_manage_regions(user: User) -> bool:
    return _active(user) and user.role in {Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF}


def can_manage_users(user: User) -> bool:
    return _active(user) and user.role == Role.DISTRICT_ADMIN


# ---- audit and jobs ------------------------------------------------------------------------------------


def can_read_audit(user: User) -> bool:
    return _active(user) and user.role == Role.AUDITOR


def audit_logs_visible(user: User) -> QuerySet:
    from canlian.common.models import AuditLog

    if not can_read_audit(user):
        return AuditLog.objects.none()
    return AuditLog.objects.all()


def person_audit_visible(user: User, person) -> QuerySet:
    """The audit timeline on a person page: readable by whoever may read the person."""
    from canlian.common.models import AuditLog

    if not persons_visible(user).filter(pk=person.pk).exists():
        return AuditLog.objects.none()
    return AuditLog.objects.filter(object_type="registry.person", object_id=str(person.pk))


def jobs_visible(user: User) -> QuerySet:
    from canlian.common.models import Job

    if not _active(user):
        return Job.objects.none()
    return Job.objects.filter(created_by=user)


# ---- benefits ------------------------------------------------------------------------------------------

BENEFIT_READERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF, Role.LEADER}


def can_manage_parameters(user: User) -> bool:
    return _active(user) and user.role in {Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF}


def applications_visible(user: User) -> QuerySet:
    from canlian.benefits.models import Application

    if not _active(user) or user.role not in BENEFIT_READERS:
        return Application.objects.none()
    qs = Application.objects.all()
    if user.role == Role.TOWN_STAFF:
        qs = qs.filter(person__town_id=user.jurisdiction_id)
    return qs


def enrolments_visible(user: User) -> QuerySet:
    from canlian.benefits.models import Enrolment

    if not _active(user) or user.role not in BENEFIT_READERS:
        return Enrolment.objects.none()
    qs = Enrolment.objects.all()
    if user.role == Role.TOWN_STAFF:
        qs = qs.filter(person__town_id=user.jurisdiction_id)
    return qs


def payrolls_visible(user: User) -> QuerySet:
    """Payrolls are district-wide; town staff see them but only their town's lines (payroll_lines_visible)."""
    from canlian.benefits.models import Payroll

    if not _active(user) or user.role not in BENEFIT_READERS:
        return Payroll.objects.none()
    return Payroll.objects.all()


def payroll_lines_visible(user: User) -> QuerySet:
    from canlian.benefits.models import PayrollLine

    if not _active(user) or user.role not in BENEFIT_READERS:
        return PayrollLine.objects.none()
    qs = PayrollLine.objects.all()
    if user.role == Role.TOWN_STAFF:
        qs = qs.filter(town_id=user.jurisdiction_id)
    return qs


def can_run_payroll(user: User) -> bool:
    return _active(user) and user.role == Role.DISTRICT_STAFF


def bank_accounts_unmasked_allowed(user: User) -> bool:
    return _active(user) and user.role == Role.DISTRICT_STAFF
